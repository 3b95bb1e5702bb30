"""`snn convert`: calibration-file checks and the pixel-scale hint (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest

from snn.cli import main

torch = pytest.importorskip("torch")
sklearn = pytest.importorskip("sklearn")


def _raw_pixel_model(path):
    """A linear classifier of the digits trained on raw 0..255 pixels (like a Keras export
    without a rescaling layer), saved as a stock nn.Sequential."""
    from sklearn.linear_model import LogisticRegression

    from snn.datasets import load
    x, y = load("digits", split="train")
    flat = x.reshape(len(x), -1).astype(float)
    clf = LogisticRegression(max_iter=2000).fit(flat, y)
    logits = flat @ clf.coef_.T
    bias = np.zeros(10)
    bias[0] = 0.05 * logits.std()  # negligible on raw pixels, dominant on pixels / 255
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor(clf.coef_, dtype=torch.float32))
        model[1].bias.copy_(torch.tensor(bias, dtype=torch.float32))
    torch.save(model, path)
    return path


def test_pixel_scale_hint_for_a_raw_pixel_model(tmp_path, capsys):
    model = _raw_pixel_model(tmp_path / "raw.pt")
    argv = ["convert", str(model), "--data", "digits", "--calib", "0:200"]
    assert main([*argv, "--out", str(tmp_path / "a.npz")]) == 0
    err = capsys.readouterr().err
    assert "hint:" in err and "convert again with --pixel-scale 1" in err
    assert main([*argv, "--pixel-scale", "1", "--out", str(tmp_path / "b.npz")]) == 0
    assert "hint:" not in capsys.readouterr().err


@pytest.mark.parametrize("arr,words", [
    (np.array([{"a": 1}], dtype=object), "holds object values"),
    (np.zeros(5, np.uint8), "shape (5,)"),
    (np.array(["a", "b"]), "holds <U1 values")])
def test_bad_calib_file_is_a_clear_error(tmp_path, capsys, arr, words):
    bad = tmp_path / "calib.npy"
    np.save(bad, arr, allow_pickle=True)
    model = tmp_path / "m.pt"
    torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), model)
    assert main(["convert", str(model), "--calib-file", str(bad), "--out",
                 str(tmp_path / "n.npz")]) == 1
    err = capsys.readouterr().err
    assert words in err and "allow_pickle" not in err
