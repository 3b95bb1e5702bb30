"""Frames streamed through a compiled program: encoded, run and decoded in batches, every
requested tick count from one run (see ``snn.cores.evaluate`` for the semantics).

``FrameStream`` prepares a program once (kernel arrays, the input map, whether inputs can
collide) and then runs batches of frames: on the fast path one parallel kernel
(``snn.cores.engine._stream.eval_frames``) encodes, expands and runs each frame on its own thread
and snapshots every requested T; other programs (stochastic, or a membrane that may leave
int32) run each T as its own engine run on the same batch. ``Tally`` sums what the frames
gave (integers, so any batching or sharding gives the same totals); ``run_on_dask`` shards
frames over a Dask cluster into one Tally.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from snn.cores.compiler.io import _unit_frames, check_compiled, encode_frames
from snn.cores.engine.options import EngineOptions
from snn.cores.program import CoreProgram
from snn.cores.readout import COUNTER_KEYS, decode, readout_neurons, truncate
from snn.encoding import RATE_LEVELS, encode
from snn.errors import ConfigError

SECONDS_PER_BATCH = 1.0  # adaptive batches aim at this much engine time each
MAX_BATCH = 4096
SPIKE_BYTES_PER_BATCH = 64 << 20  # poisson inputs: at most this many spike bytes a batch
DASK_SHARD_FRAMES = 250
DASK_CONNECT_TIMEOUT = "10s"


@dataclass
class Tally:
    """Sums over frames for each tick count: correct predictions and counters."""

    ticks: list[int]
    frames: int = 0
    correct: dict[int, int] = field(default_factory=dict)
    sums: dict[int, dict[str, int]] = field(default_factory=dict)
    engine_s: float = 0.0
    encode_s: float = 0.0
    how: str = ""

    def __post_init__(self) -> None:
        for t in self.ticks:
            self.correct.setdefault(t, 0)
            self.sums.setdefault(t, {k: 0 for k in COUNTER_KEYS})

    def add(self, pred: np.ndarray, labels: np.ndarray, counters: np.ndarray) -> None:
        """One batch: pred int [B, S] (class per frame and tick count), counters int64
        [B, S, 6] (COUNTER_KEYS)."""
        self.frames += len(labels)
        for s, t in enumerate(self.ticks):
            self.correct[t] += int((pred[:, s] == labels).sum())
            tot = counters[:, s].sum(axis=0)
            for i, k in enumerate(COUNTER_KEYS):
                self.sums[t][k] += int(tot[i])

    def merge(self, other: Tally) -> None:
        """Add another tally of the same tick counts (a shard's)."""
        self.frames += other.frames
        for t in self.ticks:
            self.correct[t] += other.correct[t]
            for k in COUNTER_KEYS:
                self.sums[t][k] += other.sums[t][k]
        self.engine_s += other.engine_s
        self.encode_s += other.encode_s
        self.how = self.how or other.how


@dataclass
class InputMap:
    """The program's input map grouped by element (CSR) plus its hold axons."""

    el_start: np.ndarray  # int64 [n_el]
    el_count: np.ndarray  # int64 [n_el]
    m_core: np.ndarray  # int32 [M], sorted by element
    m_axon: np.ndarray  # int32 [M]
    m_tick: np.ndarray  # int64 [M]
    h_core: np.ndarray  # int32 [H]
    h_axon: np.ndarray  # int32 [H]
    h_ticks: np.ndarray  # int64 [H]

    @classmethod
    def from_program(cls, program: CoreProgram) -> InputMap:
        ex = program.extras
        n_el = int(np.prod([int(s) for s in np.atleast_1d(ex["input_shape"])]))
        elem = np.asarray(ex["input_element"], np.int64).reshape(-1)
        keep = (elem >= 0) & (elem < n_el)  # as encode_frames: elements beyond the frame
        order = np.argsort(elem[keep], kind="stable")
        count = np.bincount(elem[keep], minlength=n_el)[:n_el].astype(np.int64)
        start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)

        def col(key: str, dt: type) -> np.ndarray:
            return np.ascontiguousarray(np.asarray(ex[key]).reshape(-1)[keep][order], dt)
        h_core = np.asarray(ex.get("hold_core", np.zeros(0)), np.int32).reshape(-1)
        h_axon = np.asarray(ex.get("hold_axon", np.zeros(0)), np.int32).reshape(-1)
        h_ticks = np.asarray(ex.get("hold_ticks", np.zeros(0)), np.int64).reshape(-1)
        return cls(start, count, col("input_map_core", np.int32),
                   col("input_map_axon", np.int32), col("input_map_tick", np.int64),
                   h_core, h_axon, h_ticks)

    def keys(self, n_axons: int) -> np.ndarray:
        """core * n_axons + axon of every map and hold entry."""
        return np.concatenate([self.m_core.astype(np.int64) * n_axons + self.m_axon,
                               self.h_core.astype(np.int64) * n_axons + self.h_axon])

    def per_tick_bound(self):  # -> InputSpikes
        """One event per map and hold entry: per (core, axon), the most inputs one tick can
        bring (each entry drives its axon at most once a tick)."""
        from snn.cores.engine.run_types import InputSpikes
        core = np.concatenate([self.m_core, self.h_core]).astype(np.int32)
        axon = np.concatenate([self.m_axon, self.h_axon]).astype(np.int16)
        return InputSpikes(np.zeros(len(core), np.int32), core, axon,
                           np.array([0, len(core)], np.int64))


