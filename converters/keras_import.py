"""Keras model files (``.h5`` / ``.hdf5`` from Keras 2 or ``keras.saving.save_model(...,
"x.h5")``, and Keras 3 ``.keras`` zips) -> AnnGraph, read with h5py only.

No TensorFlow or Keras is imported and no code from the file is executed: the architecture
comes from the file's own model config JSON (the ``model_config`` attribute of the HDF5
root, or ``config.json`` inside a ``.keras`` zip), the weights from the ``model_weights``
groups (Keras 2 layout: ``model_weights/<layer>/`` with a ``weight_names`` attribute) or
``layers/<layer>/vars/<i>`` (Keras 3 ``model.weights.h5``).

Supported (Sequential and functional models): InputLayer, Conv2D (``activation`` relu /
linear inline, ``padding`` valid / same, strides, groups, channels_first and channels_last;
dilation 1), Dense (on flat vectors), MaxPooling2D, AveragePooling2D (``same`` only where it
pads nothing: Keras does not count padded zeros), GlobalAveragePooling2D, BatchNormalization
(folded later), Activation (relu / linear; softmax as the last layer), ReLU (plain),
Dropout / SpatialDropout2D / GaussianNoise (identity at inference), Flatten (Keras's order:
a channels_last tensor flattens H, W, C; ``Flatten(data_format="channels_first")`` moves the
channel axis last first; the permutation is moved into the next Dense's weight columns),
Add. A final softmax is dropped. Anything else is refused naming the layer and its class.

Tensors are tracked as canonical channel-first activations plus the Keras axis order, so
channels_last models need no transposes in the spiking network.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snn.converters.graph import AnnGraph, Node
from snn.errors import ConversionError, UnsupportedOpError
from snn.network import INPUT

SUPPORTED = ("InputLayer", "Conv2D", "Dense", "MaxPooling2D", "AveragePooling2D",
             "GlobalAveragePooling2D", "BatchNormalization", "Activation", "ReLU", "Dropout",
             "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "Flatten", "Add")
ALIASES = {"Convolution2D": "Conv2D", "MaxPool2D": "MaxPooling2D",
           "AvgPool2D": "AveragePooling2D", "AveragePool2D": "AveragePooling2D",
           "GlobalAvgPool2D": "GlobalAveragePooling2D"}
ADVICE = ("convertible Keras layers: " + ", ".join(SUPPORTED) + "; replace the layer in the "
          "model (other activations by ReLU) and save it again")
IDENTITY = ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout")


@dataclass
class _T:
    """A Keras tensor: graph node, canonical (channel-first) shape, Keras axis order (Keras
    axis i holds canonical axis perm[i]) and, for flat vectors, the canonical index of each
    Keras feature (None: identity)."""

    node: str
    shape: tuple[int, ...]
    perm: tuple[int, ...]
    order: np.ndarray | None = None


CF, CL = (0, 1, 2), (1, 2, 0)  # channel-first / channel-last Keras layouts of a (C, H, W)


# ----------------------------------------------------------------------------------------------
# reading the file
# ----------------------------------------------------------------------------------------------
def _decode(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray):
        return [_decode(x) for x in v.tolist()]
    return v


def read_keras_file(path: str | os.PathLike) -> tuple[dict, dict[str, list[np.ndarray]]]:
    """(model config dict, {layer name: weight arrays in Keras order}) of a .h5/.keras file."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: no such model file")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names or "model.weights.h5" not in names:
                raise ConversionError(f"{path}: a zip without config.json and model.weights.h5 "
                                      "is not a Keras 3 .keras file")
            config = json.loads(z.read("config.json"))
            blob = z.read("model.weights.h5")
        with h5py.File(io.BytesIO(blob), "r") as f:
            return config, _keras3_weights(f, config, path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ConversionError(f"{path}: not an HDF5 or .keras file ({exc})") from exc
    with f:
        if "model_config" not in f.attrs:
            raise ConversionError(f"{path}: the HDF5 file has no 'model_config' attribute (a "
                                  "weights-only file from save_weights?); save the whole model "
                                  "with model.save('model.h5')")
        config = json.loads(_decode(f.attrs["model_config"]))
        root = f["model_weights"] if "model_weights" in f else f
        weights: dict[str, list[np.ndarray]] = {}
        for name in _decode(root.attrs.get("layer_names", np.array([]))):
            g = root[name]
            weights[name] = [np.asarray(g[w][()]) for w in
                             _decode(g.attrs.get("weight_names", np.array([])))]
        if "layer_names" not in root.attrs and "layers" in root:  # Keras 3 layout in a .h5
            weights = _keras3_weights(f, config, path)
        return config, weights


def _keras3_weights(f, config: dict, path: Path) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for base in ("layers", "_layer_checkpoint_dependencies"):
        if base not in f:
            continue
        for name, g in f[base].items():
            if "vars" in g:
                v = g["vars"]
                out[name] = [np.asarray(v[str(i)][()]) for i in range(len(v))]
    return out


# ----------------------------------------------------------------------------------------------
# config -> layer list with inbound layer names
# ----------------------------------------------------------------------------------------------
def _inbound(layer: dict) -> list[str]:
    """Names of the layers feeding a functional-model layer (Keras 2 and Keras 3 forms)."""
    nodes = layer.get("inbound_nodes") or []
    if not nodes:
        return []
    if len(nodes) > 1:
        raise UnsupportedOpError(f"layer {layer.get('name')!r} ({layer.get('class_name')}) is "
                                 "called more than once (shared layer); not supported")
    node = nodes[0]
    names: list[str] = []
    if isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
        for item in node:
            names.append(item[0])
        return names

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            if obj.get("class_name") == "__keras_tensor__":
                names.append(obj["config"]["keras_history"][0])
                return
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(node.get("args", []))
    return names


def _layers(config: dict, source: str) -> tuple[list[dict], list[list[str]], str | None]:
    """Layers in order, their inputs (layer names; [] for the model input) and the model
    input layer name."""
    cls = config.get("class_name")
    cfg = config.get("config", {})
    if cls == "Sequential":
        layers = cfg["layers"] if isinstance(cfg, dict) else cfg
        ins, prev = [], None
        for i, layer in enumerate(layers):
            layer.setdefault("name", layer.get("config", {}).get("name", f"layer_{i}"))
            ins.append([] if prev is None else [prev])
            prev = layer["name"]
        return layers, ins, None
    if cls in ("Model", "Functional"):
        layers = cfg["layers"]
        inputs = cfg.get("input_layers", [])
        if isinstance(inputs, list) and inputs and isinstance(inputs[0], str):
            inputs = [inputs]
        if len(inputs) != 1:
            raise ConversionError(f"{source}: the model has {len(inputs)} inputs; exactly one "
                                  "image input is needed")
        outputs = cfg.get("output_layers", [])
        if isinstance(outputs, list) and outputs and isinstance(outputs[0], str):
            outputs = [outputs]
        if len(outputs) != 1:
            raise ConversionError(f"{source}: the model has {len(outputs)} outputs; one (the "
                                  "class scores) is needed")
        if layers[-1]["name"] != outputs[0][0]:
            raise ConversionError(f"{source}: the output layer {outputs[0][0]!r} is not the "
                                  "last layer of the config")
        return layers, [_inbound(la) for la in layers], inputs[0][0]
    raise UnsupportedOpError(f"{source}: model class {cls!r} is not supported (Sequential or "
                             "functional Model only; nested models and subclassed models are "
                             "not)")


def _class(layer: dict) -> str:
    c = layer.get("class_name", "?")
    return ALIASES.get(c, c)


def check_supported(config: dict, source: str = "model") -> None:
    """Refuse unsupported layers before any work, naming the layer and class."""
    layers, _, _ = _layers(config, source)
    for i, layer in enumerate(layers):
        c = _class(layer)
        if c not in SUPPORTED:
            raise UnsupportedOpError(f"{source}: layer {i} {layer.get('name')!r}: Keras class "
                                     f"{layer.get('class_name')!r} is not supported; {ADVICE}")


# ----------------------------------------------------------------------------------------------
def _same(size: int, k: int, s: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _pads(padding: str, hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int],
          where: str) -> tuple[int, int, int, int]:
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        t, b = _same(hw[0], k[0], s[0])
        lf, r = _same(hw[1], k[1], s[1])
        return (t, lf, b, r)
    raise UnsupportedOpError(f"{where}: padding {padding!r} (only 'valid' and 'same')")


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, float)) else (int(v[0]), int(v[1]))


