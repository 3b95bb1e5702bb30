"""Figures and saved runs: rasters (subsampling said in the title), membrane traces from
engine probes, Pareto fronts, and `snn raster` on a run recorded by the engine."""

from __future__ import annotations

import numpy as np
import pytest

from snn.cli import main
from snn.cores.program import CoreProgram
from snn.errors import ConfigError, FormatError
from snn.plots import (
    RasterGroup,
    pareto_front,
    plot_accuracy_vs_ticks,
    plot_decomposition,
    plot_energy_per_frame,
    plot_pareto,
    plot_raster,
)
from snn.runfile import SpikeRun, membrane_traces

PNG_MAGIC = b"\x89PNG"


def _groups(rng, sizes=(("input", 64), ("fc1", 300), ("out", 10)), ticks=50):
    out = []
    for name, n in sizes:
        t, u = np.nonzero(rng.random((ticks, n)) < 0.1)
        out.append(RasterGroup(name, t, u, n, is_input=name == "input"))
    return out


def _titles(fig) -> str:
    return " ".join(ax.get_title() for ax in fig.axes)


def test_raster_png_and_visible_subsampling(tmp_path):
    rng = np.random.default_rng(0)
    groups = _groups(rng)
    fig = plot_raster(groups, (0, 50), title="t", out=tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:4] == PNG_MAGIC
    assert "SUBSAMPLED" not in _titles(fig)
    fig = plot_raster(groups, (0, 50), title="t", max_units=100, out=tmp_path / "s.svg")
    assert "SUBSAMPLED" in _titles(fig) and "of 374 neurons" in _titles(fig)
    assert (tmp_path / "s.svg").read_text().lstrip().startswith("<?xml")
    # the rate panel is computed over all neurons: its lines hold every group's rate
    rate_ax = fig.axes[1]
    fc1 = [ln for ln in rate_ax.get_lines() if ln.get_label() == "fc1"][0]
    g = groups[1]
    want = np.bincount(g.tick, minlength=50)[:50] / 300 / 1e-3
    np.testing.assert_allclose(fc1.get_ydata(), want)


def test_raster_refuses_empty(tmp_path):
    with pytest.raises(ConfigError):
        plot_raster([], (0, 10))
    with pytest.raises(ConfigError):
        plot_raster(_groups(np.random.default_rng(1)), (5, 5))


def test_pareto_front():
    cost = np.array([1.0, 2.0, 3.0, 1.5, 4.0])
    acc = np.array([0.5, 0.9, 0.85, 0.4, 0.95])
    assert pareto_front(cost, acc).tolist() == [0, 1, 4]


def test_other_figures(tmp_path):
    rows = [{"accuracy": 0.9, "e": 2e-6, "g": "a"}, {"accuracy": 0.95, "e": 5e-6, "g": "b"}]
    plot_pareto(rows, "e", cost_label="energy (J)", group_key="g", out=tmp_path / "p.png")
    plot_accuracy_vs_ticks({"snn": {8: 0.5, 16: 0.8, "32": 0.9}}, ann_accuracy=0.95,
                           out=tmp_path / "a.png")
    plot_decomposition([{"stage": "ANN", "accuracy": 0.97},
                        {"stage": "cores", "accuracy": 0.95, "ticks": 32}],
                       out=tmp_path / "d.png")
    plot_energy_per_frame([{"name": "x", "components": {"sop": 1e-6, "static": 2e-6}}],
                          out=tmp_path / "e.png")
    for f in "pade":
        assert (tmp_path / f"{f}.png").read_bytes()[:4] == PNG_MAGIC
    with pytest.raises(ConfigError):
        plot_pareto([{"accuracy": 0.5}], "e", cost_label="x")


def test_pareto_draws_reference_points_and_lines_on_their_panels(tmp_path):
    rows = [{"accuracy": 0.97, "e": 1.0, "p": "mlp (mnist)"},
            {"accuracy": 0.98, "e": 3.0, "p": "mlp (mnist)"},
            {"accuracy": 0.90, "e": 20.0, "p": "cnn (fashion-mnist)"}]
    refs = [{"label": "Eedn one network", "cost": 0.268, "accuracy": 0.927,
             "panel": "mlp (mnist)"}]
    lines = [{"label": "6,000 frames/s/W", "cost": 166.7, "panel": None}]
    fig = plot_pareto(rows, "e", cost_label="µJ", panel_key="p", references=refs,
                      reference_lines=lines, out=tmp_path / "p.png")
    mnist, fashion = fig.axes[:2]
    assert mnist.get_title() == "mlp (mnist)"

    def stars(ax):
        return [c for c in ax.collections if c.get_label() == "Eedn one network"]
    (star,) = stars(mnist)
    assert star.get_offsets().tolist() == [[0.268, pytest.approx(92.7)]]
    assert not stars(fashion)
    assert any(t.get_text() == "Eedn one network" for t in mnist.texts)
    for ax in (mnist, fashion):
        (line,) = [ln for ln in ax.lines if ln.get_label() == "6,000 frames/s/W"]
        assert line.get_xdata()[0] == pytest.approx(166.7)
        assert "6,000 frames/s/W" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert (tmp_path / "p.png").read_bytes()[:4] == PNG_MAGIC


