"""Binarized spiking layers in PyTorch, built to map onto TrueNorth-like cores exactly.

Weights: binary (+1/-1) or ternary (-1/0/+1) in the forward pass, kept as latent floats for
training with the straight-through estimator (STE): d w_q / d w = 1 where |w| <= 1, else 0.

Activations: spikes s = H(u) in {0, 1} (Heaviside, H(0) = 1). Backward uses the arctan
surrogate  dH/du ~= 1 / (1 + (pi * u / width)^2) / width  (``width`` = 1 by default; the BN
output u is already normalised), as in SpikingJelly's ATan.

Frame mode (one pass per frame, e.g. Fashion-MNIST): block = binary conv/linear (integer
pre-activation z, |z| <= fan-in) -> BatchNorm -> spike. ``freeze()`` folds the BatchNorm into
one integer threshold per output channel: s = [sign * z >= theta] (sign = -1 when the BN
scale is negative; the weights' sign is flipped at export so the core computes z' >= theta).
After ``freeze()`` the torch forward IS the integer model the cores run.

Temporal mode (event data, e.g. N-MNIST): the same binary layers run tick by tick with
integer membrane state: V += z(t) + leak; V clamped to the core's 20-bit range; s = V >= theta;
reset (to 0 or by subtraction); V = max(V, -floor). theta >= 1 and leak are trained as floats
and rounded with an STE. Layers form a pipeline with one tick of delay per layer, exactly as
on cores (layer l at tick t integrates layer l-1's spikes of tick t-1). Trainable with BPTT.

Readout: ``BlockReadout`` — binary Dense whose fan-in is cut into column blocks of at most
``block`` inputs; frame mode scores z_c = sum of block pre-activations (decision argmax, ties
to the lowest class index); temporal mode scores = sum over blocks of the spike counts of one
IF neuron per (class, block). Both sums are done by the cores' output counters, not by
neurons, so no fan-in is ever split across cores.

Export to ``SpikingNetwork``: see ``snn.converters.binarized_export``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

V_BITS = 20  # TrueNorth membrane width (docs/design.md §3.1)
V_MIN, V_MAX = -(2 ** (V_BITS - 1)), 2 ** (V_BITS - 1) - 1


# -- autograd pieces -----------------------------------------------------------------------------
class _Spike(torch.autograd.Function):
    """Heaviside forward (u >= 0 -> 1), arctan surrogate backward."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, width: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(u)
        ctx.width = width
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (u,) = ctx.saved_tensors
        w = ctx.width
        return grad / (w * (1.0 + (math.pi * u / w) ** 2)), None


def spike(u: torch.Tensor, width: float = 1.0) -> torch.Tensor:
    """Binary spike H(u) in {0, 1} with the arctan surrogate gradient."""
    return _Spike.apply(u, width)


class _SignSTE(torch.autograd.Function):
    """sign(u) in {-1, +1} (sign(0) = +1) with the hardtanh STE (BNN activations)."""

    @staticmethod
    def forward(ctx, u: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(u)
        return torch.where(u >= 0, torch.ones_like(u), -torch.ones_like(u))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (u,) = ctx.saved_tensors
        return grad * (u.abs() <= 1).to(grad.dtype)


def sign_ste(u: torch.Tensor) -> torch.Tensor:
    return _SignSTE.apply(u)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """round(x) forward, identity backward."""
    return x + (torch.round(x) - x).detach()


def quantize_weight(w: torch.Tensor, mode: str, delta: float = 0.05) -> torch.Tensor:
    """Binary (sign, 0 -> +1) or ternary (|w| <= delta -> 0) weights with the clipped STE."""
    if mode == "float":
        return w
    if mode == "binary":
        q = torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))
    elif mode == "ternary":
        q = torch.sign(w) * (w.abs() > delta).to(w.dtype)
    else:
        raise ValueError(f"weight mode must be 'binary', 'ternary' or 'float', got {mode!r}")
    wc = w.clamp(-1.0, 1.0)
    return wc + (q - wc).detach()


# -- layers -------------------------------------------------------------------------------------
class _QuantisedWeights:
    """Mixin: binary/ternary weights through the straight-through estimator."""

    weight: torch.Tensor
    weights: str

    def _init_quantised(self, weights: str) -> None:
        self.weights = weights
        if weights != "float":
            nn.init.uniform_(self.weight, -1.0, 1.0)

    def qweight(self) -> torch.Tensor:
        return quantize_weight(self.weight, self.weights)

    @torch.no_grad()
    def clip_latent_(self) -> None:
        """Clip the latent weights to [-1, 1] (BinaryConnect): outside it the clipped STE
        passes no gradient, so an unclipped weight that leaves it is frozen for good.
        Call after every optimiser step; no-op for float weights."""
        if self.weights != "float":
            self.weight.clamp_(-1.0, 1.0)


