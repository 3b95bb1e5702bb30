"""Binarized model files written by the training scripts -> SpikingNetwork (for ``snn
compile``, ``snn export`` and ``snn eval``).

``benchmarks/train_binarized_fashion.py`` writes ``{"arch": name, "kind": "bsnn" | "bnn" |
"dnn", "levels": [...], "info": {...}, "state_dict": ...}`` (frame mode, 1x28x28 images,
thermometer input); ``benchmarks/train_binarized_nmnist.py`` writes ``{"arch": [layer
tuples], "info": {...}, "state_dict": ...}`` (temporal mode on 2x17x17 N-MNIST events, built
as ``TemporalBSNN(arch, (2, 17, 17), theta0=3.0, reset="subtract", floor=8)``: reset and
floor are not in the file, so those are the script's values).

Files are read with ``torch.load(weights_only=True)`` only: no pickled code runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from snn.errors import ConversionError
from snn.network import SpikingNetwork

FASHION_LEVELS = [32, 64, 96, 128, 160, 192, 224]
# the architectures of benchmarks/train_binarized_fashion.py (it imports them from here)
NAMED_ARCHS: dict[str, list] = {
    # 28x28 -> 14x14x64 -> 7x7x128 -> 7x7x128 -> 4x4x64 -> 10 (blocks of 127 inputs)
    "A": [("conv", 64, 4, 2, 1, 1), ("shuffle", 8), ("conv", 128, 3, 2, 1, 8), ("shuffle", 16),
          ("conv", 128, 3, 1, 1, 16), ("shuffle", 16), ("conv", 64, 3, 2, 1, 16),
          ("flatten",), ("readout", 10, 127)],
    # A with a population readout: 4 binary rows per class, summed (z_c in -4096..4096)
    "Ap4": [("conv", 64, 4, 2, 1, 1), ("shuffle", 8), ("conv", 128, 3, 2, 1, 8), ("shuffle", 16),
            ("conv", 128, 3, 1, 1, 16), ("shuffle", 16), ("conv", 64, 3, 2, 1, 16),
            ("flatten",), ("readout", 10, 127, 4)],
    # wider: 14x14x96 -> 7x7x192 -> 7x7x192 -> 4x4x96 -> 10
    "A2": [("conv", 96, 4, 2, 1, 1), ("shuffle", 12), ("conv", 192, 3, 2, 1, 12),
           ("shuffle", 24), ("conv", 192, 3, 1, 1, 24), ("shuffle", 24),
           ("conv", 96, 3, 2, 1, 24), ("flatten",), ("readout", 10, 127)],
    # tiny, for tests and CPU smoke runs
    "tiny": [("conv", 16, 4, 4, 0, 1), ("shuffle", 2), ("conv", 32, 3, 2, 1, 2), ("flatten",),
             ("readout", 10, 127)],
}
NMNIST_GRID = (2, 17, 17)
NMNIST_NEURON = {"theta0": 3.0, "reset": "subtract", "floor": 8}


def is_binarized_checkpoint(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in (".pt", ".pth")


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    import torch

    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: no such model file")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"{path}: not a checkpoint readable with weights_only=True "
                              f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(ck, dict) or "arch" not in ck or "state_dict" not in ck:
        raise ConversionError(f"{path}: not a binarized training checkpoint (expected a dict "
                              "with 'arch' and 'state_dict', as benchmarks/train_binarized_*.py "
                              "write); for a trained ANN use `snn convert` first")
    return ck


def load_binarized(path: str | os.PathLike) -> SpikingNetwork:
    """The exported SpikingNetwork of a binarized checkpoint (frame or temporal mode)."""
    from snn.converters.binarized import FrameNet, TemporalBSNN
    from snn.converters.binarized_export import export_frame, export_temporal

    ck = load_checkpoint(path)
    info = ck.get("info", {})
    if "kind" in ck:  # frame mode (Fashion-MNIST script)
        arch = ck["arch"]
        if isinstance(arch, str):
            if arch not in NAMED_ARCHS:
                raise ConversionError(f"{path}: unknown architecture name {arch!r}; known: "
                                      f"{sorted(NAMED_ARCHS)}")
            arch = NAMED_ARCHS[arch]
        if ck["kind"] != "bsnn":
            raise ConversionError(f"{path}: a {ck['kind']!r} model has no core mapping; only "
                                  "'bsnn' checkpoints compile (bnn/dnn are the comparison "
                                  "models)")
        model = FrameNet(arch, (1, 28, 28), list(ck.get("levels", FASHION_LEVELS)), "bsnn")
        model.freeze()
        _load_state(model, ck, path)
        net = export_frame(model)
        net.meta.update({"source": Path(path).name, "dataset_hint": "fashion-mnist"})
        return net
    model = TemporalBSNN([tuple(a) for a in ck["arch"]], NMNIST_GRID, **NMNIST_NEURON)
    _load_state(model, ck, path)
    net = export_temporal(model)
    net.meta.update({
        "source": Path(path).name, "dataset_hint": "nmnist",
        "event_transform": {"denoise_us": 10000.0, "spatial_factor": 0.5,
                            "time_factor": float(info.get("time_factor", 1.0)),
                            "tick_us": 1000, "ticks": int(info.get("ticks", 0) or 0)}})
    return net


def _load_state(model, ck: dict, path) -> None:
    model.eval()
    try:
        model.load_state_dict(ck["state_dict"])
    except RuntimeError as exc:
        raise ConversionError(f"{path}: the weights do not fit the architecture "
                              f"{ck['arch']!r} ({exc})") from exc
