"""snn.Report: from a run's counters, JSON round trip, Markdown, CLI rendering."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

import snn
from snn.cli import main
from snn.cores.hardware.energy import EnergyModel
from snn.cores.program import CoreProgram
from snn.errors import FormatError


def _program():
    p = CoreProgram.empty(3)
    p.target_core[0, :4] = 1
    p.target_core[1, :4] = 2
    p.output_index[2, :2] = [0, 1]
    p.extras["layer_names"] = np.array(["fc1", "fc2"])
    p.extras["core_layer"] = np.array([0, 0, 1], np.int32)
    return p


def _result(B=2, T=10):
    """A RunResult-shaped object with consistent counters (as the engine returns)."""
    per_core = {"spikes": np.array([[4, 4, 2]] * B), "sops": np.array([[0, 40, 40]] * B),
                "hops": np.array([[4, 4, 0]] * B)}
    counters = {"spikes": np.full(B, 10), "sops": np.full(B, 80), "hops": np.full(B, 8),
                "chip_crossings": np.zeros(B, np.int64), "input_events": np.full(B, 3),
                "axon_collisions": np.zeros(B, np.int64)}
    counts = np.zeros((B, 3, 256), np.int32)
    counts[:, 0, :4] = 1
    counts[:, 1, :4] = 1
    return SimpleNamespace(ticks=T, n_frames=B, counters=counters,
                           outputs=np.array([[3, 1], [0, 5]]), per_core=per_core,
                           spike_counts=counts, wall_s=0.5, backend="numba")


def test_from_run_numbers_come_from_the_counters():
    p, r = _program(), _result()
    tn = EnergyModel.preset("truenorth")
    rep = snn.Report.from_run(p, r, tn, labels=np.array([0, 0]), tick_s=2e-3)
    e = tn.evaluate(r.counters, 10, 3, n_frames=2, tick_s=2e-3)
    assert rep.sops == 160 and rep.spikes == 20 and rep.hops == 16 and rep.input_events == 6
    assert rep.energy_j == pytest.approx(e.joules)
    assert rep.power_w == pytest.approx(e.joules / (2 * 10 * 2e-3))
    assert rep.j_per_frame == pytest.approx(e.joules / 2)
    assert rep.accuracy == 0.5
    assert rep.cores == 3 and rep.chips == 1
    assert rep.latency_ticks == 10 and rep.latency_ms == pytest.approx(20.0)
    assert rep.pipeline_ticks is None and rep.estimated == {}
    p.extras["latency_ticks"] = np.int32(3)
    rep3 = snn.Report.from_run(p, r, tn, tick_s=2e-3)
    assert rep3.pipeline_ticks == 3 and rep3.latency_ticks == 10
    assert "pipeline depth 3 ticks" in rep3.summary()
    # streaming: a new frame every 10 - 3 input ticks; without a depth every 10 ticks
    st = tn.evaluate(r.counters, 7, 3, n_frames=2, tick_s=2e-3)
    assert rep3.stream_ticks == 7 and rep3.stream_j_per_frame == pytest.approx(st.j_per_frame)
    assert rep3.stream_frames_per_s_per_w == pytest.approx(2 / st.joules)
    assert rep3.stream_power_w == pytest.approx(st.joules / (2 * 7 * 2e-3))
    assert rep3.stream_j_per_frame < rep3.j_per_frame
    assert rep.stream_ticks == 10 and rep.stream_j_per_frame == pytest.approx(rep.j_per_frame)
    assert any("streaming accounting" in n for n in rep.notes)
    rep4 = snn.Report.from_run(p, r, tn, tick_s=2e-3, input_ticks=4)
    assert rep4.stream_ticks == 4
    summary = rep3.summary()
    assert "energy per frame (latency: 10 ticks)" in summary
    assert "energy per frame (streaming: 7 ticks)" in summary
    assert "frames/s/W (streaming)" in summary
    doc = rep3.energy_json()
    assert doc["accounting"] == "latency" and doc["streaming"]["ticks_per_frame"] == 7
    assert rep.sim_sops_per_s == pytest.approx(160 / 0.5)
    assert rep.peak_link_load == pytest.approx(4 * 2 / 20)  # 4 spikes/frame on one link
    layers = {r["layer"]: r for r in rep.per_layer}
    assert layers["fc1"]["cores"] == 2 and layers["fc1"]["spikes"] == 16
    assert layers["fc2"]["sops"] == 80
    assert sum(r["share"] for r in rep.per_layer) == pytest.approx(1.0)
    assert rep.per_core["spikes"] == [8, 8, 4]


def test_json_round_trip_and_rendering(tmp_path, capsys):
    rep = snn.Report.from_run(_program(), _result(), "truenorth", program_name="toy")
    path = tmp_path / "run.json"
    rep.to_json(path)
    back = snn.Report.from_json(path)
    assert back == rep
    md = back.to_markdown()
    assert "| fc1 |" in md and "GSOP/s/W" in md and "Energy by term" in md
    s = back.summary()
    assert "energy per frame" in s and "n/a (no labels)" in s
    # a sim JSON with the report under "report" is read too
    (tmp_path / "sim.json").write_text(json.dumps({"ticks": 10, "report": rep.to_dict()}))
    assert snn.Report.from_json(tmp_path / "sim.json") == rep
    assert main(["report", str(path)]) == 0
    assert "SOPs per frame" in capsys.readouterr().out
    assert main(["report", str(path), "--markdown", "--out", str(tmp_path / "r.md")]) == 0
    assert (tmp_path / "r.md").read_text() == md


def test_bad_report_files(tmp_path):
    (tmp_path / "x.json").write_text('{"format": "other"}')
    with pytest.raises(FormatError, match="not an snn-report/1 report"):
        snn.Report.from_json(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{")
    with pytest.raises(FormatError, match="not JSON"):
        snn.Report.from_json(tmp_path / "y.json")
    with pytest.raises(FormatError, match="no such report"):
        snn.Report.from_json(tmp_path / "none.json")
    assert main(["report", str(tmp_path / "x.json")]) == 1


def test_from_a_real_engine_run_and_mesh_heatmap(tmp_path):
    from snn.cores.engine import run
    from snn.cores.hardware.mesh import core_activity, link_load, traffic
    from snn.plots_mesh import plot_mesh

    rng = np.random.default_rng(0)
    p = _program()
    p.crossbar[:] = rng.random(p.crossbar.shape) < 0.3
    p.weight[:] = 1
    p.leak[:] = 1
    p.threshold[:] = 5
    p.target_core[:] = rng.integers(0, 3, p.target_core.shape)
    r = run(p, 20, record="counts", per_core=True)
    rep = snn.Report.from_run(p, r, "truenorth")
    assert rep.sops == r.total("sops") > 0 and rep.hops == r.total("hops")
    e = EnergyModel.preset("truenorth").evaluate(r.counters, 20, 3)
    assert rep.energy_j == pytest.approx(e.joules)
    assert sum(row["sops"] for row in rep.per_layer) == rep.sops
    xy = p.placement()
    load = link_load(xy, traffic(p, r.spike_counts), ticks=20)
    act = core_activity(xy, r.per_core["spikes"], ticks=20)
    out = plot_mesh(act, load, capacity=rep.link_capacity, title="toy",
                    out=tmp_path / "mesh.png")
    assert out is not None and (tmp_path / "mesh.png").stat().st_size > 5000


def test_sim_energy_option_writes_energy_and_report(tmp_path, capsys):
    p = _program()
    p.crossbar[:, :8, :8] = True
    p.weight[:] = 1
    p.leak[:] = 1
    p.threshold[:] = 3
    p.save(tmp_path / "prog.npz")
    out = tmp_path / "run.json"
    assert main(["sim", str(tmp_path / "prog.npz"), "--ticks", "12", "--energy", "truenorth",
                 "--tick-us", "200", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc["energy"]) >= {"joules", "watts", "gsops_per_watt", "preset"}
    e = EnergyModel.preset("truenorth").evaluate(doc["counters"], 12, 3, tick_s=2e-4)
    assert doc["energy"]["joules"] == pytest.approx(e.joules)
    assert doc["energy"]["watts"] == pytest.approx(e.joules / (12 * 2e-4))
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert "tick 200 µs" in capsys.readouterr().out
    assert main(["sim", str(tmp_path / "prog.npz"), "--ticks", "5", "--tick-us", "200"]) == 1
    assert main(["sim", str(tmp_path / "prog.npz"), "--ticks", "5", "--energy", "nope"]) == 1
