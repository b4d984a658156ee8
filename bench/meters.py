"""The harness owns the clock and the memory counters.

Every figure here is measured the same way for every model: the device is
synchronised before the clock is read (CUDA kernels run asynchronously, so
an unsynchronised clock times the launch, not the work), and a counter that
cannot be read on this machine is `None` ("not available"), never a crash.
"""

from __future__ import annotations

import time

import torch


def sync(device: torch.device) -> None:
    """Wait for queued device work; a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """Accumulates seconds over start/stop spans, syncing the device at both ends."""

    def __init__(self, device: torch.device, elapsed: float = 0.0):
        self.device, self.elapsed, self._t0 = device, elapsed, None

    @property
    def running(self) -> bool:
        return self._t0 is not None

    def start(self) -> None:
        sync(self.device)
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        """Adds the span to `elapsed`; returns the span."""
        sync(self.device)
        span = time.perf_counter() - self._t0
        self.elapsed += span
        self._t0 = None
        return span

    def now(self) -> float:
        """Elapsed including a running span (for curves and --max-time checks)."""
        if self._t0 is None:
            return self.elapsed
        sync(self.device)
        return self.elapsed + time.perf_counter() - self._t0


def reset_peaks(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def gpu_peak_alloc_mb(device: torch.device) -> float | None:
    """Peak memory torch allocated on the device since `reset_peaks` (None on CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def gpu_nvml_used_mb(device: torch.device) -> float | None:
    """Device memory in use as the driver sees it (all processes, incl. the
    CUDA context and the caching allocator's reserve); None without NVML."""
    if device.type != "cuda":
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            index = device.index if device.index is not None else torch.cuda.current_device()
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            return pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # missing library, no driver, container without NVML
        return None


def cpu_peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far (the whole process: one
    run per process gives a per-run figure; in a suite it is a running max)."""
    try:
        import resource

        # ru_maxrss is KiB on Linux (bytes on macOS; this project runs on Linux).
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except ImportError:  # Windows: psutil's peak working set
        import psutil

        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / 2**20
