"""Max pooling as integrate-and-fire neurons: a tree of pairwise maxima (the core form).

``max(a, b) = a + relu(b - a)``. Each window of K elements (row-major order) is reduced by
a balanced tree of pairwise maxima; every internal node N (children L, R) is one IF neuron
``r_N`` (threshold 1, reset by subtraction, no leak) driven by ``m_R - m_L``, where the
value of a subtree is linear in the window's spikes and the relu neurons below it::

    m_leaf(e) = a_e,    m_N = m_L + r_N = a_(leftmost leaf of N) + sum of r on N's left spine

so no neuron ever adds values of unequal depth except through the linear sums, which the
next neuron integrates. The window's output is one more IF neuron (threshold 1) driven by
``m_root``. Per window: K - 1 relu neurons + 1 output neuron; depth ceil(log2 K) + 1
layers (on cores one tick each: 2x2 -> 4 neurons, 3 ticks; 3x3 -> 9 neurons, 5 ticks).

Network form (``expand_maxpool``): level j's relu neurons are the spiking layer
``{pool}.r{j}`` (channels ``C * n_j``, channel ``c * n_j + i`` = node i of channel c), an
``Add`` (threshold 1) of pass-through convolutions ``{pool}.r{j}.p`` (the pool's window
on its input: kernel, stride and zero padding of the pool, groups C, weights +-1) and
``{pool}.r{j}.r{l}`` (1x1 convolutions on earlier levels l < j); the output keeps the
pool's name. Only integer weights 0/+-1 and threshold 1: the quantised form is exact.

Exactness in rate: padding is zeros, which never changes a maximum of spike counts (>= 0).
With inputs of spike counts A_e(t) (cumulative over ticks 0..t), a relu neuron's count is
``R(t) = max(0, max_{s<=t} D(s))`` (D = cumulative drive; integer drive, threshold 1, no
floor), so ``M_N(t) >= max(M_L(t), M_R(t))`` and the overshoot ``M_N - max`` of a node is
at most the largest drop of its drive D over ticks (a lead that later reverses). The
output neuron's count is within ``[m_root(t) - V(t), m_root(t)]`` where ``V`` is its
residual membrane (< its per-tick excess). ``tests/snn/test_maxpool.py`` checks the
bound ``max_e A_e(T) <= M(T) <= max_e A_e(T) + o`` with ``o`` the measured overshoot.
"""

from __future__ import annotations

import numpy as np

from snn.errors import ConfigError
from snn.network import Add, Conv2d, Layer, Pool2d, SpikingNetwork

MAXPOOL_MODES = ("gate", "tree")


def window_tree(k: int) -> list[list[tuple[dict, dict]]]:
    """Levels of the pairwise-max tree over k leaves: per level, per relu node, the linear
    expressions (source -> coefficient) of its right and left inputs; sources are
    ``("p", e)`` (leaf e) and ``("r", level, i)``. Also used for the output: see
    :func:`tree_output`."""
    cur: list[dict] = [{("p", e): 1} for e in range(k)]
    levels = []
    while len(cur) > 1:
        lvl = len(levels) + 1
        nodes, nxt = [], []
        for i in range(0, len(cur) - 1, 2):
            left, right = cur[i], cur[i + 1]
            idx = len(nodes)
            nodes.append((right, left))
            m = dict(left)
            m[("r", lvl, idx)] = 1
            nxt.append(m)
        if len(cur) % 2:
            nxt.append(cur[-1])
        levels.append(nodes)
        cur = nxt
    levels.append([(cur[0], {})])  # the output: m_root
    return levels


def _terms(pool: Pool2d, channels: int, exprs: list[dict], counts: list[int], prefix: str,
           src: str) -> list[Conv2d]:
    """Pass-through convolutions computing sum(expr) for each node (channel c*n + i)."""
    n = len(exprs)
    kh, kw = pool.kernel
    c = channels
    out: list[Conv2d] = []
    wp = np.zeros((c * n, 1, kh, kw), np.float32)
    wr = {lvl: np.zeros((c * n, counts[lvl - 1], 1, 1), np.float32)
          for lvl in range(1, len(counts) + 1)}
    for i, ex in enumerate(exprs):
        for key, coef in ex.items():
            if key[0] == "p":
                dy, dx = divmod(key[1], kw)
                wp[i::n, 0, dy, dx] += coef
            else:
                wr[key[1]][i::n, key[2], 0, 0] += coef
    if wp.any():
        out.append(Conv2d(f"{prefix}.p", (src,), False, np.ones(1, np.float32), weight=wp,
                          bias=np.zeros(c * n, np.float32), stride=tuple(pool.stride),
                          padding=tuple(pool.padding), groups=c))
    for lvl, w in wr.items():
        if w.any():
            out.append(Conv2d(f"{prefix}.r{lvl}", (f"{pool.name}.r{lvl}",), False,
                              np.ones(1, np.float32), weight=w,
                              bias=np.zeros(c * n, np.float32), groups=c))
    return out


def _spiking(name: str, terms: list[Conv2d]) -> list[Layer]:
    """Terms summed by IF neurons of threshold 1 named ``name`` (one term: the term itself
    spiking)."""
    one = np.ones(1, np.float32)
    if len(terms) == 1:
        t = terms[0]
        return [Conv2d(name, t.inputs, True, one, weight=t.weight, bias=t.bias,
                       stride=t.stride, padding=t.padding, groups=t.groups)]
    return [*terms, Add(name, tuple(t.name for t in terms), True, one)]


def expand_pool(pool: Pool2d, in_shape: tuple[int, ...]) -> list[Layer]:
    """The layers of one max pool's tree construction (see the module docstring)."""
    if len(in_shape) != 3:
        raise ConfigError(f"layer {pool.name!r}: max pooling needs a (C, H, W) input, got "
                          f"{in_shape}")
    c = int(in_shape[0])
    (src,) = pool.inputs
    levels = window_tree(pool.kernel[0] * pool.kernel[1])
    counts = [len(lv) for lv in levels[:-1]]
    layers: list[Layer] = []
    for j, nodes in enumerate(levels[:-1], start=1):
        exprs = [{k: right.get(k, 0) - left.get(k, 0) for k in set(right) | set(left)}
                 for right, left in nodes]
        exprs = [{k: v for k, v in e.items() if v} for e in exprs]
        layers += _spiking(f"{pool.name}.r{j}",
                           _terms(pool, c, exprs, counts[:j - 1], f"{pool.name}.r{j}", src))
    root = levels[-1][0][0]
    layers += _spiking(pool.name, _terms(pool, c, [root], counts, f"{pool.name}.m", src))
    return layers


def expand_maxpool(net: SpikingNetwork) -> SpikingNetwork:
    """``net`` with every max pool replaced by its tree of IF neurons (same output name,
    same spike scale); a network without max pooling is returned unchanged."""
    if not any(isinstance(x, Pool2d) and x.mode == "max" for x in net.layers):
        return net
    shapes = net.shapes()
    layers: list[Layer] = []
    for layer in net.layers:
        if isinstance(layer, Pool2d) and layer.mode == "max":
            layers += expand_pool(layer, shapes[layer.inputs[0]])
        else:
            layers.append(layer)
    meta = dict(net.meta)
    meta["maxpool_form"] = "tree"
    return SpikingNetwork(net.input_shape, layers, meta, net.calibration)


def check_mode(mode: str) -> str:
    if mode not in MAXPOOL_MODES:
        raise ConfigError(f"maxpool={mode!r}: choose 'gate' (rate-gated max, the ideal "
                          "simulator's default) or 'tree' (the IF-neuron tree that the core "
                          "compiler maps)")
    return mode