class BinaryConv2d(_QuantisedWeights, nn.Conv2d):
    """Conv2d with binary/ternary weights (STE), no bias; fan-in = in/groups * kh * kw."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 groups: int = 1, weights: str = "binary"):
        nn.Conv2d.__init__(self, in_ch, out_ch, kernel, stride, padding, groups=groups,
                           bias=False)
        self._init_quantised(weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.qweight(), None, self.stride, self.padding, 1, self.groups)

    @property
    def fan_in(self) -> int:
        return self.in_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]


class BinaryLinear(_QuantisedWeights, nn.Linear):
    """Linear with binary/ternary weights (STE), no bias."""

    def __init__(self, in_f: int, out_f: int, weights: str = "binary"):
        nn.Linear.__init__(self, in_f, out_f, bias=False)
        self._init_quantised(weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.qweight())

    @property
    def fan_in(self) -> int:
        return self.in_features


class ChannelShuffle(nn.Module):
    """ShuffleNet channel shuffle between grouped layers (free on cores: it is wiring)."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        g = self.groups
        return x.reshape(b, g, c // g, *x.shape[2:]).transpose(1, 2).reshape(x.shape)

    def permutation(self, channels: int) -> np.ndarray:
        """out channel i = in channel perm[i]."""
        return np.arange(channels).reshape(self.groups, -1).T.reshape(-1)


class SpikeBlock(nn.Module):
    """Frame-mode block: binary linear op -> BatchNorm -> activation.

    activation: "spike" (H, {0,1}: BSNN), "sign" ({-1,+1}: BNN) or "relu" (float DNN).
    After ``freeze()`` (spike only) the forward is s = [flip * z >= theta] with integer theta.
    """

    def __init__(self, op: nn.Module, activation: str = "spike", surrogate_width: float = 1.0):
        super().__init__()
        self.op = op
        out = op.out_channels if isinstance(op, nn.Conv2d) else op.out_features
        self.bn = nn.BatchNorm2d(out) if isinstance(op, nn.Conv2d) else nn.BatchNorm1d(out)
        self.activation = activation
        self.width = surrogate_width
        self.register_buffer("theta", torch.zeros(out))
        self.register_buffer("flip", torch.ones(out))
        self.frozen = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.op(x)
        if self.frozen:
            shape = (1, -1) + (1,) * (z.dim() - 2)
            return (z * self.flip.view(shape) >= self.theta.view(shape)).to(z.dtype)
        u = self.bn(z)
        if self.activation == "spike":
            return spike(u, self.width)
        if self.activation == "sign":
            return sign_ste(u)
        return F.relu(u)

    @torch.no_grad()
    def freeze(self) -> None:
        """Fold BatchNorm (eval statistics) into integer thresholds theta and signs flip."""
        if self.activation != "spike":
            raise ValueError("only spiking blocks fold into integer thresholds")
        theta, flip = fold_bn_threshold(self.bn, self.op.fan_in)
        self.theta.copy_(torch.as_tensor(theta, dtype=self.theta.dtype))
        self.flip.copy_(torch.as_tensor(flip, dtype=self.flip.dtype))
        self.frozen = True


def fold_bn_threshold(bn: nn.modules.batchnorm._BatchNorm, fan_in: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """BN(z) >= 0  <=>  flip * z >= theta, theta integer, |theta| <= fan_in + 1.

    a = gamma / sqrt(var + eps); a > 0: z >= mu - beta / a; a < 0: -z >= -(mu - beta / a);
    a == 0: constant (theta = -fan_in: always fires, fan_in + 1: never).
    """
    g = bn.weight.detach().double().cpu().numpy()
    b = bn.bias.detach().double().cpu().numpy()
    mu = bn.running_mean.detach().double().cpu().numpy()
    var = bn.running_var.detach().double().cpu().numpy()
    a = g / np.sqrt(var + bn.eps)
    flip = np.where(a < 0, -1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = mu - b / a  # boundary on z
        theta = np.where(a > 0, np.ceil(cut), np.ceil(-cut))
    theta = np.where(a == 0, np.where(b >= 0, -fan_in, fan_in + 1), theta)
    theta = np.clip(theta, -fan_in, fan_in + 1)
    return theta.astype(np.float64), flip


class BlockReadout(nn.Module):
    """Binary readout whose fan-in is cut into column blocks of <= ``block`` inputs.

    Frame mode: ``pop`` binary rows per class (a population readout; row = class * pop + j),
    z_c = sum over the class's rows of W_r x, logits = scale * z; the block sums are exact
    integers, summed on cores by the output counters (pop > 1 is frame mode only).
    Temporal mode: see ``TemporalBSNN`` (one IF neuron per (class, block)).
    """

    def __init__(self, in_f: int, n_classes: int, block: int = 127, weights: str = "binary",
                 pop: int = 1):
        super().__init__()
        if pop < 1:
            raise ValueError(f"readout pop must be >= 1, got {pop}")
        self.op = BinaryLinear(in_f, n_classes * pop, weights)
        self.n_classes, self.pop = n_classes, pop
        self.block = block
        self.n_blocks = -(-in_f // block)
        self.scale = nn.Parameter(torch.tensor(1.0 / math.sqrt(in_f * pop)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.integer_scores(x) * self.scale

    def integer_scores(self, x: torch.Tensor) -> torch.Tensor:
        z = self.op(x)
        if self.pop == 1:
            return z
        return z.view(z.shape[0], self.n_classes, self.pop).sum(dim=2)


# -- frame-mode network --------------------------------------------------------------------------
def thermometer(images: torch.Tensor, levels: list[int] | tuple[int, ...]) -> torch.Tensor:
    """uint8-valued pixels [B, 1, H, W] -> binary [B, L, H, W]: channel k = pixel >= levels[k]
    (same rule as ``snn.cores.compiler.binarized_map.thermometer_encode``)."""
    lv = torch.as_tensor(list(levels), dtype=images.dtype, device=images.device)
    return (images >= lv.view(1, -1, 1, 1)).to(torch.float32)


def build_arch(arch: list[tuple], shape: tuple[int, int, int], weights: str, *,
               wrap: Callable[[nn.Module], nn.Module],
               wrap_readout: Callable[[BlockReadout, int], nn.Module]) -> list[nn.Module]:
    """Modules of an architecture spec (conv, dense, shuffle, flatten, readout) for input
    ``shape`` (C, H, W): binary ops wrapped by ``wrap``, the readout by ``wrap_readout``
    (given the readout and its input width)."""
    c, h, w = shape
    layers: list[nn.Module] = []
    for spec in arch:
        if spec[0] == "conv":
            _, out, k, s, p, g = spec
            layers.append(wrap(BinaryConv2d(c, out, k, s, p, g, weights)))
            c, h, w = out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif spec[0] == "dense":
            layers.append(wrap(BinaryLinear(c, spec[1], weights)))
            c = spec[1]
        elif spec[0] == "shuffle":
            layers.append(ChannelShuffle(spec[1]))
        elif spec[0] == "flatten":
            layers.append(nn.Flatten())
            c, h, w = c * h * w, 1, 1
        elif spec[0] == "readout":
            pop = int(spec[3]) if len(spec) > 3 else 1
            layers.append(wrap_readout(BlockReadout(c, spec[1], spec[2], weights, pop), c))
        else:
            raise ValueError(f"unknown layer spec {spec!r}")
    return layers


class FrameNet(nn.Module):
    """A feed-forward conv network in three flavours sharing one architecture.

    kind: "bsnn" (binary weights, {0,1} spikes, thermometer input; exportable to cores),
          "bnn" (binary weights, sign activations, thermometer input),
          "dnn" (float weights, ReLU, grey input scaled to 0..1).
    arch: list of layer specs: ("conv", out, kernel, stride, padding, groups) or
          ("shuffle", groups) or ("flatten",); the readout ("readout", classes, block[, pop])
          last (pop: binary rows per class, summed).
    """

    def __init__(self, arch: list[tuple], input_shape: tuple[int, int, int], levels: list[int],
                 kind: str = "bsnn", weights: str = "binary"):
        super().__init__()
        self.kind, self.levels, self.arch = kind, list(levels), [tuple(a) for a in arch]
        wmode = "float" if kind == "dnn" else weights
        act = {"bsnn": "spike", "bnn": "sign", "dnn": "relu"}[kind]
        c = len(levels) if kind != "dnn" else input_shape[0]
        h, w = input_shape[1], input_shape[2]
        layers = build_arch(self.arch, (c, h, w), wmode,
                            wrap=lambda op: SpikeBlock(op, act),
                            wrap_readout=lambda ro, c_in: ro)
        self.layers = nn.ModuleList(layers)
        self.input_shape = tuple(input_shape)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Raw 0..255 pixels -> the network input of this flavour."""
        if self.kind == "dnn":
            return images.to(torch.float32) / 255.0
        return thermometer(images.to(torch.float32), self.levels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.encode(images)
        for layer in self.layers:
            x = layer(x)
        return x

    @torch.no_grad()
    def integer_forward(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Frozen BSNN: (integer class scores [B, classes], spikes of every block, in the
        channel order of the exported layers)."""
        x = self.encode(images)
        spikes = []
        for layer in self.layers:
            if isinstance(layer, BlockReadout):
                return layer.integer_scores(x), spikes
            x = layer(x)
            if isinstance(layer, SpikeBlock):
                spikes.append(x)
            elif isinstance(layer, ChannelShuffle) and spikes:
                spikes[-1] = x  # exported layers carry the shuffle in their channel order
        raise ValueError("network has no readout")

    def freeze(self) -> FrameNet:
        """Fold every BatchNorm into integer thresholds (BSNN only); returns self in eval mode."""
        if self.kind != "bsnn":
            raise ValueError("only the bsnn flavour freezes into an integer network")
        self.eval()
        for layer in self.layers:
            if isinstance(layer, SpikeBlock):
                layer.freeze()
        return self


def clip_latent_weights(model: nn.Module) -> None:
    """``clip_latent_()`` on every binary/ternary layer of ``model``."""
    for m in model.modules():
        if isinstance(m, _QuantisedWeights):
            m.clip_latent_()


def predict(scores: torch.Tensor) -> torch.Tensor:
    """Decision rule shared with the cores: argmax, ties to the lowest class index."""
    return torch.argmax(scores, dim=1)  # torch returns the first maximal index


# -- temporal mode -------------------------------------------------------------------------------
class TemporalLayer(nn.Module):
    """Binary op + integer IF/LIF neurons (theta >= 1, leak, reset, floor) run over ticks."""

    def __init__(self, op: nn.Module, theta0: float = 2.0, reset: str = "subtract",
                 floor: int = 0, surrogate_width: float = 1.0, n_out: int | None = None):
        super().__init__()
        self.op = op
        n = n_out or (op.out_channels if isinstance(op, nn.Conv2d) else op.out_features)
        self.theta = nn.Parameter(torch.full((n,), float(theta0)))
        self.leak = nn.Parameter(torch.zeros(n))
        if reset not in ("subtract", "zero"):
            raise ValueError("reset must be 'subtract' or 'zero'")
        self.reset, self.floor, self.width = reset, int(floor), surrogate_width

    def int_theta(self) -> torch.Tensor:
        return torch.clamp(round_ste(self.theta), min=1.0)

    def int_leak(self) -> torch.Tensor:
        return round_ste(self.leak)

    def step(self, v: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1) + (1,) * (z.dim() - 2)
        th = self.int_theta().view(shape)
        v = v + z + self.int_leak().view(shape)
        v = v.clamp(V_MIN, V_MAX)
        s = spike((v - th) / th, self.width)
        if self.reset == "subtract":
            v = v - th * s
        else:
            v = v * (1 - s)
        v = torch.maximum(v, torch.full_like(v, -float(self.floor)))
        return v, s


class TemporalBSNN(nn.Module):
    """Binarized spiking network over ticks for event data ([B, T, C, H, W] binary input).

    Pipeline with one tick of delay per layer (as on cores): at tick t layer 1 integrates
    input(t), layer l integrates s_{l-1}(t-1). The readout is one IF neuron per (class,
    block); class score = total spike count over the run (sum over blocks), decision argmax
    with ties to the lowest index. Run length = T_in + n_layers - 1 ticks.
    """

    def __init__(self, arch: list[tuple], input_shape: tuple[int, int, int],
                 weights: str = "binary", theta0: float = 2.0, reset: str = "subtract",
                 floor: int = 0):
        super().__init__()
        self.arch, self.input_shape = [tuple(a) for a in arch], tuple(input_shape)

        def readout(ro: BlockReadout, c_in: int) -> nn.Module:
            if ro.pop != 1:
                raise ValueError("the temporal readout has one row per class (pop = 1)")
            self.n_classes, self.block, self.n_blocks = ro.op.out_features, ro.block, ro.n_blocks
            self.readout_in = c_in
            return TemporalLayer(ro.op, theta0, reset, floor, n_out=self.n_classes * ro.n_blocks)

        layers = build_arch(self.arch, tuple(input_shape), weights,
                            wrap=lambda op: TemporalLayer(op, theta0, reset, floor),
                            wrap_readout=readout)
        self.layers = nn.ModuleList(layers)

    def spiking_layers(self) -> list[TemporalLayer]:
        return [m for m in self.layers if isinstance(m, TemporalLayer)]

    def _readout_z(self, layer: TemporalLayer, x: torch.Tensor) -> torch.Tensor:
        """Block pre-activations [B, classes * n_blocks] (row = class * n_blocks + block)."""
        wq = layer.op.qweight()  # [classes, F]
        pad = self.n_blocks * self.block - x.shape[1]
        xb = F.pad(x, (0, pad)).view(x.shape[0], self.n_blocks, self.block)
        wb = F.pad(wq, (0, pad)).view(wq.shape[0], self.n_blocks, self.block)
        return torch.einsum("bkf,ckf->bck", xb, wb).reshape(x.shape[0], -1)

    def forward(self, x: torch.Tensor, extra_ticks: int | None = None,
                record: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x: [B, T, C, H, W] binary. Returns (class scores = spike counts [B, classes],
        per spiking layer spike trains [B, ticks, ...] if record)."""
        spiking = self.spiking_layers()
        n_sp = len(spiking)
        ticks = x.shape[1] + (n_sp - 1 if extra_ticks is None else extra_ticks)
        v: list[torch.Tensor | None] = [None] * n_sp
        prev: list[torch.Tensor | None] = [None] * n_sp  # spikes of layer i at tick t-1
        count = None
        trains: list[list[torch.Tensor]] = [[] for _ in range(n_sp)]
        for t in range(ticks):
            cur: list[torch.Tensor | None] = [None] * n_sp
            inp = x[:, t] if t < x.shape[1] else torch.zeros_like(x[:, 0])
            li = 0
            h = inp
            for m in self.layers:
                if not isinstance(m, TemporalLayer):
                    h = m(h) if h is not None else None
                    continue
                if h is None:  # nothing has reached this layer yet (pipeline fill)
                    z = None
                elif li == n_sp - 1:
                    z = self._readout_z(m, h)
                else:
                    z = m.op(h)
                if z is None:
                    z = self._zeros_like_layer(li, inp)
                if v[li] is None:
                    v[li] = torch.zeros_like(z)
                v[li], s = m.step(v[li], z)
                cur[li] = s
                if record:
                    trains[li].append(s)
                h = prev[li]  # the next layer integrates this layer's spikes of tick t-1
                li += 1
            prev = cur
            s_out = cur[-1]
            count = s_out if count is None else count + s_out
        assert count is not None
        scores = count.view(count.shape[0], self.n_classes, self.n_blocks).sum(dim=2)
        out = [torch.stack(tr, dim=1) for tr in trains] if record else []
        for li, shuffle in enumerate(self._following_shuffles() if record else []):
            if shuffle is not None:  # exported layers carry the shuffle in their channel order
                b, t = out[li].shape[:2]
                out[li] = shuffle(out[li].flatten(0, 1)).view(b, t, *out[li].shape[2:])
        return scores, out

    def _following_shuffles(self) -> list[ChannelShuffle | None]:
        res: list[ChannelShuffle | None] = []
        mods = list(self.layers)
        for i, m in enumerate(mods):
            if isinstance(m, TemporalLayer):
                nxt = mods[i + 1] if i + 1 < len(mods) else None
                res.append(nxt if isinstance(nxt, ChannelShuffle) else None)
        return res

    def _zeros_like_layer(self, li: int, inp: torch.Tensor) -> torch.Tensor:
        shapes = self.layer_shapes()
        return torch.zeros((inp.shape[0], *shapes[li]), dtype=inp.dtype, device=inp.device)

    def layer_shapes(self) -> list[tuple[int, ...]]:
        """Output shape of every spiking layer (readout: classes * n_blocks)."""
        if not hasattr(self, "_shapes"):
            c, h, w = self.input_shape
            shapes = []
            for spec in self.arch:
                if spec[0] == "conv":
                    _, out, k, s, p, _g = spec
                    c, h, w = out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
                    shapes.append((c, h, w))
                elif spec[0] == "dense":
                    c = spec[1]
                    shapes.append((c,))
                elif spec[0] == "flatten":
                    c, h, w = c * h * w, 1, 1
                elif spec[0] == "readout":
                    shapes.append((self.n_classes * self.n_blocks,))
            self._shapes = shapes
        return self._shapes
