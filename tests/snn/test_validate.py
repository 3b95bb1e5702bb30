"""Damaged spiking networks, IDX files, reports and runs: clear errors (issue 19)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from snn.cli import main
from snn.errors import FormatError
from snn.network import Dense, Flatten, SpikingNetwork

ONE = np.ones(1, np.float32)


def _net() -> SpikingNetwork:
    rng = np.random.default_rng(0)
    f = np.float32
    return SpikingNetwork((1, 8, 8), [
        Flatten("flat"),
        Dense("h", ("flat",), True, np.full(12, 1.0, f),
              weight=rng.normal(0, .25, (12, 64)).astype(f), bias=np.zeros(12, f)),
        Dense("out", ("h",), True, ONE, weight=rng.normal(0, .3, (10, 12)).astype(f),
              bias=np.zeros(10, f))], {"encoding": "rate", "pixel_scale": 1 / 255})


@pytest.fixture()
def arrays(tmp_path):
    path = _net().save(tmp_path / "net.npz")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _header(arrays) -> dict:
    return json.loads(str(arrays["header"]))


def _with_header(arrays, header) -> dict:
    return {**arrays, "header": np.array(json.dumps(header))}


def _zero_layers(a):
    h = _header(a)
    h["layers"] = []
    return _with_header(a, h)


def _bad_stride(a):
    h = _header(a)
    h["layers"][1]["inputs"] = "flat"
    return _with_header(a, h)


CASES = {
    "no header": (lambda a: {k: v for k, v in a.items() if k != "header"},
                  "key 'header' .* missing"),
    "bad header json": (lambda a: {**a, "header": np.array("{not json")},
                        "header is not valid JSON"),
    "header a list": (lambda a: {**a, "header": np.array("[1, 2]")}, "must be a JSON object"),
    "zero layers": (_zero_layers, "non-empty list of layers"),
    "wrong-length thresholds": (lambda a: {**a, "L1.threshold": np.ones(5, np.float32)},
                                r"layer 1 \('h', dense\): threshold has 5 values, must have 1 "
                                r"or one per output channel \(12\)"),
    "threshold 0": (lambda a: {**a, "L2.threshold": np.zeros(1, np.float32)},
                    r"layer 2 \('out', dense\): threshold\[0\] is 0.0"),
    "nan weight": (lambda a: {**a, "L1.weight": np.where(np.arange(768).reshape(12, 64) == 70,
                                                         np.nan, a["L1.weight"])},
                   r"layer 1 \('h', dense\): weight\[1, 6\] is nan"),
    "missing weight": (lambda a: {k: v for k, v in a.items() if k != "L2.weight"},
                       "array 'L2.weight' missing"),
    "1-d weight": (lambda a: {**a, "L2.weight": np.ones(10, np.float32)},
                   "must have 2 dimensions"),
    "string weight": (lambda a: {**a, "L2.weight": np.array([["a"]])}, "must hold numbers"),
    "inputs not a list": (_bad_stride, "'inputs' must be a non-empty list"),
    "wrong format": (lambda a: {**a, "format": np.array("snn-cores/1")}, "expected 'snn-net/1'"),
    "weight shape mismatch": (lambda a: {**a, "L2.weight": np.ones((10, 7), np.float32)},
                              "dense weight takes 7 inputs"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_network_refused_naming_the_layer(arrays, tmp_path, case):
    change, words = CASES[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **change(arrays))
    with pytest.raises(FormatError, match=words) as exc:
        SpikingNetwork.load(path)
    assert str(path) in str(exc.value)


@pytest.mark.parametrize("cmd", ["compile", "eval"])
def test_compile_and_eval_refuse_the_same_network(arrays, tmp_path, capsys, cmd):
    path = tmp_path / "bad.npz"
    np.savez(path, **{**arrays, "L2.threshold": np.zeros(1, np.float32)})
    argv = (["compile", str(path), "--out", str(tmp_path / "p.npz")] if cmd == "compile" else
            ["eval", str(path), "--data", "digits", "--range", "0:4", "--ticks", "8"])
    assert main(argv) == 1
    assert "threshold[0] is 0.0" in capsys.readouterr().err
    assert not (tmp_path / "p.npz").exists()


def test_good_network_round_trips(arrays, tmp_path):
    path = tmp_path / "ok.npz"
    np.savez(path, **arrays)
    net = SpikingNetwork.load(path)
    assert [x.name for x in net.layers] == ["flat", "h", "out"] and net.n_classes == 10


def test_truncated_gzip_idx_is_a_format_error_naming_the_file(tmp_path):
    from snn.datasets import read_idx
    raw = b"\x00\x00\x08\x03" + (3).to_bytes(4, "big") + (4).to_bytes(4, "big") * 2 + \
        bytes(range(48))
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    assert read_idx(path).shape == (3, 4, 4)
    path.write_bytes(gzip.compress(raw)[:-12])
    with pytest.raises(FormatError, match=r"t10k-images-idx3-ubyte\.gz: damaged IDX file"):
        read_idx(path)


def test_report_on_an_npz_is_a_clear_error(tmp_path, capsys):
    path = _net().save(tmp_path / "net.npz")
    assert main(["report", str(path)]) == 1
    assert "a .npz (zip) file, not a JSON report" in capsys.readouterr().err


def test_raster_on_a_report_is_a_clear_error(tmp_path, capsys):
    rep = tmp_path / "r.json"
    rep.write_text(json.dumps({"format": "snn-report/1", "spikes": 12, "ticks": 5}))
    assert main(["raster", str(rep), "--out", str(tmp_path / "r.png")]) == 1
    err = capsys.readouterr().err
    assert "a report (snn-report/1), which holds no spikes" in err
    assert not (tmp_path / "r.png").exists()


def test_raster_spike_beyond_the_program_is_a_clear_error(tmp_path, capsys):
    from random_test_programs import random_test_program
    prog = random_test_program(0, n_cores=2).save(tmp_path / "p.npz")
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"ticks": 4, "spikes": [[0, 0, 1], [1, 7, 0]]}))
    assert main(["raster", str(run), "--program", str(prog), "--out",
                 str(tmp_path / "r.png")]) == 1
    assert "spike 1 is on core 7, the program has 2 cores" in capsys.readouterr().err


@pytest.mark.parametrize("content,words", [
    (b"", "it is empty"), (b"hello", "not a zip archive"),
    (b"PK\x03\x04" + bytes(40), "truncated or damaged zip")])
def test_npz_format_never_leaks_numpy_or_zipfile_errors(tmp_path, content, words):
    from snn.validate import npz_format
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=words) as exc:
        npz_format(path)
    assert "allow_pickle" not in str(exc.value)


def test_npz_format_of_good_files(tmp_path):
    from snn.validate import npz_format
    assert npz_format(_net().save(tmp_path / "n.npz")) == "snn-net/1"
    np.savez(tmp_path / "plain.npz", a=np.arange(3))
    assert npz_format(tmp_path / "plain.npz") == "none"
