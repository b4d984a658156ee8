"""What the ranks of a data-parallel run say to each other (no-ops in one process):

- `all_sum` / `any_rank`: a few scalars summed, or stop flags agreed, over ranks;
- `reduce_sum_` / `broadcast_`: chunked, in place, for LightRNN's [V, R] and
  [V, C] loss matrices (2.8 GB each at V = 793,471) and its word table, so no
  second full-size buffer exists;
- `collectives(device)`: the same, as what `model.end_of_round` is handed.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from bench import meters
from bench.train.distributed import active, is_main, world_size
from models.base import Collectives


def all_sum(values: list[float]) -> list[float]:
    """Sum a few scalars (e.g. [nll, tokens]) over ranks, in float64."""
    if not active():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return t.tolist()


def any_rank(flags: list[bool]) -> list[bool]:
    """Each flag true on every rank if it is true on any: stop decisions (time
    budget, a signal) must agree, or one rank waits forever in DDP's next
    all-reduce."""
    if not active():
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
    if not active():
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
    if not active():
        return t
    for part, buf in _chunks(t, chunk_mb):
        dist.broadcast(buf, src)
        if buf is not part:
            part.copy_(buf)
    return t


def broadcast_object(obj, src: int = 0):
    """A small picklable object (e.g. the matching's figures) from rank src."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src)
    return box[0]


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
