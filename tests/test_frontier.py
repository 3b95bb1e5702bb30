"""benchmarks/frontier.py: the spec is checked, runs are priced in both accountings and both
presets from their counters, and the table sets Eedn's points beside ours."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snn.cores.hardware.energy import EnergyModel
from snn.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def frontier(benchmark_script):
    return benchmark_script("frontier")


def test_committed_spec_loads(frontier):
    points = frontier.load_spec(frontier.SPEC)
    assert {p["dataset"] for p in points} >= {"mnist", "fashion-mnist"}
    assert all((ROOT / p["program"]).is_file() for p in points)


@pytest.mark.parametrize("body, match", [
    ("", "no \\[\\[point\\]\\]"),
    ('[[point]]\nmodel = "m"\ndataset = "mnist"\nprogram = "x.npz"\n', "'ticks' missing"),
    ('[[point]]\nmodel = "m"\ndataset = "mnist"\nprogram = "nope.npz"\nticks = 8\n',
     "not found"),
    ('[[point]]\nmodel = "m"\ndataset = "mnist"\nprogram = "x.npz"\nticks = 8\ncolour = 1\n',
     "unknown key 'colour'"),
])
def test_bad_specs_name_the_point_and_key(frontier, tmp_path, body, match):
    f = tmp_path / "f.toml"
    f.write_text(body.replace("x.npz", "benchmarks/frontier.toml"))
    with pytest.raises(ConfigError, match=match):
        frontier.load_spec(f)


def _doc(T=8, lat=4, frames=10):
    per = {"sops": 1000.0, "spikes": 100.0, "hops": 50.0, "chip_crossings": 0.0,
           "input_events": 7.0, "axon_collisions": 0.0}
    return {"frames": frames, "counters": {str(T): per}, "cores": 20, "latency_ticks": lat,
            "accuracy": {str(T): 0.9}, "range": "0:10", "network": "p.npz",
            "dataset": "mnist"}


def test_point_priced_in_both_accountings_and_presets(frontier):
    point = {"model": "m", "dataset": "mnist", "program": "p.npz", "ticks": 8}
    r = frontier.make_point(point, _doc())
    tn, sop = EnergyModel.preset("truenorth"), EnergyModel.preset("truenorth-sop")
    c = {"sops": 10000, "spikes": 1000, "hops": 500, "chip_crossings": 0}
    assert r["accounting"] == "streaming" and r["accuracy"] == 0.9
    assert r["j_per_frame"] == pytest.approx(tn.evaluate(c, 8, 20, n_frames=10).j_per_frame)
    assert r["frames_per_s_per_w"] == pytest.approx(1 / r["j_per_frame"])
    assert r["latency_accounting"]["j_per_frame"] == pytest.approx(
        tn.evaluate(c, 12, 20, n_frames=10).j_per_frame)
    assert r["truenorth_sop"]["streaming"]["j_per_frame"] == pytest.approx(
        sop.evaluate(c, 8, 20, n_frames=10).j_per_frame)
    assert r["sops_per_frame"] == 1000 and r["spikes_per_frame"] == 100 and r["cores"] == 20
    for key in ("model", "dataset", "program", "ticks", "accuracy", "j_per_frame",
                "frames_per_s_per_w"):
        assert key in r


def test_markdown_sets_eedn_beside_ours_and_marks_the_front(frontier):
    cheap = frontier.make_point({"model": "a", "dataset": "mnist", "program": "p.npz",
                                 "ticks": 8}, _doc())
    cheap["accuracy"] = 0.95  # 92.70 % at 0.268 µJ (Eedn) does not beat it
    worse = dict(cheap, model="b", accuracy=0.5, j_per_frame=cheap["j_per_frame"] * 2)
    md = frontier.to_markdown([cheap, worse])
    assert "## MNIST" in md and "Eedn ensemble (NIPS 2015)" in md and "| 99.42 |" in md
    rows = {ln.split("|")[1].strip(): ln for ln in md.splitlines() if ln.startswith("| ")}
    assert rows["a"].rstrip().endswith("★ |") and not rows["b"].rstrip().endswith("★ |")
    assert rows["Eedn one network (NIPS 2015)"].rstrip().endswith("★ |")
    assert "truenorth-sop" in md and "6,000 frames/s/W" in md


def test_points_of_one_program_are_one_run(frontier, tmp_path, monkeypatch):
    spec = tmp_path / "f.toml"
    prog = "benchmarks/frontier.toml"  # any file: the run is faked
    spec.write_text("".join(
        f'[[point]]\nmodel = "m"\ndataset = "mnist"\nprogram = "{prog}"\nticks = {t}\n'
        for t in (16, 8)) + f'[[point]]\nmodel = "n"\ndataset = "mnist"\nprogram = "{prog}"\n'
        'ticks = 8\nrange = "0:5"\n')
    calls = []

    def fake_run(cmd, cwd, check):
        calls.append(cmd)
        ticks = cmd[cmd.index("--ticks") + 1].split(",")
        doc = _doc(T=int(ticks[0]))
        for t in ticks:
            doc["counters"][t] = doc["counters"][ticks[0]]
            doc["accuracy"][t] = 0.9
        doc.update(network=cmd[2], range=cmd[cmd.index("--range") + 1]
                   if "--range" in cmd else "0:10")
        Path(cmd[cmd.index("--json") + 1]).write_text(json.dumps(doc))

    monkeypatch.setattr(frontier, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(frontier.subprocess, "run", fake_run)
    assert frontier.main(["--spec", str(spec)]) == 0
    assert [c[c.index("--ticks") + 1] for c in calls] == ["8,16", "8"]
    assert (tmp_path / "results" / "frontier" / "m_t8.json").exists()
    calls.clear()
    assert frontier.main(["--spec", str(spec)]) == 0 and calls == []  # all kept
    assert frontier.main(["--spec", str(spec), "--force"]) == 0
    assert [c[c.index("--ticks") + 1] for c in calls] == ["8,16", "8"]
    pts = json.loads((tmp_path / "results" / "frontier.json").read_text())
    assert sorted((p["model"], p["ticks"]) for p in pts) == [("m", 8), ("m", 16), ("n", 8)]
