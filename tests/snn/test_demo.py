"""The demo's pieces on a few frames: every output written, numbers that hang together."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snn.demo import run_demo, train_digits_mlp


def test_train_digits_mlp_is_seeded():
    torch = pytest.importorskip("torch")
    a = train_digits_mlp(seed=3, epochs=2)
    b = train_digits_mlp(seed=3, epochs=2)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_demo_small(tmp_path):
    pytest.importorskip("torch")
    lines: list[str] = []
    out = run_demo(tmp_path / "d", ticks=16, frames=60, progress=False, echo=lines.append)
    d = tmp_path / "d"
    for f in ("report.json", "report.md", "raster.png", "run.npz", "program.npz",
              "network.npz", "digits_mlp.pt", "accuracy_vs_ticks.png", "decomposition.png"):
        assert (d / f).stat().st_size > 0, f
    text = "\n".join(lines)
    for key in ("ANN accuracy", "SNN accuracy on cores", "cores / chips", "SOPs per frame",
                "energy per frame", "GSOP/s/W", "frames/s/W"):
        assert key in text
    rep = json.loads((d / "report.json").read_text())
    assert rep["n_frames"] == 60 and rep["cores"] >= 2
    assert rep["accuracy"] > 0.8 and out["ann_accuracy"] > 0.85  # easy data, held out
    assert rep["latency_ticks"] == rep["ticks"] > 16  # 16 input ticks + the pipeline
    # the saved run reloads, and its readout spikes are the report's predictions
    from snn.runfile import SpikeRun
    srun = SpikeRun.load(d / "run.npz")
    assert srun.layer_names == ["fc1", "fc2"] and srun.n_frames == 4
    assert np.all(srun.labels < 10)
