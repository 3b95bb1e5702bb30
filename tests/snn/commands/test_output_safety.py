"""Every command refuses unsafe outputs before any work (issue 19)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from snn.cli import main
from snn.network import Dense, Flatten, SpikingNetwork

ONE = np.ones(1, np.float32)


def _net(tmp_path):
    rng = np.random.default_rng(0)
    f = np.float32
    net = SpikingNetwork((1, 8, 8), [
        Flatten("flat"),
        Dense("out", ("flat",), True, ONE, weight=rng.normal(0, .3, (10, 64)).astype(f),
              bias=np.zeros(10, f))], {"encoding": "rate"})
    return net.save(tmp_path / "net.npz")


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.mark.parametrize("argv", [
    ["convert", "{d}/model.onnx", "--out", "{d}/model.onnx"],
    ["compile", "{d}/net.npz", "--out", "{d}/net.npz"],
    ["compile", "{d}/net.npz", "--out", "{d}/p.npz", "--json", "{d}/net.npz"],
    ["sim", "{d}/net.npz", "--ticks", "5", "--json", "{d}/net.npz"],
    ["report", "{d}/r.json", "--out", "{d}/r.json"],
    ["eval", "{d}/net.npz", "--data", "digits", "--record", "{d}/net.npz"],
    ["eval", "{d}/net.npz", "--data", "digits", "--json", "{d}/link.npz"],
    ["raster", "{d}/r.json", "--out", "{d}/r.json"],
])
def test_output_equal_to_input_refused_and_input_kept(tmp_path, capsys, argv):
    _net(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"a trained model")
    (tmp_path / "r.json").write_text(json.dumps({"format": "snn-report/1"}))
    (tmp_path / "link.npz").symlink_to(tmp_path / "net.npz")
    before = {p.name: _digest(p) for p in tmp_path.iterdir()}
    assert main([a.format(d=tmp_path) for a in argv]) == 1
    err = capsys.readouterr().err
    assert "would destroy the input" in err
    assert {p.name: _digest(p) for p in tmp_path.iterdir()} == before
    assert (tmp_path / "link.npz").is_symlink()


def test_compile_same_out_and_json_refused(tmp_path, capsys):
    net = _net(tmp_path)
    x = tmp_path / "x"
    assert main(["compile", str(net), "--out", str(x), "--json", str(x)]) == 1
    assert "are the same file" in capsys.readouterr().err
    assert not x.exists()


def test_unwritable_output_refused_before_the_work(tmp_path, capsys):
    net = _net(tmp_path)
    prog = tmp_path / "p.npz"
    assert main(["compile", str(net), "--out", str(prog), "--json",
                 "/proc/snn-test/table.json"]) == 1
    assert "--json /proc/snn-test/table.json: cannot write" in capsys.readouterr().err
    assert not prog.exists(), "the work ran before the output check"
