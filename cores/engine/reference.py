"""A tiny pure-Python reference of the tick semantics (docs/design.md §3), written for clarity.

Slow (Python loops over every synapse); used by the tests to check the numba engine and
the Brian2 backend spike for spike. Stochastic modes use the same counter-based hash as the
engine (``hash_step``), so they are checked too.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from snn.cores.engine.prng import (  # noqa: F401 (the reference names its PRNG)
    GOLDEN,
    KIND_LEAK,
    KIND_SYNAPSE,
    KIND_THRESHOLD,
    MASK64,
    MUL1,
    MUL2,
    hash_step,
    key,
)
from snn.cores.program import V_MAX, V_MIN, CoreProgram


def _bernoulli_sign(value: int, r: int) -> int:
    """sign(value) with probability |value|/256 from the top 8 bits of r."""
    draw = r >> 56
    if value > 0:
        return 1 if draw < value else 0
    if value < 0:
        return -1 if draw < -value else 0
    return 0


def run_reference(program: CoreProgram, ticks: int, inputs, *, record: str = "none",
                  seed: int = 0, per_core: bool = False, per_tick: bool = False,
                  return_potential: bool = False, chip_size: tuple[int, int] = (64, 64),
                  first_frame: int = 0, probe: object = None):
    """Run every frame of ``inputs`` (an engine.InputSpikes) tick by tick; return a RunResult
    (probe: [(core, neuron), ...] whose membrane to keep after every tick)."""
    from snn.cores.engine.run_types import COUNTERS, RunResult, check_probes, hop_counts
    p = program
    C, N = p.n_cores, p.n_neurons
    B, T = inputs.n_frames, ticks
    hops, chips = hop_counts(p, chip_size)
    out = {k: np.zeros(B, np.int64) for k in COUNTERS}
    outputs = np.zeros((B, p.n_outputs), np.int64)
    spikes, counts = [], np.zeros((B, C, N), np.int32)
    pc = {k: np.zeros((B, C), np.int64) for k in ("spikes", "sops", "hops")}
    pt = {k: np.zeros((B, T), np.int64) for k in ("spikes", "sops")}
    potential = np.zeros((B, C, N), np.int32)
    pr_c, pr_n = check_probes(p, [] if probe is None else probe)
    probes = np.zeros((B, T, len(pr_c)), np.int32)
    t0 = time.perf_counter()
    for b in range(B):
        lo, hi = int(inputs.offsets[b]), int(inputs.offsets[b + 1])
        V = ([[0] * N for _ in range(C)] if p.v_initial is None
             else [[int(v) for v in row] for row in p.v_initial])
        due: dict[int, dict[tuple[int, int], int]] = defaultdict(lambda: defaultdict(int))
        for i in range(lo, hi):
            t = int(inputs.tick[i])
            if t < T:
                due[t][(int(inputs.core[i]), int(inputs.axon[i]))] += 1
                out["input_events"][b] += 1
        record_b = []
        for t in range(T):
            arriving = due.pop(t, {})
            # 1. integrate: k spikes on axon a add k * weight[n, type(a)] to each crossbar n
            for (c, a), k in sorted(arriving.items()):
                out["axon_collisions"][b] += k - 1
                ty = int(p.axon_type[c, a])
                for n in range(N):
                    if not p.crossbar[c, a, n]:
                        continue
                    w = int(p.weight[c, n, ty])
                    stochastic = (p.stochastic_synapse is not None
                                  and p.stochastic_synapse[c, n, ty])
                    for j in range(k):
                        if stochastic:
                            r = key(seed, first_frame + b, t, c, KIND_SYNAPSE, a, j, n)
                            V[c][n] += _bernoulli_sign(w, r)
                        else:
                            V[c][n] += w
                    out["sops"][b] += k
                    pc["sops"][b, c] += k
                    pt["sops"][b, t] += k
            fired = []
            for c in range(C):
                for n in range(N):
                    # 2. leak (stochastic: sign(leak) with probability |leak|/256), clamp
                    leak = int(p.leak[c, n])
                    if p.stochastic_leak is not None and p.stochastic_leak[c, n]:
                        leak = _bernoulli_sign(leak, key(seed, first_frame + b, t, c,
                                                         KIND_LEAK, n))
                    v = min(max(V[c][n] + leak, V_MIN), V_MAX)
                    # 3. fire (threshold + (random & mask)), reset by mode, floor at -beta
                    theta = int(p.threshold[c, n])
                    eta = 0
                    if p.threshold_mask is not None and p.threshold_mask[c, n]:
                        eta = (key(seed, first_frame + b, t, c, KIND_THRESHOLD, n) >> 33) & int(
                            p.threshold_mask[c, n])
                    if v >= theta + eta:
                        fired.append((c, n))
                        mode = int(p.reset_mode[c, n])
                        if mode == 0:
                            v = int(p.reset_value[c, n])
                        elif mode == 1:
                            v = v - theta
                    V[c][n] = max(v, -int(p.neg_threshold[c, n]))
            for k in range(len(pr_c)):
                probes[b, t, k] = V[pr_c[k]][pr_n[k]]
            # 4. route: deliver at t + delay; hops and chip crossings counted when sent
            for c, n in fired:
                out["spikes"][b] += 1
                pc["spikes"][b, c] += 1
                pt["spikes"][b, t] += 1
                counts[b, c, n] += 1
                record_b.append((t, c, n))
                if p.output_index[c, n] >= 0:
                    outputs[b, p.output_index[c, n]] += 1
                tc = int(p.target_core[c, n])
                if tc >= 0:
                    out["hops"][b] += int(hops[c, n])
                    out["chip_crossings"][b] += int(chips[c, n])
                    pc["hops"][b, c] += int(hops[c, n])
                    arrive = t + int(p.delay[c, n])
                    if arrive < T:
                        due[arrive][(tc, int(p.target_axon[c, n]))] += 1
        spikes.append(np.array(record_b, np.int32).reshape(-1, 3))
        potential[b] = np.array(V, np.int64).reshape(C, N)
    wall = time.perf_counter() - t0
    return RunResult(
        ticks=T, n_frames=B, counters=out, outputs=outputs,
        spikes=spikes if record == "full" else None,
        spike_counts=counts if record == "counts" else None,
        per_core=pc if per_core else None, per_tick=pt if per_tick else None,
        potential=potential if return_potential else None, wall_s=wall, backend="reference",
        probes=None if probe is None else probes)
