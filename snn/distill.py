"""Knowledge distillation (Hinton et al., 2015) for the training scripts: a teacher's logits
for each frame and its mirror image, and the distillation loss."""

from __future__ import annotations

import torch
from torch import nn


def mirror_logits(teacher: nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """The teacher's logits [2, N, K] for the frames x [N, C, H, W] (already scaled as the
    teacher reads them) as they are (0) and flipped left-right (1): the two views of
    training with random flips. Eval mode, no gradients; on x's device."""
    teacher.eval()
    with torch.no_grad():
        return torch.stack([torch.cat([teacher(view[i:i + batch])
                                       for i in range(0, len(view), batch)])
                            for view in (x, x.flip(-1))])


def distillation_loss(out: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor,
                      weight: float, temp: float) -> torch.Tensor:
    """(1 - weight) x cross-entropy(out, labels) + weight x temp^2 x KL(teacher || student)
    at temperature temp, soft being the teacher's logits for the same frames."""
    ce = nn.functional.cross_entropy(out, labels)
    kl = nn.functional.kl_div(nn.functional.log_softmax(out / temp, 1),
                              nn.functional.log_softmax(soft / temp, 1),
                              reduction="batchmean", log_target=True)
    return (1 - weight) * ce + weight * temp ** 2 * kl
