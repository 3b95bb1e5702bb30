"""Relay parameters for fan-in splits: charge-conserving relays (docs/compiler.md).

A split neuron's partial sum over one input block reaches its summing neuron through relay
neurons with the block's type weights, threshold ``T_r``, linear reset and no floor. Nothing
is ever clamped, so after any tick a relay's potential V_R is exactly what it has not yet
passed on (``delivered = T_r * spikes = its input so far + beta * ticks - V_R``):

- "signed" relays (default): two per block, one over its positive synapses and one over its
  negated negative ones (each sees a non-negative input, ``beta`` = 0); the summing neuron
  adds +T_r / -T_r per spike.
- "biased" relays: one per block over all its synapses with leak ``beta`` > 0 (so that its
  input is mostly non-negative); the summing neuron's leak is lowered by the betas.

The summing neuron's hold input adds ``offset`` (the expected sum of signed residuals), so
its input differs from the ideal one by ``offset - sum(sign * V_R)`` at every tick: bounded
and transient, never an accumulated loss. Data-free parameters (``safe_params``): ``T_r`` =
the largest one-tick input of a relay (max over the neuron's relays), ``beta`` = the
block's largest one-tick negative sum; then no relay lags and 0 <= V_R < T_r.

``calibrate`` fits them to calibration frames instead (partial sums of the quantised ideal
network): per neuron the ``T_r`` (and per relay the ``beta``) with the least residual
variance summed over its relays (a relay that lags or drifts has a large one); for hidden
layers also one offset shift per layer (kappa residual std's), chosen with the T_r step
by the summing neurons' spike counts on the calibration frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["RelayParams", "safe_params", "calibrate", "source_spikes", "align"]

TR_STEPS = 13  # T_r candidates: P * 2^(-i/2), i < TR_STEPS (P: largest one-tick range)
BETA_FRACTIONS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75)
TR_SHIFTS = (-2, -1, 0, 1, 2)  # T_r x 2^(-d/2) around the least-variance choice
SAFE_THRESHOLD_FRACTION = 0.25  # data-free T_r: at most this x the neuron's threshold,
SAFE_RATE = 0.75  # unless this x the largest one-tick input is more
KAPPAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


@dataclass
class RelayParams:
    """Per split neuron ``t_r`` (relay threshold, model units), ``j`` (summing units: one
    summing unit = j model units, relay weight R = t_r / j <= weight_max), ``offset``
    (expected residual, model units) and per (neuron, block) ``beta`` (relay leak, a
    multiple of j)."""

    t_r: np.ndarray  # int64 [n]
    j: np.ndarray  # int64 [n]
    beta: np.ndarray  # int64 [n, nb]
    offset: np.ndarray  # float64 [n]
    kappa: float = 0.0  # offset shift in residual std's (calibrated hidden layers)
    step: int = 0  # T_r step from the least-variance one (calibrated hidden layers)
    # calibrated hidden layers: rms spike-count error of the summing neurons against the same
    # neurons fed directly (no relays), over the calibration frames and ticks
    count_rms: float = float("nan")


def align(t_r: np.ndarray, wmax: int, phases: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(t_r, j): t_r rounded to a multiple of phases x j, j = ceil(t_r / (phases x wmax)),
    so each phase's summing weight R = t_r / (phases x j) is an integer that fits."""
    t = np.maximum(1, np.rint(np.asarray(t_r, np.float64))).astype(np.int64)
    j = np.maximum(1, -(-t // (wmax * phases)))
    t = np.maximum(j * phases, np.rint(t / (j * phases)).astype(np.int64) * j * phases)
    return t, j


def _round_to(x: np.ndarray, j: np.ndarray) -> np.ndarray:
    return (np.rint(np.asarray(x, np.float64) / j) * j).astype(np.int64)


def safe_params(psum: np.ndarray, nsum: np.ndarray, has: np.ndarray, wmax: int,
                sign: np.ndarray | None = None, thr: np.ndarray | None = None
                ) -> RelayParams:
    """Data-free relays: beta = the block's largest one-tick negative sum (``nsum``), T_r =
    the largest one-tick range over the neuron's blocks, so V_R stays in [0, T_r) whatever
    the input; offset T_r / 2 per relay. psum, nsum, has: [n, nb]. thr [n]: T_r no more
    than the larger of SAFE_THRESHOLD_FRACTION x the neuron's threshold and SAFE_RATE x
    that range (a relay then lags only in ticks that bring more, and loses nothing unless
    its inputs fire at more than SAFE_RATE on average)."""
    rng = np.where(has, psum + nsum, 0).max(axis=1, initial=1)
    if thr is not None:  # a relay keeps up while its mean input stays below T_r per tick
        cap = np.maximum(np.asarray(thr) * SAFE_THRESHOLD_FRACTION, rng * SAFE_RATE)
        rng = np.minimum(rng, np.maximum(1, cap))
    t_r, j = align(rng, wmax)
    beta = np.where(has, _round_to(np.minimum(nsum, t_r[:, None] - 1), j[:, None]), 0)
    beta = np.maximum(beta, 0)
    sign = np.ones(has.shape[1]) if sign is None else np.asarray(sign, np.float64)
    offset = (has * sign[None, :]).sum(axis=1) * (t_r - 1) / 2.0
    return RelayParams(t_r, j, beta, offset)


@numba.njit(inline="always")
def _partial_sums(uu, uptr, ucols, uw, spikes, part):  # pragma: no cover
    """part[f, t] = what input unit uu (synapses uptr[uu]:uptr[uu+1] of ucols/uw) receives
    at tick t of frame f from the source spikes [source, frame, tick]."""
    part[:, :] = 0
    for e in range(uptr[uu], uptr[uu + 1]):
        w = uw[e]
        c = ucols[e]
        for f in range(spikes.shape[1]):
            for t in range(spikes.shape[2]):
                if spikes[c, f, t]:
                    part[f, t] += w


@numba.njit(inline="always")
def _phases_start(vp, thr, beta, n_pre):  # pragma: no cover
    """Start the ``len(vp)`` phases of one relay: phase p at p x thr / phases, then the
    n_pre ticks of leak beta before its first input; returns the mean start (what the
    phases hold back before any input)."""
    P = vp.shape[0]
    start = 0
    for p in range(P):
        vp[p] = p * thr // P
        start += vp[p]
        for _ in range(n_pre):
            vp[p] += beta
            if vp[p] >= thr:
                vp[p] -= thr
    return start / P


@numba.njit(inline="always")
def _phases_step(vp, thr, x):  # pragma: no cover
    """One tick of input x (the block's partial sum plus leak) into every phase; returns
    their mean potential."""
    P = vp.shape[0]
    total = 0
    for p in range(P):
        vp[p] += x
        if vp[p] >= thr:
            vp[p] -= thr
        total += vp[p]
    return total / P


@numba.njit(cache=True, nogil=True)
def _unit_scores(uptr, ucols, uw, spikes, n_pre, tr, beta_c, phases, var_out,
                 mean_out):  # pragma: no cover
    """For each unit u and candidate g: the residual variance and mean of its relay (or
    its ``phases`` relays, phase p starting at p x T_r / phases: the residual is their
    mean potential less their mean start) over all (frame, tick) samples at its best beta
    (beta_c[u, g, :]); var_out/mean_out [U, G], the chosen beta index (returned)."""
    U = len(uptr) - 1
    G = tr.shape[1]
    NB = beta_c.shape[2]
    F = spikes.shape[1]
    T = spikes.shape[2]
    best_b = np.zeros((U, G), np.int64)
    part = np.zeros((F, T), np.int64)
    vp = np.zeros(phases, np.int64)
    n = F * T
    for u in range(U):
        _partial_sums(u, uptr, ucols, uw, spikes, part)
        for g in range(G):
            thr = tr[u, g]
            bv = 1e300
            bm = 0.0
            bi = 0
            for k in range(NB):
                beta = beta_c[u, g, k]
                s1 = 0.0
                s2 = 0.0
                for f in range(F):
                    start = _phases_start(vp, thr, beta, n_pre)
                    for t in range(T):
                        r = _phases_step(vp, thr, part[f, t] + beta) - start
                        s1 += r
                        s2 += r * r
                m = s1 / n
                var = s2 / n - m * m
                if var < bv - 1e-9:
                    bv = var
                    bm = m
                    bi = k
            var_out[u, g] = bv
            mean_out[u, g] = bm
            best_b[u, g] = bi
    return best_b


@numba.njit(cache=True, nogil=True)
def _count_errors(nptr, units, uptr, ucols, uw, usign, ubeta, spikes, n_pre, tr, thr, leak,
                  phases, shift, err):  # pragma: no cover
    """Per neuron (its units ``units[nptr[n]:nptr[n+1]]``): simulate its relays (threshold
    tr[n], leak ubeta[u], ``phases`` per unit as in ``_unit_scores``) and the summing
    neuron in model units with each residual offset ``shift[n, k]`` (k over the grid), and
    add the squared spike-count error against the ideal neuron (same input, no relays)
    over all frames to err[k]."""
    F = spikes.shape[1]
    T = spikes.shape[2]
    K = shift.shape[1]
    n_all = len(nptr) - 1
    part = np.zeros((F, T), np.int64)
    tot = np.zeros((F, T), np.int64)
    res = np.zeros((F, T), np.float64)
    vp = np.zeros(phases, np.int64)
    for n in range(n_all):
        if nptr[n + 1] == nptr[n]:
            continue
        tot[:, :] = 0
        res[:, :] = 0
        for i in range(nptr[n], nptr[n + 1]):
            u = units[i]
            _partial_sums(u, uptr, ucols, uw, spikes, part)
            beta = ubeta[u]
            sg = usign[u]
            for f in range(F):
                start = _phases_start(vp, tr[n], beta, n_pre)
                for t in range(T):
                    r = _phases_step(vp, tr[n], part[f, t] + beta) - start
                    tot[f, t] += sg * part[f, t]
                    res[f, t] += sg * r
        for f in range(F):
            vi = 0
            ci = 0
            for t in range(T):
                vi += tot[f, t] + leak[n]
                if vi >= thr[n]:
                    vi -= thr[n]
                    ci += 1
            for k in range(K):
                v = 0.0
                c = 0
                prev = 0.0
                for t in range(T):
                    # input delivered at ideal tick t: partial sums minus the change of the
                    # residual, plus the offset (all of it at tick 0)
                    cur = res[f, t] - shift[n, k]
                    v += tot[f, t] + leak[n] - (cur - prev)
                    prev = cur
                    if v >= thr[n]:
                        v -= thr[n]
                        c += 1
                err[k] += (c - ci) * (c - ci)


def calibrate(uptr: np.ndarray, ucols: np.ndarray, uw: np.ndarray, urow: np.ndarray,
              ublk: np.ndarray, n: int, nb: int, psum: np.ndarray, nsum: np.ndarray,
              has: np.ndarray, spikes: np.ndarray, n_pre: int, wmax: int,
              sign: np.ndarray | None = None, thr: np.ndarray | None = None,
              leak: np.ndarray | None = None, phases: int = 1) -> RelayParams:
    """Relay parameters from calibration spikes.

    Units u (one relay each) read global sources ``ucols[uptr[u]:uptr[u+1]]`` with weights
    ``uw`` (model units) and belong to neuron ``urow[u]``, block ``ublk[u]``. spikes: uint8
    [n_global, F, T] of the quantised ideal network on calibration frames. n_pre: ticks the
    relay leaks before its first input (its layer's input tick). sign [nb]: +1, or -1 for
    a relay block whose spikes the summing neuron subtracts (its residual counts negated).
    Relay blocks without negative one-tick sums (``nsum`` 0) get no bias. thr, leak [n]
    (model units; hidden layers): also shift the offsets by kappa x the residual std, one
    kappa per layer (``KAPPAS``), the one whose summing neurons' spike counts are closest
    to the ideal ones on the calibration frames (noise on the input of an integrate-and-
    fire neuron adds spikes: its count follows the running maximum of its input)."""
    safe = safe_params(psum, nsum, has, wmax, sign)
    sign = np.ones(nb) if sign is None else np.asarray(sign, np.float64)
    big = safe.t_r.astype(np.float64)  # per neuron, the no-lag threshold
    steps = 2.0 ** (-np.arange(TR_STEPS) / 2.0)
    tr_n, j_n = align((big[:, None] * steps[None, :]).reshape(-1), wmax, phases)
    tr_n, j_n = tr_n.reshape(n, -1), j_n.reshape(n, -1)  # [n, G]
    tr_u, j_u = tr_n[urow], j_n[urow]
    fr = np.asarray(BETA_FRACTIONS)
    beta_c = _round_to(tr_u[:, :, None] * fr[None, None, :], j_u[:, :, None])
    beta_c = np.minimum(beta_c, np.maximum(0, tr_u[:, :, None] - j_u[:, :, None]))
    if not nsum.any():
        beta_c = beta_c[:, :, :1] * 0
    U, G = tr_u.shape
    var = np.zeros((U, G))
    mean = np.zeros((U, G))
    bi = _unit_scores(uptr.astype(np.int64), ucols.astype(np.int64), uw.astype(np.int64),
                      spikes, int(n_pre), tr_u, beta_c, int(phases), var, mean)
    score = np.zeros((n, G))
    np.add.at(score, urow, var)
    g = np.argmin(score, axis=1)  # ties: the largest T_r (fewest relay spikes)
    rows = np.arange(n)
    uidx = np.arange(U)

    def pick(gg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """beta [n, nb], offset [n], residual std [n] at candidate gg [n]."""
        ug = gg[urow]
        bt = np.zeros((n, nb), np.int64)
        bt[urow, ublk] = beta_c[uidx, ug, bi[uidx, ug]]
        off = np.zeros(n)
        np.add.at(off, urow, mean[uidx, ug] * sign[ublk])
        return bt, off, np.sqrt(np.maximum(score[rows, gg], 0))

    if thr is None:
        beta, offset, _ = pick(g)
        return RelayParams(tr_n[rows, g], j_n[rows, g], beta, offset)
    # hidden layers: one T_r step (d) and one offset shift (kappa) per layer, those whose
    # summing neurons' spike counts are closest to the ideal ones on the calibration frames
    # only the relays that are mapped: a unit without ``has`` (a neuron nobody reads, or a
    # block with no synapse) gets no relay, and its T_r (1: no range) must not weigh in
    mapped = np.flatnonzero(has[urow, ublk])
    order = mapped[np.argsort(urow[mapped], kind="stable")].astype(np.int64)
    nptr = np.searchsorted(urow[order], np.arange(n + 1)).astype(np.int64)
    best = None
    for d in TR_SHIFTS:
        gd = np.clip(g + d, 0, tr_n.shape[1] - 1)
        bt, off, sigma = pick(gd)
        shift = off[:, None] - sigma[:, None] * np.asarray(KAPPAS)[None, :]
        err = np.zeros(len(KAPPAS))
        _count_errors(nptr, order, uptr.astype(np.int64), ucols.astype(np.int64),
                      uw.astype(np.int64), sign[ublk].astype(np.int64),
                      bt[urow, ublk].astype(np.int64), spikes, int(n_pre),
                      tr_n[rows, gd].astype(np.int64), np.asarray(thr, np.int64),
                      np.asarray(leak, np.int64), int(phases), shift, err)
        k = int(np.argmin(err))
        if best is None or err[k] < best[0]:
            best = (float(err[k]), RelayParams(tr_n[rows, gd], j_n[rows, gd], bt,
                                                shift[:, k], KAPPAS[k], int(d)))
    counted = int((np.diff(nptr) > 0).sum()) * spikes.shape[1]  # (neuron, frame) pairs
    best[1].count_rms = float(np.sqrt(best[0] / max(counted, 1)))
    return best[1]


def source_spikes(qnet, stage_names: list[str], n_in: int, images: np.ndarray, ticks: int
                  ) -> np.ndarray:
    """uint8 [n_global, F, T]: spikes of every global source (input elements, then each
    stage's neurons, as ``snn.cores.compiler.lower`` numbers them) in the quantised ideal network on
    ``images`` with the rate code the cores get."""
    from snn.network import INPUT
    from snn.simulate import simulate
    parts = []
    for lo in range(0, len(images), 4):
        sim = simulate(qnet, images[lo:lo + 4], ticks, encoding="rate", record_layers=True)
        tr = sim.trains
        blocks = [tr[INPUT]] + [tr[name] for name in stage_names]
        flat = [np.asarray(x).reshape(x.shape[0], x.shape[1], -1) for x in blocks]
        parts.append(np.concatenate(flat, axis=2).transpose(2, 1, 0) != 0)
    out = np.ascontiguousarray(np.concatenate(parts, axis=1)).astype(np.uint8)
    if out.shape[0] < n_in:
        raise ValueError("internal: calibration spikes miss input elements")
    return out
