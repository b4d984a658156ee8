"""Data-parallel training on PyTorch's own engine (torchrun + DistributedDataParallel).

    torchrun --nproc_per_node=N -m bench run ...     # NCCL on GPUs, gloo on CPU

Everything here is a no-op in a single process (no torchrun environment), so
the trainer calls it unconditionally. The pieces:

- `init()`: the process group from torchrun's environment (RANK, WORLD_SIZE,
  LOCAL_RANK, MASTER_ADDR/PORT: multi-node rendezvous options just work).
- `shard_stream`: each rank's contiguous slice of the memory-mapped id stream
  (a view, no copy), aligned so the ranks together see the single process's
  global batch column for column.
- the collectives the trainer and LightRNN's rounds join the ranks with are
  in `collectives.py`.
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
        if synced and active():
            dist.barrier()
    finally:
        dist.destroy_process_group()
        gc.collect()  # DDP reducers in reference cycles go now, not at exit


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. building a dataset's id cache), the
    others after it, so no two ranks write the same cache file at once."""
    if active() and not is_main():
        dist.barrier()
    yield
    if active() and is_main():
        dist.barrier()


def active() -> bool:
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
    if not active():
        return model
    ddp = nn.parallel.DistributedDataParallel
    # torch >= 2.13 renamed the switch (it still syncs buffers once at init, as wanted).
    no_resync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp).parameters
                 else "broadcast_buffers")
    ids = [device.index] if device.type == "cuda" else None
    return ddp(model, device_ids=ids, find_unused_parameters=True, **{no_resync: False})
