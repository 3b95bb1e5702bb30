"""Each rule of the core-program file (docs/design.md §4.2): a broken file gets a clear error."""

from __future__ import annotations

import numpy as np
import pytest

from snn.cores.hardware.spec import CoreSpec
from snn.cores.program import CoreProgram
from snn.errors import FormatError, ProgramError

SPEC = CoreSpec(name="t", axons=4, neurons=4)


def _good() -> CoreProgram:
    p = CoreProgram.empty(3, SPEC)
    p.crossbar[0, 1, 2] = True
    p.target_core[0, 2], p.target_axon[0, 2] = 1, 3
    p.input_tick = np.array([0, 1], np.int32)
    p.input_core = np.array([0, 2], np.int32)
    p.input_axon = np.array([1, 0], np.int16)
    return p


def _set(key, index, value):
    def mutate(p: CoreProgram) -> None:
        getattr(p, key)[index] = value
    return mutate


def _replace(key, value):
    def mutate(p: CoreProgram) -> None:
        setattr(p, key, value(getattr(p, key)) if callable(value) else value)
    return mutate


# (name, mutation, key, first offending index or None, words of the rule)
CASES = [
    ("dtype", _replace("weight", lambda w: w.astype(np.int32)), "weight", None, "dtype"),
    ("shape", _replace("leak", lambda x: x[:, :3].copy()), "leak", None, "shape"),
    ("axon_type", _set("axon_type", (2, 1), 4), "axon_type", (2, 1), "0..3"),
    ("threshold", _set("threshold", (1, 3), 0), "threshold", (1, 3), ">= 1"),
    ("neg_threshold", _set("neg_threshold", (0, 1), -1), "neg_threshold", (0, 1), ">= 0"),
    ("reset_mode", _set("reset_mode", (2, 0), 3), "reset_mode", (2, 0), "0, 1 or 2"),
    ("target_core high", _set("target_core", (1, 1), 3), "target_core", (1, 1), "-1 or 0..2"),
    ("target_core low", _set("target_core", (0, 0), -2), "target_core", (0, 0), "-1 or 0..2"),
    ("target_axon", _set("target_axon", (0, 2), 4), "target_axon", (0, 2), "0..3"),
    ("delay 0", _set("delay", (2, 3), 0), "delay", (2, 3), "1..15"),
    ("delay 16", _set("delay", (1, 0), 16), "delay", (1, 0), "1..15"),
    ("output_index", _set("output_index", (0, 3), -2), "output_index", (0, 3), "-1 or >= 0"),
    ("core_xy negative", _replace("core_xy", np.array([[0, 0], [1, -1], [2, 0]], np.int32)),
     "core_xy", (1, 1), ">= 0"),
    ("core_xy shared", _replace("core_xy", np.array([[0, 0], [1, 0], [1, 0]], np.int32)),
     "core_xy", 2, "share"),
    ("inputs together", _replace("input_axon", None), "input_axon", None, "together"),
    ("input_tick", _set("input_tick", 1, -1), "input_tick", (1,), ">= 0"),
    ("input_core", _set("input_core", 0, 3), "input_core", (0,), "0..2"),
    ("input_axon", _set("input_axon", 1, 4), "input_axon", (1,), "0..3"),
    ("threshold_mask", _replace("threshold_mask", np.full((3, 4), -1, np.int32)),
     "threshold_mask", (0, 0), ">= 0"),
    ("stochastic dtype", _replace("stochastic_leak", np.zeros((3, 4), np.uint8)),
     "stochastic_leak", None, "dtype"),
    ("v_initial range", _replace("v_initial", np.full((3, 4), 2**19, np.int32)),
     "v_initial", (0, 0), "20 bits"),
    ("v_initial shape", _replace("v_initial", np.zeros((3, 5), np.int32)),
     "v_initial", None, "shape"),
]


@pytest.mark.parametrize("name, mutate, key, index, words", CASES, ids=[c[0] for c in CASES])
def test_broken_file_is_refused(tmp_path, name, mutate, key, index, words):
    p = _good()
    p.validate()
    mutate(p)
    path = p.save(tmp_path / "p.npz")           # save does not validate; load does
    with pytest.raises(ProgramError) as err:
        CoreProgram.load(path)
    assert err.value.key == key
    assert err.value.index == index
    assert words in str(err.value) and key in str(err.value)


@pytest.mark.parametrize("change, key, words", [
    (lambda p: p.weight.__setitem__((1, 2, 0), 256), "weight", "-256..255"),
    (lambda p: p.threshold.__setitem__((0, 0), 2**18), "threshold", "<= 262143"),
])
def test_spec_ranges(change, key, words):
    p = _good()
    change(p)
    p.validate()                                # fine without a spec
    with pytest.raises(ProgramError, match=words) as err:
        p.validate(SPEC)
    assert err.value.key == key


def test_spec_core_size():
    with pytest.raises(ProgramError, match="4x4"):
        _good().validate(CoreSpec())


def test_missing_required_key(tmp_path):
    arrays = _good().arrays()
    del arrays["delay"]
    np.savez(tmp_path / "p.npz", format=np.array("snn-cores/1"), **arrays)
    with pytest.raises(ProgramError, match="delay.*required"):
        CoreProgram.load(tmp_path / "p.npz")


def test_unknown_key(tmp_path):
    np.savez(tmp_path / "p.npz", format=np.array("snn-cores/1"), stuff=np.zeros(1),
             **_good().arrays())
    with pytest.raises(ProgramError, match="stuff.*unknown"):
        CoreProgram.load(tmp_path / "p.npz")


@pytest.mark.parametrize("fmt, words", [(None, "format"), ("snn-cores/2", "snn-cores/2")])
def test_format_tag(tmp_path, fmt, words):
    extra = {} if fmt is None else {"format": np.array(fmt)}
    np.savez(tmp_path / "p.npz", **extra, **_good().arrays())
    with pytest.raises(FormatError, match=words):
        CoreProgram.load(tmp_path / "p.npz")


def test_not_an_npz_and_missing_file(tmp_path):
    (tmp_path / "x.npz").write_text("hello")
    with pytest.raises(FormatError, match="readable"):
        CoreProgram.load(tmp_path / "x.npz")
    with pytest.raises(FormatError, match="no such"):
        CoreProgram.load(tmp_path / "nope.npz")


def test_roundtrip_keeps_everything(tmp_path):
    p = _good()
    p.stochastic_synapse = np.zeros((3, 4, 4), np.bool_)
    p.v_initial = np.arange(12, dtype=np.int32).reshape(3, 4) - 6
    p.extras["layer_names"] = np.array(["a", "b"])
    q = CoreProgram.load(p.save(tmp_path / "p.npz"))
    for k, v in p.arrays().items():
        np.testing.assert_array_equal(v, getattr(q, k))
    assert q.extras["layer_names"].tolist() == ["a", "b"]
