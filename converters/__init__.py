"""snn.converters: trained ANNs (torch, ONNX, Keras .h5/.keras, NIR) -> SpikingNetwork.

    from snn.converters import convert
    net = convert("model.onnx", calib_images, pixel_scale=1.0)

Pipeline: import (``onnx_import`` / ``torch_import``) -> ``AnnGraph`` -> fold BatchNorm and
tidy ReLUs (``fold``) -> data-based normalisation on the calibration frames
(``normalise``) -> ``snn.network.SpikingNetwork``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from snn.converters.graph import AnnGraph, forward
from snn.errors import ConversionError
from snn.network import SpikingNetwork

__all__ = ["convert", "import_model", "ann_predict", "AnnGraph"]


def _frame_shape(calib: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(calib).shape[1:])


def import_model(model_or_path: Any, frame_shape: tuple[int, ...], *,
                 input_layout: str | None = None, trust_pickle: bool = False) -> AnnGraph:
    """Read a model (``.onnx`` path, torch file path, Keras ``.h5``/``.keras`` path,
    ``torch.nn.Module``, ``onnx.ModelProto`` or an AnnGraph) into an AnnGraph with BatchNorm
    still unfolded (NIR graphs are spiking already: ``convert`` reads them directly).

    trust_pickle: load torch files of any pickled module (runs the file's code); by default
    only tensors and stock layers are read (``weights_only=True``).
    """
    if isinstance(model_or_path, AnnGraph):
        return model_or_path
    if isinstance(model_or_path, (str, os.PathLike)):
        path = Path(model_or_path)
        if path.suffix.lower() == ".onnx":
            from snn.converters.onnx_import import import_onnx
            return import_onnx(path, input_layout, frame_shape)
        if path.suffix.lower() in (".pt", ".pth", ".pkl", ".torch"):
            from snn.converters.torch_import import import_torch, load_torch
            return import_torch(load_torch(path, trust_pickle), frame_shape, str(path))
        if path.suffix.lower() in (".h5", ".hdf5", ".keras"):
            from snn.converters.keras_import import import_keras
            return import_keras(path, frame_shape)
        if path.suffix.lower() == ".nir":
            raise ConversionError(f"{path}: an NIR graph is already a spiking network; read it "
                                  "with snn.converters.nir_import.import_nir or convert()")
        if path.suffix.lower() == ".npz":
            raise ConversionError(f"{path}: a .npz is not a trained ANN (is it already a "
                                  "spiking network? then use it with `snn eval` directly)")
        raise ConversionError(f"{path}: unknown model file type {path.suffix!r}; give a .onnx "
                              "file, a torch file (.pt/.pth from torch.save(model)), a Keras "
                              "file (.h5/.keras) or an NIR graph (.nir)")
    kind = type(model_or_path).__module__
    if kind.startswith("onnx"):
        from snn.converters.onnx_import import import_onnx
        return import_onnx(model_or_path, input_layout, frame_shape)
    try:
        import torch
        if isinstance(model_or_path, torch.nn.Module):
            from snn.converters.torch_import import import_torch
            return import_torch(model_or_path, frame_shape)
    except ImportError:  # pragma: no cover
        pass
    raise ConversionError(f"cannot convert a {type(model_or_path).__name__}; give a .onnx path, "
                          "a torch file path, a torch.nn.Module or an onnx.ModelProto")


KEPT_CALIBRATION_FRAMES = 16  # calibration frames stored in the network for the compiler


def convert(model_or_path: Any, calib_images: np.ndarray, *, pixel_scale: float = 1 / 255,
            normalisation: str = "percentile", percentile: float = 99.99,
            channel_wise: bool | str = "dense", maxpool: str = "gate", avgpool: str = "spiking",
            v_init: float = 0.5, input_layout: str | None = None,
            encoding: str = "current", decode: str = "potential",
            readout_percentile: float | None = None, trust_pickle: bool = False
            ) -> SpikingNetwork:
    """Convert a trained ANN into a SpikingNetwork.

    calib_images: raw 0..255 frames [N, C, H, W] (uint8 or float) used for normalisation
        (an NIR graph is already spiking: it is read by ``nir_import.import_nir`` and the
        frames only give the frame shape; None is allowed).
    pixel_scale: the model's input is ``pixel * pixel_scale`` (1/255 for most torch models,
        1 for models that take raw pixels).
    normalisation: "percentile" (``percentile`` of the positive activations) or "max".
    channel_wise: "dense" (default: one scale per neuron of a dense layer, one per conv
        layer), "all"/True (one per channel of conv layers too) or "none"/False (one per
        layer); the readout always keeps one scale. With ``v_init`` 0.5 the default is the
        recipe measured best on cores (docs/conversion.md, "The default recipe").
    maxpool: "gate" (rate-gated spiking max pool) or "avg" (replace by average pooling:
        changes the model; only when asked).
    avgpool: "spiking" (IF neurons, threshold 1) or "linear" (pass-through mean).
    v_init: initial membrane as a fraction of the threshold (compile maps it onto the cores'
        ``v_initial``; the default 0.5 halves the rate code's rounding error, Bu et al. 2022;
        0 is the plain IF start).
    encoding: stored in meta as the default encoding for simulation.
    decode: stored in meta: "potential" (argmax of the readout's integrated input; measured
        better) or "count" (argmax of readout spike counts). Both are always reported.
    readout_percentile: readout scale from this percentile of the per-frame top logit
        (sharper spike-count decoding); None: as the hidden layers.
    trust_pickle: a torch file may hold any pickled module (its code runs: trusted files
        only); default: weights-only loading of stock layers.
    """
    from snn.converters.fold import fold_batchnorm, simplify
    from snn.converters.nir_import import import_nir, is_nir
    from snn.converters.normalise import build_network

    if is_nir(model_or_path):  # already spiking: thresholds come from the graph
        shape = _frame_shape(calib_images) if calib_images is not None and len(
            np.shape(calib_images)) > 1 else None
        return import_nir(model_or_path, shape)

    if normalisation not in ("percentile", "max"):
        raise ConversionError(f"normalisation must be 'percentile' or 'max', got "
                              f"{normalisation!r}")
    calib = np.asarray(calib_images)
    if calib.ndim < 2 or len(calib) == 0:
        raise ConversionError("calibration images must be a non-empty array [N, C, H, W]")
    if not np.isfinite(calib.astype(np.float64)).all():
        raise ConversionError("calibration images hold NaN or inf values")
    graph = import_model(model_or_path, _frame_shape(calib), input_layout=input_layout,
                         trust_pickle=trust_pickle)
    graph = simplify(fold_batchnorm(graph))
    x = calib.astype(np.float32) * np.float32(pixel_scale)
    pct = 100.0 if normalisation == "max" else float(percentile)
    source = str(model_or_path) if isinstance(model_or_path, (str, os.PathLike)) \
        else type(model_or_path).__name__
    net = build_network(graph, x, pixel_scale=pixel_scale, percentile=pct,
                        channel_wise=channel_wise, maxpool=maxpool, avgpool=avgpool,
                        v_init=v_init, decode=decode,
                        readout_percentile=readout_percentile,
                        meta={"source": source, "encoding": encoding,
                              "calibration_frames": int(len(calib))})
    # a few calibration frames travel with the network: compile sets relays from them
    keep = calib[:KEPT_CALIBRATION_FRAMES]
    if keep[0].size == int(np.prod(net.input_shape)):
        net.calibration = keep.reshape(len(keep), *net.input_shape)
    return net


def ann_predict(model_or_path: Any, images: np.ndarray, *, pixel_scale: float = 1 / 255,
                input_layout: str | None = None, trust_pickle: bool = False) -> np.ndarray:
    """The source ANN's class scores for raw 0..255 frames: onnxruntime for ``.onnx`` files,
    torch for torch models (eval mode), else the imported graph's numpy forward pass."""
    x = np.asarray(images, np.float32) * np.float32(pixel_scale)
    if isinstance(model_or_path, (str, os.PathLike)) and \
            Path(model_or_path).suffix.lower() == ".onnx":
        from snn.converters.onnx_import import onnx_predict
        return onnx_predict(model_or_path, x, input_layout)
    module = model_or_path
    if isinstance(model_or_path, (str, os.PathLike)) and Path(model_or_path).suffix.lower() in (
            ".pt", ".pth", ".pkl", ".torch"):
        from snn.converters.torch_import import load_torch
        module = load_torch(model_or_path, trust_pickle)
    try:
        import torch
        if isinstance(module, torch.nn.Module):
            module.eval()
            outs = []
            with torch.no_grad():
                for s in range(0, len(x), 500):
                    outs.append(module(torch.from_numpy(x[s:s + 500])).numpy())
            return np.concatenate(outs)
    except ImportError:  # pragma: no cover
        pass
    graph = import_model(module, _frame_shape(images), input_layout=input_layout)
    last = graph.nodes[-1].name
    return forward(graph, x, keep={last})[last]
