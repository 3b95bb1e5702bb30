"""The core engine: run a CoreProgram tick by tick, exactly (DESIGN §3, §3.1).

``run(program, ticks, inputs)`` checks its inputs, prepares the arrays the numba kernels of
``snn.cores.engine._kernels`` need (synapse counts, masked weight rows of the dense (core, axon)
rows, sparse synapse lists, narrowed neuron parameters, routes, hop counts), runs B
independent frames (prange over frames; a single frame runs prange over chunks of cores
within each tick) and returns a ``RunResult``. Results are identical for any thread count.

Backends: ``"numba"`` (this module), ``"reference"`` (``snn.cores.engine.reference``, pure Python,
slow, for tests) and ``"brian2"`` (``snn.cores.engine.brian2_backend``, cross-check and baseline).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

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
from snn.cores.program import V_MAX, V_MIN, CoreProgram
from snn.errors import ConfigError, ProgramError

MASK64 = (1 << 64) - 1
# a (core, axon) row with more than N / DENSE_DIV synapses is integrated as a dense row
DENSE_DIV = 16
# the fast path keeps a weight row for every (core, axon): at most this many bytes of rows
# (16 chips of int8 rows: 4 GiB; the general kernels hold about as many bytes of dense rows
# for such networks, so the fast path costs no more memory there: 11.4 vs 11.2 GB peak)
FULL_ROWS_MAX_BYTES = 1 << 33


def run(program: CoreProgram, ticks: int, inputs: InputSpikes | None = None, *,
        record: str = "none", seed: int = 0, per_core: bool = False, per_tick: bool = False,
        return_potential: bool = False, backend: str = "numba",
        chip_size: tuple[int, int] = (64, 64), progress: bool = False,
        first_frame: int = 0, probe: object = None,
        options: EngineOptions | None = None) -> RunResult:
    """Run ``program`` for ``ticks`` ticks on B frames of ``inputs`` (default: the stored
    inputs as one frame). See the module docstring and DESIGN §3 for the semantics.
    first_frame: the index of the first frame in a longer run (stochastic programs draw
    from the key of that frame), so batches of one run give the results of the run.
    probe: [(core, neuron), ...]: RunResult.probes holds each one's membrane after every
    tick, int32 [B, T, K] (numba and reference backends). options: how the numba backend
    runs (``EngineOptions``; results do not depend on them)."""
    ticks = check_run_args(program, ticks, record, backend, chip_size)
    if inputs is None:
        inputs = InputSpikes.from_program(program)
    if not isinstance(inputs, InputSpikes):
        raise ConfigError(f"inputs must be an InputSpikes, got {type(inputs).__name__}")
    inputs.validate(program)
    if backend == "reference":
        from snn.cores.engine.reference import run_reference
        return run_reference(program, ticks, inputs, record=record, seed=seed,
                             per_core=per_core, per_tick=per_tick,
                             return_potential=return_potential, chip_size=chip_size,
                             first_frame=first_frame, probe=probe)
    if backend == "brian2":
        if probe is not None:
            raise ConfigError("probe: the brian2 backend keeps no membrane traces; use "
                              "backend='numba' (or 'reference')")
        from snn.cores.engine.brian2_backend import run_brian2
        return run_brian2(program, ticks, inputs, record=record, seed=seed, per_core=per_core,
                          per_tick=per_tick, return_potential=return_potential,
                          chip_size=chip_size)
    prep = prepare(program, chip_size, inputs, options)
    kw = dict(record=record, seed=seed, per_core=per_core, per_tick=per_tick,
              return_potential=return_potential, first_frame=first_frame, probe=probe)
    if not progress or inputs.n_frames < 2:
        return run_prepared(prep, ticks, inputs, **kw)
    from tqdm import tqdm
    B = inputs.n_frames
    step = max(1, -(-B // 20))
    parts = []
    with tqdm(total=B, desc="frames", unit="frame") as bar:
        for lo in range(0, B, step):
            parts.append(run_prepared(prep, ticks, _frames(inputs, lo, min(B, lo + step)),
                                      **dict(kw, first_frame=first_frame + lo)))
            bar.update(parts[-1].n_frames)
    return concat_results(parts)


def _frames(inputs: InputSpikes, lo: int, hi: int) -> InputSpikes:
    """Frames lo..hi-1 of inputs."""
    a, b = int(inputs.offsets[lo]), int(inputs.offsets[hi])
    return InputSpikes(inputs.tick[a:b], inputs.core[a:b], inputs.axon[a:b],
                       inputs.offsets[lo:hi + 1] - a)


def concat_results(parts: list[RunResult]) -> RunResult:
    """One RunResult of the frames of several runs of one program (same ticks)."""
    def cat(get):  # noqa: ANN001, ANN202
        vals = [get(r) for r in parts]
        return None if vals[0] is None else np.concatenate(vals)

    def cat_dict(name: str) -> dict[str, np.ndarray] | None:
        first = getattr(parts[0], name)
        return None if first is None else {
            k: np.concatenate([getattr(r, name)[k] for r in parts]) for k in first}
    return RunResult(
        ticks=parts[0].ticks, n_frames=sum(r.n_frames for r in parts),
        counters=cat_dict("counters"), outputs=cat(lambda r: r.outputs),
        spikes=None if parts[0].spikes is None else [s for r in parts for s in r.spikes],
        spike_counts=cat(lambda r: r.spike_counts), per_core=cat_dict("per_core"),
        per_tick=cat_dict("per_tick"), potential=cat(lambda r: r.potential),
        wall_s=sum(r.wall_s for r in parts), backend=parts[0].backend,
        probes=cat(lambda r: r.probes))


def check_run_args(program: CoreProgram, ticks: int, record: str, backend: str,
                   chip_size: tuple[int, int]) -> int:
    """Validate the scalar options of run(); return ticks as int."""
    if not isinstance(program, CoreProgram):
        raise ConfigError(f"program must be a CoreProgram, got {type(program).__name__}")
    try:
        t = int(ticks)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"ticks must be an integer >= 0, got {ticks!r}") from exc
    if t != ticks or t < 0:
        raise ConfigError(f"ticks must be an integer >= 0, got {ticks!r}")
    if record not in RECORD_MODES:
        raise ConfigError(f"record must be one of {RECORD_MODES}, got {record!r}")
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if len(chip_size) != 2 or min(chip_size) < 1:
        raise ConfigError(f"chip_size must be (width, height) >= 1, got {chip_size!r}")
    return t


def seed_hash(seed: int) -> int:
    """The PRNG key of a run's seed (see snn.cores.engine.reference.hash_step)."""
    from snn.cores.engine.prng import hash_step
    return hash_step(int(seed) & MASK64, 0)


