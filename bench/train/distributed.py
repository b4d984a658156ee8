"""Data-parallel training on PyTorch's own engine (torchrun + DistributedDataParallel).

    torchrun --nproc_per_node=N -m bench run ...     # NCCL on GPUs, gloo on CPU

Everything here is a no-op in a single process (no torchrun environment), so
the trainer calls it unconditionally. The pieces:

- `init()`: the process group from torchrun's environment (RANK, WORLD_SIZE,
  LOCAL_RANK, MASTER_ADDR/PORT: multi-node rendezvous options just work).
- `shard_stream`: each rank's contiguous slice of the memory-mapped id stream
  (a view, no copy), aligned so the ranks together see the single process's
  global batch column for column.
- `reduce_sum_` / `broadcast_`: chunked collectives for LightRNN's [V, R] and
  [V, C] loss matrices (2.8 GB each at V = 793,471) and its word table, handed
  to `model.end_of_round` as `collectives(device)`.
- `grad_bytes`: what DDP all-reduces per step (the paper's argument: LightRNN's
  gradients are a small fraction of a full softmax's at large V).
"""

from __future__ import annotations

import gc
import inspect
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn

from bench import meters
from models.base import Collectives

# A hung collective (a peer died mid all-reduce) raises after this long
# instead of hanging forever; tests set it low. Long by default: the first
# load of BillionW builds its id cache on rank 0 while the others wait.
TIMEOUT_ENV = "LIGHTRNN_DIST_TIMEOUT_S"


def init(device: torch.device | str) -> torch.device:
    """Join torchrun's process group if WORLD_SIZE > 1; return this rank's device.

    On CUDA each local rank takes its own GPU (cuda:LOCAL_RANK) and NCCL;
    on CPU gloo. Without torchrun (or with one process) nothing is started.
    """
    device = torch.device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return device
    for key in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if key not in os.environ:
            raise ValueError(f"WORLD_SIZE={world} but {key} is not set: launch with torchrun")
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"local rank {local_rank} has no GPU: {torch.cuda.device_count()} visible; "
                             "use --nproc_per_node <= the GPU count")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "1800")))
        dist.init_process_group(backend, timeout=timeout)
    return device


def shutdown(synced: bool = True) -> None:
    """Leave the process group while the interpreter is fully alive: gloo work
    still held at interpreter exit aborts the process (SIGABRT, "terminate
    called without an active exception"). After a normal end (`synced`) the
    ranks first meet at a barrier, so none tears its connections down while a
    peer still talks to it; after an error a peer may be gone, so no barrier."""
    if not dist.is_initialized():
        return
    try:
        if synced and _active():
            dist.barrier()
    finally:
        dist.destroy_process_group()
        gc.collect()  # DDP reducers in reference cycles go now, not at exit


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. building a dataset's id cache), the
    others after it, so no two ranks write the same cache file at once."""
    if _active() and not is_main():
        dist.barrier()
    yield
    if _active() and is_main():
        dist.barrier()


def _active() -> bool:
    return dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def shard_stream(ids, rank: int, world: int, batch_size: int | None = None):
    """Rank `rank`'s contiguous slice of a 1-D id stream: a view, so an
    np.memmap stays memory-mapped (no copy of the corpus per rank).

    With the GLOBAL batch size B (a multiple of `world`), every shard holds
    (N // B) * (B / world) tokens, i.e. exactly columns [r*B/W, (r+1)*B/W) of
    the single process's `batchify(ids, B)` ([N // B, B], column b = ids[b*n:
    (b+1)*n]). So `batchify(shard, B // world)` on each rank reproduces the
    single-process batch, and DDP's gradient average equals its mean loss.
    """
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} is outside world size {world}")
    if batch_size is None:
        per = len(ids) // world
    else:
        if batch_size % world:
            raise ValueError(f"global batch size {batch_size} must be a multiple of the world size {world}")
        per = (len(ids) // batch_size) * (batch_size // world)
    if per < 2:
        raise ValueError(f"stream of {len(ids)} tokens is too short to shard over {world} ranks")
    return ids[rank * per : (rank + 1) * per]


def eval_share(segments: list[Tensor], rank: int, world: int) -> list[Tensor]:
    """This rank's columns of each evaluation segment ([L+1, B] each, columns
    independent and each starting from a fresh state). The summed NLL and
    token counts over the shares, all-reduced, equal the single process's."""
    share = [seg.tensor_split(world, dim=1)[rank] for seg in segments]
    return [s.contiguous() for s in share if s.size(1) > 0]


