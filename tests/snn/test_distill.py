"""snn.distill: the teacher's two views and the distillation loss."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from snn.distill import distillation_loss, mirror_logits  # noqa: E402


def test_mirror_logits_are_the_frames_and_their_mirror_images_in_eval_mode():
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(12, 3))
    teacher.train()
    x = torch.rand(5, 1, 3, 4)
    soft = mirror_logits(teacher, x, batch=2)  # batches of 2, 2, 1
    assert soft.shape == (2, 5, 3) and not soft.requires_grad
    teacher.eval()
    torch.testing.assert_close(soft[0], teacher(x))  # dropout off: eval mode
    torch.testing.assert_close(soft[1], teacher(x.flip(-1)))


def test_distillation_loss_is_cross_entropy_plus_scaled_kl():
    torch.manual_seed(0)
    out, soft = torch.randn(6, 4), torch.randn(6, 4)
    labels = torch.randint(0, 4, (6,))
    ce = nn.functional.cross_entropy(out, labels)
    torch.testing.assert_close(distillation_loss(out, labels, soft, 0.0, 4.0), ce)
    # the teacher's own logits: the KL term vanishes
    torch.testing.assert_close(distillation_loss(out, labels, out, 0.5, 4.0), 0.5 * ce)
    p = torch.softmax(soft / 2, 1)
    kl = (p * (torch.log(p) - torch.log_softmax(out / 2, 1))).sum(1).mean()
    torch.testing.assert_close(distillation_loss(out, labels, soft, 1.0, 2.0), 4 * kl)
