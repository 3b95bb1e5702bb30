"""Compile a SpikingNetwork onto TrueNorth-like cores (docs/design.md §6): the public entry points.

``compile(network, spec)`` folds pass-through layers (``fold_passthrough``), quantises
weights, thresholds and biases to integers (``quantise``), lowers layers to sparse integer
rows (``lower``), tiles them onto cores (``tiling``; modules of ``snn.cores.compiler``) - with
partial sums and relay neurons where a neuron's fan-in does not fit one core, and copies
("splitters") of neurons whose spikes several axons need - and writes the result as a
``CoreProgram`` carrying everything ``snn eval`` needs (docs/formats.md).

Timing: external inputs of ideal tick t reach the first layer at core tick t; every hop
(layer to layer, relay to summing neuron) takes one tick, and a layer whose inputs come
through relays starts one tick later. ``latency_ticks`` (stored) is the readout's offset: a
run of T ideal ticks takes ``T + latency_ticks`` core ticks. Hidden neurons whose first input
arrives at core tick d > 0 absorb their leak at ticks 0..d-1 in a precharged start
(``_precharge``) or cancel it with a hold axon (``_hold_weight``), so they start the ideal
tick 0 at their initial membrane as the ideal simulator does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snn.cores.compiler.fold_passthrough import fold_network
from snn.cores.compiler.lower import Stage, lower
from snn.cores.compiler.quantise import LayerQuant, mask_bits, quantise_network, synapse_weights
from snn.cores.compiler.relays import calibrate, safe_params, source_spikes
from snn.cores.compiler.tiling import conv_orders, greedy, partition_blocks, source_types, unit_cost
from snn.cores.compiler.unit_codebooks import refine_units
from snn.cores.hardware.spec import CoreSpec
from snn.cores.program import RESET_LINEAR, V_MIN, CoreProgram
from snn.errors import CompileError, ConfigError
from snn.network import SpikingNetwork

CALIBRATION_TICKS = 100  # ticks of each calibration frame (relay parameters)
RELAY_PHASES = 1  # calibrated relays per (neuron, block), starting T_r / phases apart
BLOCK_FRACTIONS = (1.0, 0.5, 0.25)  # input blocks of split layers: at most this x axons
HOLD_CORE_SLACK = 1.05  # a layer takes hold axons of its own types at most this x cores
HOLD_PER_TYPE = 3  # at most this many hold axons of each weight type per core
ROLE_DIRECT, ROLE_PARTIAL, ROLE_SUM = 0, 1, 2
ROLE_NAMES = {ROLE_DIRECT: "direct", ROLE_PARTIAL: "partial", ROLE_SUM: "sum"}

__all__ = ["compile", "compile_network", "Compiled"]


# ---------------------------------------------------------------------------------------------
# program under construction
# ---------------------------------------------------------------------------------------------
@dataclass
class _Build:
    spec: CoreSpec
    core_stage: list[int] = field(default_factory=list)
    core_role: list[int] = field(default_factory=list)
    axon_type: list[np.ndarray] = field(default_factory=list)
    syn: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)
    neu: list[dict[str, np.ndarray]] = field(default_factory=list)
    needs: list[np.ndarray] = field(default_factory=list)  # [m, 4]: g, core, axon, tick
    hold: list[tuple[int, int, int]] = field(default_factory=list)  # core, axon, ticks
    v_init: float = 0.0  # initial membrane of spiking neurons, a fraction of the threshold

    def initial(self, threshold: np.ndarray) -> np.ndarray:
        """v_initial of spiking (non-relay, non-readout) neurons of these thresholds."""
        return np.rint(self.v_init * np.asarray(threshold, np.float64)).astype(np.int64)

    def new_core(self, stage: int, role: int) -> int:
        self.core_stage.append(stage)
        self.core_role.append(role)
        self.axon_type.append(np.zeros(self.spec.axons, np.uint8))
        return len(self.core_stage) - 1

    def take_needs(self, lo: int, hi: int) -> np.ndarray:
        """All recorded consumers (g, core, axon, tick) of global sources lo..hi-1, sorted."""
        if not self.needs:
            return np.zeros((0, 4), np.int64)
        allx = np.concatenate(self.needs)
        sel = (allx[:, 0] >= lo) & (allx[:, 0] < hi)
        self.needs = [allx[~sel]]
        out = allx[sel]
        return out[np.lexsort((out[:, 2], out[:, 1], out[:, 0]))]


def _place_inputs(b: _Build, core: int, uptr: np.ndarray, ucols: np.ndarray,
                  umasks: np.ndarray, units: np.ndarray, slot_start: np.ndarray,
                  slot_count: np.ndarray, k: int, tick: int) -> int:
    """Axons for the sources of ``units`` on ``core`` and the synapses to their neurons:
    unit i owns neuron slots ``slot_start[i] .. slot_start[i] + slot_count[i] - 1``, each
    with all of the unit's synapses."""
    lens = uptr[units + 1] - uptr[units]
    idx = np.repeat(uptr[units] - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
    unit_of = np.repeat(np.arange(len(units)), lens)
    c, m = ucols[idx], umasks[idx].astype(np.int64)
    uniq, inv = np.unique(c, return_inverse=True)
    orm = np.zeros(len(uniq), np.int64)
    np.bitwise_or.at(orm, inv, m)
    bits = mask_bits(orm, k)  # [U, k]
    ax = (np.cumsum(bits.reshape(-1)) - 1).reshape(bits.shape)
    if int(bits.sum()) > b.spec.axons:
        raise CompileError(f"internal: core {core} needs {int(bits.sum())} axons")
    su, st = np.nonzero(bits)
    b.axon_type[core][ax[su, st]] = st.astype(np.uint8)
    b.needs.append(np.stack([uniq[su], np.full(len(su), core), ax[su, st],
                             np.full(len(su), tick)], axis=1).astype(np.int64))
    ee, et = np.nonzero(mask_bits(m, k))
    axon = ax[inv[ee], et]
    uu = unit_of[ee]
    rep = slot_count[uu]
    axon_r = np.repeat(axon, rep)
    within = np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep)
    slot_r = np.repeat(slot_start[uu], rep) + within
    b.syn.append((core, axon_r, slot_r))
    return int(bits.sum())


