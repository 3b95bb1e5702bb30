"""torch.nn.Module -> AnnGraph via torch.fx.

Supported: Linear, Conv2d (stride, padding incl. "same"/"valid", groups; dilation 1, zero
padding mode), BatchNorm1d/2d (eval statistics; folded later), ReLU (module, F.relu,
torch.relu, .relu()), the clip ``nn.Hardtanh(0, lambda)`` (and ReLU6: a ReLU whose SNN
threshold is lambda, as ``snn finetune`` / ``converters.qcfs.to_stock`` save QCFS layers),
AvgPool2d, MaxPool2d, AdaptiveAvgPool2d (output size dividing the input), Flatten (module,
torch.flatten(x, 1), x.view/reshape(x.size(0), -1)), Dropout and
Identity (dropped), additions of two tensors (residual paths: operator.add, torch.add,
x.add). A final softmax is dropped.

Files: ``torch.save(model)`` of a whole module, loaded with ``weights_only=True`` (no code
from the file runs); a model of classes beyond the stock layers needs ``trust_pickle=True``
(``snn convert --trust-pickle``), which runs the pickle's code, and its classes importable.
TorchScript archives cannot be traced by torch.fx: export the model to ONNX instead. A bare
state_dict holds no architecture and is refused.
"""

from __future__ import annotations

import operator
import os
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np

from snn.converters.graph import AnnGraph, Node
from snn.errors import ConversionError, UnsupportedOpError
from snn.network import INPUT

ADVICE = ("convertible torch models use Linear, Conv2d, BatchNorm, ReLU, "
          "Hardtanh(0, lambda), AvgPool2d, "
          "MaxPool2d, AdaptiveAvgPool2d, Flatten, Dropout, Identity and residual additions")


# Stock layers whose classes a weights-only load may build: ``torch.save(model)`` of a
# model made only of these loads without running code from the file.
SAFE_LAYERS = ("Sequential", "Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "ReLU",
               "Hardtanh", "ReLU6",
               "AvgPool2d", "MaxPool2d", "AdaptiveAvgPool2d", "Flatten", "Dropout", "Identity",
               "Softmax")

SAFE_ALTERNATIVES = (
    "Safe alternatives: export the model to ONNX (torch.onnx.export) and convert the .onnx; "
    "or save model.state_dict(), rebuild the module in Python, load_state_dict("
    "torch.load(path, weights_only=True)) and pass the module to snn.converters.convert; "
    "torch.save(model) of an nn.Sequential of stock layers loads without opting in")


def _is_torchscript(path: Path) -> bool:
    """True for a TorchScript archive (a zip with a code/ folder)."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.split("/", 1)[-1].startswith("code/") for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def load_torch(path: str | os.PathLike, trust_pickle: bool = False):
    """Load a whole module saved with ``torch.save(model)``.

    By default the file is read with ``weights_only=True``: only tensors, containers and
    the stock layers of :data:`SAFE_LAYERS` can be built, so no code from the file runs.
    ``trust_pickle=True`` (``snn convert --trust-pickle``) loads any pickled module, which
    runs whatever code the file holds: only for files from a trusted source.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: no such model file")
    if _is_torchscript(path):
        raise ConversionError(f"{path}: a TorchScript archive; torch.fx cannot trace "
                              "TorchScript. Export the model to ONNX (torch.onnx.export) "
                              "and convert the .onnx")
    safe = [getattr(torch.nn, name) for name in SAFE_LAYERS]
    try:
        with torch.serialization.safe_globals(safe):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust_pickle:
            name = re.search(r"GLOBAL (\S+) was not", str(exc))
            raise ConversionError(
                f"{path}: a pickle that holds more than tensors and stock torch layers"
                f"{f' (it calls {name.group(1)})' if name else ''}; loading it would run code "
                "from the file, so it was not loaded. If you trust the file, opt in with "
                "`snn convert --trust-pickle` (trust_pickle=True in Python; `snn eval --ann` "
                f"takes an .onnx or a stock-layer torch file). {SAFE_ALTERNATIVES}.") from None
        obj = _load_trusted(torch, path)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds
        raise ConversionError(f"{path}: not a torch model file ({type(exc).__name__}: "
                              f"{exc}); give torch.save(model) of a whole module or an "
                              ".onnx file") from exc
    if isinstance(obj, torch.jit.ScriptModule):
        raise ConversionError(f"{path}: a TorchScript module; save it with torch.save(model) "
                              "of the Python module or export it to ONNX")
    if not isinstance(obj, torch.nn.Module):
        raise ConversionError(f"{path}: holds a {type(obj).__name__}, not a torch.nn.Module "
                              "(a state_dict has no architecture: rebuild the module in "
                              "Python, load the state_dict into it and pass the module to "
                              "snn.converters.convert, or export the model to ONNX)")
    return obj


