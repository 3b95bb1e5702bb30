"""`snn compile model.pt` then `snn eval prog.npz --data nmnist` on the shared N-MNIST files."""

import json
from pathlib import Path

import pytest

pytest.importorskip("tonic")
pytest.importorskip("torch")

from snn.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "benchmarks" / "models" / "nmnist_bsnn.pt"
NMNIST = ROOT / ".." / "shared" / "data" / "nmnist"

pytestmark = pytest.mark.skipif(
    not (MODEL.exists() and (NMNIST / "NMNIST" / "Test").is_dir()),
    reason="nmnist_bsnn.pt or ../shared/data/nmnist missing")


def test_compile_checkpoint_then_eval_nmnist(tmp_path, capsys):
    prog = tmp_path / "prog.npz"
    assert main(["compile", str(MODEL), "--out", str(prog)]) == 0
    assert "binarized weights" in capsys.readouterr().out
    out = tmp_path / "r.json"
    assert main(["eval", str(prog), "--data", "nmnist", "--data-dir", str(NMNIST),
                 "--split", "test", "--range", "0:12", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "12 samples" in text and "Denoise" in text
    r = json.loads(out.read_text())
    assert r["frames"] == 12 and r["ticks"] == [32] and r["run_ticks"]["32"] == 34
    assert "Downsample(spatial 0.5" in r["transforms"]
    assert r["accuracy"]["32"] >= 0.5  # the model: 82% on the 50 test samples
    assert r["per_sample"]["32"]["sops"] > 0 and "j_per_frame" in r["energy"]["32"]


def test_eval_refuses_frame_network(tmp_path):
    import numpy as np

    from snn.network import Dense, SpikingNetwork

    net = SpikingNetwork((4,), [Dense("d", weight=np.ones((2, 4), np.float32),
                                      bias=np.zeros(2, np.float32))])
    net.save(tmp_path / "n.npz")
    assert main(["eval", str(tmp_path / "n.npz"), "--data", "nmnist", "--data-dir",
                 str(NMNIST)]) != 0


FASHION = Path("/usr/share/datasets/fashion-mnist")
FMODEL = ROOT / "benchmarks" / "models" / "fashion_A_bsnn.pt"


@pytest.mark.skipif(not (FMODEL.exists() and FASHION.is_dir()),
                    reason="fashion_A_bsnn.pt or Fashion-MNIST missing")
def test_compile_fashion_checkpoint_then_eval(tmp_path, capsys):
    prog = tmp_path / "f.npz"
    assert main(["compile", str(FMODEL), "--out", str(prog)]) == 0
    out = tmp_path / "f.json"
    assert main(["eval", str(prog), "--data", "fashion-mnist", "--data-dir", str(FASHION),
                 "--range", "0:100", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["frames"] == 100 and r["encoding"].startswith("thermometer")
    assert list(r["accuracy"].values())[0] >= 0.7  # the model: 85.6% on the 10k test set


@pytest.mark.skipif(not (FMODEL.exists() and FASHION.is_dir()),
                    reason="fashion_A_bsnn.pt or Fashion-MNIST missing")
def test_eval_takes_the_checkpoint_directly(capsys):
    assert main(["eval", str(FMODEL), "--data", "fashion-mnist", "--data-dir", str(FASHION),
                 "--range", "0:40"]) == 0
    assert "40 frames" in capsys.readouterr().out
