"""benchmarks/conversion.py: the table labels the default recipe, sets the peers' reported
figures beside ours as such, and keeps only rows of variants it still defines."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def conversion(benchmark_script):
    return benchmark_script("conversion")


def _variant(name: str, acc: float) -> dict:
    per_t = {"8": acc, "16": acc}
    return {"variant": name, "encoding": "current", "accuracy_potential": per_t,
            "accuracy_count": per_t, "sops_per_frame": {"8": 1e6, "16": 2e6},
            "wall_s_per_1000_frames": 1.0, "frames": 100, "command": "python x.py"}


def test_peers_row_is_labelled_and_ours_come_first(conversion):
    results = {"machine": "x86_64", "models": {"keras_mlp": {
        "model": "m.onnx", "calibration": "c", "evaluation": "e", "frames": 100,
        "ann_accuracy": 0.98, "variants": [_variant("default", 0.97)],
        "others": {"sinabs": "not installed"}}}}
    md = conversion.to_markdown(results)
    lines = md.splitlines()
    ours = next(i for i, ln in enumerate(lines) if ln.startswith("| default (current) | pot"))
    peers = next(i for i, ln in enumerate(lines) if "issue 17's measurement" in ln)
    assert ours < peers
    assert "| 9500 | - | 96.72 | 97.81 |" in lines[peers]  # its own frames, no ANN column
    assert "Command: `python x.py`" in md
    assert "| sinabs | - |" in md


def test_every_variant_but_the_default_pins_what_it_changes(conversion):
    for name, variants in conversion.VARIANTS.items():
        names = [v["name"] for v in variants]
        assert len(set(names)) == len(names), name
        for v in variants:
            if not v["name"].startswith("default"):
                assert v["convert"] or v.get("simulate") or v["encoding"] != "current", \
                    (name, v["name"])


def test_rerun_rows_replace_theirs_and_dropped_variants_go(conversion):
    previous = [_variant("gone", 0.5), _variant("b", 0.6), _variant("a", 0.7)]
    rows = conversion.merge_rows(previous, [_variant("a", 0.9)], ["a", "b", "c"])
    assert [r["variant"] for r in rows] == ["a", "b"]
    assert rows[0]["accuracy_potential"]["8"] == 0.9