def _input_shape(layer: dict) -> list[int | None] | None:
    c = layer.get("config", {})
    for key in ("batch_input_shape", "batch_shape"):
        if c.get(key) is not None:
            return list(c[key])
    bc = layer.get("build_config") or {}
    if bc.get("input_shape") is not None:
        return list(bc["input_shape"])
    return None


def _first_format(layers: list[dict]) -> str:
    for layer in layers:
        fmt = layer.get("config", {}).get("data_format")
        if fmt and _class(layer) != "Flatten":
            return fmt
    return "channels_last"


def import_keras(path_or_config: str | os.PathLike | tuple[dict, dict[str, list[np.ndarray]]],
                 frame_shape: tuple[int, ...] | None = None) -> AnnGraph:
    """Read a Keras ``.h5`` / ``.keras`` file (or a (config, weights) pair) into an AnnGraph.

    frame_shape: the data's frame shape (channel-first), used when the model takes flat
    vectors.
    """
    if isinstance(path_or_config, (str, os.PathLike)):
        source = str(path_or_config)
        config, weights = read_keras_file(path_or_config)
    else:
        (config, weights), source = path_or_config, "keras model"
    check_supported(config, source)
    layers, inbound, input_name = _layers(config, source)

    # ---- the model input ----------------------------------------------------------------
    shape = None
    for layer in layers:
        if _class(layer) == "InputLayer" or input_name is None:
            shape = _input_shape(layer)
            if shape is not None:
                break
    if shape is None:
        raise ConversionError(f"{source}: the config gives no input shape (build the model "
                              "with an Input or input_shape before saving)")
    dims = shape[1:]
    if any(d is None for d in dims):
        raise ConversionError(f"{source}: input shape {shape} has unknown sizes; save the "
                              "model with fixed sizes for every axis but the batch axis")
    dims = [int(d) for d in dims]
    if len(dims) == 3:
        fmt = _first_format(layers)
        if fmt == "channels_first":
            inp = _T(INPUT, tuple(dims), CF)
        else:
            inp = _T(INPUT, (dims[2], dims[0], dims[1]), CL)
    elif len(dims) == 1:
        fs = tuple(frame_shape) if frame_shape else (dims[0],)
        if int(np.prod(fs)) != dims[0]:
            raise ConversionError(f"{source}: the model takes vectors of {dims[0]} values, "
                                  f"the data's frames have shape {fs}")
        inp = _T(INPUT, fs, tuple(range(len(fs))))
    elif len(dims) == 2:  # a grey image without channel axis, e.g. (28, 28) + Flatten
        inp = _T(INPUT, (1, dims[0], dims[1]), CF)  # C = 1: H, W flatten as canonical
    else:
        raise ConversionError(f"{source}: input of rank {len(dims) + 1} is not supported")
    input_shape = inp.shape

    nodes: list[Node] = []
    tensors: dict[str, _T] = {}
    n_users: dict[str, int] = {}
    for ins in inbound:
        for s in ins:
            n_users[s] = n_users.get(s, 0) + 1
    softmax = False

    def emit(node: Node, shape_: tuple[int, ...], like: _T | None = None) -> _T:
        nodes.append(node)
        if like is not None:
            return _T(node.name, shape_, like.perm, like.order)
        return _T(node.name, shape_, tuple(range(len(shape_))) if len(shape_) != 3 else CF)

    def flat(t: _T, name: str) -> _T:
        if len(t.shape) == 1:
            return t
        nodes.append(Node("flatten", name, [t.node]))
        idx = np.arange(int(np.prod(t.shape))).reshape(t.shape).transpose(t.perm).reshape(-1)
        order = None if np.array_equal(idx, np.arange(idx.size)) else idx
        return _T(name, (int(idx.size),), (0,), order)

    def need(t: _T, fmt: str, where: str) -> None:
        if len(t.shape) != 3 or len(t.perm) != 3:
            raise UnsupportedOpError(f"{where}: needs an image tensor, got canonical shape "
                                     f"{t.shape}")
        want = CF if fmt == "channels_first" else CL
        if t.perm != want:
            raise UnsupportedOpError(f"{where}: data_format {fmt!r} but its input tensor is "
                                     f"{'channels_first' if t.perm == CF else 'channels_last'};"
                                     " mixed layouts without a Permute are not supported")

    def activation(t: _T, act: str, name: str, where: str, last: bool) -> _T:
        nonlocal softmax
        if act in ("linear", None):
            return t
        if act == "relu":
            return emit(Node("relu", f"{name}/relu" if nodes and nodes[-1].name == name
                             else name, [t.node]), t.shape, t)
        if act == "softmax" and last:
            softmax = True
            return t
        raise UnsupportedOpError(f"{where}: activation {act!r} is not supported (relu, linear; "
                                 "softmax only at the end); " + ADVICE)

    for i, (layer, ins) in enumerate(zip(layers, inbound, strict=True)):
        c = _class(layer)
        cfg = layer.get("config", {})
        name = layer.get("name") or cfg.get("name") or f"layer_{i}"
        where = f"{source}: layer {i} {name!r} ({layer.get('class_name')})"
        last = i == len(layers) - 1
        if c == "InputLayer":
            tensors[name] = inp
            continue
        srcs = [tensors[s] for s in ins] if ins else [inp]
        if any(s not in tensors for s in ins):
            raise ConversionError(f"{where}: reads a layer that is not computed before it")
        x = srcs[0]
        w = weights.get(name, [])
        if c in ("Conv2D", "Dense", "BatchNormalization") and not w:
            raise ConversionError(f"{where}: the file holds no weights for this layer (looked "
                                  f"for model_weights/{name} or layers/{name}/vars)")
        if c in IDENTITY:
            out = x
        elif c == "Activation":
            out = activation(x, cfg.get("activation"), name, where, last)
        elif c == "ReLU":
            if cfg.get("max_value") is not None or float(cfg.get("negative_slope", 0) or 0) \
                    or float(cfg.get("threshold", 0) or 0):
                raise UnsupportedOpError(f"{where}: ReLU with max_value / negative_slope / "
                                         "threshold; only the plain ReLU maps onto IF neurons")
            out = emit(Node("relu", name, [x.node]), x.shape, x)
        elif c == "Flatten":
            t = x
            if cfg.get("data_format") == "channels_first" and len(x.perm) > 1:
                t = _T(x.node, x.shape, x.perm[1:] + x.perm[:1], x.order)
            out = flat(t, name)
        elif c == "Dense":
            if len(x.shape) != 1:
                raise UnsupportedOpError(f"{where}: Dense on a {len(x.shape)}-D tensor (Keras "
                                         "applies it to the last axis); add a Flatten before it")
            x = flat(x, f"{name}/flatten")
            kernel = w[0]
            bias = w[1] if cfg.get("use_bias", True) and len(w) > 1 else np.zeros(kernel.shape[1])
            if kernel.shape[0] != x.shape[0]:
                raise ConversionError(f"{where}: kernel takes {kernel.shape[0]} inputs, the "
                                      f"tensor has {x.shape[0]}")
            wt = kernel.T.astype(np.float64)
            if x.order is not None:
                w2 = np.empty_like(wt)
                w2[:, x.order] = wt
                wt = w2
            out = emit(Node("dense", name, [x.node], {"weight": wt.astype(np.float32),
                                                      "bias": np.asarray(bias, np.float32)}),
                       (kernel.shape[1],))
            out = activation(out, cfg.get("activation"), name, where, last)
        elif c == "Conv2D":
            fmt = cfg.get("data_format") or "channels_last"
            need(x, fmt, where)
            if any(d != 1 for d in _pair(cfg.get("dilation_rate", 1))):
                raise UnsupportedOpError(f"{where}: dilated Conv2D {cfg['dilation_rate']}")
            kernel = w[0]
            groups = int(cfg.get("groups", 1) or 1)
            k = (kernel.shape[0], kernel.shape[1])
            s = _pair(cfg.get("strides", 1))
            pad = _pads(cfg.get("padding", "valid"), x.shape[1:], k, s, where)
            if kernel.shape[2] * groups != x.shape[0]:
                raise ConversionError(f"{where}: kernel expects {kernel.shape[2]} x groups input "
                                      f"channels, the tensor has {x.shape[0]}")
            bias = w[1] if cfg.get("use_bias", True) and len(w) > 1 else np.zeros(kernel.shape[3])
            h = (x.shape[1] + pad[0] + pad[2] - k[0]) // s[0] + 1
            wd = (x.shape[2] + pad[1] + pad[3] - k[1]) // s[1] + 1
            node = Node("conv", name, [x.node], {
                "weight": np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), np.float32),
                "bias": np.asarray(bias, np.float32), "stride": s, "padding": pad,
                "groups": groups})
            out = emit(node, (kernel.shape[3], h, wd), x)
            out = activation(out, cfg.get("activation"), name, where, last)
        elif c in ("MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D"):
            fmt = cfg.get("data_format") or "channels_last"
            need(x, fmt, where)
            if c == "GlobalAveragePooling2D":
                if cfg.get("keepdims"):
                    raise UnsupportedOpError(f"{where}: keepdims=True is not supported")
                k = s = (x.shape[1], x.shape[2])
                pad = (0, 0, 0, 0)
            else:
                k = _pair(cfg.get("pool_size", 2))
                s = _pair(cfg.get("strides") or k)
                pad = _pads(cfg.get("padding", "valid"), x.shape[1:], k, s, where)
                if c == "AveragePooling2D" and any(pad):
                    raise UnsupportedOpError(f"{where}: AveragePooling2D with padding 'same' "
                                             "that pads (Keras ignores padded zeros in the mean,"
                                             " the spiking pool counts them); use 'valid'")
            h = (x.shape[1] + pad[0] + pad[2] - k[0]) // s[0] + 1
            wd = (x.shape[2] + pad[1] + pad[3] - k[1]) // s[1] + 1
            mode = "max" if c == "MaxPooling2D" else "avg"
            out = emit(Node("pool", name, [x.node], {"mode": mode, "kernel": k, "stride": s,
                                                      "padding": pad}), (x.shape[0], h, wd), x)
            if c == "GlobalAveragePooling2D":
                out = flat(out, f"{name}/flatten")
        elif c == "BatchNormalization":
            axis = cfg.get("axis", -1)
            axis = axis[0] if isinstance(axis, list) else int(axis)
            rank = len(x.perm)
            axis = axis if axis >= 0 else axis + rank + 1
            canon = x.perm[axis - 1] if 1 <= axis <= rank else None
            if canon != 0 and not (len(x.shape) == 1 and axis == 1):
                raise UnsupportedOpError(f"{where}: BatchNormalization over axis "
                                         f"{cfg.get('axis')} is not the channel axis")
            n = x.shape[0]
            ws = list(w)
            gamma = ws.pop(0) if cfg.get("scale", True) else np.ones(n)
            beta = ws.pop(0) if cfg.get("center", True) else np.zeros(n)
            mean, var = ws[0], ws[1]
            mult = gamma / np.sqrt(var + float(cfg.get("epsilon", 1e-3)))
            shift = beta - mean * mult
            if x.order is not None:  # a permuted flat vector: features in canonical order
                m2, s2 = np.empty_like(mult), np.empty_like(shift)
                m2[x.order], s2[x.order] = mult, shift
                mult, shift = m2, s2
            out = emit(Node("bn", name, [x.node], {"scale": mult.astype(np.float32),
                                                   "shift": shift.astype(np.float32)}),
                       x.shape, x)
        elif c == "Add":
            if len(srcs) < 2:
                raise ConversionError(f"{where}: Add of {len(srcs)} tensor")
            if any(s.shape != x.shape or s.perm != x.perm or (s.order is None) != (
                    x.order is None) for s in srcs[1:]):
                raise UnsupportedOpError(f"{where}: Add of tensors with different shapes or "
                                         "layouts")
            out = emit(Node("add", name, [s.node for s in srcs]), x.shape, x)
        else:  # pragma: no cover - guarded by check_supported
            raise UnsupportedOpError(f"{where}: not supported; {ADVICE}")
        tensors[name] = out

    final = tensors[layers[-1]["name"]] if layers[-1]["name"] in tensors else None
    if final is None or not nodes or final.node == INPUT:
        raise ConversionError(f"{source}: the model has no layers")
    if final.order is not None or (len(final.shape) == 3 and final.perm != CF):
        raise UnsupportedOpError(f"{source}: the model ends with an image tensor or a "
                                 "permuted flatten; end with a Dense layer")
    if nodes[-1].name != final.node:
        raise ConversionError(f"{source}: the output is not made by the last layer")
    graph = AnnGraph(tuple(int(v) for v in input_shape), nodes, source)
    graph.validate()
    graph.softmax_dropped = softmax  # type: ignore[attr-defined]
    return graph