def _program() -> CoreProgram:
    """Two layers on two cores: 12 inputs -> 12 'hidden' neurons -> 4 readouts."""
    p = CoreProgram.empty(2)
    for n in range(12):
        p.crossbar[0, n, n] = True
        p.crossbar[0, (n + 1) % 12, n] = True
    p.weight[0, :, 0] = 3
    p.threshold[0, :12] = 5
    p.leak[0, :12] = -1
    p.neg_threshold[0, :12] = 2
    p.reset_mode[0, :12] = np.arange(12) % 3
    p.target_core[0, :12] = 1
    p.target_axon[0, :12] = np.arange(12)
    p.delay[0, :12] = 1 + np.arange(12) % 3
    p.crossbar[1, :12, :4] = True
    p.axon_type[1, 6:12] = 1
    p.weight[1, :4, 0] = 2
    p.weight[1, :4, 1] = -1
    p.threshold[1, :4] = 6
    p.output_index[1, :4] = np.arange(4)
    p.extras = {"layer_names": np.array(["hidden", "out"]),
                "core_layer": np.array([0, 1], np.int32)}
    return p.validate()


def _inputs(n_frames: int = 3, ticks: int = 40):
    from snn.cores.engine import InputSpikes

    rng = np.random.default_rng(7)
    frames = []
    for _ in range(n_frames):
        t, a = np.nonzero(rng.random((ticks, 12)) < 0.4)
        frames.append((t, np.zeros_like(t), a))
    return InputSpikes.from_frames(frames)


def test_run_file_from_engine_and_exact_traces(tmp_path):
    from snn.cores.engine import run

    prog = _program()
    inputs = _inputs()
    res = run(prog, 40, inputs, record="full", return_potential=True)
    srun = SpikeRun.from_result(prog, res, inputs, labels=np.array([0, 1, 2]))
    path = srun.save(tmp_path / "run.npz")
    back = SpikeRun.load(path)
    assert back.n_frames == 3 and back.layer_names == ["hidden", "out"]
    np.testing.assert_array_equal(back.frame_spikes(2), res.spikes[2])
    groups = back.groups(1)
    assert [g.name for g in groups] == ["input (core, axon)", "hidden", "out"]
    assert sum(len(g.tick) for g in groups[1:]) == len(res.spikes[1])
    assert [g.name for g in back.groups(1, layers=["out"])] == ["out"]
    with pytest.raises(ConfigError, match="no layer named 'fc9'"):
        back.groups(0, layers=["fc9"])
    with pytest.raises(ConfigError, match="frame 3"):
        back.frame_spikes(3)
    # membrane traces (engine probes on a rerun of the frame) end at the final potential
    for f in range(3):
        pairs = [(0, 0), (0, 4), (0, 8), (1, 0), (1, 3)]
        for (core, neuron), tr in zip(pairs, membrane_traces(prog, back, pairs, frame=f),
                                      strict=True):
            assert tr.potential[-1] == res.potential[f, core, neuron]
            assert "match" in tr.note


def test_traces_of_a_v_init_program_start_at_v_initial():
    from snn.cores.engine import run

    prog = _program()
    prog.v_initial = np.zeros((prog.n_cores, prog.n_neurons), np.int32)
    prog.v_initial[1, :] = 3  # output neurons: no input before the hidden layer fires
    prog.leak[1, :] = 0
    inputs = _inputs(1)
    res = run(prog, 40, inputs, record="full", return_potential=True, probe=[(1, 0)])
    srun = SpikeRun.from_result(prog, res, inputs)
    tr = membrane_traces(prog, srun, [(1, 0)])[0]
    # core 1's inputs come from core 0 with delays >= 1: nothing arrives at tick 0
    assert tr.potential[0] == 3 and "match" in tr.note
    np.testing.assert_array_equal(tr.potential, res.probes[0, :, 0])
    ref = run(prog, 40, inputs, backend="reference", probe=[(1, 0)])
    np.testing.assert_array_equal(tr.potential, ref.probes[0, :, 0])
    with pytest.raises(ConfigError, match="trace 1:999 is outside"):
        membrane_traces(prog, srun, [(1, 999)])


def test_raster_command(tmp_path, capsys):
    from snn.cores.engine import run

    prog = _program()
    prog_path = prog.save(tmp_path / "prog.npz")
    inputs = _inputs(1)
    res = run(prog, 40, inputs, record="full")
    SpikeRun.from_result(prog, res, inputs).save(tmp_path / "run.npz")
    out = tmp_path / "r.png"
    assert main(["raster", str(tmp_path / "run.npz"), "--program", str(prog_path),
                 "--trace", "1:0", "--ticks", "0:30", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == PNG_MAGIC
    assert main(["raster", str(tmp_path / "run.npz"), "--layer", "nope",
                 "--out", str(out)]) == 1
    assert "no layer named 'nope'" in capsys.readouterr().err
    assert main(["raster", str(tmp_path / "run.npz"), "--ticks", "0:99",
                 "--out", str(out)]) == 1
    # the JSON of `snn sim --record full` works too, labelled with --program
    import json
    (tmp_path / "sim.json").write_text(json.dumps(
        {"spikes": res.spikes[0].tolist(), "ticks": 40}))
    assert main(["raster", str(tmp_path / "sim.json"), "--program", str(prog_path),
                 "--cores", "1:2", "--out", str(out)]) == 0
    with pytest.raises(FormatError):
        SpikeRun.load(tmp_path / "missing.npz")


def test_python_raster_of_a_run_without_program_or_traces(tmp_path):
    from snn.cores.engine import run
    from snn.runfile import raster

    prog = _program()
    inputs = _inputs(2)
    res = run(prog, 40, inputs, record="full")
    srun = SpikeRun.from_result(prog, res, inputs)
    fig = raster(srun, frame=1, out=tmp_path / "f.png")
    assert fig is not None and (tmp_path / "f.png").read_bytes()[:4] == PNG_MAGIC
    with pytest.raises(ConfigError, match="need the core program"):
        raster(srun, traces=[(0, 0)])
