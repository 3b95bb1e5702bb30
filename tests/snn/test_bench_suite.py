"""The benchmark suite: TOML grid, results files, resume, Ctrl-C, Dask, and one real row."""

from __future__ import annotations

import json
import textwrap

import pytest

from snn.bench_suite import PreparedModel, Row, load_results, load_suite, run_suite
from snn.errors import ConfigError

SUITE = """\
[suite]
name = "tiny"
energy = "truenorth"

[models.m1]
dataset = "digits"
source = "builtin:digits-mlp"
calib = "0:100"
eval = "0:60"

[models.m2]
dataset = "digits"
source = "builtin:digits-mlp"

[[grid]]
model = ["m1"]
preset = ["truenorth", "small"]
weight_bits = [2, "auto"]
ticks = [8, 16]

[[grid]]
model = "m2"
ticks = [8]
"""

CALLS: list[str] = []


def fake_prepare(suite, spec) -> PreparedModel:
    return PreparedModel(spec=spec, network=None, images=None, labels=None, ann_accuracy=0.95)


def fake_row(row: dict, prepared: PreparedModel, settings: dict) -> dict:
    CALLS.append(f"{row['model']}/{row['preset']}/w{row['weight_bits'] or 'auto'}/"
                 f"t{row['ticks']}")
    if row["ticks"] == 16 and row["preset"] == "small" and row["weight_bits"] == 2:
        from snn.errors import CompileError
        raise CompileError("layer 'fc1' needs more cores than the preset allows")
    t = row["ticks"]
    return {"dataset": prepared.spec.dataset, "accuracy": 1 - 1 / t,
            "ann_accuracy": prepared.ann_accuracy, "sops_per_frame": 100.0 * t,
            "energy_per_frame_uj": 0.1 * t / (row["weight_bits"] or 8), "latency_ms": float(t),
            "gsops_per_watt": 50.0, "frames_per_s_per_w": 1e5, "cores": 3, "frames": 60,
            "stream_energy_per_frame_uj": 0.05 * t / (row["weight_bits"] or 8),
            "stream_frames_per_s_per_w": 2e5,
            "wall_s": 0.01}


def interrupting_row(row: dict, prepared: PreparedModel, settings: dict) -> dict:
    if len(CALLS) == 2:
        raise KeyboardInterrupt
    return fake_row(row, prepared, settings)


@pytest.fixture
def suite_file(tmp_path):
    p = tmp_path / "suite.toml"
    p.write_text(SUITE)
    CALLS.clear()
    return p


def test_load_suite_grid(suite_file):
    s = load_suite(suite_file)
    assert [r.key for r in s.rows][:3] == ["m1/truenorth/w2/t8", "m1/truenorth/w2/t16",
                                           "m1/truenorth/wauto/t8"]
    assert len(s.rows) == 9 and s.rows[-1] == Row("m2", "truenorth", None, 8)
    assert s.models["m1"].calib == "0:100" and s.models["m2"].eval == "500:"


@pytest.mark.parametrize("text, match", [
    ("[models.a]\ndataset='digits'\nsource='x'\n", "no \\[\\[grid\\]\\]"),
    ("[models.a]\ndataset='digits'\n", "needs 'source'"),
    ("[models.a]\ndataset='digits'\nsource='x'\nfoo=1\n[[grid]]\nmodel=['a']\nticks=[8]\n",
     "unknown key 'foo'"),
    ("[models.a]\ndataset='digits'\nsource='x'\n[[grid]]\nmodel=['b']\nticks=[8]\n",
     "model 'b' has no"),
    ("[models.a]\ndataset='digits'\nsource='x'\n[[grid]]\nmodel=['a']\n", "needs 'ticks'"),
    ("[models.a\n", "not valid TOML"),
])
def test_bad_suites(tmp_path, text, match):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_suite(p)