@dataclass(frozen=True)
class Prepared:
    """The arrays the kernels read, derived once from a program (``prepare``)."""

    program: CoreProgram
    options: EngineOptions
    cb: np.ndarray  # bool [C, A, N]: the crossbar (general kernels, stochastic synapses)
    nsyn: np.ndarray  # int32 [C, A]: synapses of each (core, axon) row
    axinfo: np.ndarray  # int64 [C, A]: the axon word (_layout)
    route: np.ndarray  # int32 [C, N, ROUTE_FIELDS]: target core, axon, delay, hops, chips, out
    mrow: np.ndarray  # int8 or int16 [R, N]: masked weight rows crossbar * weight
    # (fast path: the row table of _fastpath.pack_rows, described by rowinfo)
    npar: np.ndarray  # int32 [C, 3, N]: leak, threshold, -neg_threshold
    zleak: np.ndarray  # uint8 [C]: the core's neuron pass is a no-op without input once quiet
    sptr: np.ndarray  # int64 [C * A + 1]: synapse lists of the sparse rows (general kernels)
    sidx: np.ndarray  # int16 [S]: their neurons
    wt: np.ndarray  # int32 [C, 4, N]: weights by axon type
    tcore: np.ndarray  # int32 [C, N]: target core, -1 none
    taxon: np.ndarray  # int32 [C, N]: target axon (0 where none)
    ss: np.ndarray  # bool [C, N, 4] stochastic synapses, or [0, 0, 0] where none is
    sl: np.ndarray  # bool [C, N] stochastic leaks, or [0, 0]
    tmask: np.ndarray  # int32 [C, N] threshold masks, or [0, 0]
    vdtype: type  # int32 where V provably fits, else int64
    # the fast path (else None): route words, mesh positions, target word = core << ash |
    # axon, per-core row and leak bounds with whether a core may keep an int16 membrane
    # (_narrow_bounds), npar clipped to int16, source neurons per (core, axon) (at most 2),
    # per (core, axon) row: its synapses and where its entries are (_fastpath.pack_rows)
    rt: np.ndarray | None = None  # int64 [C, N]
    pos: np.ndarray | None = None  # int32 [C, 4]: mesh x, y, chip x, chip y
    ash: int = 8
    wbound: np.ndarray | None = None  # int32 [C, WB_COLUMNS] (_layout)
    npar16: np.ndarray | None = None  # int16 [3, C + S, N]: planes (_layout)
    axon_sources: np.ndarray | None = None  # uint8 [C * A]
    rowinfo: np.ndarray | None = None  # int64 [C * A]
    cmode: np.ndarray | None = None  # int8 [C]: the reset mode all its neurons share, else -1
    # rows of the last single frame's full spike record (0: none yet): sizes the next one
    record_rows: list[int] = field(default_factory=lambda: [0], compare=False, repr=False)

    @property
    def fast(self) -> bool:
        """Whether runs take the fast path (its arrays exist, V is int32, no stochastic
        leak or threshold)."""
        return (self.rt is not None and self.vdtype == np.int32 and self.sl.shape[0] == 0
                and self.tmask.shape[0] == 0)

    def dense_rows(self) -> np.ndarray:
        """The weight rows with every (core, axon) row dense at its index c * A + a, plus
        a zero row (what the general kernels read)."""
        if self.rowinfo is None:
            return self.mrow
        from snn.cores.engine._fastpath import SPARSE_BYTES, unpack_rows
        out = np.zeros((len(self.rowinfo) + 1, self.mrow.shape[1]), self.mrow.dtype)
        unpack_rows(self.mrow, self.rowinfo, SPARSE_BYTES // 2 // self.mrow.itemsize, out)
        return out


def prepare(program: CoreProgram, chip_size: tuple[int, int] = (64, 64),
            inputs: InputSpikes | None = None, options: EngineOptions | None = None
            ) -> Prepared:
    """Derive the kernel arrays of a (validated) program."""
    options = options or EngineOptions()
    from snn.cores.engine import _kernels as K
    from snn.cores.engine import _layout as L
    p = program
    C, A, N = p.n_cores, p.n_axons, p.n_neurons
    if A > 32767 or N > 32767:
        raise ProgramError("crossbar", f"cores of {A} axons x {N} neurons: the engine "
                           "handles at most 32767 of each")
    cb = np.ascontiguousarray(p.crossbar)
    nsyn = K.count_synapses(cb)
    dense = nsyn * DENSE_DIV > N
    # the fast path: no random draws, floors never below the membrane's minimum
    deterministic = (not (_any(p.stochastic_synapse) or _any(p.stochastic_leak)
                          or _any(p.threshold_mask))
                     and int(p.neg_threshold.max(initial=0)) <= -V_MIN)
    ash = max(1, int(A - 1).bit_length())
    wide = int(np.abs(p.weight.astype(np.int64)).max(initial=0)) > 127
    full_rows = (options.path != "general" and deterministic and (C << ash) < 2 ** 31
                 and C * A * N * (2 if wide else 1) <= FULL_ROWS_MAX_BYTES)
    if options.path == "fast" and not full_rows:
        raise ConfigError("EngineOptions(path='fast'): this program cannot take the fast "
                          "path (it is stochastic, has floors below the membrane's minimum "
                          f"or more than {FULL_ROWS_MAX_BYTES} bytes of rows); use path="
                          "'auto'")
    if full_rows:  # every (core, axon) row is a weight row: row c * A + a (the fast path)
        dense = np.ones_like(dense)
    sptr, sidx = K.build_sparse(cb, dense)
    wt = np.ascontiguousarray(p.weight.transpose(0, 2, 1), dtype=np.int32)
    hops, chips = hop_counts(p, chip_size)
    tcore = np.ascontiguousarray(p.target_core, np.int32)
    taxon = np.where(tcore >= 0, p.target_axon, 0).astype(np.int32)
    ss = p.stochastic_synapse if (p.stochastic_synapse is not None
                                  and p.stochastic_synapse.any()) else np.zeros((0, 0, 0), bool)
    sl = p.stochastic_leak if (p.stochastic_leak is not None
                               and p.stochastic_leak.any()) else np.zeros((0, 0), bool)
    tm = p.threshold_mask if (p.threshold_mask is not None
                              and p.threshold_mask.any()) else np.zeros((0, 0), np.int32)
    vdtype = np.int32 if _int32_safe(p, nsyn, tcore, taxon, inputs) else np.int64
    rowid = np.full((C, A), -1, np.int32)
    if ss.shape[0]:  # stochastic synapses: every row goes through the per-synapse path
        mrow = np.zeros((0, N), np.int8)
    else:
        wlo, whi = (int(p.weight.min()), int(p.weight.max())) if p.weight.size else (0, 0)
        rdt = np.int8 if -128 <= wlo and whi <= 127 else np.int16
        # the fast path pads a core's last rows with a zero row after the C * A rows
        mrow = np.empty((int(dense.sum()) + int(full_rows), N), rdt)
        if full_rows:
            mrow[-1] = 0
        K.build_rows(cb, np.ascontiguousarray(p.axon_type), wt, dense, rowid, mrow)
    par = np.stack([p.leak.astype(np.int64), p.threshold.astype(np.int64),
                    -p.neg_threshold.astype(np.int64)], axis=1)
    # int32 for every kernel (one compiled variant fewer than int16 or int32 would need);
    # the fast path's narrow cores read an int16 copy (npar16, where the values fit)
    npar = np.ascontiguousarray(par.astype(np.int32))
    zleak = ((p.leak == 0).all(axis=1) & (sl.shape[0] == 0) & (tm.shape[0] == 0)).astype(
        np.uint8)
    axinfo = (nsyn.astype(np.int64) | (p.axon_type.astype(np.int64) << L.AX_TYPE_SHIFT)
              | ((rowid.astype(np.int64) + 1) << L.AX_ROW_SHIFT))
    rt = pos = wbound = npar16 = axon_sources = rowinfo = cmode = None
    if full_rows:
        from snn.cores.engine._fastpath import pack_routes, pack_rows
        rt = pack_routes(tcore, taxon, p.delay, nsyn, p.output_index, p.reset_mode, hops,
                         chips, ash)
        wbound, npar16 = _narrow_bounds(p, mrow, par)
        mode0 = p.reset_mode[:, :1]
        cmode = np.where((p.reset_mode == mode0).all(axis=1), mode0[:, 0], -1).astype(np.int8)
        mrow, rowinfo = pack_rows(mrow, C * A, nsyn.reshape(-1), options.sparse_rows)
        has = tcore >= 0
        axon_sources = np.minimum(np.bincount(tcore[has].astype(np.int64) * A + taxon[has],
                                              minlength=C * A), 2).astype(np.uint8)
        xy = p.placement(*chip_size).astype(np.int32)
        cw, ch = chip_size
        pos = np.ascontiguousarray(np.stack([xy[:, 0], xy[:, 1], xy[:, 0] // cw,
                                             xy[:, 1] // ch], axis=1).astype(np.int32))
    route = np.zeros((C, N, K.ROUTE_FIELDS), np.int32)
    for i, arr in ((K.R_CORE, tcore), (K.R_AXON, taxon), (K.R_DELAY, p.delay), (K.R_HOPS, hops),
                   (K.R_CHIPS, chips), (K.R_OUT, p.output_index)):
        route[:, :, i] = arr
    prep = Prepared(program=p, options=options, cb=cb, nsyn=nsyn, axinfo=axinfo, route=route,
                    mrow=mrow, npar=npar, zleak=zleak, sptr=sptr, sidx=sidx, wt=wt,
                    tcore=tcore, taxon=taxon, ss=np.ascontiguousarray(ss),
                    sl=np.ascontiguousarray(sl), tmask=np.ascontiguousarray(tm, np.int32),
                    vdtype=vdtype, rt=rt, pos=pos, ash=ash, wbound=wbound, npar16=npar16,
                    axon_sources=axon_sources, rowinfo=rowinfo, cmode=cmode)
    if options.path == "fast" and not prep.fast:
        raise ConfigError("EngineOptions(path='fast'): this program's membrane may leave "
                          "int32 (it runs with int64 on the general kernels); use path='auto'")
    return prep


SHARED_ROWS_MAX = 64  # shared parameter rows per plane (npar16): values beyond stay per core


def _narrow_bounds(p: CoreProgram, mrow: np.ndarray, par: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Which cores may keep their membrane in int16 on the fast path, and their int16
    parameters: (wb int32 [C, WB_COLUMNS]: per core the largest and smallest entry of its
    weight rows and its leak, each at least 0 away from zero, 1 where the core may be
    narrow, and the row of each parameter plane it reads; npar16 int16 [3, C + S, N]: the
    planes of ``_layout``, rows from C on shared by the cores whose neurons all have one
    value). A core may be narrow where its leaks and reset values fit int16 (the cores
    have a multiple of the vector pass's 16 lanes of neurons). Thresholds and floors beyond
    int16 are clipped: a narrow membrane stays inside -32768..NARROW_MAX (the fast path's
    guard), where a threshold above NARROW_MAX never fires and a floor below -32768 never
    binds, clipped or not. Both empty where no core may be narrow."""
    from snn.cores.engine._fastpath import NARROW_MAX
    from snn.cores.engine._layout import WB_COLUMNS, WB_LEAK_ROW
    from snn.cores.engine._narrow import LANES
    C, A, N = p.n_cores, p.n_axons, p.n_neurons
    empty = (np.zeros((0, WB_COLUMNS), np.int32), np.zeros((3, 0, N), np.int16))
    if N % LANES or not C:
        return empty
    leak, thr, floor = par[:, 0], par[:, 1], par[:, 2]
    reset_to = np.where(p.reset_mode == 0, p.reset_value.astype(np.int64), 0)
    ok = ((leak >= -32768) & (leak <= 32767) & (reset_to >= -32768) & (reset_to <= 32767)
          & (floor <= 32767)).all(axis=1)  # (a valid program's floors are <= 0)
    if not ok.any():
        return empty
    rows = mrow[:C * A].reshape(C, A * N)
    wb = np.zeros((C, WB_COLUMNS), np.int32)
    if rows.size:
        wb[:, 0] = np.maximum(rows.max(axis=1), 0)
        wb[:, 1] = np.minimum(rows.min(axis=1), 0)
    wb[:, 2] = np.clip(leak.max(axis=1), 0, 32767)
    wb[:, 3] = np.clip(leak.min(axis=1), -32768, 0)
    wb[:, 4] = ok
    planes = [np.clip(leak, -32768, 32767), np.minimum(thr, NARROW_MAX + 1),
              np.clip(floor, -32768, 32767)]
    shared = []
    for j, plane in enumerate(planes):
        wb[:, WB_LEAK_ROW + j] = np.arange(C)
        uniform = (plane == plane[:, :1]).all(axis=1)
        values, index = np.unique(plane[uniform, 0], return_inverse=True)
        if len(values) <= SHARED_ROWS_MAX:
            wb[uniform, WB_LEAK_ROW + j] = C + index
        else:
            values = values[:0]
        shared.append(values)
    S = max(len(v) for v in shared)
    npar16 = np.zeros((3, C + S, N), np.int16)
    for j, plane in enumerate(planes):
        npar16[j, :C] = plane
        npar16[j, C:C + len(shared[j])] = shared[j][:, None]
    return wb, npar16


def _any(mask: np.ndarray | None) -> bool:
    return mask is not None and bool(mask.any())


def _int32_safe(p: CoreProgram, nsyn: np.ndarray, tcore: np.ndarray, taxon: np.ndarray,
                inputs: InputSpikes | None) -> bool:
    """True when V + integration + leak provably fits int32 on every tick."""
    C, A = p.n_cores, p.n_axons
    has = tcore >= 0
    kmax = np.bincount((tcore[has].astype(np.int64) * A + taxon[has]), minlength=C * A)
    if inputs is not None and len(inputs.core):
        kmax = kmax + np.bincount(inputs.core.astype(np.int64) * A + inputs.axon,
                                  minlength=C * A)
    kmax = kmax.reshape(C, A).astype(np.float64)
    wmax = np.abs(p.weight.astype(np.int64)).max(axis=(1, 2)).astype(np.float64)  # [C]
    integ = (kmax * np.minimum(nsyn, 1)).sum(axis=1) * wmax  # [C] bound of |sum k w|
    vabs = max(2.0 ** 19, float(np.abs(p.reset_value.astype(np.int64)).max()),
               float(p.neg_threshold.max()))
    lk = float(np.abs(p.leak.astype(np.int64)).max())
    return vabs + float(integ.max()) + lk < 2.0 ** 31 - 1


def frame_chunks(n_cores: int, options: EngineOptions, barrier: bool = False) -> int:
    """Route chunks of a single frame of ``n_cores`` cores: 1 (serial) below
    ``options.min_cores(barrier)`` cores (barrier: kernels that end each tick in a barrier)
    or with fewer than 2 threads, else ``options.chunks`` (default one per thread).
    Results do not depend on it, only the speed."""
    threads = options.frame_threads()
    if n_cores < options.min_cores(barrier) or threads < 2:
        return 1
    return min(n_cores, options.chunks or threads)


def _chunk_bounds(n_cores: int, chunks: int) -> np.ndarray:
    """Route chunk p of a single-frame run holds cores bounds[p]:bounds[p+1]."""
    return (np.arange(chunks + 1, dtype=np.int64) * n_cores) // chunks


def _event_offsets(prep: Prepared, inputs: InputSpikes, bounds: np.ndarray) -> np.ndarray:
    """Start of each (route chunk p, destination core c) spike list in a ring slot, index
    p * C + c: c receives at most one spike per tick from each neuron of chunk p targeting
    it, plus (chunk 0) its inputs, bounded by the most any frame sends to it."""
    C, N = prep.program.n_cores, prep.program.n_neurons
    P = len(bounds) - 1
    src = np.repeat(np.searchsorted(bounds, np.arange(C), side="right") - 1, N)
    tc = prep.tcore.reshape(-1)
    has = tc >= 0
    cap = np.bincount(src[has] * C + tc[has], minlength=P * C).astype(np.int64)
    if len(inputs.core):
        frame = np.repeat(np.arange(inputs.n_frames), np.diff(inputs.offsets))
        per = np.bincount(frame * C + inputs.core, minlength=inputs.n_frames * C)
        cap[:C] += per.reshape(inputs.n_frames, C).max(axis=0)
    off = np.zeros(P * C + 1, np.int64)
    np.cumsum(cap, out=off[1:])
    return off


def _sorted_inputs(inputs: InputSpikes, ticks: int) -> tuple[np.ndarray, ...]:
    """Events of each frame sorted by tick (stable), those at ticks >= T dropped."""
    B = inputs.n_frames
    frame = np.repeat(np.arange(B), np.diff(inputs.offsets))
    keep = inputs.tick < ticks
    frame, tick = frame[keep], inputs.tick[keep]
    core, axon = inputs.core[keep], inputs.axon[keep]
    order = np.lexsort((tick, frame))
    offsets = np.zeros(B + 1, np.int64)
    np.cumsum(np.bincount(frame, minlength=B), out=offsets[1:])
    return (tick[order].astype(np.int32), core[order].astype(np.int32),
            axon[order].astype(np.int32), offsets)


def run_prepared(prep: Prepared, ticks: int, inputs: InputSpikes | None = None, *,
                 record: str = "none", seed: int = 0, per_core: bool = False,
                 per_tick: bool = False, return_potential: bool = False,
                 first_frame: int = 0, probe: object = None,
                 options: EngineOptions | None = None) -> RunResult:
    """run() with the numba backend on arrays from ``prepare(program, chip_size)``, to run
    one (large) program many times without preparing it again. Inputs must not collide
    more than those given to prepare() (they decide whether int32 is safe for V), else
    pass them to prepare() too. probe: as run(); options: those of prepare() unless given
    (its path and sparse_rows are those prepare() used)."""
    options = options or prep.options
    ticks = check_run_args(prep.program, ticks, record, "numba", (1, 1))
    pr_c, pr_n = check_probes(prep.program, [] if probe is None else probe)
    if inputs is None:
        inputs = InputSpikes.from_program(prep.program)
    inputs.validate(prep.program)
    if prep.vdtype == np.int32 and len(inputs.core) and not _int32_safe(
            prep.program, prep.nsyn, prep.tcore, prep.taxon, inputs):
        prep = replace(prep, vdtype=np.int64)
    from numba.core import types
    from numba.typed import List

    from snn.cores.engine import _kernels as K
    from snn.cores.engine import _layout as L
    p = prep.program
    C, A, N = p.n_cores, p.n_axons, p.n_neurons
    B, T, O = inputs.n_frames, ticks, p.n_outputs
    it, ic, ia, off = _sorted_inputs(inputs, T)
    counters = np.zeros((B, len(COUNTERS)), np.int64)
    outputs = np.zeros((B, O), np.int64)
    counts = np.zeros((B, C, N) if record == "counts" else (B, 0, 0), np.int32)
    pc = np.zeros((B, 3, C) if per_core else (B, 0, 0), np.int64)
    pt = np.zeros((B, 2, T) if per_tick else (B, 0, 0), np.int64)
    full = 1 if record == "full" else 0
    trace = np.zeros((B, T, len(pr_c)), np.int32)
    sh = np.uint64(seed_hash(seed))
    v0 = initial_membrane(p, prep.vdtype)
    prog = K.GeneralProgram(
        prep.axinfo, prep.mrow if prep.fast else prep.dense_rows(), prep.wt, prep.cb,
        prep.sptr, prep.sidx, prep.npar, np.ascontiguousarray(p.reset_value),
        np.ascontiguousarray(p.reset_mode), prep.zleak, np.int64(V_MIN), np.int64(V_MAX),
        prep.ss, prep.sl, prep.tmask)
    # 32-bit fused neuron pass (int32 V, no stochastic leak or threshold)
    fast = int(prep.vdtype == np.int32 and prep.sl.shape[0] == 0 and prep.tmask.shape[0] == 0)
    route = (fast, prep.route)
    spikes: list[np.ndarray] | None = [] if full else None
    potential = None
    if prep.fast:
        spikes, potential, wall = _run_fast(prep, options, T, (it, ic, ia, off), v0, counters,
                                            outputs, counts, pc, pt, full, return_potential,
                                            (pr_c, pr_n, trace))
    elif B == 1:
        # one frame: prange over cores inside each tick (when there is enough work per tick
        # to pay for a barrier each tick; on a busy machine barriers cost milliseconds)
        chunks = frame_chunks(C, options, barrier=True)
        parallel_cores = chunks > 1
        bounds = _chunk_bounds(C, chunks)
        ev_off = _event_offsets(prep, inputs, bounds)

        def call(T_: int, V: np.ndarray) -> np.ndarray:
            seen = np.zeros((C, A if prep.ss.shape[0] else 0), np.int32)
            seenb = np.zeros((C, (A + 63) // 64), np.uint64)
            ev = np.empty((L.SLOTS, ev_off[-1]), np.int16)
            evn = np.zeros((L.SLOTS, len(ev_off) - 1), np.int32)
            hframe = np.uint64(K.frame_hash(sh, first_frame))
            kernel = K.frame_parallel if parallel_cores else K.frame_serial
            return kernel(T_, bounds, V, seen, seenb, ev, ev_off, evn, prog, hframe, *route,
                                    it, ic, ia, counters[0], outputs[0], counts[0], pc[0],
                                    pt[0], full, pr_c, pr_n, trace[0])
        rec, V, wall = _timed_frame(call, T, v0, counters)
        if full:
            spikes.append(rec)
        if return_potential:
            potential = V.astype(np.int32)[None]
    else:
        pot = np.zeros((B, C, N) if return_potential else (0, 0, 0), prep.vdtype)
        ev_off = _event_offsets(prep, inputs, _chunk_bounds(C, 1))
        recs = List.empty_list(types.int32[:, ::1])
        for _ in range(B if full else 0):
            recs.append(np.zeros((0, 3), np.int32))
        if not full:
            recs.append(np.zeros((0, 3), np.int32))

        def call_b(T_: int, sl: slice) -> None:
            K.run_frames(T_, v0, A, ev_off, prog, sh, *route, it, ic, ia,
                         off[sl.start:sl.stop + 1],
                         counters[sl], outputs[sl], counts[sl], pc[sl], pt[sl],
                         pot[sl] if return_potential else pot, recs, full, first_frame,
                         pr_c, pr_n, trace[sl])
        wall = _timed_batch(call_b, T, B, counters)
        if full:
            spikes = [recs[b] for b in range(B)]
        if return_potential:
            potential = pot.astype(np.int32)
    return RunResult(
        ticks=T, n_frames=B,
        counters={k: counters[:, i].copy() for i, k in enumerate(COUNTERS)},
        outputs=outputs, spikes=spikes,
        spike_counts=counts if record == "counts" else None,
        per_core=({"spikes": pc[:, 0], "sops": pc[:, 1], "hops": pc[:, 2]}
                  if per_core else None),
        per_tick={"spikes": pt[:, 0], "sops": pt[:, 1]} if per_tick else None,
        potential=potential, wall_s=wall, backend="numba",
        probes=None if probe is None else trace)


def initial_membrane(program: CoreProgram, dtype: type) -> np.ndarray:
    """[C, N] membrane at the start of every frame: ``v_initial`` or 0."""
    if program.v_initial is None:
        return np.zeros((program.n_cores, program.n_neurons), dtype)
    return np.ascontiguousarray(program.v_initial, dtype)


def _timed_frame(call, T: int, v0: np.ndarray,  # noqa: ANN001
                 counters: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """One frame through ``call(T, V)``: a 0-tick call first compiles (or loads) the
    kernel's specialisation, then the timed run from V = v0; (record, final V, wall s)."""
    call(0, v0.copy())
    counters[:] = 0
    V = v0.copy()
    t0 = time.perf_counter()
    rec = call(T, V)
    return rec, V, time.perf_counter() - t0


def _timed_batch(call_b, T: int, B: int, counters: np.ndarray) -> float:  # noqa: ANN001
    """B frames through ``call_b(T, frames)``: a 0-tick call on frame 0 first compiles (or
    loads) the kernel's specialisation; returns the wall seconds of the timed run."""
    call_b(0, slice(0, 1))
    counters[:] = 0
    t0 = time.perf_counter()
    call_b(T, slice(0, B))
    return time.perf_counter() - t0


def _fast_caps(prep: Prepared, bounds: np.ndarray, it: np.ndarray, off: np.ndarray
               ) -> np.ndarray:
    """Entries one slot's list of each route chunk can need: its neurons with a target
    (each sends at most one spike per due tick), chunk 0 plus the most inputs of a tick."""
    has = (prep.tcore >= 0).sum(axis=1)
    per_chunk = np.add.reduceat(np.append(has, 0), bounds[:-1])[: len(bounds) - 1]
    cap = per_chunk.astype(np.int64)
    cap[np.diff(bounds) == 0] = 0
    if len(it):
        frame = np.repeat(np.arange(len(off) - 1), np.diff(off))
        cap[0] += int(np.bincount(frame * (int(it.max()) + 1) + it).max())
    return np.maximum(cap, 1)


def _may_collide(prep: Prepared, it: np.ndarray, ic: np.ndarray, ia: np.ndarray,
                 off: np.ndarray) -> bool:
    """Whether two spikes can reach one axon in one tick (a collision): an axon with two
    source neurons, an input on an axon a neuron targets, or two inputs of a frame on one
    axon in one tick. A neuron fires at most once a tick after a fixed delay, so an axon
    with one source neuron and no input never has two. Where none can, the fast path does
    not mark the axons its spikes reach."""
    src = prep.axon_sources
    if bool((src > 1).any()):
        return True
    if not len(it):
        return False
    key = ic.astype(np.int64) * prep.program.n_axons + ia
    if bool(src[key].any()):
        return True
    frame = np.repeat(np.arange(len(off) - 1, dtype=np.int64), np.diff(off))
    when = (frame * (int(it.max()) + 1) + it) * len(src) + key
    return len(np.unique(when)) < len(when)


_RECORD_ROWS = 1 << 20  # rows (12 bytes each) a frame's record starts with, where no
# earlier frame sized it (pages never written are never resident)
_POOL_RECORD_ROWS = 1 << 24  # the same for the single-frame pool, which cannot grow it


def _record_rows(prep: Prepared, T: int, most: int) -> int:
    """Rows a single frame's full spike record of T ticks starts with: room for every
    neuron at every tick, at most ``most``; once a frame has run, a quarter more than its
    record had (so that the record is kept without a copy: see ``_fast_frame_py``)."""
    C, N = prep.program.n_cores, prep.program.n_neurons
    last = prep.record_rows[0]
    return min(T * C * N, last + last // 4 + 1024 if last else most)


def _pool_frame(T: int, bounds: np.ndarray, A: int, ash: int, V: np.ndarray,
                args: tuple, cap: np.ndarray, inp: tuple[np.ndarray, ...],
                counters: np.ndarray, outputs: np.ndarray, counts: np.ndarray,
                pc: np.ndarray, pt: np.ndarray, full: int, rows: int) -> np.ndarray:
    """One frame in the single-frame thread pool (``_fastpath.fast_frame_pool``); with a
    full record of ``rows`` rows (the pool cannot grow it) that the spikes overflow, the
    frame runs again from the same membrane with room for all (the run is deterministic).
    Returns the record (tick, core, neuron)."""
    import numba

    from snn.cores.engine import _fastpath as F
    it, ic, ia, _ = inp
    v_start = V.copy() if full else V
    while True:
        rec = np.empty((rows if full else 0, 3), np.int32)
        need = F.fast_frame_pool(T, bounds, A, ash, V, *args, cap, it, ic, ia, counters[0],
                                 outputs[0], counts[0], pc[0], pt[0],
                                 numba.get_num_threads(), full, rec)
        if need <= rows or not full:
            break
        rows = need
        V[:] = v_start
        for a in (counters, outputs, counts, pc, pt):
            a[0] = 0
    if 2 * need >= rows:  # at least half full: kept as it is (no copy)
        return rec[:need]
    return rec[:need].copy()


def fast_program(prep: Prepared, narrow: bool):
    """The program as the fast-path kernels read it (``_fastpath.FastProgram``); narrow:
    whether cores may keep int16 membranes."""
    from snn.cores.engine import _fastpath as F
    p = prep.program
    return F.FastProgram(prep.mrow, prep.rowinfo, prep.npar, np.ascontiguousarray(p.reset_value),
                         prep.zleak, np.int64(V_MAX), prep.rt,
                         np.ascontiguousarray(p.output_index), prep.pos,
                         prep.wbound if narrow else prep.wbound[:0], prep.npar16, prep.cmode)


def _run_fast(prep: Prepared, options: EngineOptions, T: int, inp: tuple[np.ndarray, ...],
              v0: np.ndarray,
              counters: np.ndarray, outputs: np.ndarray, counts: np.ndarray, pc: np.ndarray,
              pt: np.ndarray, full: int, return_potential: bool,
              probes: tuple[np.ndarray, np.ndarray, np.ndarray]
              ) -> tuple[list[np.ndarray] | None, np.ndarray | None, float]:
    """The fast path (snn.cores.engine._fastpath) for deterministic int32 programs, every frame
    from the membrane v0 (int32 [C, N]). probes (core, neuron, trace [B, T, K]): the
    kernels' snapshots after every tick fill trace (a single frame then runs without the
    thread pool, which takes no snapshots)."""
    from numba.core import types
    from numba.typed import List

    from snn.cores.engine import _fastpath as F
    p = prep.program
    C, A, N = p.n_cores, p.n_axons, p.n_neurons
    B = counters.shape[0]
    it, ic, ia, off = inp
    args = (fast_program(prep, options.narrow), _may_collide(prep, it, ic, ia, off))
    spikes: list[np.ndarray] | None = [] if full else None
    potential = None
    pr_c, pr_n, trace = probes
    K = len(pr_c)
    snap_t = np.arange(1, T + 1, dtype=np.int64) if K else np.zeros(0, np.int64)
    snap = np.zeros((B, len(snap_t), 6 + p.n_outputs + K) if K else (B, 0, 0), np.int64)
    if B == 1:
        chunks = frame_chunks(C, options, barrier=K > 0)  # probes: a barrier per tick
        parallel = chunks > 1
        bounds = _chunk_bounds(C, chunks)
        cap = _fast_caps(prep, bounds, it, off)
        kernel = F.fast_frame_parallel if parallel else F.fast_frame_serial
        pool = parallel and not K  # one parallel region for the frame

        def call(T_: int, V: np.ndarray) -> np.ndarray:
            rows = _record_rows(prep, T_, _POOL_RECORD_ROWS if pool else _RECORD_ROWS)
            if pool:
                return _pool_frame(T_, bounds, A, prep.ash, V, args, cap, inp,
                                   counters, outputs, counts, pc, pt, full, rows)
            return kernel(T_, bounds, A, prep.ash, V, *args, cap, it, ic, ia, counters[0],
                          outputs[0], counts[0], pc[0], pt[0], rows if full else 0, snap_t,
                          pr_c, pr_n, snap[0])
        rec, V, wall = _timed_frame(call, T, v0, counters)
        if full:
            prep.record_rows[0] = len(rec)
        if K:
            trace[:] = snap[:, :, 6 + p.n_outputs:]
        if full:
            spikes.append(rec)
        if return_potential:
            potential = V[None].copy()
        return spikes, potential, wall
    cap = _fast_caps(prep, _chunk_bounds(C, 1), it, off)
    pot = np.zeros((B, C, N) if return_potential else (0, 0, 0), np.int32)
    recs = List.empty_list(types.int32[:, ::1])
    for _ in range(B if full else 1):
        recs.append(np.zeros((0, 3), np.int32))

    def call_b(T_: int, sl: slice) -> None:
        F.fast_run_frames(T_, A, prep.ash, v0, *args, cap, it, ic, ia,
                          off[sl.start:sl.stop + 1], counters[sl], outputs[sl], counts[sl],
                          pc[sl], pt[sl], pot[sl] if return_potential else pot, recs,
                          min(T_ * C * N, _RECORD_ROWS) if full else 0, snap_t, pr_c, pr_n,
                          snap[sl])
    wall = _timed_batch(call_b, T, B, counters)
    if K:
        trace[:] = snap[:, :, 6 + p.n_outputs:]
    if full:
        spikes = [recs[b] for b in range(B)]
    if return_potential:
        potential = pot
    return spikes, potential, wall

