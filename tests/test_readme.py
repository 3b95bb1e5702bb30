"""The README's tour runs as written: every ``$ command`` of its ``console`` blocks, in order,
in a fresh folder; the accuracy lines it shows are the ones the commands print.

``make demo`` is run as what the Makefile runs (``snn demo --out demo-output``) and
``make test`` is skipped (it is this test suite). Commands that need ``../shared/data`` are
skipped, with a reason, when the data is absent; the docs/cli.md check keeps the command
reference current.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SNN = Path(sys.executable).parent / "snn"


def blocks() -> list[list[tuple[str, list[str]]]]:
    """Per ``console`` block of the README: (command, expected output lines) of every
    ``$ `` line."""
    out = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(), flags=re.S):
        cmds: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                cmds.append((line[2:].split("  #")[0].strip(), []))
            elif cmds:
                cmds[-1][1].append(line)
        out.append(cmds)
    return out


def tour(shared: bool | None = None) -> list[tuple[str, list[str]]]:
    """The commands of all blocks; ``shared``: only the blocks that use ../shared/data
    (True) or only the others (False)."""
    return [c for b in blocks()
            if shared is None or any("../shared/" in cmd for cmd, _ in b) == shared
            for c in b]


def _checked_lines(expected: list[str]) -> list[str]:
    """The lines whose numbers must match: accuracies, `snn eval`'s "accuracy by ticks"
    lines included (timings and speeds vary)."""
    keep = []
    for line in expected:
        s = line.strip()
        if ("accuracy by ticks" in s
                or ("accuracy" in s.lower() and "%" in s and "s)" not in s and " in " not in s)):
            keep.append(" ".join(s.split()))
    return keep


def test_readme_has_a_tour():
    cmds = [c for c, _ in tour()]
    assert any(c.startswith("make demo") for c in cmds)
    assert any(c.startswith("snn raster") for c in cmds)
    assert any(c.startswith("snn bench") for c in cmds)


def _env() -> dict:
    return dict(os.environ, PATH=f"{SNN.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                COLUMNS="100")


def _run_commands(cmds: list[tuple[str, list[str]]], cwd: Path) -> None:
    for cmd, expected in cmds:
        if cmd.startswith("make test"):
            continue
        if cmd.startswith("make demo"):
            cmd = "snn demo --out demo-output --no-progress"
        argv = shlex.split(cmd)
        assert argv[0] == "snn", f"unexpected command {cmd!r} in the README"
        proc = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, f"{cmd!r} failed:\n{proc.stdout}\n{proc.stderr}"
        got = " ".join((proc.stdout + "\n" + proc.stderr).split())
        for line in _checked_lines(expected):
            assert line in got, (f"README shows {line!r} for {cmd!r} (refresh it: "
                                 f".venv/bin/python docs/refresh_readme.py); the command "
                                 f"printed:\n{proc.stdout}")


def test_readme_tour_runs_as_written(tmp_path):
    """The demo, the tour on bundled data and the Python example."""
    pytest.importorskip("torch")
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    _run_commands(tour(shared=False), tmp_path)
    out = tmp_path / "demo-output"
    for f in ("report.json", "report.md", "raster.png", "run.npz", "program.npz", "image0.npz",
              "network.npz", "digits_mlp.pt", "accuracy_vs_ticks.png", "decomposition.png"):
        assert (out / f).stat().st_size > 0, f"make demo did not write {f}"
    import json
    rep = json.loads((out / "report.json").read_text())
    assert rep["n_frames"] == 539 and rep["cores"] >= 2 and rep["accuracy"] > 0.9
    assert rep["latency_ticks"] == rep["ticks"] > 32  # 32 input ticks + the pipeline
    for code in python_blocks():  # after the tour: demo-output/ exists
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"README python block failed:\n{proc.stderr}"


def test_readme_shared_data_commands(tmp_path):
    """The README's commands on ../shared/data (MNIST and the Keras ONNX model)."""
    if not (ROOT.parent / "shared" / "data" / "mnist").exists():
        pytest.skip("../shared/data/mnist is absent (the project's shared data)")
    (tmp_path / "shared").symlink_to(ROOT.parent / "shared")  # ../shared/ as from the repo
    (tmp_path / "repo").mkdir()
    _run_commands(tour(shared=True), tmp_path / "repo")


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_cli_reference_is_current():
    """docs/cli.md names every command and option (regenerate: python -m snn.clidoc)."""
    from snn.cli import build_parser
    from snn.clidoc import _subparsers

    doc = (ROOT / "docs" / "cli.md").read_text()
    for name, sub in _subparsers(build_parser()).items():
        assert f"## snn {name}" in doc, f"docs/cli.md lacks `snn {name}`: " \
                                        "python -m snn.clidoc > docs/cli.md"
        for action in sub._actions:
            for opt in action.option_strings:
                assert opt in doc, f"docs/cli.md lacks `snn {name} {opt}`: " \
                                   "python -m snn.clidoc > docs/cli.md"