def test_results_resume_and_failed_rows(suite_file, tmp_path):
    s = load_suite(suite_file)
    out = tmp_path / "res"
    rows = run_suite(s, out, workers=0, progress=False, prepare_fn=fake_prepare,
                     row_fn=fake_row, log=lambda m: None)
    assert len(rows) == 9 and len(CALLS) == 9
    doc = json.loads((out / "suite.json").read_text())
    bad = [r for r in doc["rows"] if r["status"] != "ok"]
    assert [r["key"] for r in bad] == ["m1/small/w2/t16"] and "fc1" in bad[0]["error"]
    md = (out / "suite.md").read_text()
    assert "| m1 | truenorth | 2 | 8 | 87.50 |" in md.replace("digits | ", "")
    assert "Rows not finished" in md
    for f in ("pareto_energy.png", "pareto_latency.png"):
        assert (out / f).stat().st_size > 1000
    # rerun: finished rows are skipped, the failed one is tried again
    CALLS.clear()
    run_suite(s, out, workers=0, progress=False, prepare_fn=fake_prepare, row_fn=fake_row,
              log=lambda m: None)
    assert CALLS == ["m1/small/w2/t16"]


def test_ctrl_c_keeps_finished_rows(suite_file, tmp_path):
    s = load_suite(suite_file)
    out = tmp_path / "res"
    with pytest.raises(KeyboardInterrupt):
        run_suite(s, out, workers=0, progress=False, prepare_fn=fake_prepare,
                  row_fn=interrupting_row, log=lambda m: None)
    assert sorted(load_results(out)) == sorted(CALLS) and len(CALLS) == 2
    CALLS.clear()
    run_suite(s, out, workers=0, progress=False, prepare_fn=fake_prepare, row_fn=fake_row,
              log=lambda m: None)
    assert len(CALLS) == 7  # the 2 finished rows were not run again


def test_dask_local_cluster(suite_file, tmp_path):
    distributed = pytest.importorskip("distributed")
    s = load_suite(suite_file)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        rows = run_suite(s, tmp_path / "res", scheduler=cluster.scheduler_address,
                         progress=False, prepare_fn=fake_prepare, row_fn=fake_row,
                         log=lambda m: None)
    assert sum(r["status"] == "ok" for r in rows) == 8
    assert len(load_results(tmp_path / "res")) == 9


def test_unreachable_scheduler(suite_file, tmp_path, monkeypatch):
    import snn.bench_suite

    monkeypatch.setattr(snn.bench_suite, "DASK_CONNECT_TIMEOUT", "1s")
    s = load_suite(suite_file)
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        run_suite(s, tmp_path / "res", scheduler="tcp://127.0.0.1:1", progress=False,
                  prepare_fn=fake_prepare, row_fn=fake_row, log=lambda m: None)


def test_bench_command_list(suite_file, capsys):
    from snn.cli import main

    assert main(["bench", str(suite_file), "--list", "--only", "m2"]) == 0
    assert capsys.readouterr().out.strip() == "todo  m2/truenorth/wauto/t8  (digits)"
    assert main(["bench", str(suite_file), "--only", "zz"]) == 1


def test_default_suite_parses():
    from pathlib import Path

    suite = Path(__file__).resolve().parents[2] / "benchmarks" / "suite.toml"
    s = load_suite(suite)
    assert s.rows and {r.model for r in s.rows} <= set(s.models)


def quick_prepare(suite, spec) -> PreparedModel:
    """prepare_model with a shorter training (runs in the parent: need not pickle)."""
    import snn.bench_pipeline as bp
    from snn.converters import convert
    from snn.models import train_digits_mlp

    model = train_digits_mlp(seed=0, epochs=12)
    calib, _ = bp.load_frames(suite, spec, "train", spec.calib)
    x, y = bp.load_frames(suite, spec, "test", spec.eval)
    return PreparedModel(spec, convert(model, calib), x, y, bp.ann_accuracy(model, x, y, 1 / 255))


