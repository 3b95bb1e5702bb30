"""Exact mapping of binarized spiking networks onto cores (no fan-in splits, no rounding).

``compile_binarized(network, spec)`` takes a ``SpikingNetwork`` with ``meta["binarized"]``
(written by ``snn.converters.binarized_export``) and returns a ``CoreProgram`` whose spikes
equal the network's (the torch forward pass) bit for bit.

Mapping (docs/binarized.md has the full account):

- Signed weights: every input a core needs gets one axon per sign it is used with (type 0,
  weight +1; type 1, weight -1); ternary zeros are absent synapses. Type 2 is the bias axon.
- Each output neuron's inputs must fit one core (at most A - 1 axons with the bias axon);
  outputs are packed greedily into cores (group-major, spatial blocks, channels) while the
  union of their axons fits A and their neurons fit N. A too-large fan-in is refused.
- Fan-out: an element read by k (core, sign) axons is computed by k identical neurons
  (copies), each with one target; copies are counted in the cores' neurons.
- Frame mode: layer l integrates its volley at tick l-1 (delay 1). Fire iff z >= theta; a
  theta <= 0 becomes threshold 1 plus a bias 1 - theta on the bias axon, which receives one
  spike at the layer's tick: from an external "bias" input element for the first layer, and
  from relay neurons of layer l-1 (fed by that layer's own bias axon) for the others.
  Readout: the integer score z of (class, column block of <= A/2 - 1 inputs) is counted in
  spikes: K copies with reset by subtraction and threshold 1 fire clamp(z + F_b - kT, 0, T)
  times over T ticks, so the block's spike count is z + F_b exactly (K*T >= 2*F_b); the
  output counters sum the blocks: count_c = z_c + F for every class c, so argmax (ties to
  the lowest index) equals the network's. A population readout (``meta["readout_pop"]`` = P
  rows per class, row = class * P + j) counts all P rows into the class: count_c = z_c + P*F.
- Temporal mode: per-neuron threshold, leak, reset and floor copied as they are; one tick of
  delay per layer; readout neurons count into their class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn.cores.hardware.spec import CoreSpec
from snn.cores.program import RESET_LINEAR, RESET_NONE, RESET_NORMAL, CoreProgram
from snn.errors import CompileError
from snn.network import INPUT, Conv2d, Dense, Flatten, SpikingNetwork

TYPE_POS, TYPE_NEG, TYPE_BIAS = 0, 1, 2
NO_LAYER, RELAY = -1, -2
__all__ = ["compile_binarized", "thermometer_encode", "frame_inputs", "event_inputs",
           "decode_scores", "RELAY"]


# -- connectivity ----------------------------------------------------------------------------
@dataclass
class _Units:
    """Output neurons of one layer as CSR: unit u reads inputs idx[ptr[u]:ptr[u+1]] (flat
    indices into the layer's input) with signs sgn (+1/-1)."""

    ptr: np.ndarray
    idx: np.ndarray
    sgn: np.ndarray
    order: np.ndarray  # packing order of the units


def _conv_units(layer: Conv2d, in_shape: tuple[int, ...], block: int) -> _Units:
    c_in, h, w = in_shape
    wt = np.asarray(layer.weight)
    o_ch, cg, kh, kw = wt.shape
    pt, pl, _, _ = layer.padding
    sh, sw = layer.stride
    _, ho, wo = layer.output_shape([in_shape])
    og = o_ch // layer.groups
    oi, oj = np.meshgrid(np.arange(ho), np.arange(wo), indexing="ij")
    oi, oj = oi.ravel(), oj.ravel()
    per_unit_idx: list[np.ndarray] = [None] * (o_ch * ho * wo)  # type: ignore[list-item]
    per_unit_sgn: list[np.ndarray] = [None] * (o_ch * ho * wo)  # type: ignore[list-item]
    for o in range(o_ch):
        g = o // og
        ci, di, dj = np.nonzero(wt[o])
        vals = wt[o][ci, di, dj]
        ii = oi[:, None] * sh - pt + di[None, :]
        jj = oj[:, None] * sw - pl + dj[None, :]
        ok = (ii >= 0) & (ii < h) & (jj >= 0) & (jj < w)
        flat = ((g * cg + ci)[None, :] * h + ii) * w + jj
        for p in range(ho * wo):
            u = (o * ho + oi[p]) * wo + oj[p]
            m = ok[p]
            per_unit_idx[u] = flat[p][m]
            per_unit_sgn[u] = np.sign(vals[m]).astype(np.int8)
    ptr = np.zeros(len(per_unit_idx) + 1, np.int64)
    ptr[1:] = np.cumsum([len(a) for a in per_unit_idx])
    return _Units(ptr, np.concatenate(per_unit_idx).astype(np.int64),
                  np.concatenate(per_unit_sgn), _conv_order(layer, in_shape, block))


def _conv_order(layer: Conv2d, in_shape: tuple[int, ...], block: int) -> np.ndarray:
    """Packing order: group, spatial block of block x block outputs, position, channel."""
    o_ch, ho, wo = layer.output_shape([in_shape])
    wt = np.asarray(layer.weight)
    og = o_ch // layer.groups
    # channels that read the same input channels pack together (groups, or shuffled groups
    # exported densely): rank output channels by their input-channel signature
    sig = (wt != 0).any(axis=(2, 3))  # [O, I/groups]
    rows = [(o // og,) + tuple(np.flatnonzero(sig[o])) for o in range(o_ch)]
    rank = np.empty(o_ch, np.int64)
    rank[sorted(range(o_ch), key=lambda o: rows[o])] = np.arange(o_ch)
    _, grp = np.unique(np.array([hash(r) for r in rows]), return_inverse=True)
    first = np.array([rank[grp == g].min() for g in grp])
    o_idx, i_idx, j_idx = np.unravel_index(np.arange(o_ch * ho * wo), (o_ch, ho, wo))
    key = np.lexsort((rank[o_idx], j_idx, i_idx, j_idx // block, i_idx // block,
                      first[o_idx]))
    return key.astype(np.int64)


def _dense_units(weight: np.ndarray) -> _Units:
    rows, cols = np.nonzero(weight)
    ptr = np.zeros(weight.shape[0] + 1, np.int64)
    np.add.at(ptr, rows + 1, 1)
    return _Units(np.cumsum(ptr), cols.astype(np.int64),
                  np.sign(weight[rows, cols]).astype(np.int8), np.arange(weight.shape[0]))


# -- packing --------------------------------------------------------------------------------------
@dataclass
class _Core:
    units: list[int]          # unit ids (layer-local)
    keys: np.ndarray          # sorted axon keys: 2 * input + (sign < 0)
    bias: bool                # holds a bias axon
    relays: int = 0           # relay neurons placed here
    neurons: int = 0          # neurons used by units (copies included)


def _pack(units: _Units, cost: np.ndarray, needs_bias: np.ndarray, n_in: int, spec: CoreSpec,
          layer: str) -> list[_Core]:
    """Greedy packing in ``units.order``; cost[u] neurons per unit (0: dropped)."""
    A, N = spec.axons, spec.neurons
    mark = np.zeros(2 * n_in, np.bool_)
    cores: list[_Core] = []
    cur: list[int] = []
    cur_keys: list[np.ndarray] = []
    n_axons = n_neurons = 0
    cur_bias = False

    def close() -> None:
        nonlocal cur, cur_keys, n_axons, n_neurons, cur_bias
        if cur:
            keys = np.unique(np.concatenate(cur_keys)) if cur_keys else np.zeros(0, np.int64)
            mark[keys] = False
            cores.append(_Core(cur, keys, cur_bias, 0, n_neurons))
        cur, cur_keys, n_axons, n_neurons, cur_bias = [], [], 0, 0, False

    for u in units.order:
        c = int(cost[u])
        if c == 0:
            continue
        sl = slice(units.ptr[u], units.ptr[u + 1])
        keys = 2 * units.idx[sl] + (units.sgn[sl] < 0)
        own = len(np.unique(keys)) + int(needs_bias[u])
        if own > A or c > N:
            raise CompileError(
                f"layer {layer!r}: output {u} needs {own} axons and {c} neurons, one core has "
                f"{A} axons and {N} neurons; with 2 axons per signed input and 1 bias axon a "
                f"neuron may read at most {(A - 1) // 2} inputs: use groups, a smaller kernel "
                "or readout blocks so that every fan-in fits one core")
        new = keys[~mark[keys]]
        new = np.unique(new)
        bias = cur_bias or bool(needs_bias[u])
        if n_axons + len(new) + int(bias) > A or n_neurons + c > N:
            close()
            new = np.unique(keys)
            bias = bool(needs_bias[u])
        mark[new] = True
        cur.append(int(u))
        cur_keys.append(new)
        n_axons += len(new)
        n_neurons += c
        cur_bias = bias
    close()
    return cores


# -- the compiler ------------------------------------------------------------------------------
@dataclass
class _Plan:
    name: str
    units: _Units
    n_in: int
    cost: np.ndarray
    cores: list[_Core]
    kind: str  # "hidden" | "readout"


def _layer_chain(network: SpikingNetwork) -> list[tuple[object, tuple[int, ...]]]:
    shapes = network.shapes()
    chain = []
    prev = INPUT
    for layer in network.layers:
        if layer.inputs != (prev,):
            raise CompileError(f"layer {layer.name!r}: binarized networks are a chain; it reads "
                               f"{layer.inputs}, expected ({prev!r},)")
        prev = layer.name
        if isinstance(layer, Flatten):
            continue
        if not isinstance(layer, (Conv2d, Dense)):
            raise CompileError(f"layer {layer.name!r}: {layer.kind} is not supported in binarized "
                               "networks (use strided convolutions instead of pooling)")
        chain.append((layer, shapes[layer.inputs[0]]))
    if not chain:
        raise CompileError("the network has no conv or dense layer")
    return chain


def _int(a: np.ndarray, what: str, layer: str) -> np.ndarray:
    a = np.asarray(a, np.float64)
    if not np.array_equal(a, np.round(a)):
        raise CompileError(f"layer {layer!r}: {what} must be integers for the exact binarized "
                           "mapping (export with snn.converters.binarized_export)")
    return np.round(a).astype(np.int64)


def compile_binarized(network: SpikingNetwork, spec: CoreSpec | None = None, *,
                      readout_ticks: int = 16, block: int | None = None) -> CoreProgram:
    """Map a binarized ``SpikingNetwork`` onto cores exactly (see the module docstring).

    readout_ticks: T, frame mode only: ticks the readout neurons count over (more ticks,
        fewer readout neurons). block: spatial block edge for packing conv outputs (None:
        try several, keep the fewest cores).
    Extras written: layer_names, core_layer, input_shape, n_classes, latency_ticks, encoding,
    input_element / input_map_core / input_map_axon (element n_in = the bias input, frame
    mode), binarized_mode, thermometer_levels, neuron_layer / neuron_element [C, N] (layer
    index, flat output index; -2 relay, -1 unused).
    """
    spec = spec or CoreSpec.truenorth()
    meta = network.meta
    mode = meta.get("binarized_mode", "frame")
    if mode not in ("frame", "temporal"):
        raise CompileError(f"meta binarized_mode must be 'frame' or 'temporal', got {mode!r}")
    if spec.axon_types < 3 and mode == "frame":
        raise CompileError("frame mode needs 3 axon types (+1, -1, bias)")
    if readout_ticks < 1:
        raise CompileError("readout_ticks must be >= 1")
    chain = _layer_chain(network)
    L = len(chain)
    frame = mode == "frame"
    last = chain[-1][0]
    if frame and last.spiking:
        raise CompileError(f"layer {last.name!r}: in frame mode the last layer is the "
                           "non-spiking integer readout")
    if frame and np.any(np.asarray(last.bias) != 0):
        raise CompileError(f"layer {last.name!r}: the frame-mode readout has no bias")
    if not frame and not last.spiking:
        raise CompileError(f"layer {last.name!r}: in temporal mode every layer spikes")
    max_in = (spec.axons - (1 if frame else 0)) // 2

    # thresholds, biases
    params = []
    for layer, in_shape in chain:
        n_out = int(np.prod(layer.output_shape([in_shape])))
        per = n_out // len(layer.weight)  # outputs per channel (conv) or 1 (dense)
        th = np.asarray(layer.threshold, np.float64).ravel()
        th = np.broadcast_to(th, (len(layer.weight),)) if th.size == 1 else th
        th = np.repeat(_int(th, "thresholds", layer.name), per)
        bias = np.repeat(_int(layer.bias, "biases", layer.name), per)
        _int(layer.weight, "weights", layer.name)
        if np.abs(layer.weight).max(initial=0) > 1:
            raise CompileError(f"layer {layer.name!r}: binarized weights must be -1, 0 or +1")
        params.append((th, bias))

    # units and per-unit bias needs
    plans: list[_Plan] = []
    for li, (layer, in_shape) in enumerate(chain):
        n_in = int(np.prod(in_shape))
        if isinstance(layer, Conv2d):
            units = _conv_units(layer, in_shape, 1)
        else:
            units = _dense_units(np.asarray(layer.weight))
        kind = "readout" if li == L - 1 else "hidden"
        plans.append(_Plan(layer.name, units, n_in, np.zeros(0), [], kind))

    # readout units (frame): (class, block, copy) -> neuron rows of a synthetic dense layer
    ro_info = None
    if frame:
        w = np.asarray(last.weight)
        blk = min(int(block or meta.get("readout_block", max_in)), max_in)
        n_rows, f = w.shape
        pop = int(meta.get("readout_pop", 1))
        if pop < 1 or n_rows % pop:
            raise CompileError(f"layer {last.name!r}: {n_rows} readout rows are not a multiple "
                               f"of meta readout_pop = {pop} (rows per class)")
        T = readout_ticks
        rows, info = [], []
        for q in range(-(-f // blk)):
            sl = slice(q * blk, min((q + 1) * blk, f))
            fq = sl.stop - sl.start
            K = max(1, -(-2 * fq // T))
            for c in range(n_rows):
                r = np.zeros(f)
                r[sl] = w[c, sl]
                for k in range(K):
                    rows.append(r)
                    info.append((c // pop, q, k, fq - k * T))  # counter = class
        dense = np.array(rows)
        units = _dense_units(dense)
        units.order = np.arange(len(rows))
        plans[-1].units = units
        ro_info = np.array(info, np.int64)
        if (ro_info[:, 3] < spec.weight_min).any() or (ro_info[:, 3] > spec.weight_max).any():
            raise CompileError("readout offsets exceed the weight range; raise readout_ticks")

    # bias needs per unit
    needs_bias: list[np.ndarray] = []
    for li, plan in enumerate(plans):
        n_units = len(plan.units.ptr) - 1
        if plan.kind == "readout" and frame:
            needs_bias.append(ro_info[:, 3] != 0)
        elif frame:
            th, b = params[li]
            needs_bias.append((th - b) < 1)
        else:
            needs_bias.append(np.zeros(n_units, np.bool_))

    # pack backwards: copies of layer l = axons referencing each element in layer l+1 cores
    relay_need = 0
    for li in range(L - 1, -1, -1):
        plan = plans[li]
        n_units = len(plan.units.ptr) - 1
        if li == L - 1:
            cost = np.ones(n_units, np.int64)
        else:
            cost = np.zeros(n_units, np.int64)
            for core in plans[li + 1].cores:
                np.add.at(cost, core.keys // 2, 1)
        plan.cost = cost
        fan = np.diff(plan.units.ptr)
        if fan.max(initial=0) > max_in:
            u = int(np.argmax(fan))
            raise CompileError(f"layer {plan.name!r}: output {u} reads {fan[u]} inputs; one core "
                               f"takes at most {max_in} signed inputs per neuron: use groups, a "
                               "smaller kernel or readout blocks (no fan-in splits here)")
        best = None
        layer = chain[li][0]
        blocks = [block] if block else ([1, 2, 3, 4, 7, 1 << 20] if isinstance(layer, Conv2d)
                                        else [1])
        for b in blocks:
            if isinstance(layer, Conv2d) and plan.kind != "readout":
                plan.units.order = _conv_order(layer, chain[li][1], b)
            cores = _pack(plan.units, cost, needs_bias[li], plan.n_in, spec, plan.name)
            if best is None or len(cores) < len(best[0]):
                best = (cores, plan.units.order.copy())
        plan.cores, plan.units.order = best
        # relays for the next layer's bias axons (frame mode)
        if frame and li < L - 1:
            relay_need = sum(1 for c in plans[li + 1].cores if c.bias)
            _place_relays(plan, relay_need, spec)

    return _build(network, chain, plans, params, ro_info, spec, frame, readout_ticks)


def _place_relays(plan: _Plan, need: int, spec: CoreSpec) -> None:
    A, N = spec.axons, spec.neurons
    for core in plan.cores:
        if need == 0:
            return
        free = N - core.neurons - core.relays
        axons = len(core.keys) + int(core.bias)
        if free > 0 and (core.bias or axons < A):
            k = min(free, need)
            core.relays += k
            core.bias = True
            need -= k
    while need > 0:  # relay-only cores
        k = min(N, need)
        plan.cores.append(_Core([], np.zeros(0, np.int64), True, k, 0))
        need -= k


def _build(network: SpikingNetwork, chain: list, plans: list[_Plan], params: list,
           ro_info: np.ndarray | None, spec: CoreSpec, frame: bool,
           readout_ticks: int) -> CoreProgram:
    L = len(plans)
    offsets = np.cumsum([0] + [len(p.cores) for p in plans])
    prog = CoreProgram.empty(int(offsets[-1]), spec)
    prog.neg_threshold[:] = 0
    core_layer = np.zeros(prog.n_cores, np.int32)
    neuron_layer = np.full((prog.n_cores, spec.neurons), NO_LAYER, np.int32)
    neuron_element = np.full((prog.n_cores, spec.neurons), -1, np.int32)
    meta = network.meta
    floors = meta.get("floor", [0] * L)
    reset = RESET_LINEAR if meta.get("reset", "subtract") == "subtract" else RESET_NORMAL

    # axons of every core: keys sorted -> axon index; bias axon last
    axon_of: list[list[dict]] = []
    bias_axon: list[list[int]] = []
    for li, plan in enumerate(plans):
        maps, bias_list = [], []
        for ci, core in enumerate(plan.cores):
            g = offsets[li] + ci
            core_layer[g] = li
            n_keys = len(core.keys)
            prog.axon_type[g, :n_keys] = np.where(core.keys % 2 == 0, TYPE_POS, TYPE_NEG)
            ba = n_keys if core.bias else -1
            if ba >= 0:
                prog.axon_type[g, ba] = TYPE_BIAS
            maps.append(core.keys)
            bias_list.append(ba)
        axon_of.append(maps)
        bias_axon.append(bias_list)

    # targets: for layer li, element e -> list of (core, axon) in layer li+1
    def targets(li: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        el, co, ax = [], [], []
        for ci, keys in enumerate(axon_of[li]):
            el.append(keys // 2)
            co.append(np.full(len(keys), offsets[li] + ci))
            ax.append(np.arange(len(keys)))
        if not el:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        el_, co_, ax_ = np.concatenate(el), np.concatenate(co), np.concatenate(ax)
        o = np.argsort(el_, kind="stable")
        return el_[o], co_[o], ax_[o]

    relay_targets: list[list[tuple[int, int]]] = []
    for li in range(L):
        lst = []
        if li + 1 < L:
            for ci, core in enumerate(plans[li + 1].cores):
                if core.bias:
                    lst.append((int(offsets[li + 1] + ci), bias_axon[li + 1][ci]))
        relay_targets.append(lst)

    for li, plan in enumerate(plans):
        th, b = params[li]
        if li + 1 < L:
            t_el, t_co, t_ax = targets(li + 1)
            start = np.searchsorted(t_el, np.arange(len(plan.cost)))
        relay_iter = iter(relay_targets[li])
        for ci, core in enumerate(plan.cores):
            g = int(offsets[li] + ci)
            n = 0
            for u in core.units:
                sl = slice(plan.units.ptr[u], plan.units.ptr[u + 1])
                keys = 2 * plan.units.idx[sl] + (plan.units.sgn[sl] < 0)
                axons = np.searchsorted(core.keys, keys)
                copies = int(plan.cost[u])
                if plan.kind == "readout" and frame:
                    cls, _q, _k, off = (int(v) for v in ro_info[u])
                    thr, bias_w, out_idx, mode = 1, off, cls, RESET_LINEAR
                    elem = u
                elif plan.kind == "readout":
                    thr, bias_w = int(th[u]), 0
                    out_idx = u // int(network.meta.get("readout_groups", 1))
                    mode, elem = reset, u
                elif frame:
                    t = int(th[u] - b[u])
                    thr, bias_w = (t, 0) if t >= 1 else (1, 1 - t)
                    out_idx, mode, elem = -1, RESET_NORMAL, u
                else:
                    thr, bias_w, out_idx, mode, elem = int(th[u]), 0, -1, reset, u
                if thr > spec.threshold_max:
                    thr = spec.threshold_max  # unreachable: |z| <= fan-in < threshold_max
                if not (spec.weight_min <= bias_w <= spec.weight_max):
                    raise CompileError(f"layer {plan.name!r}: bias {bias_w} of output {u} "
                                       "exceeds the weight range")
                if li + 1 < L:
                    tg = slice(start[u], start[u] + copies)
                    tcores, taxons = t_co[tg], t_ax[tg]
                for c in range(copies):
                    prog.crossbar[g, axons, n] = True
                    prog.weight[g, n, TYPE_POS] = 1
                    prog.weight[g, n, TYPE_NEG] = -1
                    if bias_w != 0:
                        prog.crossbar[g, bias_axon[li][ci], n] = True
                        prog.weight[g, n, TYPE_BIAS] = bias_w
                    prog.threshold[g, n] = thr
                    prog.reset_mode[g, n] = mode
                    if not frame:
                        prog.leak[g, n] = int(b[u])
                        prog.neg_threshold[g, n] = int(floors[li])
                    prog.output_index[g, n] = out_idx
                    if li + 1 < L:
                        prog.target_core[g, n] = tcores[c]
                        prog.target_axon[g, n] = taxons[c]
                    neuron_layer[g, n] = li
                    neuron_element[g, n] = elem
                    n += 1
            for _ in range(core.relays):
                tc, ta = next(relay_iter)
                prog.crossbar[g, bias_axon[li][ci], n] = True
                prog.weight[g, n, TYPE_BIAS] = 1
                prog.threshold[g, n] = 1
                prog.target_core[g, n] = tc
                prog.target_axon[g, n] = ta
                neuron_layer[g, n] = RELAY
                n += 1
            if n > spec.neurons:
                raise CompileError(f"internal: core {g} overfull ({n} neurons)")
        if any(True for _ in relay_iter):
            raise CompileError(f"internal: relays of layer {plan.name!r} left unplaced")
    if not frame:
        prog.reset_mode[neuron_layer < 0] = RESET_NONE

    # input map: element -> (core, axon) of layer-0 cores; bias element = n_in
    n_in = plans[0].n_in
    el, co, ax = [], [], []
    for ci, keys in enumerate(axon_of[0]):
        el.append(keys // 2)
        co.append(np.full(len(keys), ci))
        ax.append(np.arange(len(keys)))
        if bias_axon[0][ci] >= 0:
            el.append(np.array([n_in]))
            co.append(np.array([ci]))
            ax.append(np.array([bias_axon[0][ci]]))
    el_, co_, ax_ = np.concatenate(el), np.concatenate(co), np.concatenate(ax)
    o = np.lexsort((ax_, co_, el_))
    n_layers = L
    latency = (n_layers - 1 + readout_ticks) if frame else (n_layers - 1)
    prog.extras.update({
        "layer_names": np.array([p.name for p in plans]),
        "core_layer": core_layer,
        "input_shape": np.array(network.input_shape, np.int32),
        "n_classes": np.int32(int(network.layers[-1].weight.shape[0])
                              // int(meta.get("readout_pop", 1)) if frame
                              else int(np.prod(network.output_shape))
                              // int(meta.get("readout_groups", 1))),
        "latency_ticks": np.int32(latency),
        "encoding": np.array("thermometer" if frame else "events"),
        "binarized_mode": np.array("frame" if frame else "temporal"),
        "n_input_elements": np.int32(n_in),
        "input_element": el_[o].astype(np.int32),
        "input_map_core": co_[o].astype(np.int32),
        "input_map_axon": ax_[o].astype(np.int32),
        "neuron_layer": neuron_layer,
        "neuron_element": neuron_element,
    })
    if frame:
        prog.extras["thermometer_levels"] = np.array(meta.get("thermometer_levels", []),
                                                     np.int32)
        prog.extras["readout_ticks"] = np.int32(readout_ticks)
    return prog.validate(spec)


# -- inputs and decoding ---------------------------------------------------------------------------
def thermometer_encode(images: np.ndarray, levels: list[int] | np.ndarray) -> np.ndarray:
    """Raw pixels [B, 1, H, W] (0..255) -> bool [B, L*H*W]: channel k = pixel >= levels[k]."""
    images = np.asarray(images)
    lv = np.asarray(levels).reshape(1, -1, 1, 1)
    return (images >= lv).reshape(images.shape[0], -1)


def _input_csr(program: CoreProgram) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    el = program.extras["input_element"].astype(np.int64)
    n = int(program.extras["n_input_elements"]) + 1
    ptr = np.zeros(n + 1, np.int64)
    np.add.at(ptr, el + 1, 1)
    return np.cumsum(ptr), program.extras["input_map_core"], program.extras["input_map_axon"]


def frame_inputs(program: CoreProgram, bits: np.ndarray):
    """Binary input elements of B frames (bool [B, n_in], e.g. ``thermometer_encode``) ->
    ``InputSpikes``: active elements and the bias element at tick 0."""
    from snn.cores.engine.run_types import InputSpikes

    ptr, mcore, maxon = _input_csr(program)
    n_in = int(program.extras["n_input_elements"])
    bits = np.asarray(bits, np.bool_).reshape(len(bits), -1)
    if bits.shape[1] != n_in:
        raise CompileError(f"frame_inputs: {bits.shape[1]} input elements per frame, the program "
                           f"takes {n_in}")
    cores, axons, counts = [], [], []
    for row in bits:
        el = np.append(np.flatnonzero(row), n_in)
        idx = _expand(ptr, el)
        cores.append(mcore[idx])
        axons.append(maxon[idx])
        counts.append(len(idx))
    offsets = np.zeros(len(bits) + 1, np.int64)
    offsets[1:] = np.cumsum(counts)
    core = np.concatenate(cores).astype(np.int32) if cores else np.zeros(0, np.int32)
    axon = np.concatenate(axons).astype(np.int16) if axons else np.zeros(0, np.int16)
    return InputSpikes(tick=np.zeros(len(core), np.int32), core=core, axon=axon,
                       offsets=offsets)


def event_inputs(program: CoreProgram, events: list[tuple[np.ndarray, np.ndarray]]):
    """Per frame (tick int [E], element int [E]) input events -> ``InputSpikes`` (temporal).
    A (tick, element) pair should appear once (``snn.event_data.events_to_spikes``)."""
    from snn.cores.engine.run_types import InputSpikes

    ptr, mcore, maxon = _input_csr(program)
    n_in = int(program.extras["n_input_elements"])
    ticks, cores, axons, counts = [], [], [], []
    for tick, el in events:
        el = np.asarray(el, np.int64)
        if el.size and (el.min() < 0 or el.max() >= n_in):
            raise CompileError(f"event_inputs: element out of range 0..{n_in - 1}")
        idx = _expand(ptr, el)
        reps = ptr[el + 1] - ptr[el]
        ticks.append(np.repeat(np.asarray(tick, np.int64), reps))
        cores.append(mcore[idx])
        axons.append(maxon[idx])
        counts.append(len(idx))
    offsets = np.zeros(len(events) + 1, np.int64)
    offsets[1:] = np.cumsum(counts)
    return InputSpikes(tick=np.concatenate(ticks).astype(np.int32),
                       core=np.concatenate(cores).astype(np.int32),
                       axon=np.concatenate(axons).astype(np.int16), offsets=offsets)


def _expand(ptr: np.ndarray, el: np.ndarray) -> np.ndarray:
    """Concatenated ranges ptr[e]:ptr[e+1] for e in el."""
    starts, ends = ptr[el], ptr[el + 1]
    lens = ends - starts
    if lens.sum() == 0:
        return np.zeros(0, np.int64)
    rep = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return np.arange(lens.sum()) + rep


def decode_scores(outputs: np.ndarray) -> np.ndarray:
    """Readout counts [B, classes] -> predicted class (argmax, ties to the lowest index)."""
    return np.argmax(outputs, axis=1)
