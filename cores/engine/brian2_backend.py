"""Brian2 backend: the same CoreProgram as a Brian2 network (cross-check and speed baseline).

Every core synapse is expanded through the crossbar into a neuron-to-neuron synapse: a
neuron (c, n) whose target is (tc, ta) gets one synapse onto each neuron n' of core tc with
crossbar[tc, ta, n'], of weight weight[tc, n', axon_type[tc, ta]]. External inputs come from
a SpikeGeneratorGroup with one generator per (core, axon) and per repetition (Brian2 refuses
two spikes of one generator in one step), expanded through the crossbar the same way.

Schedule of one step (one tick) = ['start', 'synapses', 'groups', 'thresholds', 'resets',
'end']: the generator emits at 'start'; 'synapses' delivers the spikes due now (integrate);
'groups' adds the leak, clamps to 20 bits and floors; 'thresholds' tests V >= threshold;
'resets' resets by mode and floors again. A synapse reads its source's spikes one step after
they fire (the spike space is refilled at 'thresholds'), so a delay of d ticks is (d-1)*dt.
The state is float64 holding integers (exact up to 2^53; Brian2's integer is int32, which
the engine's saturation semantics can overflow within a tick). Stochastic modes are not
modelled here. Counters are derived from the recorded spikes with the engine's rules.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from snn.cores.program import V_MAX, V_MIN, CoreProgram
from snn.errors import ConfigError

TARGETS = ("numpy", "cython", "cpp_standalone")


def expand_synapses(program: CoreProgram, sources: np.ndarray, dest_core: np.ndarray,
                    dest_axon: np.ndarray, chunk: int = 65536
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Synapses of spikes from ``sources`` (ids) arriving at (dest_core, dest_axon):
    (pre id, post neuron id = core*N + n, weight, row index into sources)."""
    p = program
    N = p.n_neurons
    pres, posts, ws, rows = [], [], [], []
    for lo in range(0, len(sources), chunk):
        tc, ta = dest_core[lo:lo + chunk], dest_axon[lo:lo + chunk]
        r, n = np.nonzero(p.crossbar[tc, ta])          # [S]
        ty = p.axon_type[tc[r], ta[r]]
        pres.append(sources[lo + r])
        posts.append(tc[r].astype(np.int64) * N + n)
        ws.append(p.weight[tc[r], n, ty].astype(np.float64))
        rows.append(lo + r)
    return _cat(pres, np.int64), _cat(posts, np.int64), _cat(ws, np.float64), _cat(rows, np.int64)


def _cat(xs: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype)


def run_brian2(program: CoreProgram, ticks: int, inputs, *, record: str = "none", seed: int = 0,
               per_core: bool = False, per_tick: bool = False, return_potential: bool = False,
               chip_size: tuple[int, int] = (64, 64), target: str | None = None,
               repeats: int = 1):
    """Run every frame of ``inputs`` (engine.InputSpikes) in Brian2; return a RunResult.

    ``target``: "numpy", "cython" or "cpp_standalone" (default: $SNN_BRIAN2_TARGET or
    "numpy"). ``wall_s`` is the time of the runs alone (no code generation or compilation;
    for cpp_standalone Brian2's own timing of its simulation loop); with ``repeats`` > 1 each
    frame's run is repeated from the same initial state and the fastest run is kept (a fair
    baseline next to an engine timed as the fastest of several runs).
    """
    from snn.cores.engine.run_types import RunResult
    target = target or os.environ.get("SNN_BRIAN2_TARGET", "numpy")
    if int(repeats) < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    if target not in TARGETS:
        raise ConfigError(f"brian2 target must be one of {TARGETS}, got {target!r}")
    p = program
    for key in ("stochastic_synapse", "stochastic_leak", "threshold_mask"):
        arr = getattr(p, key)
        if arr is not None and arr.any():
            raise ConfigError(f"the brian2 backend runs deterministic programs only; this "
                              f"program uses {key} (use backend='numba' or 'reference')")
    B, T = inputs.n_frames, ticks
    C, N = p.n_cores, p.n_neurons
    frames, wall = [], 0.0
    for b in range(B):
        lo, hi = int(inputs.offsets[b]), int(inputs.offsets[b + 1])
        ev = (inputs.tick[lo:hi], inputs.core[lo:hi], inputs.axon[lo:hi])
        spikes, v, dt_run = _run_frame(p, T, ev, target, int(repeats))
        frames.append((spikes, v))
        wall += dt_run
    res = counters_from_spikes(p, T, inputs, [f[0] for f in frames], chip_size)
    counts = np.zeros((B, C, N), np.int32)
    for b, (s, _) in enumerate(frames):
        np.add.at(counts[b], (s[:, 1], s[:, 2]), 1)
    return RunResult(
        ticks=T, n_frames=B, counters=res["counters"], outputs=res["outputs"],
        spikes=[f[0] for f in frames] if record == "full" else None,
        spike_counts=counts if record == "counts" else None,
        per_core=res["per_core"] if per_core else None,
        per_tick=res["per_tick"] if per_tick else None,
        potential=(np.stack([f[1] for f in frames]).astype(np.int32)
                   if return_potential else None),
        wall_s=wall, backend="brian2")


