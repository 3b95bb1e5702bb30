"""The real Keras MLP export (../shared/data/models/keras_mlp_mnist.onnx) on real MNIST."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from snn.cli import main  # noqa: E402
from snn.converters import ann_predict, convert  # noqa: E402
from snn.datasets import load  # noqa: E402
from snn.simulate import simulate  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MODEL = DATA / "models" / "keras_mlp_mnist.onnx"
MNIST = DATA / "mnist"

needs_data = pytest.mark.skipif(
    not (MODEL.exists() and (MNIST / "t10k-images-idx3-ubyte.gz").exists()),
    reason="../shared/data (keras_mlp_mnist.onnx and MNIST test set) not present")


@needs_data
def test_keras_mlp_snn_close_to_ann_on_held_out_frames():
    x, y = load("mnist", MNIST)
    net = convert(MODEL, x[:300], pixel_scale=1.0)
    assert net.meta["pixel_scale"] == 1.0 and [lay.kind for lay in net.layers] == [
        "flatten", "dense", "dense", "dense"]
    xs, ys = x[500:800], y[500:800]
    ann = float((ann_predict(MODEL, xs, pixel_scale=1.0).argmax(1) == ys).mean())
    res = simulate(net, xs, [8, 64])
    acc = res.accuracy(ys, "potential")
    assert acc[64] >= ann - 0.01, (acc, ann)
    assert acc[64] > acc[8]
    assert res.accuracy(ys, "count")[64] > 0.5  # spike counts carry the class too


@needs_data
def test_cli_convert_then_eval(tmp_path, capsys):
    out = tmp_path / "net.npz"
    assert main(["convert", str(MODEL), "--data", "mnist", "--data-dir", str(MNIST),
                 "--calib", "0:200", "--pixel-scale", "1", "--out", str(out)]) == 0
    js = tmp_path / "eval.json"
    assert main(["eval", str(out), "--data", "mnist", "--data-dir", str(MNIST), "--range",
                 "500:700", "--ticks", "16,64", "--json", str(js), "--ann", str(MODEL)]) == 0
    res = json.loads(js.read_text())
    assert set(res["accuracy"]) == {"16", "64"} and res["frames"] == 200
    assert res["ann_accuracy"] > 0.95 and res["accuracy"]["64"] > 0.9
    assert res["sops_per_frame"]["64"] > res["sops_per_frame"]["16"] > 0
    assert res["decode"] == "potential"


def test_eval_refuses_unknown_file_format(tmp_path, capsys):
    bad = tmp_path / "x.npz"
    np.savez(bad, format=np.array("something/9"))
    assert main(["eval", str(bad), "--data", "digits", "--ticks", "4"]) == 1
    assert "snn-net/1" in capsys.readouterr().err
