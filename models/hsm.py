"""Two-level class-based softmax (Kim et al. 2016, lstm-char-cnn):
P(w) = P(class(w) | h) * P(w | class(w), h).

K = round(sqrt(V)) classes of (nearly) equal size S = ceil(V / K): class
sizes differ by at most one, so no class is empty and the K*S - V padded
slots (at most one per class) are masked to -inf; the distribution over the
V words sums to exactly 1. Classes are random from `class_seed` (Kim et al.
found random as good as frequency bins) or, with class_mode="frequency",
consecutive id ranges (ids are frequency-sorted).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .base import LanguageModel, LSTMBody, State

CLASS_MODES = ("random", "frequency")
# Most bytes of gathered output vectors [n, S, h] at once: BillionW's S = 891,
# h = 1024 take 3.6 MB a token, 8.2 GB for an eval batch of 64 x 35 tokens
# (the kernel's OOM killer ended the 1.6G HSM's first evaluation there).
GATHER_BYTES = 256 * 2**20
# Devices whose word logits come from one GEMM per class present (_class_gemms);
# elsewhere (CUDA) one batched product over gathered vectors, one kernel a step.
CLASS_GEMMS_ON = ("cpu",)


class HSMLM(LanguageModel):
    def __init__(self, vocab_size: int, embedding_dim=200, hidden_dim=200, layers=2, dropout=0.5,
                 init_range=0.05, class_seed=0, class_mode="random"):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embedding_dim)
        self.body = LSTMBody(embedding_dim, hidden_dim, layers, dropout)
        self._build_output(vocab_size, hidden_dim, class_seed, class_mode)
        self.init_uniform(init_range)

    def _build_output(self, V: int, hidden_dim: int, class_seed: int, class_mode: str) -> None:
        """The two-level output layer and its word -> (class, slot) buffers
        (shared with the character-aware C-HSM)."""
        if class_mode not in CLASS_MODES:
            raise ValueError(f"unknown class_mode {class_mode!r}; choose from {list(CLASS_MODES)}")
        self.n_classes = K = max(1, round(math.sqrt(V)))
        self.class_size = S = math.ceil(V / K)
        self.out_class = nn.Linear(hidden_dim, K)
        # Word output vectors stored class-major, [K, S, h]: the target class's block
        # is one contiguous row to gather (1.6x faster on CPU than gathering N*S
        # scattered word rows). The K*S - V padded slots (< K) are masked, so inert.
        self.word_weight = nn.Parameter(torch.empty(K, S, hidden_dim))
        self.word_bias = nn.Parameter(torch.empty(K, S))
        # Class sizes differ by at most one. CPU tensors: meta counting works.
        ids = torch.arange(V, device="cpu")
        if class_mode == "random":
            # Words in random order are dealt to classes in turn: i -> class i % K.
            pos = torch.empty(V, dtype=torch.long, device="cpu")
            g = torch.Generator().manual_seed(class_seed)
            pos[torch.randperm(V, generator=g, device="cpu")] = ids
            word_class, word_slot = pos % K, pos // K
        else:
            # Frequency bins: class k holds the k-th block of consecutive ids.
            sizes = torch.full((K,), V // K, dtype=torch.long, device="cpu")
            sizes[: V % K] += 1
            word_class = torch.repeat_interleave(torch.arange(K, device="cpu"), sizes)
            word_slot = ids - (sizes.cumsum(0) - sizes)[word_class]
        self.register_buffer("word_class", word_class)  # [V]
        self.register_buffer("word_slot", word_slot)    # [V]
        class_words = torch.full((K * S,), -1, dtype=torch.long, device="cpu")
        class_words[word_class * S + word_slot] = ids
        self.register_buffer("class_words", class_words.view(K, S))  # [K, S], -1 = padding
        self.register_buffer("word_cell", word_class * S + word_slot)  # [V] into K*S

    def _hidden(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self.body(self.embed(x), state)  # [T, B, h]

    def forward(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        nll, state = self.token_nll(x, y, state)
        return nll.sum(), state

    def token_nll(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        """[T, B] NLL of each target: its class, then its slot within the class.
        Past GATHER_BYTES of gathered output vectors the tokens go in chunks,
        each recomputed in the backward pass (checkpoint), so neither pass
        holds more than one chunk's [n, S, h]."""
        shape = y.shape
        h, state = self._hidden(x, state)
        h, y = h.reshape(-1, h.shape[-1]), y.reshape(-1)             # [N, h], [N]
        n = max(1, GATHER_BYTES // (self.class_size * h.shape[-1] * h.element_size()))
        if h.device.type in CLASS_GEMMS_ON or len(y) <= n:  # per-class GEMMs gather nothing
            return self._output_nll(h, y).view(shape), state
        grad = torch.is_grad_enabled()
        parts = [checkpoint(self._output_nll, h[s : s + n], y[s : s + n], use_reentrant=False) if grad
                 else self._output_nll(h[s : s + n], y[s : s + n]) for s in range(0, len(y), n)]
        return torch.cat(parts).view(shape), state

    def _output_nll(self, h: Tensor, y: Tensor) -> Tensor:
        """[N] NLL of targets y [N] from hidden states h [N, h]."""
        cls = self.word_class[y]                                      # [N]
        class_lp = F.log_softmax(self.out_class(h), dim=-1).gather(1, cls[:, None])  # [N, 1]
        logits = (self._class_gemms(h, cls) if h.device.type in CLASS_GEMMS_ON else self._gathered(h, cls)) \
            + self.word_bias.index_select(0, cls)
        logits = logits.masked_fill(self.class_words[cls] < 0, float("-inf"))  # [N, S]
        word_lp = F.log_softmax(logits, dim=-1).gather(1, self.word_slot[y][:, None])  # [N, 1]
        return -(class_lp + word_lp).squeeze(1)

    def _gathered(self, h: Tensor, cls: Tensor) -> Tensor:
        """[N, S] logits of each token's class words from the gathered [N, S, h]
        output vectors and one batched product (GPU: one kernel per step)."""
        w = self.word_weight.index_select(0, cls)                     # [N, S, h]
        return torch.bmm(w, h.unsqueeze(2)).squeeze(2)

    def _class_gemms(self, h: Tensor, cls: Tensor) -> Tensor:
        """[N, S] logits of each token's class words, one GEMM per class present:
        [n_k, h] @ [h, S] on a view of that class's block (CPU). Nothing
        [N, S, h] is copied; the batched product it replaces was a batch of
        matrix-vector products, memory-bound (PTB: 55% of an HSM step)."""
        order = torch.argsort(cls, stable=True)                       # tokens grouped by class
        counts = torch.bincount(cls, minlength=self.n_classes).tolist()
        blocks = self.word_weight.unbind(0)                           # K views [S, h]
        hs = h.index_select(0, order).split(counts)
        grouped = torch.cat([hk @ blocks[k].T for k, hk in enumerate(hs) if counts[k]])  # [N, S], by class
        return grouped.index_select(0, torch.argsort(order))          # back to token order

    def log_prob(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h, state = self._hidden(x, state)
        K, S = self.class_words.shape
        class_lp = F.log_softmax(self.out_class(h), dim=-1)          # [T, B, K]
        logits = torch.einsum("tbh,ksh->tbks", h, self.word_weight) + self.word_bias
        logits = logits.masked_fill(self.class_words < 0, float("-inf"))  # [T, B, K, S]
        slot_lp = F.log_softmax(logits, dim=-1) + class_lp.unsqueeze(3)  # [T, B, K, S]
        return slot_lp.flatten(2)[..., self.word_cell], state

    def param_groups(self):
        return {
            "embedding": list(self.embed.parameters()),
            "recurrent": list(self.body.parameters()),
            "output": [*self.out_class.parameters(), self.word_weight, self.word_bias],
        }
