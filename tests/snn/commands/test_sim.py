"""``snn sim``: runs a saved core program with its stored inputs."""

from __future__ import annotations

import json

import numpy as np
from random_test_programs import random_test_program

from snn.cli import main
from snn.cores import engine


def _saved(tmp_path):
    p = random_test_program(4, n_cores=2)
    p.input_tick = np.array([0, 3, 3], np.int32)
    p.input_core = np.array([0, 1, 1], np.int32)
    p.input_axon = np.array([2, 5, 5], np.int16)
    return p, p.save(tmp_path / "prog.npz")


def test_sim_json_matches_engine(tmp_path, capsys):
    p, path = _saved(tmp_path)
    out = tmp_path / "run.json"
    assert main(["sim", str(path), "--ticks", "25", "--record", "full", "--json",
                 str(out)]) == 0
    doc = json.loads(out.read_text())
    ref = engine.run(p, 25, record="full")
    assert doc["spikes"] == ref.spikes[0].tolist()
    assert doc["counters"] == {k: int(v[0]) for k, v in ref.counters.items()}
    assert doc["outputs"] == ref.outputs[0].tolist()
    assert doc["ticks"] == 25 and doc["backend"] == "numba" and doc["wall_s"] >= 0
    assert doc["counters"]["input_events"] == 3
    assert "SOPs" in capsys.readouterr().out


def test_sim_reference_backend_and_no_spikes_without_record(tmp_path):
    _, path = _saved(tmp_path)
    out = tmp_path / "run.json"
    assert main(["sim", str(path), "--ticks", "10", "--backend", "reference", "--json",
                 str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["backend"] == "reference" and "spikes" not in doc


def test_sim_bad_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    p, _ = _saved(tmp_path)
    p.delay[1, 3] = 0
    p.save(bad)
    assert main(["sim", str(bad), "--ticks", "5"]) == 1
    err = capsys.readouterr().err
    assert "delay[1, 3]" in err and "1..15" in err