class FrameStream:
    """A program prepared for batches of frames at tick counts ``ticks`` (see module doc)."""

    def __init__(self, program: CoreProgram, ticks: list[int], *, seed: int = 0,
                 chip_size: tuple[int, int] = (64, 64),
                 options: EngineOptions | None = None) -> None:
        from snn.cores.engine.api import prepare
        check_compiled(program)
        self.program = program
        self.ticks = sorted({int(t) for t in ticks})
        self.seed = int(seed)
        self.chip = tuple(chip_size)
        ex = program.extras
        self.latency = int(ex["latency_ticks"])
        enc = str(ex["encoding"])
        self.encoding = "rate" if enc == "current" else enc
        self.imap = InputMap.from_program(program)
        self.prep = prepare(program, self.chip, self.imap.per_tick_bound(), options)
        self.fast = self.prep.fast
        c, n, idx = readout_neurons(program)
        self.ro_c, self.ro_n, self.ro_idx = c.astype(np.int32), n.astype(np.int32), idx
        self.how = ("one run, snapshots at each T (fast path, frames in parallel)"
                    if self.fast else
                    "one run per T (general kernels: the program is stochastic or its "
                    "membrane may leave int32)")

    def may_collide(self) -> bool:
        """Whether two spikes can meet on one axon in one tick: an axon with two source
        neurons, an input on an axon a neuron targets, or two map or hold entries on one
        axon (conservative: they may fire in the same tick)."""
        src = self.prep.axon_sources
        if bool((src > 1).any()):
            return True
        keys = self.imap.keys(self.program.n_axons)
        if not len(keys):
            return False
        return bool(src[keys].any()) or len(np.unique(keys)) < len(keys)

    def evaluate(self, images: np.ndarray, labels: np.ndarray, tally: Tally, *,
                 first_frame: int = 0, batch: int | None = None, progress: bool = False
                 ) -> None:
        """Run all frames in batches into ``tally`` (a progress bar with frames/s and SOP/s
        when ``progress``). Stops between batches on Ctrl-C with the tally up to date."""
        import numba
        tally.how = self.how
        n = len(images)
        threads = numba.get_num_threads()
        bs = int(batch) if batch else max(2 * threads, 8)
        bs = max(1, min(bs, self._spike_batch_cap()))
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=n, desc="cores", unit="frame", leave=False)
        try:
            s = 0
            while s < n:
                e = min(n, s + bs)
                t0 = time.perf_counter()
                pred, counters, engine_s, encode_s = self.run_batch(
                    images[s:e], first_frame=first_frame + s)
                tally.engine_s += engine_s
                tally.encode_s += encode_s
                tally.add(pred, np.asarray(labels[s:e]), counters)
                if bar is not None:
                    bar.update(e - s)
                    sops = tally.sums[self.ticks[-1]]["sops"] / max(tally.engine_s, 1e-9)
                    bar.set_postfix_str(f"{_si(sops)}SOP/s")
                if not batch:  # about SECONDS_PER_BATCH of work per batch
                    per_frame = (time.perf_counter() - t0) / (e - s)
                    bs = int(np.clip(SECONDS_PER_BATCH / max(per_frame, 1e-6), 2 * threads,
                                     MAX_BATCH))
                    bs = max(1, min(bs, self._spike_batch_cap()))
                s = e
        finally:
            if bar is not None:
                bar.close()

    def _spike_batch_cap(self) -> int:
        if self.encoding == "rate":
            return MAX_BATCH
        per = max(1, self.ticks[-1] * len(self.imap.el_start))
        return max(1, SPIKE_BYTES_PER_BATCH // per)

    def run_batch(self, images: np.ndarray, *, first_frame: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Predictions int [B, S] and counters int64 [B, S, 6] for each T of ``ticks``, with
        the engine and encoding seconds."""
        if not self.fast:
            return self._run_separately(images, first_frame)
        from snn.cores.engine import _stream as S
        p, prog = self.prep, self.program
        t0 = time.perf_counter()
        r = _unit_frames(prog, images)
        B = len(r)
        Tin = self.ticks[-1]
        n_el = len(self.imap.el_start)
        if self.encoding == "rate":
            mode = S.MODE_RATE
            q = np.ascontiguousarray(np.rint(np.asarray(r, np.float64).reshape(B, -1)
                                             * RATE_LEVELS).astype(np.int64))
            if q.size and (q.min() < 0 or q.max() > RATE_LEVELS):
                encode(r[:1], 1, "rate")  # raises the encoder's own error
            spk = np.zeros((B, 0, 0), np.uint8)
        else:
            mode = S.MODE_SPIKES
            q = np.zeros((B, 0), np.int64)
            spk = encode(r, Tin, self.encoding, self.seed, first_frame).reshape(Tin, B, -1)
            spk = np.ascontiguousarray(spk.transpose(1, 0, 2), np.uint8)
        if (q.shape[1] if mode == S.MODE_RATE else spk.shape[2]) != n_el:
            raise ConfigError(f"frames have {q.shape[1] or spk.shape[2]} elements, the "
                              f"program's input map {n_el}")
        encode_s = time.perf_counter() - t0
        snap_t = np.array([t + self.latency for t in self.ticks], np.int64)
        O = prog.n_outputs
        snap = np.zeros((B, len(snap_t), 6 + O + len(self.ro_c)), np.int64)
        counters = np.zeros((B, 6), np.int64)
        from snn.cores.engine.api import _fast_caps, fast_program
        cap = _fast_caps(p, np.array([0, prog.n_cores], np.int64), np.zeros(0, np.int32),
                         np.zeros(2, np.int64))
        im = self.imap
        args = (int(snap_t[-1]), Tin, prog.n_axons, p.ash, _v0(prog),
                fast_program(p, p.options.narrow), self._collide(), cap, mode, q, spk,
                RATE_LEVELS, im.el_start, im.el_count, im.m_core, im.m_axon, im.m_tick,
                im.h_core, im.h_axon, im.h_ticks, O, snap_t, self.ro_c, self.ro_n, counters)
        t1 = time.perf_counter()
        S.eval_frames(*args, snap)
        engine_s = time.perf_counter() - t1
        vals = self._decode(snap)
        return np.argmax(vals, axis=2), snap[:, :, :6], engine_s, encode_s

    def _collide(self) -> bool:
        if not hasattr(self, "_may"):
            self._may = self.may_collide()
        return self._may

    def _decode(self, snap: np.ndarray) -> np.ndarray:
        """Class values [B, S, n_classes] from the snapshots (as ``decode``)."""
        prog = self.program
        ex = prog.extras
        O = prog.n_outputs
        c, n, idx = self.ro_c, self.ro_n, self.ro_idx
        thr = prog.threshold[c, n].astype(np.float64)
        leak = prog.leak[c, n].astype(np.float64)
        cls = np.asarray(ex["readout_class"])[idx]
        w = np.asarray(ex["readout_weight"], np.float64)[idx]
        n_cls = int(ex["n_classes"])
        integ = (snap[:, :, 6 + idx] * thr + snap[:, :, 6 + O:6 + O + len(c)]
                 - leak * self.latency)
        out = np.zeros(snap.shape[:2] + (n_cls,))
        for j in range(len(idx)):
            out[:, :, cls[j]] += w[j] * integ[:, :, j]
        return out

    def _run_separately(self, images: np.ndarray, first_frame: int
                        ) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Each T its own run (programs off the fast path)."""
        from snn.cores.engine.api import run_prepared
        t0 = time.perf_counter()
        inp = encode_frames(self.program, images, self.ticks[-1], self.seed,
                            first_frame=first_frame)
        encode_s = time.perf_counter() - t0
        B = inp.n_frames
        pred = np.zeros((B, len(self.ticks)), np.int64)
        counters = np.zeros((B, len(self.ticks), 6), np.int64)
        engine_s = 0.0
        for s, t in enumerate(self.ticks):
            sel = inp if t == self.ticks[-1] else truncate(inp, t + self.latency)
            res = run_prepared(self.prep, t + self.latency, sel, return_potential=True,
                               seed=self.seed, first_frame=first_frame)
            engine_s += res.wall_s
            pred[:, s] = np.argmax(decode(self.program, res.outputs, res.potential, t), axis=1)
            for i, k in enumerate(COUNTER_KEYS):
                counters[:, s, i] = res.counters[k]
        return pred, counters, engine_s, encode_s


def _v0(program: CoreProgram) -> np.ndarray:
    from snn.cores.engine.api import initial_membrane
    return initial_membrane(program, np.int32)


def _si(x: float) -> str:
    for unit, f in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= f:
            return f"{x / f:.2f} {unit}"
    return f"{x:.0f} "


def evaluate_shard(program: CoreProgram, images: np.ndarray, labels: np.ndarray,
                   ticks: list[int], seed: int, first_frame: int,
                   chip_size: tuple[int, int]) -> Tally:
    """The tally of one shard of frames (a Dask task)."""
    tally = Tally(list(ticks))
    FrameStream(program, ticks, seed=seed, chip_size=chip_size).evaluate(
        images, labels, tally, first_frame=first_frame)
    return tally


def dask_client(address: str, timeout: str = DASK_CONNECT_TIMEOUT):  # -> distributed.Client
    """A client of the Dask scheduler at ``address``, or a ConfigError saying what to do."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise ConfigError("--scheduler needs dask.distributed: pip install 'snn[tools]'"
                          ) from exc
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address!r} ({exc}); start one "
                          "with `dask scheduler` and workers with `dask worker ADDRESS`"
                          ) from exc


def run_on_dask(address: str, program: CoreProgram, images: np.ndarray, labels: np.ndarray,
                ticks: list[int], seed: int, chip_size: tuple[int, int], tally: Tally,
                progress: bool = False) -> None:
    """Shard frames over the Dask cluster at ``address`` into ``tally`` (frames of
    DASK_SHARD_FRAMES per task, as ``snn bench`` shards rows)."""
    from distributed import as_completed
    client = dask_client(address)
    bar = None
    try:
        prog = client.scatter(program, broadcast=True)
        futures = [client.submit(evaluate_shard, prog, images[s:s + DASK_SHARD_FRAMES],
                                 np.asarray(labels[s:s + DASK_SHARD_FRAMES]), list(ticks),
                                 seed, s, chip_size, pure=False)
                   for s in range(0, len(images), DASK_SHARD_FRAMES)]
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(images), desc="cores (dask)", unit="frame", leave=False)
        try:
            for fut in as_completed(futures):
                part = fut.result()
                tally.merge(part)
                if bar is not None:
                    bar.update(part.frames)
        except KeyboardInterrupt:
            client.cancel(futures)
            raise
    finally:
        if bar is not None:
            bar.close()
        client.close()