def _hold_weight(b: _Build, core: int, axon: int, typ: int, leak: np.ndarray,
                 ticks: int) -> np.ndarray | None:
    """Cancel the leak of a core's neurons before their first input arrives (core ticks
    0..ticks-1): an external input axon of the free type ``typ`` with weight -leak, driven
    at those ticks (``extras["hold_*"]``, see ``encode_frames``), so every neuron starts the
    ideal tick 0 at V = 0 as in the ideal simulator. Returns the type-``typ`` weight per
    slot, or None when it cannot be done (no free axon or type, or -leak out of range)."""
    spec = b.spec
    leak = np.asarray(leak, np.int64)
    if (ticks <= 0 or not leak.any() or typ >= spec.axon_types or axon >= spec.axons
            or (-leak).max() > spec.weight_max or (-leak).min() < spec.weight_min):
        return None
    b.axon_type[core][axon] = typ
    slots = np.flatnonzero(leak != 0)
    b.syn.append((core, np.full(len(slots), axon), slots))
    b.hold.append((core, axon, int(ticks)))
    return -leak


def _hold_code(tw: np.ndarray, leak: np.ndarray, per_type: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
    """Cancel most of each neuron's leak before its first input with hold axons of the types
    its weights already use (``per_type`` axons of each of its k types, driven at the ticks
    before the first input; for layers whose weights take every axon type, so no type is
    free for one hold axon of weight -leak): per neuron, how many axons of each type
    (0..per_type) to connect so that their type weights ``tw`` [n, k] sum closest to
    -leak. Returns the counts [n, k] and the residual per tick ``leak + sum`` that the
    precharged start absorbs (exact where it is small)."""
    k = tw.shape[1]
    combos = np.stack(np.meshgrid(*[np.arange(per_type + 1)] * k, indexing="ij"),
                      -1).reshape(-1, k)  # [(per_type + 1)^k, k]
    resid = np.asarray(leak, np.int64)[:, None] + np.asarray(tw, np.int64) @ combos.T
    best = np.argmin(np.abs(resid), axis=1)
    return combos[best], resid[np.arange(len(best)), best]


def _precharge(v0: np.ndarray, leak: np.ndarray, threshold: np.ndarray,
               ticks: int) -> tuple[np.ndarray, np.ndarray]:
    """Start membranes that absorb ``ticks`` ticks of leak before the first input: V starts
    at ``v0 - ticks * leak`` so it reaches ``v0`` at core tick ``ticks`` (the ideal tick 0)
    without an axon. Exact where no tick before the first input crosses the threshold (always
    for leak >= 0; for leak < 0 while ``v0 - (ticks - 1) * leak < threshold``); elsewhere
    the start is lowered to the highest that does not fire. Returns (v_initial, exact)."""
    v0, leak = np.asarray(v0, np.int64), np.asarray(leak, np.int64)
    thr = np.asarray(threshold, np.int64)
    start = v0 - ticks * leak
    highest = np.where(leak < 0, thr - 1 - leak, start)  # V after the first tick < thr
    exact = start <= highest
    start = np.maximum(np.minimum(start, highest), V_MIN)
    return start, exact & (start > V_MIN)


def _add_neurons(b: _Build, core: int, n: int, **params: np.ndarray) -> None:
    d = {"core": np.full(n, core, np.int64), "slot": np.arange(n, dtype=np.int64)}
    for key, v in params.items():
        v = np.asarray(v)
        if v.shape[:1] != (n,):
            raise CompileError(f"internal: {key} has {v.shape}, {n} neurons")
        d[key] = v
    b.neu.append(d)


# ---------------------------------------------------------------------------------------------
# stage mapping
# ---------------------------------------------------------------------------------------------
@dataclass
class StageStats:
    name: str
    role_cores: dict[str, int]
    neurons: int  # logical neurons mapped (dead ones skipped)
    dead: int  # neurons nobody reads (not mapped)
    splitters: int  # extra copies
    relays: int
    blocks: int  # input blocks per neuron (1 = no fan-in split)
    weight_bits: int
    exact: bool
    input_tick: int
    output_tick: int
    held: bool = True  # every neuron starts the ideal tick 0 at V = 0 (see _hold_weight)
    relay_rms: float = float("nan")  # calibrated split hidden layers: RelayParams.count_rms


def _stage_targets(b: _Build, st: Stage, out_tick: int) -> tuple[np.ndarray, np.ndarray]:
    """Consumers of the stage's neurons, sorted, and copies per neuron."""
    needs = b.take_needs(st.base, st.base + st.n)
    copies = np.bincount(needs[:, 0] - st.base, minlength=st.n).astype(np.int64)
    if needs.size:
        delay = needs[:, 3] - out_tick
        if delay.min() < b.spec.delay_min or delay.max() > b.spec.delay_max:
            raise CompileError(f"layer {st.name!r}: its spikes must arrive after "
                               f"{int(delay.max())} ticks, the spec's delays are "
                               f"{b.spec.delay_min}..{b.spec.delay_max} (a residual "
                               "addition or max-pool tree reads it next to a branch that "
                               "many layers deeper); shorten the deeper branch or add a "
                               "spiking identity layer on the short one")
        needs = needs.copy()
        needs[:, 3] = delay
    return needs, copies


def _best_groups(st: Stage, uptr: np.ndarray, ucols: np.ndarray, umasks: np.ndarray,
                 cost: np.ndarray, spec: CoreSpec, n_global: int, conv_rows: bool,
                 axons: int | None = None) -> list[np.ndarray]:
    orders = (conv_orders(st.n, st.shape) if conv_rows else [np.arange(len(uptr) - 1)])
    best = None
    for order in orders:
        g = greedy(uptr, ucols, umasks, order, cost, axons or spec.axons, spec.neurons,
                   n_global)
        if best is None or len(g) < len(best):
            best = g
    return best or []


def _neuron_params(st: Stage, rows: np.ndarray) -> dict[str, np.ndarray]:
    w = np.zeros((len(rows), 4), np.int64)
    w[:, :st.quant.bits] = st.tw[rows]
    return {"weight": w, "leak": st.leak[rows], "threshold": st.thr[rows]}


def _multi_hold(b: _Build, core: int, first_axon: int, k: int, per_type: int,
                p: dict[str, np.ndarray], exact: np.ndarray, ticks: int
                ) -> tuple[np.ndarray, bool]:
    """Hold axons of the weights' k types on ``core`` (``per_type`` of each, axons
    ``first_axon``...) for the neurons whose precharged start is not exact (``exact``
    False): their leak before the first input (core ticks 0..ticks-1) is mostly cancelled
    (``_hold_code``) and the start absorbs the residual. Returns (v_initial per slot,
    whether every start is exact)."""
    n = len(exact)
    count = np.zeros((n, k), np.int64)
    rho = np.asarray(p["leak"], np.int64).copy()
    need = np.flatnonzero(~exact)
    count[need], rho[need] = _hold_code(p["weight"][need, :k], rho[need], per_type)
    start, ok = _precharge(b.initial(p["threshold"]), rho, p["threshold"], ticks)
    axon = first_axon
    for t in range(k):
        for j in range(per_type):
            slots = np.flatnonzero(count[:, t] > j)
            if slots.size:
                b.axon_type[core][axon] = t
                b.syn.append((core, np.full(len(slots), axon), slots))
                b.hold.append((core, axon, int(ticks)))
                axon += 1
    return start, bool(ok.all())


def _map_direct(b: _Build, st: Stage, masks: np.ndarray, in_tick: int, n_global: int,
                big: int) -> StageStats:
    needs, copies = _stage_targets(b, st, in_tick)
    cost = np.ones(st.n, np.int64) if st.readout else copies
    if cost.max(initial=0) > b.spec.neurons:
        raise CompileError(f"layer {st.name!r}: a neuron is read by {int(cost.max())} axons, "
                           f"more than the {b.spec.neurons} copies a core can hold")
    # before its first input (core tick in_tick) a neuron's leak must not count (not the
    # readout's, whose decode subtracts it): a precharged start absorbs it where that is
    # exact, else a hold axon of a free type cancels it, else the start absorbs what it can
    leaky = not st.readout and in_tick > 0 and bool(st.leak.any())
    if leaky:  # per logical neuron: the precharged start and whether it is exact
        pre_start, pre_exact = _precharge(b.initial(st.thr), st.leak, st.thr, in_tick)
    k = st.quant.bits
    widest = unit_cost(st.row_ptr, masks).max(initial=0)
    hold = (leaky and not pre_exact.all() and k < b.spec.axon_types
            and widest < b.spec.axons)
    # no free type: hold axons of the weights' own types (_hold_code), up to
    # HOLD_PER_TYPE per type where the axons are there and cost (almost) no cores: a layer
    # whose neurons fill a core's axons (e.g. 64 inputs at 4 bits) would pack far fewer
    # neurons per core
    multi = leaky and not pre_exact.all() and not hold
    per_type = 0
    groups = _best_groups(st, st.row_ptr, st.cols, masks, cost, b.spec, n_global, st.conv,
                          b.spec.axons - 1 if hold else None)
    if multi:
        for m in range(min(HOLD_PER_TYPE, (b.spec.axons - widest) // k), 0, -1):
            g = _best_groups(st, st.row_ptr, st.cols, masks, cost, b.spec, n_global,
                             st.conv, b.spec.axons - m * k)
            if len(g) <= HOLD_CORE_SLACK * len(groups):
                per_type, groups = m, g
                break
        multi = per_type > 0
    start = np.concatenate([[0], np.cumsum(copies)])
    held = True
    for rows in groups:
        core = b.new_core(st.index, ROLE_DIRECT)
        cnt = cost[rows]
        nxt = int(cnt.sum())
        used = _place_inputs(b, core, st.row_ptr, st.cols, masks, rows, np.cumsum(cnt) - cnt,
                             cnt, st.quant.bits, in_tick)
        slots = np.repeat(rows, cnt)  # the logical neuron of each slot
        p = _neuron_params(st, slots)
        hw = _hold_weight(b, core, used, st.quant.bits, p["leak"], in_tick) if hold else None
        if hw is not None:
            p["weight"][:, st.quant.bits] = hw
        if st.readout:
            tc, ta, dl = (np.full(len(rows), -1), np.zeros(len(rows)), np.ones(len(rows)))
            out = rows
        else:
            if multi:
                p["v_initial"], ok = _multi_hold(b, core, used, k, per_type, p,
                                                 pre_exact[slots], in_tick)
                held &= ok
            elif leaky and hw is None:
                p["v_initial"] = pre_start[slots]
                held &= bool(pre_exact[slots].all())
            else:
                p["v_initial"] = b.initial(p["threshold"])
            sel = np.concatenate([np.arange(start[r], start[r + 1]) for r in rows])
            tc, ta, dl = needs[sel, 1], needs[sel, 2], needs[sel, 3]
            out = np.full(len(sel), -1)
        _add_neurons(b, core, nxt, **p, neg_threshold=np.full(nxt, big),
                     target_core=tc, target_axon=ta, delay=dl, output_index=out,
                     unit=slots)
    return StageStats(st.name, {"direct": len(groups)}, int((cost > 0).sum()),
                      int((cost == 0).sum()), int(np.maximum(copies - 1, 0).sum()), 0, 1,
                      st.quant.bits, st.quant.exact, in_tick, in_tick,
                      held)


def _map_split(b: _Build, st: Stage, masks: np.ndarray, in_tick: int, n_global: int,
               big: int, calib: np.ndarray | None, signed: bool,
               phases: int = 1, block_codebooks: bool = True) -> StageStats:
    out_tick = in_tick + 1
    needs, copies = _stage_targets(b, st, out_tick)
    cost = np.ones(st.n, np.int64) if st.readout else copies
    if cost.max(initial=0) > b.spec.neurons:
        raise CompileError(f"layer {st.name!r}: a neuron is read by {int(cost.max())} axons, "
                           f"more than the {b.spec.neurons} copies a core can hold")
    lq = st.quant
    spec = b.spec
    live = cost > 0
    # summing neurons read relays on types 0 (+) and 1 (-); type 2 is the hold axon (leak
    # before the relays' first spikes, relay bias and mean residual, see snn.cores.compiler.relays)
    can_hold = spec.axon_types > 2
    best = best_block = None
    for frac in BLOCK_FRACTIONS:
        limit = max(int(spec.axons * frac), 4 * lq.bits)
        block = partition_blocks(st.row_ptr, st.cols, masks, limit, not st.conv)
        plan = _split_plan(st, masks, block, cost, spec, n_global, int(can_hold), signed,
                           phases=phases)
        if best is None or plan["n_cores"] < best["n_cores"]:
            best, best_block = plan, block
    plan = best
    if block_codebooks and st.target is not None:
        plan = _split_plan(st, masks, best_block, cost, spec, n_global, int(can_hold), signed,
                           phases=phases, refine=True)
    utw = plan["utw"]
    nb, has = plan["nb"], plan["has"]
    uptr, ucols, umasks, urow, ublk = plan["units"]
    # relay block sign: +1 (positive synapses, or a biased relay), -1 (negative synapses)
    bsign = np.where(np.arange(nb) % 2 == 1, -1, 1) if plan["signed"] else np.ones(nb, int)
    if plan["signed"]:  # each relay sees a one-signed input: no bias needed
        psum, nsum = plan["psum"] + plan["nsum"], np.zeros_like(plan["psum"])
    else:
        psum, nsum = plan["psum"], plan["nsum"]
    if calib is not None:
        syn_unit = np.repeat(np.arange(len(urow)), np.diff(uptr))
        uw = synapse_weights(umasks, utw[syn_unit]) * bsign[ublk][syn_unit]
        rp = calibrate(uptr, ucols, uw, urow, ublk, st.n, nb, psum, nsum, has, calib,
                       in_tick, spec.weight_max, bsign,
                       None if st.readout else st.thr, None if st.readout else st.leak,
                       phases)
    else:
        rp = safe_params(psum, nsum, has, spec.weight_max, bsign,
                         None if st.readout else st.thr)
    t_r, j = rp.t_r, rp.j
    r_w = t_r // (j * phases)  # one summing unit = j model units; per spike of one phase
    sum_thr = np.maximum(1, np.rint(st.thr / j)).astype(np.int64)
    b_s = rp.beta.sum(axis=1) // j  # relay biases, summing units (betas are multiples of j)
    l_s = np.rint(st.leak / j).astype(np.int64)
    sum_leak = l_s - b_s
    # what the hold input adds before the relays' spikes arrive (summing units): the mean
    # residual, the relays' bias of their first tick, and (hidden layers) the neuron's own
    # leak at core ticks 0..out_tick-1; the readout's decode subtracts latency x leak instead
    off_s = rp.offset / j
    hold_tot = np.rint(off_s + b_s - out_tick * l_s if not st.readout
                       else off_s - in_tick * b_s).astype(np.int64)
    if st.readout:
        st.term_weight = st.term_weight * j  # summing units -> model units
    if sum_thr.max(initial=1) > spec.threshold_max:
        raise CompileError(f"layer {st.name!r}: summing threshold {int(sum_thr.max())} exceeds "
                           f"{spec.threshold_max}")
    held = True
    # summing cores: one relay axon (type 0) per (neuron, block), copies of the neurons
    relay_target = {}
    start = np.concatenate([[0], np.cumsum(copies)])
    n_relays = 0
    for rows in plan["sum_groups"]:
        core = b.new_core(st.index, ROLE_SUM)
        ax_rows, ax_types = [], []
        for r in rows:
            for blk in np.flatnonzero(has[r]):
                relay_target[(int(r), int(blk))] = (core, len(ax_rows))
                ax_rows.extend([r] * phases)  # one axon per phase
                ax_types.extend([int(bsign[blk] < 0)] * phases)
        ax_rows_a = np.asarray(ax_rows, np.int64)
        b.axon_type[core][:len(ax_types)] = np.asarray(ax_types, np.uint8)
        cnt = cost[rows]
        nxt = int(cnt.sum())
        first = dict(zip(rows.tolist(), (np.cumsum(cnt) - cnt).tolist(), strict=True))
        if len(ax_rows_a):
            rep = cost[ax_rows_a]
            ax_r = np.repeat(np.arange(len(ax_rows_a)), rep)
            within = np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep)
            st0 = np.asarray([first[int(r)] for r in ax_rows_a], np.int64)
            b.syn.append((core, ax_r, np.repeat(st0, rep) + within))
        rr = np.repeat(rows, cost[rows])
        w = np.zeros((len(rr), 4), np.int64)
        w[:, 0], w[:, 1] = r_w[rr], -r_w[rr]
        ht = hold_tot[rr]
        if ht.any():
            # spread over d >= out_tick ticks so the per-tick weight fits the spec
            lim = max(1, min(spec.weight_max, -spec.weight_min))
            d = max(out_tick, int(-(-np.abs(ht).max() // lim)))
            hw = (_hold_weight(b, core, len(ax_rows), 2, -np.rint(ht / d), d)
                  if can_hold else None)
            if hw is not None:
                w[:, 2] = hw
            else:
                held = False
        if st.readout:
            tc, ta, dl, out = np.full(len(rows), -1), np.zeros(len(rows)), np.ones(len(rows)), rows
        else:
            sel = np.concatenate([np.arange(start[r], start[r + 1]) for r in rows])
            tc, ta, dl, out = needs[sel, 1], needs[sel, 2], needs[sel, 3], np.full(len(sel), -1)
        _add_neurons(b, core, nxt, weight=w, leak=sum_leak[rr],
                     threshold=sum_thr[rr], neg_threshold=np.full(nxt, big),
                     target_core=tc, target_axon=ta, delay=dl, output_index=out, unit=rr,
                     v_initial=(np.zeros(nxt, np.int64) if st.readout
                                else b.initial(sum_thr[rr])))
    # partial cores: one relay per (neuron, block) unit: the block's type weights, leak
    # beta, threshold T_r, linear reset, no floor (it conserves charge)
    for groups in plan["partial_groups"]:
        for units in groups:
            core = b.new_core(st.index, ROLE_PARTIAL)
            units = units[has[urow[units], ublk[units]]]  # dead neurons need no relay
            nu = len(units)
            nxt = nu * phases  # relay neurons: the phases of a unit side by side
            tgt = np.asarray([relay_target[(int(a), int(c))]
                              for a, c in zip(urow[units], ublk[units], strict=True)],
                             np.int64).reshape(-1, 2)
            r, blk = np.repeat(urow[units], phases), np.repeat(ublk[units], phases)
            ph = np.tile(np.arange(phases), nu)
            tgt = np.repeat(tgt, phases, axis=0)
            tgt[:, 1] += ph  # each phase has its own summing axon
            wts = np.zeros((nxt, 4), np.int64)
            wts[:, :lq.bits] = np.repeat(utw[units], phases, axis=0) * bsign[blk][:, None]
            n_relays += nxt
            _place_inputs(b, core, uptr, ucols, umasks, units,
                          np.arange(nu, dtype=np.int64) * phases,
                          np.full(nu, phases, np.int64), lq.bits, in_tick)
            _add_neurons(b, core, nxt, weight=wts, leak=rp.beta[r, blk],
                         threshold=t_r[r], neg_threshold=np.full(nxt, big),
                         target_core=tgt[:, 0], target_axon=tgt[:, 1], delay=np.ones(nxt),
                         output_index=np.full(nxt, -1), unit=np.full(nxt, -1),
                         v_initial=ph * t_r[r] // phases)
    n_partial = sum(len(g) for g in plan["partial_groups"])
    return StageStats(st.name, {"partial": n_partial, "sum": len(plan["sum_groups"])},
                      int(live.sum()), int((~live).sum()),
                      int(np.maximum(copies - 1, 0).sum()), n_relays, plan["nb_in"], lq.bits,
                      lq.exact,
                      in_tick, out_tick, held, rp.count_rms)


def _map_partial_readout(b: _Build, st: Stage, masks: np.ndarray, in_tick: int,
                         n_global: int, big: int) -> StageStats:
    """A readout too wide for one core as partial readout neurons, no relays: each (class
    neuron, input block) unit is a readout neuron of its own with the block's synapses, and
    the decode adds the partials' integrated inputs (count x threshold + membrane), which
    is exactly the whole neuron's integrated input. The neuron's leak (bias) goes to its
    first partial only."""
    spec, lq = b.spec, st.quant
    ones = np.ones(st.n, np.int64)
    best = None
    for frac in BLOCK_FRACTIONS:
        limit = max(int(spec.axons * frac), 4 * lq.bits)
        block = partition_blocks(st.row_ptr, st.cols, masks, limit, not st.conv)
        plan = _split_plan(st, masks, block, ones, spec, n_global, 0, signed=False,
                           summing=False)
        n = sum(len(g) for g in plan["partial_groups"])
        if best is None or n < best[0]:
            best = (n, plan)
    plan = best[1]
    uptr, ucols, umasks, urow, ublk = plan["units"]
    has = plan["has"]
    first_blk = np.where(has.any(axis=1), np.argmax(has, axis=1), -1)
    placed: list[np.ndarray] = []  # the rows of the readout neurons, in output order

    def add(core: int, r: np.ndarray, keep_leak: np.ndarray) -> None:
        p = _neuron_params(st, r)
        p["leak"] = np.where(keep_leak, p["leak"], 0)
        nxt = len(r)
        out = sum(len(x) for x in placed) + np.arange(nxt)
        _add_neurons(b, core, nxt, **p, neg_threshold=np.full(nxt, big),
                     target_core=np.full(nxt, -1), target_axon=np.zeros(nxt),
                     delay=np.ones(nxt), output_index=out, unit=r)
        placed.append(r)

    cores = {ROLE_PARTIAL: 0, ROLE_DIRECT: 0}
    for groups in plan["partial_groups"]:
        for units in groups:
            units = units[has[urow[units], ublk[units]]]  # a class with no synapse here
            if not len(units):
                continue
            core = b.new_core(st.index, ROLE_PARTIAL)
            cores[ROLE_PARTIAL] += 1
            _place_inputs(b, core, uptr, ucols, umasks, units,
                          np.arange(len(units), dtype=np.int64),
                          np.ones(len(units), np.int64), lq.bits, in_tick)
            r = urow[units]
            add(core, r, ublk[units] == first_blk[r])
    # rows with no synapse at all: one neuron each, so the leak (bias) still counts
    lone = np.flatnonzero(first_blk < 0)
    if len(lone):
        cores[ROLE_DIRECT] += 1
        add(b.new_core(st.index, ROLE_DIRECT), lone, np.ones(len(lone), bool))
    rows = np.concatenate(placed)
    st.term_class = st.term_class[rows].astype(np.int64)
    st.term_weight = st.term_weight[rows].astype(np.float64)
    return StageStats(st.name, {ROLE_NAMES[k]: v for k, v in cores.items()}, st.n, 0, 0, 0,
                      plan["nb_in"], lq.bits, lq.exact, in_tick, in_tick, True)


def _split_plan(st: Stage, masks: np.ndarray, block: np.ndarray, cost: np.ndarray,
                spec: CoreSpec, n_global: int, reserve: int = 0, signed: bool = True,
                summing: bool = True, phases: int = 1, refine: bool = False) -> dict:
    """Units (neuron, relay block), relays needed, summing and partial groups for one
    partition; ``reserve`` axons of each summing core are left free. signed: each input
    block gets two relay blocks, its positive and its negative synapses (relay block
    2 * block + (weight < 0)); else one (a biased relay). summing=False: no summing cores
    (partial readout neurons, which the decode adds), so no limit on blocks per neuron.
    phases: relays per (neuron, relay block), each with its own summing axon. refine: each
    unit's relay gets type weights fitted to its own synapses (per-block codebooks,
    snn.cores.compiler.unit_codebooks; plan["utw"], else the neuron's)."""
    rows = np.repeat(np.arange(st.n), np.diff(st.row_ptr))
    units_w = synapse_weights(masks, st.tw[rows])  # each synapse's weight in units
    nb_in = int(block.max()) + 1 if block.size else 1
    if signed:
        block = 2 * block + (units_w < 0)
    nb = 2 * nb_in if signed else nb_in
    # units (neuron, relay block): entries sorted by (block, row)
    order_e = np.lexsort((st.cols, rows, block))
    ukey = (block * st.n + rows)[order_e]  # ascending in this order
    uniq, starts = np.unique(ukey, return_index=True)
    uptr = np.append(starts, len(ukey)).astype(np.int64)
    ucols, umasks = st.cols[order_e], masks[order_e]
    urow, ublk = uniq % st.n, uniq // st.n
    utw = st.tw[urow]  # type weights of each unit's relay
    if refine and st.target is not None:
        usign = (np.where(ublk % 2 == 1, -1, 1) if signed else np.zeros(len(urow), np.int64))
        utw, umasks, _ = refine_units(uptr, st.target[order_e], umasks, utw,
                                      source_types(st.cols, masks)[order_e], usign,
                                      min(spec.weight_max, -spec.weight_min))
    syn_key = np.repeat(urow * nb + ublk, np.diff(uptr))
    syn_w = synapse_weights(umasks, utw[np.repeat(np.arange(len(urow)), np.diff(uptr))])
    has = np.zeros(st.n * nb, bool)
    has[syn_key[syn_w != 0]] = True
    has &= np.repeat(cost > 0, nb)
    has = has.reshape(st.n, nb)  # one relay per (neuron, relay block)
    psum = np.bincount(syn_key, weights=np.maximum(syn_w, 0), minlength=st.n * nb)
    nsum = np.bincount(syn_key, weights=np.maximum(-syn_w, 0), minlength=st.n * nb)
    n_rel = has.sum(axis=1) * phases
    # summing groups: relay axons and neuron copies
    sum_groups, cur, ax, ne = [], [], 0, 0
    order = (conv_orders(st.n, st.shape)[0] if st.conv else np.arange(st.n))
    for r in order if summing else ():
        if cost[r] <= 0:
            continue
        if n_rel[r] > spec.axons:
            raise CompileError(f"layer {st.name!r}: a neuron needs {int(n_rel[r])} relay "
                               f"axons, more than {spec.axons}")
        if cur and (ax + n_rel[r] > spec.axons - reserve or ne + cost[r] > spec.neurons):
            sum_groups.append(np.asarray(cur))
            cur, ax, ne = [], 0, 0
        cur.append(int(r))
        ax += int(n_rel[r])
        ne += int(cost[r])
    if cur:
        sum_groups.append(np.asarray(cur))
    ucost = has[urow, ublk].astype(np.int64) * phases
    partial_groups = []
    for blk in range(nb_in):  # the relays of one input block share its axons
        sel = np.flatnonzero(ublk // (nb // nb_in) == blk)
        cands = [sel]
        if st.conv:
            cands = []
            for o in conv_orders(st.n, st.shape):
                pos = np.empty(st.n, np.int64)
                pos[o] = np.arange(st.n)
                cands.append(sel[np.argsort(pos[urow[sel]], kind="stable")])
        best = None
        for cand in cands:
            g = greedy(uptr, ucols, umasks, cand, ucost, spec.axons, spec.neurons, n_global)
            if best is None or len(g) < len(best):
                best = g
        partial_groups.append(best or [])
    n_cores = len(sum_groups) + sum(len(g) for g in partial_groups)
    return {"nb": nb, "nb_in": nb_in, "signed": signed, "has": has, "sum_groups": sum_groups,
            "partial_groups": partial_groups, "units": (uptr, ucols, umasks, urow, ublk),
            "utw": utw,
            "n_cores": n_cores, "psum": psum.reshape(st.n, nb).astype(np.int64),
            "nsum": nsum.reshape(st.n, nb).astype(np.int64)}


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
def _want_split(st: Stage, masks: np.ndarray, cost: np.ndarray, spec: CoreSpec,
                n_global: int) -> bool:
    """Split the fan-in when a neuron does not fit one core, or when partial sums need
    fewer cores than the direct mapping (one neuron per row, before copies)."""
    if cost.max(initial=0) > spec.axons:
        return True
    ones = np.ones(st.n, np.int64)
    direct = len(_best_groups(st, st.row_ptr, st.cols, masks, ones, spec, n_global, st.conv))
    if direct <= max(1, -(-st.n // spec.neurons)):
        return False
    block = partition_blocks(st.row_ptr, st.cols, masks, spec.axons, not st.conv)
    return _split_plan(st, masks, block, ones, spec, n_global)["n_cores"] < direct


@dataclass
class Compiled:
    """Everything compile produced: the program and the networks on the way."""

    program: CoreProgram
    folded: SpikingNetwork  # pass-through layers folded (float)
    quantised: SpikingNetwork  # integer weights/thresholds/biases in units (ideal simulator)
    quants: dict[str, LayerQuant]
    stats: list[StageStats]
    weight_bits: int


def _timing(stages: list[Stage], split: list[bool]) -> tuple[list[int], list[int]]:
    names = {s.name: s.index for s in stages}
    t_in, t_out = [], []
    for st, sp in zip(stages, split, strict=True):
        srcs = [names[s] for s in st.sources if s in names]
        ti = max((t_out[j] + 1 for j in srcs), default=0)
        t_in.append(ti)
        t_out.append(ti + (1 if sp else 0))
    return t_in, t_out


def _compile_once(network: SpikingNetwork, spec: CoreSpec, weight_bits: int,
                  calibration: np.ndarray | None, encoding: str, ticks: int | None,
                  relays: str = "signed", readout: str = "partial",
                  relay_phases: int = RELAY_PHASES, readout_bits: int | None = None,
                  block_codebooks: bool = True) -> Compiled:
    readout_mode = readout
    folded = fold_network(network)
    qnet, quants = quantise_network(folded, spec, weight_bits, readout_bits)
    stages, n_in = lower(qnet, quants)
    if not stages:
        raise CompileError("the network has no dense or convolution layer to map")
    readout = stages[-1]
    if not readout.readout:
        raise CompileError(f"the last layer must be a dense or conv readout, got "
                           f"{network.layers[-1].kind!r} {network.layers[-1].name!r}")
    n_global = readout.base + readout.n
    masks = [st.masks for st in stages]
    costs = [unit_cost(st.row_ptr, m) for st, m in zip(stages, masks, strict=True)]
    split = [_want_split(st, m, c, spec, n_global)
             for st, m, c in zip(stages, masks, costs, strict=True)]
    # a wide readout as partial readout neurons summed by the decode: no relay tick
    partial_readout = split[-1] and readout_mode == "partial"
    if partial_readout:
        split[-1] = False
    t_in, t_out = _timing(stages, split)
    calib = None
    if calibration is not None and any(split):
        calib = source_spikes(qnet, [st.name for st in stages], n_in, calibration,
                              ticks or CALIBRATION_TICKS)
    b = _Build(spec, v_init=float(network.meta.get("v_init", 0.0)))
    big = -spec.v_min  # floor that never binds: V saturates at -2^(bits-1) anyway
    stats: list[StageStats] = [None] * len(stages)  # type: ignore[list-item]
    for st in reversed(stages):
        if st.readout and partial_readout:
            stats[st.index] = _map_partial_readout(b, st, masks[st.index], t_in[st.index],
                                                   n_global, big)
        elif split[st.index]:
            stats[st.index] = _map_split(b, st, masks[st.index], t_in[st.index], n_global, big,
                                         calib, relays == "signed", relay_phases,
                                         block_codebooks)
        else:
            stats[st.index] = _map_direct(b, st, masks[st.index], t_in[st.index], n_global, big)
    inputs = b.take_needs(0, n_in)
    program = _assemble(b, spec)
    order = np.lexsort((np.arange(len(b.core_role)),
                        np.asarray([0 if r == ROLE_PARTIAL else 1 for r in b.core_role]),
                        np.asarray(b.core_stage)))
    perm = np.empty(len(order), np.int64)
    perm[order] = np.arange(len(order))
    program = _permute(program, order, perm)
    ex = program.extras
    ex["layer_names"] = np.array([s.name for s in stages])
    ex["core_layer"] = np.asarray(b.core_stage, np.int32)[order]
    ex["core_role"] = np.asarray(b.core_role, np.int8)[order]
    ex["input_shape"] = np.asarray(network.input_shape, np.int32)
    ex["pixel_scale"] = np.float64(network.meta.get("pixel_scale", 1.0))
    ex["encoding"] = np.array(encoding)
    ex["decode"] = np.array("potential")
    ex["readout_class"] = readout.term_class.astype(np.int32)
    ex["readout_weight"] = readout.term_weight.astype(np.float64)
    ex["input_element"] = inputs[:, 0].astype(np.int32)
    ex["input_map_core"] = perm[inputs[:, 1]].astype(np.int32)
    ex["input_map_axon"] = inputs[:, 2].astype(np.int32)
    ex["input_map_tick"] = inputs[:, 3].astype(np.int32)
    ex["n_classes"] = np.int32(int(readout.term_class.max()) + 1)
    ex["latency_ticks"] = np.int32(t_out[-1])
    hold = np.asarray(b.hold, np.int64).reshape(-1, 3)
    ex["hold_core"] = perm[hold[:, 0]].astype(np.int32)
    ex["hold_axon"] = hold[:, 1].astype(np.int32)
    ex["hold_ticks"] = hold[:, 2].astype(np.int32)
    ex["weight_bits"] = np.int32(weight_bits)
    ex["spec"] = np.array(spec.name)
    ex["v_init"] = np.float64(network.meta.get("v_init", 0.0))
    if ticks is not None:
        ex["ticks"] = np.int32(ticks)
    for key, fn in (("layer_blocks", lambda s: s.blocks), ("layer_relays", lambda s: s.relays),
                    ("layer_splitters", lambda s: s.splitters),
                    ("layer_neurons", lambda s: s.neurons), ("layer_dead", lambda s: s.dead),
                    ("layer_weight_bits", lambda s: s.weight_bits),
                    ("layer_exact", lambda s: int(s.exact)),
                    ("layer_tick", lambda s: s.output_tick)):
        ex[key] = np.asarray([fn(s) for s in stats], np.int32)
    ex["layer_relay_rms"] = np.asarray([s.relay_rms for s in stats], np.float64)
    program.validate(spec)
    return Compiled(program, folded, qnet, quants, stats, weight_bits)


def _assemble(b: _Build, spec: CoreSpec) -> CoreProgram:
    C = len(b.core_stage)
    p = CoreProgram.empty(C, spec)
    p.axon_type[:] = np.stack(b.axon_type) if C else p.axon_type
    for core, ax, ne in b.syn:
        p.crossbar[core, ax, ne] = True
    for d in b.neu:
        c, s = d["core"], d["slot"]
        if np.any(s >= spec.neurons):
            raise CompileError(f"internal: core {int(c[0])} overfull")
        p.weight[c, s] = d["weight"].astype(np.int16)
        p.leak[c, s] = d["leak"]
        p.threshold[c, s] = d["threshold"]
        p.neg_threshold[c, s] = d["neg_threshold"]
        p.reset_mode[c, s] = RESET_LINEAR
        p.target_core[c, s] = d["target_core"]
        p.target_axon[c, s] = d["target_axon"]
        p.delay[c, s] = d["delay"]
        p.output_index[c, s] = d["output_index"]
        if "v_initial" in d and np.any(d["v_initial"]):
            if p.v_initial is None:
                p.v_initial = np.zeros((C, spec.neurons), np.int32)
            p.v_initial[c, s] = d["v_initial"]
    # silent slots: never fire (threshold max, no synapses), floor 0
    used = np.zeros((C, spec.neurons), bool)
    unit = np.full((C, spec.neurons), -1, np.int32)
    for d in b.neu:
        used[d["core"], d["slot"]] = True
        unit[d["core"], d["slot"]] = d["unit"]
    p.threshold[~used] = spec.threshold_max
    p.extras["neuron_index"] = unit
    return p


def _permute(p: CoreProgram, order: np.ndarray, perm: np.ndarray) -> CoreProgram:
    arrays = {k: v[order] for k, v in p.arrays().items() if k not in ("input_tick", "input_core",
                                                                      "input_axon")}
    tc = arrays["target_core"]
    arrays["target_core"] = np.where(tc >= 0, perm[np.maximum(tc, 0)], -1).astype(np.int32)
    extras = dict(p.extras)
    extras["neuron_index"] = extras["neuron_index"][order]
    return CoreProgram(**arrays, extras=extras)


def compile_network(network: SpikingNetwork, spec: CoreSpec | None = None, *,
                    weight_bits: int | None = None, ticks: int | None = None,
                    encoding: str | None = None, max_chips: int | None = None,
                    calibration: np.ndarray | None = None, relays: str = "signed",
                    readout: str = "partial", relay_phases: int = RELAY_PHASES,
                    readout_bits: int | None = None, block_codebooks: bool = True
                    ) -> Compiled:
    """Like :func:`compile` but also returns the folded and quantised networks and stats."""
    spec = spec or CoreSpec.truenorth()
    encoding = encoding or network.meta.get("encoding", "current")
    if encoding not in ("current", "rate", "poisson"):
        raise ConfigError(f"unknown encoding {encoding!r}; choose current, rate or poisson")
    if weight_bits is not None and not 1 <= weight_bits <= spec.axon_types:
        raise CompileError(f"--weight-bits {weight_bits}: spec {spec.name!r} has "
                           f"{spec.axon_types} axon types, so 1..{spec.axon_types} bits")
    if relays not in ("signed", "biased"):
        raise ConfigError(f"relays={relays!r}: choose 'signed' (a relay pair per input block, "
                          "the more accurate) or 'biased' (one relay per block, fewer cores)")
    if readout_bits is not None and not 1 <= readout_bits <= spec.axon_types:
        raise CompileError(f"--readout-bits {readout_bits}: spec {spec.name!r} has "
                           f"{spec.axon_types} axon types, so 1..{spec.axon_types} bits")
    if not 1 <= int(relay_phases) <= 8:
        raise ConfigError(f"relay_phases={relay_phases}: choose 1..8 relays per input block "
                          "(1, the default: the fewest cores; 2 halves the relays' residual "
                          "error)")
    if readout not in ("partial", "relays"):
        raise ConfigError(f"readout={readout!r}: choose 'partial' (a wide readout as partial "
                          "readout neurons that the decode adds, exact) or 'relays' (summed "
                          "on cores through relays, as before)")
    if calibration is None:  # the frames the converter kept, if any
        calibration = network.calibration
    if calibration is not None:
        calibration = np.asarray(calibration)
        if calibration.ndim < 2 or len(calibration) == 0 or \
                calibration.shape[1:] != tuple(network.input_shape):
            raise ConfigError(f"calibration: expected frames of shape "
                              f"{tuple(network.input_shape)}, got {calibration.shape}")
    if relay_phases > 1 and calibration is None:
        raise ConfigError(f"relay_phases={relay_phases} needs calibration frames (the phases "
                          "are fitted to partial sums): pass calibration=frames, or convert "
                          "the network with calibration frames (`snn convert --calib`)")
    tries = ([weight_bits] if weight_bits is not None
             else list(range(spec.axon_types, 1, -1)) or [1])
    last = None
    for k in tries:
        comp = _compile_once(network, spec, k, calibration, encoding, ticks, relays, readout,
                             relay_phases, readout_bits, block_codebooks)
        chips = -(-comp.program.n_cores // spec.cores_per_chip)
        if max_chips is None or chips <= max_chips:
            return comp
        last = comp
    assert last is not None
    worst = max(last.stats, key=lambda s: sum(s.role_cores.values()))
    raise CompileError(
        f"the network needs {last.program.n_cores} cores = "
        f"{-(-last.program.n_cores // spec.cores_per_chip)} chips at {last.weight_bits}-bit "
        f"weights, more than --max-chips {max_chips}; the largest layer is {worst.name!r} "
        f"({sum(worst.role_cores.values())} cores): raise --max-chips, lower --weight-bits, or "
        "shrink that layer")


def compile(network: SpikingNetwork, spec: CoreSpec | None = None, *,  # noqa: A001
            weight_bits: int | None = None, ticks: int | None = None,
            encoding: str | None = None, max_chips: int | None = None,
            calibration: np.ndarray | None = None, relays: str = "signed",
            readout: str = "partial", relay_phases: int = RELAY_PHASES,
            readout_bits: int | None = None, block_codebooks: bool = True) -> CoreProgram:
    """Map a SpikingNetwork onto cores of ``spec`` (default TrueNorth).

    weight_bits: axons (= axon types) per input, 1..spec.axon_types; default the most
        accurate that fits ``max_chips`` (tries 4, 3, 2). ticks: default run length stored in
        the program. encoding: input encoding stored (default the network's; "current" runs
        as the deterministic rate code on cores). Binarized networks
        (``meta["binarized"]``) go to ``snn.cores.compiler.binarized_map.compile_binarized``.
        calibration: a few training frames (raw pixels, the network's input shape; default
        ``network.calibration``, the frames ``convert`` keeps); when given, the relays of
        split layers get thresholds and biases fitted to the partial sums the quantised
        network produces on them (``snn.cores.compiler.relays``), else data-free
        ones that never lag (docs/compiler.md, "Fan-in split"). relays: "signed" (a relay
        per input block and sign of its weights) or "biased" (one biased relay per block:
        fewer cores, a little less accurate). readout: a readout wider than one core as
        "partial" readout neurons, one per input block, whose integrated inputs the decode
        adds (exact: no relay; the default) or "relays" (partial sums relayed to one summing
        readout neuron per class on cores). relay_phases: calibrated relays per (neuron,
        input block) and sign, starting T_r / relay_phases apart, each with its own summing
        axon: the partial sum reaches the summing neuron in steps of T_r / relay_phases at
        the same peak rate (1, the default: the fewest cores; 2: about half the residual
        error, so fewer ticks for the same accuracy, at about twice the summing cores).
        readout_bits: axons per input of the readout (default ``weight_bits``); its levels
        have twice the bits (hi and lo neurons), so 2 often suffices and halves the
        readout's axons and the copies of the layer before it.
        block_codebooks: each relay of a split layer gets 4 type weights fitted to its own
        synapses (per-block codebooks, ``snn.cores.compiler.unit_codebooks``; default) instead
        of its neuron's; False: the neuron's, as before.
    Raises CompileError naming the layer and what to change when it cannot fit.
    """
    if network.meta.get("binarized"):
        from snn.cores.compiler.binarized_map import compile_binarized
        return compile_binarized(network, spec or CoreSpec.truenorth())
    return compile_network(network, spec, weight_bits=weight_bits, ticks=ticks,
                           encoding=encoding, max_chips=max_chips,
                           calibration=calibration, relays=relays, readout=readout,
                           relay_phases=relay_phases, readout_bits=readout_bits,
                           block_codebooks=block_codebooks).program

