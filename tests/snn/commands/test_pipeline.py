"""The user's pipeline in-process, command by command (convert -> compile -> eval -> report ->
raster), with each command's outputs read back and checked against each other.

One small model (the demo's digits MLP, trained in about 2 s) is converted once per module.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snn.cli import main  # noqa: E402
from snn.cores.program import CoreProgram  # noqa: E402
from snn.network import SpikingNetwork  # noqa: E402

TICKS = "8,32"


@pytest.fixture(scope="module")
def flow(tmp_path_factory) -> dict[str, Path]:
    """Files of one run through the pipeline (written by the commands themselves)."""
    from snn.models import train_digits_mlp

    d = tmp_path_factory.mktemp("flow")
    f = {k: d / v for k, v in dict(pt="mlp.pt", net="net.npz", prog="prog.npz",
                                    table="table.json", ev="eval.json", run="run.npz",
                                    rep="report.json", evn="eval_net.json").items()}
    torch.save(train_digits_mlp(), f["pt"])
    assert main(["convert", str(f["pt"]), "--data", "digits", "--split", "train",
                 "--calib", "0:300", "--out", str(f["net"])]) == 0
    assert main(["compile", str(f["net"]), "--out", str(f["prog"]),
                 "--json", str(f["table"])]) == 0
    assert main(["eval", str(f["prog"]), "--data", "digits", "--ticks", TICKS,
                 "--json", str(f["ev"]), "--record", str(f["run"]), "--report", str(f["rep"]),
                 "--ann", str(f["pt"])]) == 0
    assert main(["eval", str(f["net"]), "--data", "digits", "--ticks", TICKS,
                 "--json", str(f["evn"])]) == 0
    return f


def test_convert_writes_a_network_with_the_default_recipe(flow):
    net = SpikingNetwork.load(flow["net"])
    assert [layer.name for layer in net.layers] == ["flatten", "fc1", "fc2"]
    assert net.n_classes == 10
    assert net.meta.get("v_init") == pytest.approx(0.5)
    assert net.meta.get("decode") == "potential"


def test_compile_table_matches_the_program(flow):
    prog = CoreProgram.load(flow["prog"])
    table = json.loads(flow["table"].read_text())
    assert table["cores"] == prog.n_cores == sum(row["cores"] for row in table["layers"])
    assert [row["layer"] for row in table["layers"]] == ["fc1", "fc2"]


def test_eval_on_cores_reports_every_tick_count_near_the_ann(flow):
    ev = json.loads(flow["ev"].read_text())
    assert ev["frames"] == 539 and ev["dataset"] == "digits" and ev["split"] == "test"
    assert set(ev["accuracy"]) == {"8", "32"}
    assert ev["accuracy"]["32"] >= ev["ann_accuracy"] - 0.03
    # SOPs grow with the ticks run; counters are per tick count
    assert 0 < ev["sops_per_frame"]["8"] < ev["sops_per_frame"]["32"]
    assert ev["cores"] == CoreProgram.load(flow["prog"]).n_cores


def test_ideal_network_and_cores_agree_closely(flow):
    cores = json.loads(flow["ev"].read_text())["accuracy"]["32"]
    ideal = json.loads(flow["evn"].read_text())["accuracy"]["32"]
    assert abs(cores - ideal) <= 0.02


def test_report_renders_the_run_of_the_largest_tick_count(flow, capsys):
    ev = json.loads(flow["ev"].read_text())
    rep = json.loads(flow["rep"].read_text())
    assert rep["accuracy"] == pytest.approx(ev["accuracy"]["32"])
    assert rep["n_frames"] == ev["frames"]
    capsys.readouterr()
    assert main(["report", str(flow["rep"])]) == 0
    text = capsys.readouterr().out
    assert f"{100 * ev['accuracy']['32']:.2f} %" in text
    assert "frames/s/W" in text


def test_report_markdown_goes_to_a_file(flow, tmp_path):
    out = tmp_path / "r.md"
    assert main(["report", str(flow["rep"]), "--markdown", "--out", str(out)]) == 0
    text = out.read_text()
    assert "fc1" in text and "fc2" in text  # the per-layer table


def test_recorded_run_holds_the_first_frames_spikes(flow):
    with np.load(flow["run"]) as z:
        assert str(z["format"]) == "snn-run/1"
        assert len(z["offsets"]) - 1 == 8  # --record-frames default
        assert len(z["spikes"]) > 0


def test_raster_draws_a_picture_with_a_trace(flow, tmp_path):
    out = tmp_path / "r.png"
    assert main(["raster", str(flow["run"]), "--program", str(flow["prog"]),
                 "--trace", "1:3", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compile_neuron_codebooks_flag_keeps_the_old_relays(flow, tmp_path):
    """On the small preset fc1 is split: by default each relay has type weights of its own,
    with --neuron-codebooks every relay copies its neuron's (so fewer distinct rows)."""
    progs = {}
    for flag in ([], ["--neuron-codebooks"]):
        out = tmp_path / f"p{len(flag)}.npz"
        assert main(["compile", str(flow["net"]), "--preset", "small", "--out", str(out),
                     *flag]) == 0
        progs[bool(flag)] = CoreProgram.load(out)
    distinct = {}
    for old, p in progs.items():
        relay = (p.extras["core_layer"] == 0) & (p.extras["core_role"] == 1)
        assert relay.any(), "fc1 should be split on the small preset"
        w = p.weight[relay].reshape(-1, p.weight.shape[-1])
        distinct[old] = len(np.unique(np.abs(w[np.abs(w).sum(1) > 0]), axis=0))
    assert distinct[True] < distinct[False]