def test_real_rows_on_a_process_pool(tmp_path):
    """The real pipeline (train, convert, compile, engine, energy) on a spawned worker."""
    p = tmp_path / "suite.toml"
    p.write_text(textwrap.dedent("""\
        [models.d]
        dataset = "digits"
        source = "builtin:digits-mlp"
        calib = "0:100"
        eval = "0:80"
        [[grid]]
        model = ["d"]
        weight_bits = [4]
        ticks = [4, 16]
        """))
    s = load_suite(p)
    rows = run_suite(s, tmp_path / "res", workers=1, progress=False, log=lambda m: None,
                     prepare_fn=quick_prepare)
    by_t = {r["ticks"]: r for r in rows}
    assert all(r["status"] == "ok" for r in rows), rows
    for r in rows:
        assert r["frames"] == 80 and r["cores"] >= 2 and 0.85 < r["ann_accuracy"] <= 1
        assert r["latency_ticks"] == r["ticks"] + r["pipeline_ticks"]
        assert r["energy_per_frame_uj"] > 0 and r["gsops_per_watt"] > 0
        assert abs(r["frames_per_s_per_w"] * r["energy_per_frame_uj"] * 1e-6 - 1) < 1e-9
        # streaming: T of the T + pipeline ticks' static and per-tick energy, same events
        assert 0 < r["stream_energy_per_frame_uj"] < r["energy_per_frame_uj"]
        assert r["stream_frames_per_s_per_w"] > r["frames_per_s_per_w"]
    # more ticks: more SOPs and energy per frame, and (on this easy set) not worse accuracy
    assert by_t[16]["sops_per_frame"] > 3 * by_t[4]["sops_per_frame"]
    assert by_t[16]["energy_per_frame_uj"] > by_t[4]["energy_per_frame_uj"]
    assert by_t[16]["accuracy"] >= 0.85


def broken_row(row: dict, prepared: PreparedModel, settings: dict) -> dict:
    if row["ticks"] == 8:
        raise TypeError("a bug")
    return fake_row(row, prepared, settings)


def test_a_broken_row_does_not_stop_the_suite(suite_file, tmp_path):
    rows = run_suite(load_suite(suite_file), tmp_path / "res", workers=0, progress=False,
                     prepare_fn=fake_prepare, row_fn=broken_row, log=lambda m: None)
    bad = [r for r in rows if r["status"] == "error" and "TypeError: a bug" in r["error"]]
    assert len(bad) == 5 and "traceback" in bad[0]
    assert sum(r["status"] == "ok" for r in rows) == 3


def test_rows_of_another_recipe_run_again(suite_file, tmp_path, monkeypatch):
    """A finished row made with other converter defaults (or another model spec) is not
    kept: resuming reruns it."""
    import snn.bench_suite as bs
    s = load_suite(suite_file)
    out = tmp_path / "res"
    run_suite(s, out, workers=0, progress=False, prepare_fn=fake_prepare, row_fn=fake_row,
              log=lambda m: None)
    CALLS.clear()
    monkeypatch.setattr(bs, "recipe_fingerprint", lambda suite, model: f"new-{model}")
    run_suite(s, out, workers=0, progress=False, prepare_fn=fake_prepare, row_fn=fake_row,
              log=lambda m: None)
    assert len(CALLS) == 9
    assert {r["recipe"] for r in load_results(out).values()} == {"new-m1"} | (
        {"new-m2"} if any(r.model == "m2" for r in s.rows) else set())


def test_recipe_fingerprint_follows_the_compiler_defaults(suite_file, monkeypatch):
    """Rows finished before a compiler default changed (e.g. per-block codebooks) do not
    count as finished: the fingerprint covers compile()'s defaults, not only convert()'s."""
    import snn.cores.compiler as compiler
    from snn.bench_suite import recipe_fingerprint
    s = load_suite(suite_file)
    before = recipe_fingerprint(s, "m1")
    assert recipe_fingerprint(s, "m1") == before

    def compile_with_other_defaults(network, spec=None, *, block_codebooks: bool = False):
        raise AssertionError("not called")
    monkeypatch.setattr(compiler, "compile", compile_with_other_defaults)
    assert recipe_fingerprint(s, "m1") != before


def test_eedn_references_go_on_their_dataset_panels():
    from snn.bench_suite import eedn_references
    from snn.eedn import EEDN_POINTS

    rows = [{"panel": "mlp (mnist)", "dataset": "mnist"},
            {"panel": "cnn (fashion-mnist)", "dataset": "fashion-mnist"}]
    refs, lines = eedn_references(rows)
    assert len(refs) == len([p for p in EEDN_POINTS if p.dataset == "mnist"]) == 2
    assert {r["panel"] for r in refs} == {"mlp (mnist)"}
    assert sorted(r["cost"] for r in refs) == pytest.approx([0.268, 108.0])
    assert lines == [{"label": lines[0]["label"], "cost": pytest.approx(1e6 / 6000),
                      "panel": None}]