def _load_trusted(torch, path: Path):
    """``torch.load(weights_only=False)``: runs the pickle's code (the user opted in)."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"{path}: not a torch model file ({type(exc).__name__}: "
                              f"{exc}); give torch.save(model) of a whole module or an "
                              ".onnx file") from exc


def clip_level(lo: float, hi: float, where: str) -> float:
    """lambda of a clip ``clamp(x, 0, lambda)`` (a ReLU with threshold lambda in the SNN)."""
    if lo != 0 or not 0 < hi < float("inf"):
        raise UnsupportedOpError(f"{where}: a clip to [{lo}, {hi}]; only clamp(x, 0, lambda) "
                                 "with 0 < lambda < inf (a QCFS clip, ReLU6) converts: its "
                                 "upper bound is the layer's threshold")
    return float(hi)


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def import_torch(module, frame_shape: tuple[int, ...], source: str = "torch model"
                 ) -> AnnGraph:
    """Trace ``module`` (eval mode) for frames of ``frame_shape`` (channel-first)."""
    import torch
    import torch.nn.functional as F
    from torch import fx, nn
    from torch.fx.passes.shape_prop import ShapeProp

    if not isinstance(module, nn.Module):
        raise ConversionError(f"{source}: not a torch.nn.Module ({type(module).__name__})")
    module = module.eval()
    try:
        gm = fx.symbolic_trace(module)
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"{source}: torch.fx cannot trace the model ({exc}); "
                              "data-dependent control flow is not convertible") from exc
    mods = dict(gm.named_modules())
    relu_fns = {F.relu, torch.relu, torch.nn.functional.relu}
    add_fns = {operator.add, torch.add, operator.iadd}
    flat_fns = {torch.flatten}
    drop_fns = {F.dropout, F.softmax, torch.softmax, F.log_softmax}

    # refuse before any work
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ConversionError(f"{source}: forward() takes {len(placeholders)} inputs; one "
                              "image batch is needed")
    for i, n in enumerate(gm.graph.nodes):
        where = f"{source}: node {i} {n.name!r}"
        if n.op == "call_module":
            m = mods[n.target]
            if not isinstance(m, (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d,
                                  nn.ReLU, nn.Hardtanh, nn.AvgPool2d, nn.MaxPool2d,
                                  nn.AdaptiveAvgPool2d,
                                  nn.Flatten, nn.Dropout, nn.Identity, nn.Softmax,
                                  nn.LogSoftmax)):
                raise UnsupportedOpError(f"{where}: module {n.target!r} of type "
                                         f"{type(m).__name__} is not supported; {ADVICE}")
        elif n.op == "call_function":
            if n.target not in relu_fns | add_fns | flat_fns | drop_fns:
                raise UnsupportedOpError(f"{where}: function "
                                         f"{getattr(n.target, '__name__', n.target)} is not "
                                         f"supported; {ADVICE}")
        elif n.op == "call_method":
            if n.target not in ("relu", "view", "reshape", "flatten", "size", "add"):
                raise UnsupportedOpError(f"{where}: method .{n.target}() is not supported; "
                                         f"{ADVICE}")
        elif n.op == "get_attr":
            raise UnsupportedOpError(f"{where}: direct use of parameter {n.target!r} in "
                                     f"forward(); {ADVICE}")

    example = torch.zeros((1, *frame_shape))
    try:
        ShapeProp(gm).propagate(example)
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"{source}: the model does not run on frames of shape "
                              f"{tuple(frame_shape)} ({exc})") from exc

    def shape(n) -> tuple[int, ...]:
        return tuple(int(v) for v in n.meta["tensor_meta"].shape[1:])

    nodes: list[Node] = []
    name_of: dict[str, str] = {}  # fx node name -> graph node name (or INPUT)
    size_nodes: set[str] = set()
    output_src = None
    for i, n in enumerate(gm.graph.nodes):
        where = f"{source}: node {i} {n.name!r}"
        if n.op == "placeholder":
            name_of[n.name] = INPUT
            continue
        if n.op == "output":
            output_src = n.args[0]
            break
        args = [a for a in n.args if hasattr(a, "name")]
        src = name_of.get(args[0].name) if args else None

        def emit(op: str, params: dict | None = None, inputs: list[str] | None = None,
                 _n=n, _src=src) -> None:
            name = str(_n.target) if _n.op == "call_module" else _n.name
            if any(x.name == name for x in nodes):
                name = _n.name
            nodes.append(Node(op, name, inputs or [_src], params or {}))
            name_of[_n.name] = name

        if n.op == "call_module":
            m = mods[n.target]
            if isinstance(m, nn.Linear):
                b = _np(m.bias) if m.bias is not None else np.zeros(m.out_features, np.float32)
                emit("dense", {"weight": _np(m.weight), "bias": b})
            elif isinstance(m, nn.Conv2d):
                if _pair(m.dilation) != (1, 1) or m.padding_mode != "zeros":
                    raise UnsupportedOpError(f"{where}: Conv2d with dilation {m.dilation} / "
                                             f"padding_mode {m.padding_mode!r}")
                k, s = _pair(m.kernel_size), _pair(m.stride)
                if isinstance(m.padding, str):
                    if m.padding == "valid":
                        pad = (0, 0, 0, 0)
                    else:
                        th, tw = k[0] - 1, k[1] - 1
                        pad = (th // 2, tw // 2, th - th // 2, tw - tw // 2)
                else:
                    ph, pw = _pair(m.padding)
                    pad = (ph, pw, ph, pw)
                b = _np(m.bias) if m.bias is not None else np.zeros(m.out_channels, np.float32)
                emit("conv", {"weight": _np(m.weight), "bias": b, "stride": s,
                              "padding": pad, "groups": int(m.groups)})
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                if m.running_mean is None:
                    raise ConversionError(f"{where}: BatchNorm without running statistics "
                                          "(track_running_stats=False)")
                w = _np(m.weight) if m.weight is not None else np.ones(m.num_features)
                b = _np(m.bias) if m.bias is not None else np.zeros(m.num_features)
                mult = w / np.sqrt(_np(m.running_var) + m.eps)
                emit("bn", {"scale": mult.astype(np.float32),
                            "shift": (b - _np(m.running_mean) * mult).astype(np.float32)})
            elif isinstance(m, nn.ReLU):
                emit("relu")
            elif isinstance(m, nn.Hardtanh):
                emit("relu", {"clip": clip_level(m.min_val, m.max_val, where)})
            elif isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
                if m.ceil_mode:
                    raise UnsupportedOpError(f"{where}: pooling with ceil_mode=True")
                if isinstance(m, nn.MaxPool2d) and _pair(m.dilation) != (1, 1):
                    raise UnsupportedOpError(f"{where}: dilated max pooling")
                if isinstance(m, nn.AvgPool2d) and (m.divisor_override or (
                        not m.count_include_pad and _pair(m.padding) != (0, 0))):
                    raise UnsupportedOpError(f"{where}: AvgPool2d with divisor_override or "
                                             "count_include_pad=False and padding")
                k = _pair(m.kernel_size)
                s = _pair(m.stride if m.stride is not None else m.kernel_size)
                ph, pw = _pair(m.padding)
                emit("pool", {"mode": "max" if isinstance(m, nn.MaxPool2d) else "avg",
                              "kernel": k, "stride": s, "padding": (ph, pw, ph, pw)})
            elif isinstance(m, nn.AdaptiveAvgPool2d):
                c, h, w = shape(args[0])
                oh, ow = _pair(m.output_size) if m.output_size is not None else (h, w)
                if h % oh or w % ow:
                    raise UnsupportedOpError(f"{where}: AdaptiveAvgPool2d to {oh}x{ow} from "
                                             f"{h}x{w} (sizes must divide)")
                emit("pool", {"mode": "avg", "kernel": (h // oh, w // ow),
                              "stride": (h // oh, w // ow), "padding": (0, 0, 0, 0)})
            elif isinstance(m, nn.Flatten):
                if m.start_dim != 1 or m.end_dim != -1:
                    raise UnsupportedOpError(f"{where}: Flatten(start_dim={m.start_dim}, "
                                             f"end_dim={m.end_dim}); only Flatten(1, -1)")
                emit("flatten")
            else:  # Dropout, Identity, Softmax
                if isinstance(m, (nn.Softmax, nn.LogSoftmax)) and \
                        list(n.users)[0].op != "output":
                    raise UnsupportedOpError(f"{where}: a softmax inside the network")
                name_of[n.name] = src
        elif n.op == "call_function":
            if n.target in relu_fns:
                emit("relu")
            elif n.target in add_fns:
                if len(args) != 2 or len(n.args) != 2:
                    raise UnsupportedOpError(f"{where}: addition of a constant")
                emit("add", inputs=[name_of[a.name] for a in args])
            elif n.target in flat_fns:
                start = n.args[1] if len(n.args) > 1 else n.kwargs.get("start_dim", 0)
                if start != 1 or (len(n.args) > 2 and n.args[2] != -1):
                    raise UnsupportedOpError(f"{where}: torch.flatten(x, {start}); only "
                                             "torch.flatten(x, 1)")
                emit("flatten")
            else:
                name_of[n.name] = src
        else:  # call_method
            if n.target == "size":
                size_nodes.add(n.name)
                continue
            if n.target == "relu":
                emit("relu")
            elif n.target == "add":
                if len(args) != 2:
                    raise UnsupportedOpError(f"{where}: addition of a constant")
                emit("add", inputs=[name_of[a.name] for a in args])
            else:  # view / reshape / flatten
                rest = list(n.args[1:])
                if n.target == "flatten":
                    ok = rest in ([1], [1, -1])
                else:
                    first = rest[0] if rest else None
                    ok = len(rest) == 2 and rest[1] == -1 and (
                        getattr(first, "name", None) in size_nodes or first in (-1, 1)
                        or (isinstance(first, int) and first == n.meta["tensor_meta"].shape[0]))
                    ok = ok or (len(rest) == 2 and rest[0] == -1)
                if not ok:
                    raise UnsupportedOpError(f"{where}: .{n.target}{tuple(rest)}; only "
                                             "flattening to (batch, -1) is supported")
                emit("flatten")
    if output_src is None or not hasattr(output_src, "name"):
        raise ConversionError(f"{source}: forward() must return one tensor")
    out = name_of.get(output_src.name)
    if out == INPUT or not nodes or nodes[-1].name != out:
        raise ConversionError(f"{source}: the output is not made by the last layer")
    graph = AnnGraph(tuple(int(v) for v in frame_shape), nodes, source)
    graph.validate()
    return graph
