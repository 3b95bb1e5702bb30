"""benchmarks/engine_ab.py: a revision's packages extracted as committed, a clear error for a
revision that is not one, and the table of pairs and ratios."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def engine_ab(benchmark_script):
    return benchmark_script("engine_ab")


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs git and the repository's history")
def test_extract_gives_the_committed_packages(engine_ab, tmp_path):
    sha = engine_ab.extract("HEAD", tmp_path / "head")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert sha == head
    committed = subprocess.run(["git", "show", "HEAD:cores/engine/_fastpath.py"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout
    assert (tmp_path / "head" / "cores" / "engine" / "_fastpath.py").read_text() == committed
    assert (tmp_path / "head" / "snn" / "__init__.py").exists()


def test_a_revision_that_is_not_one_is_refused(engine_ab, tmp_path):
    with pytest.raises(SystemExit, match="not a commit of this repository"):
        engine_ab.extract("no-such-revision-anywhere", tmp_path / "x")


def test_table_has_each_pair_and_the_median_ratio(engine_ab):
    pairs = [dict(pair=k, threads=1, a_s=2.0, b_s=b, ratio=b / 2.0, same=True)
             for k, b in enumerate([1.0, 1.5, 1.2])]
    res = dict(config=dict(cores=64, ticks=100, rate=20.0, synapses=128, repeats=3),
               a=dict(rev="old", sha="a" * 40), b=dict(rev="HEAD", sha="b" * 40),
               machine="x86_64, 2 CPUs", load_avg=[1.0, 1.0, 1.0], date="2026-12-07",
               pairs=pairs, summary={"1": dict(median=0.6, min=0.5, max=0.75,
                                               a_median_s=2.0, b_median_s=1.2)})
    md = engine_ab.to_markdown(res)
    assert "| 1 | 1 | 2.000 | 1.500 | 0.750 | True |" in md
    assert "| 1 | 0.600 | 0.500 | 0.750 | 2.000 | 1.200 |" in md
