"""Output safety: snn.fileio.check_outputs and atomic_open (issue 19)."""

from __future__ import annotations

import os
import stat

import pytest

from snn.errors import ConfigError, SnnError
from snn.fileio import atomic_write_text, check_outputs


def test_output_equal_to_input_refused_naming_both_flags(tmp_path, monkeypatch):
    src = tmp_path / "net.npz"
    src.write_bytes(b"precious")
    with pytest.raises(ConfigError, match=r"--out .*net\.npz is the input NET\.npz"):
        check_outputs({"NET.npz": src}, {"--out": src})
    # a relative spelling of the same file
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="--json"):
        check_outputs({"NET.npz": str(src)}, {"--json": "./sub/../net.npz"})
    assert src.read_bytes() == b"precious"


def test_output_symlink_or_hardlink_to_input_refused(tmp_path):
    src = tmp_path / "model.onnx"
    src.write_bytes(b"model")
    link = tmp_path / "link.onnx"
    link.symlink_to(src)
    hard = tmp_path / "hard.onnx"
    os.link(src, hard)
    for out in (link, hard):
        with pytest.raises(ConfigError, match="would destroy the input"):
            check_outputs({"MODEL": src}, {"--out": out})
    # and the other way round: the input is a link to the output
    with pytest.raises(ConfigError):
        check_outputs({"MODEL": link}, {"--out": src})


def test_distinct_outputs_required(tmp_path):
    x = tmp_path / "x"
    with pytest.raises(ConfigError, match=r"--out .* and --json .* are the same file"):
        check_outputs({"NET.npz": tmp_path / "n.npz"}, {"--out": x, "--json": x})


def test_none_outputs_and_distinct_paths_pass(tmp_path):
    check_outputs({"NET.npz": tmp_path / "n.npz", "--ann": None},
                  {"--out": tmp_path / "a.npz", "--json": None, "--record": tmp_path / "b"})
    assert sorted(os.listdir(tmp_path)) == []  # the write test leaves nothing behind


def test_unwritable_folder_refused_before_work(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(ConfigError, match=r"--json .*cannot write in"):
            check_outputs({}, {"--json": ro / "out.json"})
        # a folder that does not exist yet under a read-only one
        with pytest.raises(ConfigError, match="cannot write in"):
            check_outputs({}, {"--out": ro / "new" / "x.npz"})
    finally:
        ro.chmod(0o755)


def test_output_under_a_file_or_being_a_folder_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        check_outputs({}, {"--out": f / "x.npz"})
    with pytest.raises(ConfigError, match="is a folder"):
        check_outputs({}, {"--out": tmp_path})
    assert issubclass(ConfigError, SnnError)


def test_atomic_replace_keeps_mode(tmp_path):
    p = tmp_path / "r.json"
    p.write_text("old")
    p.chmod(0o600)
    atomic_write_text(p, "new")
    assert p.read_text() == "new"
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_new_file_gets_umask_mode(tmp_path):
    p = tmp_path / "new.json"
    atomic_write_text(p, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask


def test_atomic_replace_writes_through_symlink(tmp_path):
    target = tmp_path / "data" / "t.json"
    target.parent.mkdir()
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink(), "the link was replaced by a plain file"
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(os.listdir(target.parent)) == ["t.json"]


def test_failed_write_leaves_old_file(tmp_path):
    from snn.fileio import atomic_open
    p = tmp_path / "keep.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(p) as fh:
        fh.write("half")
        raise RuntimeError("boom")
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_unwritable_place_refused_even_as_root():
    # /proc takes no new files, whoever runs the test
    with pytest.raises(ConfigError, match=r"--out /proc/snn-test/x\.json: cannot write in /proc"):
        check_outputs({}, {"--out": "/proc/snn-test/x.json"})


def test_output_dir_checks(tmp_path):
    from snn.fileio import check_output_dir
    f = tmp_path / "suite.toml"
    f.write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_output_dir("--out", f)
    with pytest.raises(ConfigError, match="cannot write in /proc"):
        check_output_dir("--out", "/proc/results")
    check_output_dir("--out", tmp_path / "new" / "results", {"SUITE": f})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["suite.toml"]


def test_bench_and_demo_refuse_a_file_as_results_folder(tmp_path, capsys):
    from snn.cli import main
    f = tmp_path / "taken"
    f.write_text("keep")
    assert main(["demo", "--out", str(f)]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    assert f.read_text() == "keep"
