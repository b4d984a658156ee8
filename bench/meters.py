"""The harness owns the clock and the memory counters.

Every figure here is measured the same way for every model: the device is
synchronised before the clock is read (CUDA kernels run asynchronously, so
an unsynchronised clock times the launch, not the work), and a counter that
cannot be read on this machine is `None` ("not available"), never a crash.
"""

from __future__ import annotations

import contextlib
import time

import torch


def sync(device: torch.device) -> None:
    """Wait for queued device work; a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device) -> float:
    """Seconds (perf_counter) once the device's queued work is done."""
    sync(device)
    return time.perf_counter()


class Stopwatch:
    """Accumulates seconds over start/stop spans, syncing the device at both ends."""

    def __init__(self, device: torch.device, elapsed: float = 0.0):
        self.device, self.elapsed, self._t0 = device, elapsed, None

    @property
    def running(self) -> bool:
        return self._t0 is not None

    def start(self) -> None:
        self._t0 = clock(self.device)

    def stop(self) -> float:
        """Adds the span to `elapsed`; returns the span."""
        span = clock(self.device) - self._t0
        self.elapsed += span
        self._t0 = None
        return span

    def now(self) -> float:
        """Elapsed including a running span (for curves and --max-time checks)."""
        if self._t0 is None:
            return self.elapsed
        return self.elapsed + clock(self.device) - self._t0


def reset_peaks(device: torch.device) -> None:
    """Start the peak counters afresh: torch's on CUDA, the process's peak RSS
    (VmHWM) on Linux, so a figure read later is this span's, not the process's."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:  # not Linux, or not permitted: the peak stays the process's
        pass


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


def _status_mb(field: str) -> float | None:
    """A /proc/self/status figure (VmRSS: now, VmHWM: peak) in MiB; None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cpu_peak_rss_mb() -> float | None:
    """Peak resident memory of this process since `reset_peaks` (Linux), else
    since it started."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    import psutil  # elsewhere: the peak working set where the OS keeps one

    info = psutil.Process().memory_info()
    return getattr(info, "peak_wset", info.rss) / 2**20


def cpu_rss_mb() -> float:
    """Resident memory of this process now."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def available_bytes() -> int:
    """Memory the OS can give this process now without swapping."""
    import psutil

    return psutil.virtual_memory().available


@contextlib.contextmanager
def memory_ceiling():
    """Within: this process's data segment (heap and private mappings,
    RLIMIT_DATA) may grow by at most the memory available now, so an
    allocation past it fails in the allocator (torch: "can't allocate
    memory", numpy: MemoryError), which the trainer records as oom, instead
    of the kernel's OOM killer ending the process with no record (the 1.6G
    HSM's first BillionW evaluation). Linux only; a no-op elsewhere or when
    the limit is already lower. Restored on exit."""
    try:
        import resource

        with open("/proc/self/status") as f:
            vm_data = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmData:"))
    except (ImportError, OSError, StopIteration):
        yield None
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = vm_data + available_bytes()
    lowered = soft == resource.RLIM_INFINITY or limit < soft
    if lowered:
        resource.setrlimit(resource.RLIMIT_DATA, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    try:
        yield limit if lowered else None
    finally:
        if lowered:
            resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


class CpuShare:
    """How alone a CPU run was, from its start to `summary()`: this process's
    CPU seconds over its wall seconds (the cores it kept busy: a one-thread
    run below ~0.95 waited for a core; numba's counting may use more) and
    the machine's mean busy cores (its /proc/stat counters: on a 2-core
    machine ~1 means the run had the machine to itself, ~2 that a neighbour
    used the other core and shared the memory bus), and a 1024 x 1024 sgemm's
    rate on this process's thread(s) at both ends: machines and sessions
    differ, and a wall-clock budget buys fewer steps on a slower core or
    beside a neighbour, so the tables can show what each run had."""

    MIN_WALL_S = 1.0

    def __init__(self):
        import psutil

        from models.flops import gemm_flops

        self._psutil, self._proc, self._gemm = psutil, psutil.Process(), lambda: gemm_flops(1024, 5) / 1e9
        self._gemm0 = self._gemm()
        self._t0, self._cpu0, self._host0 = time.perf_counter(), self._proc_cpu(), self._host()

    def _proc_cpu(self) -> float:
        t = self._proc.cpu_times()
        return t.user + t.system

    def _host(self) -> tuple[float, float]:
        """(busy, total) CPU seconds of the machine, summed over its cores.
        Linux counts guest time inside user time, so it is not added twice."""
        t = self._psutil.cpu_times()._asdict()
        total = sum(t.values()) - t.get("guest", 0.0) - t.get("guest_nice", 0.0)
        return total - t["idle"] - t.get("iowait", 0.0), total

    def summary(self) -> dict:
        """The shares are None for a run shorter than MIN_WALL_S: the kernel
        counts CPU time in ticks (10 ms at the usual 100 Hz), so a 0.02 s run
        can read 0 or 2.3 cores; at 1 s a tick is 1% of the wall."""
        wall = time.perf_counter() - self._t0
        busy, total = (now - then for now, then in zip(self._host(), self._host0, strict=True))
        measured = wall >= self.MIN_WALL_S and total > 0
        return {"cpu_share": (self._proc_cpu() - self._cpu0) / wall if measured else None,
                "host_busy_cores": busy / total * self._psutil.cpu_count() if measured else None,
                "gemm_gflops_start": self._gemm0, "gemm_gflops_end": self._gemm()}
