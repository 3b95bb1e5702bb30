"""Fuzzing the file loaders (issue 19): valid small files of every kind, mutated (a key
dropped, retyped, reshaped, set out of range or NaN; bytes truncated), must give a clear
``snn.errors`` error or a correct run, never another exception."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snn.errors import SnnError

ONE = np.ones(1, np.float32)
SETTINGS = settings(max_examples=int(os.environ.get("SNN_FUZZ_EXAMPLES", "40")),
                    deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
OPS = ("drop", "retype", "reshape", "out_of_range", "nan", "truncate")
RETYPES = (np.float64, np.int8, np.uint64, np.bool_, "U3")
BAD_VALUES = (-1, -2, 300, 32000, 65535, 10 ** 6, 2 ** 31 - 1, -(2 ** 31))


def _net():
    from snn.network import Dense, Flatten, SpikingNetwork
    rng = np.random.default_rng(0)
    f = np.float32
    return SpikingNetwork((1, 8, 8), [
        Flatten("flat"),
        Dense("h", ("flat",), True, ONE, weight=rng.normal(0, .25, (12, 64)).astype(f),
              bias=np.zeros(12, f)),
        Dense("out", ("h",), True, ONE, weight=rng.normal(0, .3, (4, 12)).astype(f),
              bias=np.zeros(4, f))], {"encoding": "rate"})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from snn.cores.compiler import compile as compile_net
    from snn.runfile import record_program_run
    d = tmp_path_factory.mktemp("fuzz")
    net = _net()
    net_path = net.save(d / "net.npz")
    prog = compile_net(net, ticks=8)
    prog_path = prog.save(d / "prog.npz")
    imgs = np.random.default_rng(1).integers(0, 256, (2, 1, 8, 8)).astype(np.uint8)
    run_path = record_program_run(prog, imgs, 6, labels=np.zeros(2, int)).save(d / "run.npz")
    from snn.cli import main
    rep_path = d / "sim.json"
    assert main(["sim", str(prog_path), "--ticks", "6", "--energy", "truenorth", "--json",
                 str(rep_path), "--record", "full"]) == 0
    return {"net": net_path, "prog": prog_path, "run": run_path, "sim": rep_path}


@pytest.mark.parametrize("kind", ["net", "prog", "run"])
def test_unmutated_files_load(files, kind):
    """The fuzzers start from files that load: a mutation is what makes them fail."""
    from snn.cores.program import CoreProgram
    from snn.network import SpikingNetwork
    from snn.runfile import SpikeRun
    loader = {"net": SpikingNetwork.load, "prog": CoreProgram.load, "run": SpikeRun.load}
    assert loader[kind](files[kind]) is not None


def _arrays(path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _mutate(arrays: dict, key: str, op: str, pick: int, value: int) -> dict:
    a = dict(arrays)
    x = a[key]
    if op == "drop":
        del a[key]
    elif op == "retype":
        a[key] = x.astype(RETYPES[pick % len(RETYPES)]) if x.dtype.kind != "U" \
            else np.array(value)
    elif op == "reshape":
        shapes = [x.reshape(-1), x[None], x.reshape(-1)[:0],
                  x.reshape(-1)[: max(1, x.size // 2)]]
        a[key] = shapes[pick % len(shapes)]
    elif op == "out_of_range" and x.size and x.dtype.kind in "iu":
        y = x.astype(np.int64).reshape(-1)
        y[pick % y.size] = value
        a[key] = y.reshape(x.shape).astype(x.dtype) if np.can_cast(
            np.min_scalar_type(value), x.dtype) else y.reshape(x.shape)
    elif op == "nan" and x.size and x.dtype.kind == "f":
        y = x.copy().reshape(-1)
        y[pick % y.size] = (np.nan, np.inf, -np.inf)[pick % 3]
        a[key] = y.reshape(x.shape)
    return a


def _write(tmp_path, arrays: dict, cut: int | None, name: str = "m.npz"):
    path = tmp_path / name
    np.savez(path, **arrays)
    if cut is not None:
        raw = path.read_bytes()
        path.write_bytes(raw[: cut % max(len(raw), 1)])
    return path


def _mutation():
    return st.tuples(st.integers(0, 10 ** 6), st.sampled_from(OPS), st.integers(0, 10 ** 6),
                     st.sampled_from(BAD_VALUES), st.integers(0, 10 ** 7))


def _apply(files, kind, tmp_path, m):
    arrays = _arrays(files[kind])
    keys = sorted(arrays)
    key_i, op, pick, value, cut = m
    key = keys[key_i % len(keys)]
    if op == "truncate":
        return _write(tmp_path, arrays, cut)
    return _write(tmp_path, _mutate(arrays, key, op, pick, value), None)


@SETTINGS
@given(m=_mutation())
def test_fuzz_core_program(files, tmp_path_factory, m):
    from snn.cores import engine
    from snn.cores.evaluate import evaluate_program
    from snn.cores.program import CoreProgram
    path = _apply(files, "prog", tmp_path_factory.mktemp("p"), m)
    try:
        prog = CoreProgram.load(path)
        engine.run(prog, 4)
        imgs = np.random.default_rng(2).integers(0, 256, (2, 1, 8, 8)).astype(np.uint8)
        out = evaluate_program(prog, imgs, np.zeros(2, int), [4])
        assert 0 <= out["accuracy"][4] <= 1
    except SnnError:
        pass


@SETTINGS
@given(m=_mutation())
def test_fuzz_network(files, tmp_path_factory, m):
    from snn.network import SpikingNetwork
    from snn.simulate import simulate
    path = _apply(files, "net", tmp_path_factory.mktemp("n"), m)
    try:
        net = SpikingNetwork.load(path)
        imgs = np.random.default_rng(2).integers(0, 256, (2, 1, 8, 8)).astype(np.uint8)
        res = simulate(net, imgs, [4])
        assert np.isfinite(res.predictions("count")).all()
    except SnnError:
        pass


@SETTINGS
@given(m=_mutation())
def test_fuzz_run_file(files, tmp_path_factory, m):
    from snn.runfile import SpikeRun
    path = _apply(files, "run", tmp_path_factory.mktemp("r"), m)
    try:
        run = SpikeRun.load(path)
        for f in range(run.n_frames):
            run.frame_spikes(f)
            run.frame_inputs(f)
        run.groups(0)
    except SnnError:
        pass


JSON_VALUES = (None, "x", -1, 0, 1e308, float("nan"), [], {}, True, [[1, 2]], [[0, 99, 0]],
               {"a": "b"})


@SETTINGS
@given(key_i=st.integers(0, 10 ** 6), value=st.sampled_from(JSON_VALUES),
       where=st.sampled_from(["top", "report"]), cut=st.integers(0, 10 ** 6),
       truncate=st.booleans())
def test_fuzz_sim_json_and_report(files, tmp_path_factory, key_i, value, where, cut, truncate):
    """The JSON of `snn sim --energy --record full` is both a report (`snn report`) and a
    run (`snn raster`)."""
    from snn.cores.program import CoreProgram
    from snn.report import Report
    from snn.runfile import SpikeRun
    d = tmp_path_factory.mktemp("j")
    doc = json.loads(files["sim"].read_text())
    target = doc if where == "top" else doc["report"]
    keys = sorted(target)
    target[keys[key_i % len(keys)]] = value
    text = json.dumps(doc)
    path = d / "r.json"
    path.write_text(text[: cut % (len(text) + 1)] if truncate else text)
    try:
        rep = Report.from_json(path)
        rep.summary()
        rep.to_markdown()
    except SnnError:
        pass
    try:
        SpikeRun.load(path, CoreProgram.load(files["prog"])).groups(0)
    except SnnError:
        pass


HEADER_VALUES = (None, "x", -1, 0, 1e308, [], {}, True, [1], [0, 0], [1, 1], [0, 0, 0, 0],
                 [-1, 1, 1, 1], [10 ** 9, 1], "avg", "max", ["input"], ["zz"], 10 ** 9, 2.5)


@SETTINGS
@given(layer=st.integers(-2, 10), field=st.sampled_from(
           ["kind", "name", "inputs", "spiking", "stride", "padding", "kernel", "groups",
            "mode", "extra", "input_shape", "meta", "pixel_scale", "v_init"]),
       value=st.sampled_from(HEADER_VALUES))
def test_fuzz_network_header(files, tmp_path_factory, layer, field, value):
    """Fields of the JSON header of a network (layer parameters, input shape, meta)."""
    from snn.network import SpikingNetwork
    from snn.simulate import simulate
    arrays = _arrays(files["net"])
    h = json.loads(str(arrays["header"]))
    if field in ("input_shape", "meta"):
        h[field] = value
    elif field in ("pixel_scale", "v_init"):
        h["meta"][field] = value
    else:
        h["layers"][layer % len(h["layers"])][field] = value
    path = tmp_path_factory.mktemp("h") / "h.npz"
    np.savez(path, **{**arrays, "header": np.array(json.dumps(h))})
    try:
        net = SpikingNetwork.load(path)
        imgs = np.random.default_rng(2).integers(0, 256, (2, 1, 8, 8)).astype(np.uint8)
        simulate(net, imgs, [4])
    except SnnError:
        pass


@SETTINGS
@given(cut=st.integers(0, 200), flip=st.integers(0, 200), byte=st.integers(0, 255),
       gz=st.booleans())
def test_fuzz_idx(tmp_path_factory, cut, flip, byte, gz):
    import gzip

    from snn.datasets import read_idx
    raw = bytearray(b"\x00\x00\x08\x03" + (3).to_bytes(4, "big") + (4).to_bytes(4, "big") * 2
                    + bytes(range(48)))
    raw[flip % len(raw)] = byte
    data = gzip.compress(bytes(raw)) if gz else bytes(raw)
    path = tmp_path_factory.mktemp("i") / ("x-idx3-ubyte.gz" if gz else "x-idx3-ubyte")
    path.write_bytes(data[: len(data) - cut % len(data)] if cut % 3 else data)
    try:
        a = read_idx(path)
        assert a.dtype == np.uint8
    except SnnError:
        pass
