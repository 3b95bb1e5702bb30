"""benchmarks/engine_speed.py --render: the committed tables are a function of their JSON,
with the slowdown against real time spelled out and no empty profile table."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def engine_speed(benchmark_script):
    return benchmark_script("engine_speed")


def _result(threads: list[str], neuron_pass: bool) -> dict:
    engine = {t: dict(wall_s=4.0, sops_per_s=1e9, sops_per_cpu_s=5e8, ticks_per_s=50.0,
                      realtime_factor=0.05, cpu_s=8.0) for t in threads}
    row = dict(cores=64, neurons=16384, ticks=200, rate_hz=20.0, sops=4e9, spikes=1_000_000,
               peak_rss_mb=100.0, engine=engine)
    if neuron_pass:
        row["neuron_pass"] = dict(wall_s=2.0, cpu_s=2.0)
    meta = dict(ticks=200, rate_hz=20.0, synapses=128, machine="x86_64", cpus=2,
                loadavg=[1.0, 1.0, 1.0], command="python benchmarks/engine_speed.py")
    return dict(meta=meta, sizes=[row])


def test_render_rewrites_the_markdown_twin(engine_speed, tmp_path):
    src = tmp_path / "speed.json"
    src.write_text(json.dumps(_result(["2"], neuron_pass=False)))
    assert engine_speed.main(["--render", str(src)]) == 0
    md = (tmp_path / "speed.md").read_text()
    assert "| 0.050 | 20.00x | 100 | - |" in md  # 20 times slower; no crossings counted
    assert "| cores | full run (CPU s)" not in md  # no empty profile table
    assert "No profile rows" in md
    assert "the neuron pass alone" not in md  # none was measured


def test_neuron_pass_without_one_thread_rows(engine_speed):
    md = engine_speed.to_markdown(_result(["2"], neuron_pass=True))
    assert "2.000 s wall for 200 ticks (10.0 ms a tick), 50% of the 2-thread run" in md


def test_profile_rows_when_one_thread_ran(engine_speed):
    res = _result(["1", "2"], neuron_pass=True)
    res["sizes"][0]["chip_crossings"] = 50_000
    md = engine_speed.to_markdown(res)
    assert "| 100 | 250 |" in md  # peak RSS, then 50,000 crossings over 200 ticks
    assert "| 64 | 8.000 | 2.000 | 25% | 6000 |" in md  # (8 - 2) s / 1e6 spikes = 6 us


def test_profile_table_stays_whole_beside_an_unprofiled_size(engine_speed):
    res = _result(["1", "2"], neuron_pass=True)
    big = _result(["2"], neuron_pass=True)["sizes"][0] | {"cores": 65536}
    res["sizes"].append(big)
    lines = engine_speed.to_markdown(res).splitlines()
    head = lines.index("|---:|---:|---:|---:|---:|")
    assert lines[head + 1].startswith("| 64 | 8.000 |")  # the row right under its header
    assert any(ln.startswith("65536 cores: the neuron pass alone") for ln in lines[head + 2:])
