"""How the numba engine runs a program (``EngineOptions``), and the thread count the load
of the machine leaves free (``threads_for_load``, called by the command line, never by the
engine). Results never depend on the options, only the speed (the tests compare them)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from snn.errors import ConfigError

PATHS = ("auto", "fast", "general")
# single-frame threading from this many cores: the fast path's pool hands ticks over
# through atomics; 2 threads against 1 (2026-12-07, per-destination spike lists, spinning
# without a pause each spin; ad hoc, 2 CPUs): 1.13x at 16 cores, 1.38x at 32, 1.57x at 64,
# 1.70x at 128, 2.18x at 256; a barrier per tick (prange over chunks) costs microseconds a
# tick and pays only from about 256 cores
POOL_MIN_CORES = 32
BARRIER_MIN_CORES = 256


@dataclass(frozen=True)
class EngineOptions:
    """Choices of the numba backend (DESIGN §3.1).

    path: "auto" runs deterministic programs whose rows fit (and whose membrane fits int32)
    on the fast path, the others on the general kernels; "fast" requires the fast path
    (ConfigError when the program cannot take it); "general": the general kernels always.
    narrow: fast-path cores keep an int16 membrane while it fits (False: int32 throughout).
    sparse_rows: the fast path packs short weight rows (False: every row dense).
    threads: threads one frame's cores run on (None: numba's thread count; 1: serial);
    batches of frames run their frames on numba's threads.
    chunks: route chunks of one frame on several threads (None: one per thread; more than
    the running threads is allowed).
    par_min_cores: a single frame runs on several threads only from this many cores (below,
    one tick's work is too small to pay for the threads' hand-over per tick); None: 32
    for the fast path's thread pool (``POOL_MIN_CORES``), 256 where a tick ends in a
    barrier (the general kernels, membrane probes: ``BARRIER_MIN_CORES``).
    """

    path: str = "auto"
    narrow: bool = True
    sparse_rows: bool = True
    threads: int | None = None
    chunks: int | None = None
    par_min_cores: int | None = None

    def __post_init__(self) -> None:
        if self.path not in PATHS:
            raise ConfigError(f"EngineOptions.path must be one of {PATHS}, got {self.path!r}")
        for name in ("threads", "chunks"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ConfigError(f"EngineOptions.{name} must be None or an integer >= 1, "
                                  f"got {v!r}")
        if self.par_min_cores is not None and (not isinstance(self.par_min_cores, int)
                                               or self.par_min_cores < 1):
            raise ConfigError("EngineOptions.par_min_cores must be None or an integer >= 1, "
                              f"got {self.par_min_cores!r}")

    def min_cores(self, barrier: bool) -> int:
        """The fewest cores a single frame runs on several threads from: ``par_min_cores``,
        or the default of the kernel (barrier: a barrier ends every tick)."""
        if self.par_min_cores is not None:
            return self.par_min_cores
        return BARRIER_MIN_CORES if barrier else POOL_MIN_CORES

    def frame_threads(self) -> int:
        """The threads one frame may use: ``threads``, or numba's thread count."""
        if self.threads is not None:
            return self.threads
        import numba
        return numba.get_num_threads()


def threads_for_load(threads: int | None = None) -> tuple[int, str]:
    """The threads one frame should use on this machine now: at most ``threads`` (default
    numba's thread count), fewer while the 1-minute load average leaves fewer CPUs free
    (a frame's threads wait for each other every tick, so a descheduled one delays them
    all). Returns (threads, why: "" or a sentence saying why fewer were chosen)."""
    if threads is None:
        import numba
        threads = numba.get_num_threads()
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    load = os.getloadavg()[0]
    free = max(1, min(threads, int(cpus + 1.5 - load)))
    if free >= threads:
        return threads, ""
    return free, (f"one frame runs on {free} of {threads} threads: the 1-minute load "
                  f"average {load:.1f} on {cpus} CPUs leaves no more free")