def counters_from_spikes(program: CoreProgram, ticks: int, inputs, spikes: list[np.ndarray],
                         chip_size: tuple[int, int] = (64, 64)) -> dict:
    """The engine's counters, outputs, per-core and per-tick counts from spike records."""
    from snn.cores.engine.run_types import COUNTERS, hop_counts
    p = program
    C, A, T, B = p.n_cores, p.n_axons, ticks, len(spikes)
    hops, chips = hop_counts(p, chip_size)
    nsyn = p.crossbar.sum(axis=2)
    out = {k: np.zeros(B, np.int64) for k in COUNTERS}
    outputs = np.zeros((B, p.n_outputs), np.int64)
    pc = {k: np.zeros((B, C), np.int64) for k in ("spikes", "sops", "hops")}
    pt = {k: np.zeros((B, T), np.int64) for k in ("spikes", "sops")}
    for b, s in enumerate(spikes):
        t, c, n = s[:, 0].astype(np.int64), s[:, 1].astype(np.int64), s[:, 2].astype(np.int64)
        out["spikes"][b] = len(s)
        np.add.at(pc["spikes"][b], c, 1)
        np.add.at(pt["spikes"][b], t, 1)
        oi = p.output_index[c, n]
        np.add.at(outputs[b], oi[oi >= 0], 1)
        out["hops"][b] = hops[c, n].sum()
        out["chip_crossings"][b] = chips[c, n].sum()
        np.add.at(pc["hops"][b], c, hops[c, n])
        # deliveries within the run: routed spikes and inputs, as (tick, core, axon)
        tc = p.target_core[c, n]
        arrive = t + p.delay[c, n]
        ok = (tc >= 0) & (arrive < T)
        lo, hi = int(inputs.offsets[b]), int(inputs.offsets[b + 1])
        it = inputs.tick[lo:hi].astype(np.int64)
        keep = it < T
        out["input_events"][b] = int(keep.sum())
        d_t = np.r_[arrive[ok], it[keep]]
        d_c = np.r_[tc[ok], inputs.core[lo:hi][keep]].astype(np.int64)
        d_a = np.r_[p.target_axon[c, n][ok], inputs.axon[lo:hi][keep]].astype(np.int64)
        sops = nsyn[d_c, d_a]
        out["sops"][b] = sops.sum()
        np.add.at(pc["sops"][b], d_c, sops)
        np.add.at(pt["sops"][b], d_t, sops)
        key = (d_t * C + d_c) * A + d_a
        _, k = np.unique(key, return_counts=True)
        out["axon_collisions"][b] = int((k - 1).sum())
    return {"counters": out, "outputs": outputs, "per_core": pc, "per_tick": pt}


