"""The fast path's inner step alone: one masked int8 weight row added into an int32 core
membrane, rows prefetched 8 spikes ahead as in ``snn.cores.engine._fastpath``, for weight tables of
128 KB to 2 MB (2 to 32 cores of 256 x 256). Tells whether the row add is bound by the rows'
memory or by the membrane's loads and stores.

    python benchmarks/row_add.py  ->  benchmarks/results/row_add.{json,md}
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

from snn.cores.engine._llvm import prefetch as _prefetch
from snn.fileio import atomic_write_text

AHEAD = 8
ADDS = 80_000


@njit(cache=True)
def _add_rows(V, mrow, rows, cores):
    N = V.shape[1]
    E = rows.shape[0]
    for e in range(E):
        if e + AHEAD < E:
            for n in range(0, N, 64):
                _prefetch(mrow, rows[e + AHEAD], n)
        r = rows[e]
        c = cores[e]
        for n in range(N):
            V[c, n] += mrow[r, n]


def measure(n_cores: int, repeats: int = 20, seed: int = 0) -> dict:
    """Fastest of ``repeats`` passes of ADDS random row adds; ns per row."""
    rng = np.random.default_rng(seed)
    A = N = 256
    mrow = rng.integers(-60, 60, (n_cores * A, N)).astype(np.int8)
    cores = rng.integers(0, n_cores, ADDS)
    rows = cores * A + rng.integers(0, A, ADDS)
    V = np.zeros((n_cores, N), np.int32)
    _add_rows(V, mrow, rows, cores)
    best = min(_timed(V, mrow, rows, cores) for _ in range(repeats))
    return {"cores": n_cores, "table_kb": mrow.nbytes // 1024, "ns_per_row": best / ADDS * 1e9}


def _timed(V, mrow, rows, cores) -> float:
    t0 = time.perf_counter()
    _add_rows(V, mrow, rows, cores)
    return time.perf_counter() - t0


def main() -> int:
    out = Path(__file__).parent / "results"
    rows = [measure(c) for c in (2, 4, 8, 16, 32)]
    md = ["# Row add alone (int8 row into int32 membrane, prefetched)", "",
          "`python benchmarks/row_add.py`; fastest of 20 passes of 80 000 random row adds.", "",
          "| cores | weight rows (KB) | ns per row add |", "|---:|---:|---:|"]
    md += [f"| {r['cores']} | {r['table_kb']} | {r['ns_per_row']:.1f} |" for r in rows]
    atomic_write_text(out / "row_add.json", json.dumps(rows, indent=1))
    atomic_write_text(out / "row_add.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
