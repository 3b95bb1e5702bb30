"""snn.cores.engine: run a CoreProgram tick by tick, exactly (docs/engine.md).

``api`` is the entry point (``run``, ``prepare``, ``run_prepared``); ``run_types`` the data
types every backend shares (a leaf: it imports nothing back from the engine); ``options`` how
the numba backend runs. The numba kernels: ``_fastpath`` (deterministic programs), ``_narrow``
(int16 cores), ``_kernels`` (the general path), over the packed arrays of ``_layout`` with the
LLVM intrinsics of ``_llvm`` and the atomics of ``_sync``. Other backends: ``reference`` (pure
Python, with its PRNG in ``prng``) and ``brian2_backend``. ``stream`` (with ``_stream``) runs
encoded frames through a program batch by batch.
"""

from __future__ import annotations

from snn.cores.engine.api import (
    Prepared,
    check_run_args,
    concat_results,
    frame_chunks,
    initial_membrane,
    prepare,
    run,
    run_prepared,
    seed_hash,
)
from snn.cores.engine.options import EngineOptions
from snn.cores.engine.run_types import (
    BACKENDS,
    COUNTERS,
    RECORD_MODES,
    InputSpikes,
    RunResult,
    check_probes,
    hop_counts,
)

__all__ = ["BACKENDS", "COUNTERS", "RECORD_MODES", "EngineOptions", "InputSpikes", "Prepared",
           "RunResult", "check_probes", "check_run_args", "concat_results", "frame_chunks",
           "hop_counts", "initial_membrane", "prepare", "run", "run_prepared", "seed_hash"]
