"""Write Keras 2 HDF5 model files (``model.save("m.h5")`` layout) with h5py, without Keras:
the ``model_config`` JSON root attribute and ``model_weights/<layer>/<layer>/kernel:0``
datasets listed by ``layer_names`` / ``weight_names``. Used by the tests and
``benchmarks/keras_lenet.py`` to make Keras files for ``snn.converters.keras_import``.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np


def layer(cls: str, name: str, inbound: list[str] | None = None, **cfg) -> dict:
    """A Keras layer config entry; ``inbound`` (functional models): the feeding layers."""
    out = {"class_name": cls, "config": {"name": name, "trainable": True, **cfg}, "name": name}
    if inbound is not None:
        out["inbound_nodes"] = [[[s, 0, 0, {}] for s in inbound]] if inbound else []
    return out


def write_h5(path: Path, layers: list[dict], weights: dict[str, list[np.ndarray]],
             functional: bool = False) -> Path:
    """Keras 2 model.save('x.h5') layout."""
    if functional:
        cfg = {"class_name": "Functional", "config": {
            "name": "model", "layers": layers,
            "input_layers": [[layers[0]["name"], 0, 0]],
            "output_layers": [[layers[-1]["name"], 0, 0]]}}
    else:
        cfg = {"class_name": "Sequential", "config": {
            "name": "sequential", "layers": [{k: v for k, v in la.items() if k != "name"}
                                             for la in layers]}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.13.1"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(cfg).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([la["name"].encode() for la in layers])
        for la in layers:
            g = mw.create_group(la["name"])
            names = []
            kinds = _weight_names(la)
            for kind, arr in zip(kinds[:len(weights.get(la["name"], []))],
                                 weights.get(la["name"], []), strict=True):
                wn = f"{la['name']}/{kind}:0"
                g.create_dataset(wn, data=arr)
                names.append(wn.encode())
            g.attrs["weight_names"] = np.array(names, dtype="S")
    return path


def _weight_names(la: dict) -> list[str]:
    """Keras's weight names of a layer, in its weight order."""
    c, cfg = la["class_name"], la["config"]
    if c == "BatchNormalization":
        return ((["gamma"] if cfg.get("scale", True) else []) +
                (["beta"] if cfg.get("center", True) else []) +
                ["moving_mean", "moving_variance"])
    return ["kernel", "bias"]
