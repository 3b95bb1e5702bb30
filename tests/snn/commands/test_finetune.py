"""``snn finetune``: QCFS fine-tuning on tiny IDX data, resuming, clear refusals."""

import gzip

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from snn.cli import main  # noqa: E402
from snn.converters.qcfs import QCFS, to_stock  # noqa: E402
from snn.converters.torch_import import load_torch  # noqa: E402
from snn.errors import ConfigError  # noqa: E402
from snn.finetune import train_qcfs  # noqa: E402


def _write_idx(path, arr):
    arr = np.asarray(arr, np.uint8)
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(head + arr.tobytes())


def _data(tmp_path, train=True, n=96):
    rng = np.random.default_rng(0)
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    y = rng.integers(0, 3, n)
    x = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
    for c in range(3):  # class c: a bright band at rows 8c..8c+7
        x[y == c, 8 * c:8 * c + 8, :] += 150
    names = [("t10k-images-idx3-ubyte.gz", x), ("t10k-labels-idx1-ubyte.gz", y)]
    if train:
        names += [("train-images-idx3-ubyte.gz", x), ("train-labels-idx1-ubyte.gz", y)]
    for name, arr in names:
        _write_idx(d / name, arr)
    return d


def _model(tmp_path):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 2, 4, 4), nn.ReLU(), nn.Flatten(), nn.Linear(98, 3))
    path = tmp_path / "m.pt"
    torch.save(m, path)
    return path


def test_finetune_writes_stock_clips_and_refuses_to_overwrite(tmp_path, capsys):
    d, model = _data(tmp_path), _model(tmp_path)
    out = tmp_path / "q.pt"
    args = ["finetune", str(model), "--data", "mnist", "--data-dir", str(d), "--levels", "4",
            "--epochs", "2", "--batch-size", "32", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "trained on mnist train 0:96" in text and "QCFS ANN (L = 4)" in text
    q = load_torch(out)  # stock layers: weights-only load
    assert isinstance(q[1], nn.Hardtanh) and q[1].min_val == 0 and q[1].max_val > 0
    assert not (tmp_path / "q.pt.ckpt").exists()
    assert main(args[:-1] + [str(model)]) == 1
    assert "would destroy the input" in capsys.readouterr().err


def test_no_train_split_needs_a_test_range(tmp_path, capsys):
    d, model = _data(tmp_path, train=False), _model(tmp_path)
    base = ["finetune", str(model), "--data", "mnist", "--data-dir", str(d), "--levels", "2",
            "--epochs", "1", "--out", str(tmp_path / "q.pt")]
    assert main(base) == 1
    assert "no training split here" in capsys.readouterr().err
    assert main(base + ["--split", "test"]) == 1
    assert "give --range" in capsys.readouterr().err
    assert main(base + ["--split", "test", "--range", "0:64"]) == 0
    out = capsys.readouterr().out
    assert "mnist test 0:64" in out and "32 held-out frames" in out
    assert main(base + ["--device", "cuda:7"]) == 1 or torch.cuda.is_available()


def _frames(seed, n):
    """n random 1x8x8 frames (raw 0..255) with random labels 0/1."""
    rng = np.random.default_rng(seed)
    return (rng.random((n, 1, 8, 8)) * 255).astype(np.uint8), rng.integers(0, 2, n)


def _fresh_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 6), nn.ReLU(), nn.Linear(6, 2))


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    x, y = _frames(1, 80)
    fresh = _fresh_mlp
    kw = dict(levels=4, epochs=2, batch_size=16, progress=False, checkpoint_every=2)
    full, _ = train_qcfs(fresh(), x, y, **kw)
    ckpt = tmp_path / "run.ckpt"
    calls = {"n": 0}

    class Stop(nn.Module):  # raises KeyboardInterrupt in the 7th training step
        def forward(self, v):
            if self.training:
                calls["n"] += 1
                if calls["n"] == 7:
                    raise KeyboardInterrupt
            return v

    m = fresh()
    m.insert(0, Stop())
    with pytest.raises(KeyboardInterrupt):
        train_qcfs(m, x, y, checkpoint=ckpt, **kw)
    state = torch.load(ckpt, weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 0)  # epoch 1 ended at step 5
    m2 = fresh()
    m2.insert(0, Stop())
    calls["n"] = 100
    resumed, hist = train_qcfs(m2, x, y, checkpoint=ckpt, **kw)
    a = {k: v for k, v in full.state_dict().items()}
    b = {k[2:] if k[0].isdigit() else k: v for k, v in resumed.state_dict().items()}
    b = {f"{int(k.split('.')[0]) - 1}.{k.split('.', 1)[1]}": v
         for k, v in resumed.state_dict().items()}
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert [h["epoch"] for h in hist] == [1, 2]
    assert isinstance(resumed[3], QCFS) and isinstance(to_stock(resumed)[3], nn.Hardtanh)
    with pytest.raises(ConfigError, match="another run"):
        train_qcfs(fresh(), x, y, checkpoint=ckpt, **dict(kw, levels=8))


def test_distilled_fine_tuning_follows_the_teacher_and_repeats(tmp_path):
    x, y = _frames(2, 64)
    fresh = _fresh_mlp
    # a teacher that says class 1 for every frame and every view, whatever the labels
    soft = torch.zeros(2, 64, 2)
    soft[:, :, 1] = 8.0
    kw = dict(levels=4, epochs=3, batch_size=16, progress=False, lr=0.05)
    plain, _ = train_qcfs(fresh(), x, y, **kw)
    kd, _ = train_qcfs(fresh(), x, y, soft=soft, kd_weight=1.0, **kw)
    again, _ = train_qcfs(fresh(), x, y, soft=soft, kd_weight=1.0, **kw)
    xt = torch.from_numpy(x).float() / 255
    with torch.no_grad():
        assert (kd(xt).argmax(1) == 1).all()  # learnt the teacher, not the labels
        assert not (plain(xt).argmax(1) == 1).all()
        assert torch.equal(kd(xt), again(xt))
    with pytest.raises(ConfigError, match="teacher's logits"):
        train_qcfs(fresh(), x, y, soft=soft[:, :10], **kw)
    ckpt = tmp_path / "kd.ckpt"  # a checkpoint of one teacher is not resumed for another
    train_qcfs(fresh(), x, y, soft=soft, kd_weight=1.0, checkpoint=ckpt, checkpoint_every=1,
               **kw)
    assert ckpt.exists()
    with pytest.raises(ConfigError, match="another run"):
        train_qcfs(fresh(), x, y, soft=-soft, kd_weight=1.0, checkpoint=ckpt, **kw)