def _run_frame(p: CoreProgram, T: int, events: tuple[np.ndarray, np.ndarray, np.ndarray],
               target: str, repeats: int = 1) -> tuple[np.ndarray, np.ndarray, float]:
    """One frame in a fresh Brian2 network: (spike record [S, 3], final V [C, N], the fastest
    of ``repeats`` runs in s)."""
    import brian2 as b2
    C, N = p.n_cores, p.n_neurons
    standalone = target == "cpp_standalone"
    if standalone:
        outdir = tempfile.mkdtemp(prefix="snn-brian2-")
        b2.set_device("cpp_standalone", directory=outdir, build_on_run=False)
    else:
        b2.set_device("runtime")
        b2.prefs.codegen.target = target
    b2.start_scope()
    dt = 1 * b2.ms
    b2.defaultclock.dt = dt
    sched = ["start", "synapses", "groups", "thresholds", "resets", "end"]
    flat = lambda x: np.asarray(x, np.float64).reshape(-1)  # noqa: E731
    mode = p.reset_mode.reshape(-1)
    eqs = """
    v : 1
    leak : 1 (constant)
    thr : 1 (constant)
    floor_v : 1 (constant)
    rval : 1 (constant)
    m0 : 1 (constant)
    m1 : 1 (constant)
    m2 : 1 (constant)
    """
    G = b2.NeuronGroup(C * N, eqs, threshold="v >= thr",
                       reset="v = m0 * rval + m1 * (v - thr) + m2 * v\n"
                             "v = clip(v, floor_v, inf)",
                       method="exact", name="cores")
    G.leak = flat(p.leak)
    G.thr = flat(p.threshold)
    G.floor_v = -flat(p.neg_threshold)
    G.rval = flat(p.reset_value)
    if p.v_initial is not None:
        G.v = flat(p.v_initial)
    G.m0, G.m1, G.m2 = flat(mode == 0), flat(mode == 1), flat(mode == 2)
    G.run_regularly(f"v = clip(v + leak, {V_MIN}, {V_MAX})\nv = clip(v, floor_v, inf)",
                    when="groups", name="leak_clamp_floor")
    objs = [G]
    # recurrent synapses through the crossbar
    src = np.flatnonzero(p.target_core.reshape(-1) >= 0)
    pre, post, w, row = expand_synapses(p, src, p.target_core.reshape(-1)[src].astype(np.int64),
                                        p.target_axon.reshape(-1)[src].astype(np.int64))
    if len(pre):
        S = b2.Synapses(G, G, "w : 1 (constant)", on_pre="v_post += w", name="recurrent")
        S.connect(i=pre, j=post)
        S.w = w
        S.delay = (p.delay.reshape(-1)[pre].astype(np.float64) - 1) * dt
        objs.append(S)
    # external inputs: generator (repetition r, core, axon) -> crossbar
    tick, core, axon = (np.asarray(x, np.int64) for x in events)
    keep = tick < T
    tick, core, axon = tick[keep], core[keep], axon[keep]
    if len(tick):
        A = p.n_axons
        slot = core * A + axon
        order = np.lexsort((slot, tick))
        tick, slot = tick[order], slot[order]
        key = tick * (C * A) + slot
        first = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
        rep = np.arange(len(key)) - np.repeat(first, np.diff(np.r_[first, len(key)]))
        gen_id = rep * (C * A) + slot
        used, gen_idx = np.unique(gen_id, return_inverse=True)
        gen = b2.SpikeGeneratorGroup(len(used), gen_idx, tick * dt, when="start", name="inputs")
        ucore, uaxon = (used % (C * A)) // A, used % A
        gpre, gpost, gw, _ = expand_synapses(p, np.arange(len(used)), ucore, uaxon)
        objs.append(gen)
        if len(gpre):
            SI = b2.Synapses(gen, G, "w : 1 (constant)", on_pre="v_post += w", name="input_syn")
            SI.connect(i=gpre, j=gpost)
            SI.w = gw
            objs.append(SI)
    mon = b2.SpikeMonitor(G, name="spikes")
    objs.append(mon)
    net = b2.Network(*objs)
    net.schedule = sched
    if standalone:
        net.run(T * dt, namespace={})
        b2.device.build(directory=outdir, compile=True, run=False)
        wall = np.inf
        for _ in range(repeats):  # the binary starts from the same files every time
            t0 = time.perf_counter()
            b2.device.run(directory=outdir)
            # Brian2's own time of the simulation loop (excludes starting the binary and
            # loading the synapse files); the process wall time is the fallback
            wall = min(wall, float(getattr(b2.device, "_last_run_time", None)
                                   or time.perf_counter() - t0))
    else:
        net.run(0 * dt, namespace={})  # code generation and compilation, outside the timing
        if repeats > 1:
            net.store("start")
        wall = np.inf
        for r in range(repeats):
            if r:
                net.restore("start")
            t0 = time.perf_counter()
            net.run(T * dt, namespace={})
            wall = min(wall, time.perf_counter() - t0)
    i = np.asarray(mon.i[:], np.int64)
    t = np.rint(np.asarray(mon.t[:] / dt)).astype(np.int64)
    v = np.asarray(G.v[:], np.float64).reshape(C, N)
    if standalone:
        b2.device.reinit()
        b2.device.activate()
        b2.set_device("runtime")
    rec = np.stack([t, i // N, i % N], axis=1).astype(np.int32) if len(i) else np.zeros(
        (0, 3), np.int32)
    order = np.lexsort((rec[:, 2], rec[:, 1], rec[:, 0]))
    return rec[order], v, wall
