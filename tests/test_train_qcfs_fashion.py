"""benchmarks/train_qcfs_fashion.py: distillation from a teacher's logits."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402


def _frames(n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8)
    x[:, :, :, :14] = 0  # a left half that the mirror image moves to the right
    return x, rng.integers(0, 10, n)


def test_teacher_logits_are_the_frames_and_their_mirror_images(benchmark_script):
    mod = benchmark_script("train_qcfs_fashion")
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    x, _ = _frames()
    soft = mod.teacher_logits(teacher, x, "cpu")
    assert soft.shape == (2, len(x), 10)
    xt = torch.from_numpy(x.astype(np.float32) / 255.0)
    with torch.no_grad():
        torch.testing.assert_close(soft[0], teacher(xt))
        torch.testing.assert_close(soft[1], teacher(xt.flip(3)))
    assert not torch.allclose(soft[0], soft[1])


def test_distillation_changes_the_training_and_refuses_shifted_frames(benchmark_script):
    mod = benchmark_script("train_qcfs_fashion")
    x, y = _frames()

    def trained(soft):
        torch.manual_seed(0)
        m = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
        hist = mod.train_float(m, x, y, 1, 0, "cpu", batch=16, soft=soft)
        return m, hist

    torch.manual_seed(1)
    soft = mod.teacher_logits(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), x, "cpu")
    plain, h0 = trained(None)
    kd, h1 = trained(soft)
    assert h0[0]["loss"] != h1[0]["loss"]
    assert not torch.allclose(plain[1].weight, kd[1].weight)
    again, h2 = trained(soft)  # seeded: the same run twice
    assert h1 == [dict(h, seconds=h1[0]["seconds"]) for h in h2]
    torch.testing.assert_close(again[1].weight, kd[1].weight)
    with pytest.raises(SystemExit, match="use --shift 0 with --teacher"):
        mod.train_float(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), x, y, 1, 0, "cpu",
                        shift=2, soft=soft)
