"""Full-softmax LSTM: embedding -> shared LSTM body -> Linear(h, V) -> softmax."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .base import LanguageModel, LSTMBody, State


class LSTMLM(LanguageModel):
    def __init__(self, vocab_size: int, embedding_dim=200, hidden_dim=200, layers=2, dropout=0.5,
                 init_range=0.05, input_dropout=None):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embedding_dim)
        self.body = LSTMBody(embedding_dim, hidden_dim, layers, dropout, input_dropout)
        self.out = nn.Linear(hidden_dim, vocab_size)
        self.init_uniform(init_range)

    def _hidden(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self.body(self.embed(x), state)  # [T, B, h]

    def forward(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        h, state = self._hidden(x, state)
        logits = self.out(h)  # [T, B, V]: the cost this whole project is about
        nll = F.cross_entropy(logits.view(-1, self.vocab_size), y.reshape(-1), reduction="sum")
        return nll, state

    def token_nll(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        h, state = self._hidden(x, state)
        nll = F.cross_entropy(self.out(h).view(-1, self.vocab_size), y.reshape(-1), reduction="none")
        return nll.view(y.shape), state  # [T, B]

    def log_prob(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h, state = self._hidden(x, state)
        return F.log_softmax(self.out(h), dim=-1), state

    def param_groups(self):
        return {
            "embedding": list(self.embed.parameters()),
            "recurrent": list(self.body.parameters()),
            "output": list(self.out.parameters()),
        }