def all_sum(values: list[float]) -> list[float]:
    """Sum a few scalars (e.g. [nll, tokens]) over ranks, in float64."""
    if not _active():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return t.tolist()


def any_rank(flags: list[bool]) -> list[bool]:
    """Each flag true on every rank if it is true on any: stop decisions (time
    budget, a signal) must agree, or one rank waits forever in DDP's next
    all-reduce."""
    if not _active():
        return list(flags)
    t = torch.tensor([int(f) for f in flags], device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def _comm_device() -> torch.device:
    # NCCL only moves CUDA tensors; gloo moves CPU ones.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _chunks(t: Tensor, chunk_mb: float):
    """Row slices of `t` of about chunk_mb each, staged through the comm
    device when `t` lives elsewhere (a host-side matrix under NCCL).
    Yields (slice of t, buffer to communicate)."""
    dev = _comm_device()
    row_bytes = max(1, t[0].numel() * t.element_size()) if t.dim() > 1 else t.element_size()
    rows = max(1, int(chunk_mb * 2**20) // row_bytes)
    for i in range(0, t.size(0), rows):
        part = t[i : i + rows]
        yield part, (part if part.device == dev and part.is_contiguous() else part.to(dev).contiguous())


def reduce_sum_(t: Tensor, dst: int | None = 0, chunk_mb: float = 256.0) -> Tensor:
    """Sum `t` (e.g. a [V, R] loss matrix) over ranks, in place, in row chunks
    of ~chunk_mb so no second full-size buffer exists (2.8 GB at BillionW).

    dst=None: all-reduce, every rank gets the sum. dst=r: reduce, only rank r
    holds the sum afterwards (other ranks' copies are undefined) -- enough
    when only rank r runs the matching, and half the traffic.
    """
    if not _active():
        return t
    me = dist.get_rank()
    for part, buf in _chunks(t, chunk_mb):
        if dst is None:
            dist.all_reduce(buf)
        else:
            dist.reduce(buf, dst)
        if buf is not part and (dst is None or me == dst):
            part.copy_(buf)
    return t


def broadcast_(t: Tensor, src: int = 0, chunk_mb: float = 256.0) -> Tensor:
    """Overwrite `t` on every rank with rank src's copy, in place."""
    if not _active():
        return t
    for part, buf in _chunks(t, chunk_mb):
        dist.broadcast(buf, src)
        if buf is not part:
            part.copy_(buf)
    return t


def broadcast_object(obj, src: int = 0):
    """A small picklable object (e.g. the matching's figures) from rank src."""
    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src)
    return box[0]


def grad_bytes(model: nn.Module) -> int:
    """Bytes of gradient DDP all-reduces per step: sum of numel * element size
    of every parameter that carries a gradient (works on the meta device).
    A ring all-reduce sends and receives about 2 (W-1)/W times this per rank."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """The module the training step calls: DDP when world > 1, else `model`.

    broadcast_buffers=False: buffers (LightRNN's word table, V int64) only
    change at reallocation, which broadcasts them itself; DDP would otherwise
    re-send them before every forward. find_unused_parameters=True: adaptive
    softmax skips a tail cluster's weights when no target of the batch falls
    in it, and DDP without it stalls waiting for their gradients.
    """
    if not _active():
        return model
    ddp = nn.parallel.DistributedDataParallel
    # torch >= 2.13 renamed the switch (it still syncs buffers once at init, as wanted).
    no_resync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp).parameters
                 else "broadcast_buffers")
    ids = [device.index] if device.type == "cuda" else None
    return ddp(model, device_ids=ids, find_unused_parameters=True, **{no_resync: False})


class _ProcessGroup(Collectives):
    """The collectives of this process group, for `model.end_of_round`."""

    def __init__(self, device: torch.device):
        self.device, self.world_size, self.is_main = device, world_size(), is_main()

    def clock(self) -> float:
        return meters.clock(self.device)

    def reduce_sum_(self, t: Tensor, dst: int = 0) -> Tensor:
        return reduce_sum_(t, dst)

    def broadcast_(self, t: Tensor) -> Tensor:
        return broadcast_(t)

    def broadcast_object(self, obj):
        return broadcast_object(obj)

    def all_sum(self, values: list[float]) -> list[float]:
        return all_sum(values)


def collectives(device: torch.device) -> Collectives:
    """What `end_of_round` joins the ranks with (identities in one process);
    its clock synchronises `device`."""
    return _ProcessGroup(device)
