"""Damaged core programs are refused on load with an error naming the key (issue 19)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from snn.cli import main
from snn.cores.compiler import compile as compile_net
from snn.cores.program import CoreProgram
from snn.errors import FormatError, ProgramError, SnnError
from snn.network import Dense, Flatten, SpikingNetwork

ONE = np.ones(1, np.float32)


def _net() -> SpikingNetwork:
    rng = np.random.default_rng(0)
    f = np.float32
    return SpikingNetwork((1, 8, 8), [
        Flatten("flat"),
        Dense("h", ("flat",), True, ONE, weight=rng.normal(0, .25, (20, 64)).astype(f),
              bias=np.zeros(20, f)),
        Dense("out", ("h",), True, ONE, weight=rng.normal(0, .3, (10, 20)).astype(f),
              bias=np.zeros(10, f))], {"encoding": "rate"})


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("prog") / "good.npz"
    compile_net(_net(), ticks=16).save(path)
    with np.load(path) as data:
        return path, {k: data[k] for k in data.files}


def _write(tmp_path, arrays: dict) -> str:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return str(path)


def _mutate(good, tmp_path, **changes):
    arrays = dict(good[1])
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        elif callable(v):
            arrays[k] = v(arrays[k].copy())
        else:
            arrays[k] = v
    return _write(tmp_path, arrays)


def _set(idx, value):
    def f(a):
        a[idx] = value
        return a
    return f


CASES = {
    "nan readout weight": (dict(x_readout_weight=_set(3, np.nan)),
                           r"x_readout_weight\[3\]: holds NaN"),
    "input element out of range": (dict(x_input_element=_set(5, 64)),
                                   r"x_input_element\[5\]: must be 0\.\.63"),
    "negative latency": (dict(x_latency_ticks=np.int32(-3)), "x_latency_ticks: must be 0..100000"),
    "huge latency": (dict(x_latency_ticks=np.int32(10 ** 6)), "sum of its layers' delays"),
    "weight 300 under truenorth": (dict(weight=_set((0, 0, 0), 300)),
                                   r"weight\[0, 0, 0\]: weight must lie in -256\.\.255 for spec "
                                   "'truenorth'"),
    "weight 32000": (dict(weight=_set((0, 1, 1), 32000)), "-256..255"),
    "readout class beyond classes": (dict(x_readout_class=_set(0, 10)),
                                     r"x_readout_class\[0\]: must be a class 0\.\.9"),
    "zero classes": (dict(x_n_classes=np.int32(0)), "x_n_classes: must be 1.."),
    "missing readout": (dict(x_readout_class=None), "x_readout_class: missing"),
    "no readout neuron": (dict(output_index=lambda a: np.full_like(a, -1)),
                          "no neuron is a readout"),
    "input map length": (dict(x_input_map_axon=lambda a: a[:-1]),
                         "x_input_map_axon: has .* entries, must have"),
    "input map core": (dict(x_input_map_core=_set(0, 10 ** 6)), "x_input_map_core"),
    "huge output index": (dict(output_index=_set((0, 0), 10 ** 8)),
                          r"output_index\[0, 0\]: must be < "),
    "string latency": (dict(x_latency_ticks=np.array("many")),
                       "x_latency_ticks: dtype is <U4, must hold integers"),
    "nan pixel scale": (dict(x_pixel_scale=np.float64(np.nan)), "x_pixel_scale"),
    "hold core out of range": (dict(x_hold_core=np.array([99], np.int32),
                                    x_hold_axon=np.array([0], np.int16),
                                    x_hold_ticks=np.array([1], np.int32)), "x_hold_core"),
    "core layer beyond names": (dict(x_core_layer=_set(0, 77)), "x_core_layer"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_program_refused_on_load_naming_the_key(good, tmp_path, case):
    changes, words = CASES[case]
    path = _mutate(good, tmp_path, **changes)
    with pytest.raises(ProgramError, match=words) as exc:
        CoreProgram.load(path)
    assert path in str(exc.value)


def test_good_program_loads(good):
    prog = CoreProgram.load(good[0])
    assert prog.n_cores >= 1 and int(prog.extras["n_classes"]) == 10


@pytest.mark.parametrize("cmd", [["sim", "{p}", "--ticks", "5"],
                                 ["eval", "{p}", "--data", "digits", "--range", "0:4",
                                  "--ticks", "8"]])
def test_sim_and_eval_refuse_what_compile_would_not_write(good, tmp_path, capsys, cmd):
    path = _mutate(good, tmp_path, x_readout_weight=_set(0, np.inf))
    assert main([a.format(p=path) for a in cmd]) == 1
    assert "x_readout_weight[0]: holds NaN or inf" in capsys.readouterr().err


def test_object_array_refused_without_numpy_pickle_advice(good, tmp_path):
    arrays = dict(good[1])
    arrays["x_note"] = np.array([{"a": 1}], dtype=object)
    path = tmp_path / "obj.npz"
    np.savez(path, **arrays)  # numpy pickles the object array
    with pytest.raises(FormatError, match="'x_note' is an object array") as exc:
        CoreProgram.load(path)
    assert "allow_pickle" not in str(exc.value)


def test_not_a_zip_has_no_pickle_advice(tmp_path):
    path = tmp_path / "p.npz"
    path.write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(FormatError, match="not a zip archive") as exc:
        CoreProgram.load(path)
    assert "allow_pickle" not in str(exc.value)


def test_truncated_file_is_a_format_error(good, tmp_path):
    raw = good[0].read_bytes()
    for cut in (len(raw) // 2, len(raw) - 30, 100):
        path = tmp_path / "cut.npz"
        path.write_bytes(raw[:cut])
        with pytest.raises(SnnError):
            CoreProgram.load(path)


def test_declared_sizes_beyond_memory_refused_before_allocating(tmp_path):
    """A 1 KB file whose crossbar header declares 655 GB."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|b1", "fortran_order": False, "shape": (10 ** 7, 256, 256)})
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("format.npy", _npy(np.array("snn-cores/1")))
        zf.writestr("crossbar.npy", buf.getvalue())
    with pytest.raises(FormatError, match="more than this machine has available"):
        CoreProgram.load(path)


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_program_without_input_map_points_to_snn_sim(tmp_path, capsys):
    from random_test_programs import random_test_program
    path = random_test_program(1, n_cores=2).save(tmp_path / "hand.npz")
    assert main(["eval", str(path), "--data", "digits", "--range", "0:2", "--ticks", "4"]) == 1
    err = capsys.readouterr().err
    assert "snn sim PROG.npz" in err and "snn run" not in err


def test_sim_refuses_absurd_ticks_before_running(good, capsys):
    assert main(["sim", str(good[0]), "--ticks", "99999999999"]) == 1
    assert "--ticks 99999999999 is more than" in capsys.readouterr().err


def test_absurd_declared_shape_does_not_overflow(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<i4", "fortran_order": False, "shape": (10 ** 200, 10 ** 200)})
    path = tmp_path / "absurd.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("format.npy", _npy(np.array("snn-cores/1")))
        zf.writestr("leak.npy", buf.getvalue())
    with pytest.raises(FormatError, match="memory needed"):
        CoreProgram.load(path)


def test_corrupted_member_is_a_format_error(good, tmp_path):
    raw = bytearray(good[0].read_bytes())
    for at in range(200, len(raw) - 200, max(1, (len(raw) - 400) // 25)):
        bad = bytearray(raw)
        bad[at] ^= 0xFF
        path = tmp_path / "flip.npz"
        path.write_bytes(bytes(bad))
        try:
            CoreProgram.load(path)
        except SnnError:
            pass
