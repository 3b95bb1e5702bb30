"""ONNX model -> AnnGraph.

Supported ops (as Keras/tf2onnx, keras2onnx, PyTorch and CNTK export them): Conv (auto_pad
NOTSET/SAME_UPPER/SAME_LOWER/VALID, pads, strides, group; dilation 1), Gemm, MatMul + Add
(bias), Relu, Clip to [0, lambda] (a ReLU whose SNN threshold is lambda: torch's
Hardtanh(0, lambda) / ReLU6, the QCFS clips of ``snn finetune``), BatchNormalization,
MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape (to [N, -1] of an activation, or
any reshape of a constant), Transpose
(channels-last tensors are tracked and undone in the following layer's weights),
Constant, Identity, Dropout, Squeeze/Unsqueeze/Cast/Shape-free constant folding of
initializers, and a final Softmax/LogSoftmax (dropped: decoding is by spike count).

Everything else is refused before any work, naming the op type, node name and index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snn.converters.graph import AnnGraph, Node
from snn.errors import ConversionError, UnsupportedOpError
from snn.network import INPUT

SUPPORTED = {
    "Conv", "Gemm", "MatMul", "Add", "Relu", "Clip", "BatchNormalization", "MaxPool", "AveragePool",
    "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Constant", "Identity",
    "Dropout", "Softmax", "LogSoftmax", "Cast", "Squeeze", "Unsqueeze",
}
ADVICE = ("convertible models use Conv/Gemm/MatMul+Add, BatchNormalization, Relu, "
          "Max/Average/GlobalAveragePool, Flatten/Reshape/Transpose; replace the op in the "
          "source model (e.g. other activations by ReLU) and re-export, or remove it")


@dataclass
class _Act:
    """An activation tensor: SNN node name, ONNX shape without batch, axis permutation
    (ONNX axis i holds canonical axis perm[i]) and, for flat vectors, the canonical index of
    each ONNX feature (None: identity)."""

    node: str
    shape: tuple[int, ...]         # canonical shape (channel-first)
    perm: tuple[int, ...]
    order: np.ndarray | None = None

    @property
    def onnx_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[p] for p in self.perm)


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _load(path: str | os.PathLike):
    import onnx

    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: no such model file")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"{path}: not an ONNX model ({type(exc).__name__}: {exc}); "
                              "give a .onnx file exported by torch.onnx/tf2onnx") from exc
    if not model.graph.node:
        raise ConversionError(f"{path}: not an ONNX model (no graph nodes)")
    return model


def check_supported(model, source: str = "model") -> None:
    """Refuse unsupported ops before any work."""
    for i, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedOpError(f"{source}: node {i} {node.name!r}: op "
                                     f"{node.domain}::{node.op_type} (custom domain) is not "
                                     f"supported; {ADVICE}")
        if node.op_type not in SUPPORTED:
            raise UnsupportedOpError(f"{source}: node {i} {node.name!r}: op type "
                                     f"{node.op_type!r} is not supported; {ADVICE}")


def _same_pad(size: int, k: int, s: int, upper: bool) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    small = total // 2
    return (small, total - small) if upper else (total - small, small)


def _pads(a: dict, hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int], where: str
          ) -> tuple[int, int, int, int]:
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        t, b = _same_pad(hw[0], k[0], s[0], auto == "SAME_UPPER")
        lf, r = _same_pad(hw[1], k[1], s[1], auto == "SAME_UPPER")
        return (t, lf, b, r)
    if auto == "VALID":
        return (0, 0, 0, 0)
    if auto != "NOTSET":
        raise ConversionError(f"{where}: auto_pad {auto!r} is not an ONNX value")
    p = list(a.get("pads", [0, 0, 0, 0]))
    if len(p) != 4:
        raise UnsupportedOpError(f"{where}: only 2-D spatial ops are supported (pads {p})")
    return (p[0], p[1], p[2], p[3])


def import_onnx(path_or_model, input_layout: str | None = None,
                frame_shape: tuple[int, ...] | None = None) -> AnnGraph:
    """Read an ONNX model into an AnnGraph.

    input_layout: "NCHW" | "NHWC" | None (auto: a 4-D input [N, H, W, C] with C in 1..4 and
        H, W > 4 is taken as channels-last). frame_shape: the data's frame shape
        (channel-first), used when the model takes flat vectors [N, F].
    """
    import onnx
    from onnx import numpy_helper

    if isinstance(path_or_model, (str, os.PathLike)):
        model = _load(path_or_model)
        source = str(path_or_model)
    else:
        model, source = path_or_model, "onnx model"
    check_supported(model, source)
    g = model.graph
    consts: dict[str, np.ndarray] = {}
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ConversionError(f"{source}: initializer {init.name!r} holds NaN or inf "
                                  "values; the trained model is broken (retrain/re-export)")
        consts[init.name] = arr
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1:
        raise ConversionError(f"{source}: the model has {len(inputs)} inputs "
                              f"{[i.name for i in inputs]}; exactly one image input is needed")
    if len(g.output) != 1:
        raise ConversionError(f"{source}: the model has {len(g.output)} outputs; one (the "
                              "class scores) is needed")
    inp = inputs[0]
    if not inp.type.tensor_type.HasField("shape") or not inp.type.tensor_type.shape.dim:
        raise ConversionError(
            f"{source}: input {inp.name!r} declares no shape, so the model's shapes cannot be "
            "inferred; re-export it with a fixed input shape (e.g. torch.onnx.export with an "
            "example input of shape [1, C, H, W])")
    dims = []
    for k, d in enumerate(inp.type.tensor_type.shape.dim):
        if k == 0:
            continue
        if not d.HasField("dim_value") or d.dim_value <= 0:
            raise ConversionError(
                f"{source}: input {inp.name!r} dimension {k} is "
                f"{d.dim_param or 'unknown'!r}; its shape cannot be inferred. Re-export with "
                "fixed sizes for every axis but the batch axis")
        dims.append(int(d.dim_value))
    try:
        onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"{source}: ONNX shape inference failed ({exc}); the model's "
                              "shapes cannot be inferred") from exc

    acts: dict[str, _Act] = {}
    if len(dims) == 3:
        layout = input_layout or ("NHWC" if dims[2] <= 4 and dims[0] > 4 and dims[1] > 4
                                  else "NCHW")
        if layout == "NHWC":
            acts[inp.name] = _Act(INPUT, (dims[2], dims[0], dims[1]), (1, 2, 0))
        elif layout == "NCHW":
            acts[inp.name] = _Act(INPUT, tuple(dims), (0, 1, 2))
        else:
            raise ConversionError(f"input_layout must be NCHW or NHWC, got {layout!r}")
        input_shape = acts[inp.name].shape
    elif len(dims) == 1:
        input_shape = tuple(frame_shape) if frame_shape else (dims[0],)
        if int(np.prod(input_shape)) != dims[0]:
            raise ConversionError(f"{source}: the model takes vectors of {dims[0]} values, "
                                  f"the data's frames have shape {input_shape}")
        acts[inp.name] = _Act(INPUT, input_shape, tuple(range(len(input_shape))))
    else:
        raise ConversionError(f"{source}: input {inp.name!r} has rank {len(dims) + 1}; "
                              "supported: [N, F], [N, C, H, W], [N, H, W, C]")

    nodes: list[Node] = []
    producer: dict[str, Node] = {}
    n_users: dict[str, int] = {}
    for node in g.node:
        for s in node.input:
            n_users[s] = n_users.get(s, 0) + 1
    softmax_seen = False

    def flat(a: _Act, where: str) -> _Act:
        """Make sure a is a flat vector in canonical order (insert a flatten)."""
        if len(a.shape) == 1:
            return a
        name = f"{where}/flatten"
        nodes.append(Node("flatten", name, [a.node]))
        order = None
        if a.perm != tuple(range(len(a.shape))):
            idx = np.arange(int(np.prod(a.shape))).reshape(a.shape)
            order = idx.transpose(a.perm).reshape(-1)
        return _Act(name, (int(np.prod(a.shape)),), (0,), order)

    def add_node(n: Node, out: str, shape: tuple[int, ...]) -> None:
        nodes.append(n)
        producer[n.name] = n
        acts[out] = _Act(n.name, shape, tuple(range(len(shape))))

    def need_nchw(a: _Act, where: str) -> None:
        if len(a.shape) != 3 or a.perm != (0, 1, 2):
            raise UnsupportedOpError(f"{where}: needs an NCHW image tensor, got ONNX shape "
                                     f"{a.onnx_shape} (layout {a.perm}); insert a Transpose "
                                     "to NCHW before it")

    def dense(name: str, a: _Act, w: np.ndarray, b: np.ndarray, out: str, where: str) -> None:
        a = flat(a, where)
        if w.shape[1] != a.shape[0]:
            raise ConversionError(f"{where}: weight takes {w.shape[1]} inputs, the tensor "
                                  f"has {a.shape[0]}")
        if a.order is not None:
            w2 = np.empty_like(w)
            w2[:, a.order] = w
            w = w2
        add_node(Node("dense", name, [a.node], {"weight": w.astype(np.float32),
                                                "bias": b.astype(np.float32)}),
                 out, (w.shape[0],))

    for idx, node in enumerate(g.node):
        op = node.op_type
        name = node.name or f"{op}_{idx}"
        where = f"{source}: node {idx} {name!r} ({op})"
        a = _attrs(node)
        ins = list(node.input)
        outs = list(node.output)
        # ------- constant folding -------------------------------------------------------
        if op == "Constant":
            if "value" not in a:
                raise UnsupportedOpError(f"{where}: only Constant with a tensor 'value'")
            consts[outs[0]] = numpy_helper.to_array(a["value"])
            continue
        if ins and all((s in consts) or s == "" for s in ins):
            try:
                consts[outs[0]] = _fold_const(op, [consts.get(s) for s in ins], a)
            except UnsupportedOpError as exc:
                raise UnsupportedOpError(f"{where}: {exc}") from exc
            continue
        x = acts.get(ins[0]) if ins else None
        if x is None:
            raise ConversionError(f"{where}: input {ins[0] if ins else None!r} is neither the "
                                  "model input nor computed before this node")
        if op in ("Identity", "Dropout", "Cast"):
            acts[outs[0]] = x
        elif op in ("Softmax", "LogSoftmax"):
            if outs[0] != g.output[0].name:
                raise UnsupportedOpError(f"{where}: a Softmax is only dropped when it is the "
                                         "model's last op; " + ADVICE)
            acts[outs[0]] = x
            softmax_seen = True
        elif op == "Relu":
            add_node(Node("relu", name, [x.node]), outs[0], x.shape)
            acts[outs[0]].perm, acts[outs[0]].order = x.perm, x.order
        elif op == "Clip":
            from snn.converters.torch_import import clip_level

            def bound(i: int, attr: str, default: float, ins=ins, a=a, where=where) -> float:
                if len(ins) > i and ins[i]:
                    if ins[i] not in consts:
                        raise UnsupportedOpError(f"{where}: a Clip bound computed at run time")
                    return float(np.asarray(consts[ins[i]]).reshape(-1)[0])
                return float(a.get(attr, default))

            lo, hi = bound(1, "min", float("-inf")), bound(2, "max", float("inf"))
            params = {} if lo == 0 and hi == float("inf") else {
                "clip": clip_level(lo, hi, where)}
            add_node(Node("relu", name, [x.node], params), outs[0], x.shape)
            acts[outs[0]].perm, acts[outs[0]].order = x.perm, x.order
        elif op == "Transpose":
            perm = list(a.get("perm", list(range(len(x.shape) + 1))[::-1]))
            if perm[0] != 0:
                raise UnsupportedOpError(f"{where}: a Transpose that moves the batch axis")
            acts[outs[0]] = _Act(x.node, x.shape, tuple(x.perm[p - 1] for p in perm[1:]),
                                 x.order)
        elif op in ("Flatten", "Reshape", "Squeeze"):
            if op == "Flatten" and a.get("axis", 1) != 1:
                raise UnsupportedOpError(f"{where}: Flatten with axis {a.get('axis')} "
                                         "(only axis=1)")
            if op == "Reshape":
                shape = [int(v) for v in consts.get(ins[1], np.array([]))]
                total = int(np.prod(x.shape))
                ok = (len(shape) == 2 and (shape[1] in (-1, total)) and shape[0] in (-1, 0)) \
                    or (len(shape) == 2 and shape[0] in (-1, 0, 1) and shape[1] == total)
                if not ok and shape[1:] == list(x.onnx_shape):
                    acts[outs[0]] = x
                    continue
                if not ok:
                    raise UnsupportedOpError(f"{where}: Reshape of an activation to {shape}; "
                                             "only flattening to [N, -1] is supported")
            acts[outs[0]] = flat(x, name)
        elif op == "Unsqueeze":
            raise UnsupportedOpError(f"{where}: Unsqueeze of an activation; " + ADVICE)
        elif op in ("MatMul", "Gemm"):
            w = consts.get(ins[1])
            if w is None:
                raise UnsupportedOpError(f"{where}: {op} of two activations (the weight must "
                                         "be a constant)")
            if op == "MatMul":
                w, b = w.T, np.zeros(w.shape[1])
            else:
                if a.get("transA", 0):
                    raise UnsupportedOpError(f"{where}: Gemm with transA=1")
                w = (w if a.get("transB", 0) else w.T) * a.get("alpha", 1.0)
                c = consts.get(ins[2]) if len(ins) > 2 and ins[2] else None
                b = np.broadcast_to(np.zeros(w.shape[0]) if c is None else
                                    c.reshape(-1) * a.get("beta", 1.0), (w.shape[0],))
            dense(name, x, np.asarray(w, np.float64), np.asarray(b, np.float64), outs[0], where)
        elif op == "Add":
            other = ins[1]
            if other in consts:
                c = consts[other]
                src = producer.get(x.node)
                if src is None or src.op not in ("dense", "conv") or n_users.get(ins[0], 0) != 1:
                    raise UnsupportedOpError(f"{where}: Add of a constant that is not the bias "
                                             "of a MatMul/Conv")
                nch = src.params["bias"].shape[0]
                cc = np.asarray(c, np.float64)
                if src.op == "conv":
                    cc = cc.reshape(-1) if cc.size == nch else None
                else:
                    cc = np.broadcast_to(cc.reshape(-1), (nch,)) if cc.size in (1, nch) \
                        else None
                if cc is None:
                    raise UnsupportedOpError(f"{where}: bias of shape {c.shape} does not match "
                                             f"{nch} channels")
                src.params["bias"] = (src.params["bias"] + cc).astype(np.float32)
                acts[outs[0]] = x
            else:
                y = acts.get(other)
                if y is None or y.shape != x.shape or y.perm != x.perm:
                    raise UnsupportedOpError(f"{where}: Add of tensors with different shapes "
                                             "or layouts")
                add_node(Node("add", name, [x.node, y.node]), outs[0], x.shape)
                acts[outs[0]].perm = x.perm
        elif op == "Conv":
            need_nchw(x, where)
            w = consts.get(ins[1])
            if w is None:
                raise UnsupportedOpError(f"{where}: Conv weight is not a constant")
            if any(d != 1 for d in a.get("dilations", [1, 1])):
                raise UnsupportedOpError(f"{where}: dilated Conv {a['dilations']}")
            if w.ndim != 4:
                raise UnsupportedOpError(f"{where}: only 2-D Conv (weight rank {w.ndim})")
            k = tuple(w.shape[2:])
            s = tuple(a.get("strides", [1, 1]))
            pad = _pads(a, x.shape[1:], k, s, where)
            b = consts.get(ins[2]) if len(ins) > 2 and ins[2] else np.zeros(w.shape[0])
            node_ = Node("conv", name, [x.node], {
                "weight": w.astype(np.float32), "bias": np.asarray(b, np.float32),
                "stride": s, "padding": pad, "groups": int(a.get("group", 1))})
            h = (x.shape[1] + pad[0] + pad[2] - k[0]) // s[0] + 1
            wd = (x.shape[2] + pad[1] + pad[3] - k[1]) // s[1] + 1
            if w.shape[1] * node_.params["groups"] != x.shape[0]:
                raise ConversionError(f"{where}: weight expects {w.shape[1]} x group input "
                                      f"channels, tensor has {x.shape[0]}")
            add_node(node_, outs[0], (w.shape[0], h, wd))
        elif op == "BatchNormalization":
            sc, bb, mean, var = (consts.get(s) for s in ins[1:5])
            if any(v is None for v in (sc, bb, mean, var)):
                raise UnsupportedOpError(f"{where}: BatchNormalization parameters must be "
                                         "constants (export the model in eval mode)")
            if len(x.shape) == 3:
                need_nchw(x, where)
            elif x.order is not None:
                raise UnsupportedOpError(f"{where}: BatchNormalization on a permuted vector")
            mult = sc / np.sqrt(var + a.get("epsilon", 1e-5))
            add_node(Node("bn", name, [x.node], {"scale": mult.astype(np.float32),
                                                 "shift": (bb - mean * mult).astype(np.float32)}),
                     outs[0], x.shape)
        elif op in ("MaxPool", "AveragePool", "GlobalAveragePool"):
            need_nchw(x, where)
            if op == "GlobalAveragePool":
                k, s, pad = tuple(x.shape[1:]), tuple(x.shape[1:]), (0, 0, 0, 0)
            else:
                k = tuple(a["kernel_shape"])
                s = tuple(a.get("strides", [1, 1]))
                pad = _pads(a, x.shape[1:], k, s, where)
                if a.get("ceil_mode", 0):
                    for ax in (0, 1):
                        n_in = x.shape[1 + ax] + pad[ax] + pad[ax + 2] - k[ax]
                        if n_in % s[ax]:
                            raise UnsupportedOpError(f"{where}: ceil_mode=1 changes the output "
                                                     "size here; export with ceil_mode=0")
                if any(d != 1 for d in a.get("dilations", [1, 1])):
                    raise UnsupportedOpError(f"{where}: dilated pooling")
                if op == "AveragePool" and any(pad) and not a.get("count_include_pad", 0):
                    raise UnsupportedOpError(f"{where}: AveragePool with padding and "
                                             "count_include_pad=0; use count_include_pad=1 "
                                             "or no padding")
            mode = "max" if op == "MaxPool" else "avg"
            h = (x.shape[1] + pad[0] + pad[2] - k[0]) // s[0] + 1
            wd = (x.shape[2] + pad[1] + pad[3] - k[1]) // s[1] + 1
            add_node(Node("pool", name, [x.node], {"mode": mode, "kernel": k, "stride": s,
                                                    "padding": pad}),
                     outs[0], (x.shape[0], h, wd))
        else:  # pragma: no cover - guarded by check_supported
            raise UnsupportedOpError(f"{where}: op type {op!r} is not supported; {ADVICE}")

    out = acts.get(g.output[0].name)
    if out is None:
        raise ConversionError(f"{source}: the output {g.output[0].name!r} is not computed "
                              "from the input")
    if out.node == INPUT or not nodes:
        raise ConversionError(f"{source}: the model has no layers")
    if out.order is not None:
        raise UnsupportedOpError(f"{source}: the model ends with a permuted flatten")
    if nodes[-1].name != out.node:
        raise ConversionError(f"{source}: the output is not made by the last layer")
    graph = AnnGraph(tuple(int(v) for v in input_shape), nodes, source)
    graph.validate()
    graph.softmax_dropped = softmax_seen  # type: ignore[attr-defined]
    return graph


def _fold_const(op: str, vals: list, a: dict) -> np.ndarray:
    """Evaluate an op whose inputs are all constants (weights made by Reshape etc.)."""
    x = vals[0]
    if op in ("Identity", "Cast", "Dropout"):
        return x
    if op == "Reshape":
        shape = [int(v) for v in vals[1]]
        shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
        return x.reshape(shape)
    if op == "Transpose":
        return x.transpose(a.get("perm"))
    if op == "Squeeze":
        axes = a.get("axes") if len(vals) < 2 or vals[1] is None else list(vals[1])
        return np.squeeze(x, axis=tuple(axes) if axes is not None else None)
    if op == "Unsqueeze":
        axes = a.get("axes") if len(vals) < 2 or vals[1] is None else list(vals[1])
        for ax in sorted(axes):
            x = np.expand_dims(x, ax)
        return x
    if op == "Flatten":
        ax = a.get("axis", 1)
        return x.reshape(int(np.prod(x.shape[:ax])), -1)
    if op == "Add":
        return vals[0] + vals[1]
    if op == "MatMul":
        return vals[0] @ vals[1]
    raise UnsupportedOpError(f"constant folding of {op} is not supported")


def onnx_predict(path: str | os.PathLike, x: np.ndarray, input_layout: str | None = None,
                 batch_size: int = 500) -> np.ndarray:
    """ANN scores with onnxruntime for frames x [N, C, H, W] in model units."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = inp.shape
    x = np.asarray(x, np.float32)
    if len(shape) == 4:
        dims = [d if isinstance(d, int) else -1 for d in shape[1:]]
        layout = input_layout or ("NHWC" if 0 < dims[2] <= 4 and dims[0] > 4 else "NCHW")
        if layout == "NHWC" and x.ndim == 4:
            x = x.transpose(0, 2, 3, 1)
    elif len(shape) == 2:
        x = x.reshape(len(x), -1)
    outs = []
    for s in range(0, len(x), batch_size):
        outs.append(sess.run(None, {inp.name: x[s:s + batch_size]})[0])
    return np.concatenate(outs)
