"""QCFS: the quantisation-clip-floor-shift activation (Bu et al., ICLR 2022).

    y = lambda * clamp(floor(x * L / lambda + 0.5) / L, 0, 1)

with ``L`` levels and a learnable clip ``lambda`` per layer; the floor passes its gradient
straight through. An integrate-and-fire neuron with threshold lambda, reset by subtraction
and initial membrane lambda / 2 (the converter's ``v_init`` 0.5) emits exactly
``clamp(floor(T x / lambda + 0.5), 0, T)`` spikes in T ticks of a constant input x, so a
network trained with QCFS converts to an SNN that is (near) lossless at T = L.

    from snn.converters.qcfs import swap_relus, to_stock
    model = swap_relus(model, levels=8, calib=x_train[:512])   # ReLU -> QCFS, lambda init
    ...train...
    torch.save(to_stock(model), "model_qcfs.pt")             # QCFS -> nn.Hardtanh(0, lambda)

The saved model holds stock layers only (the clip ``nn.Hardtanh(0, lambda)``), so it loads
weights-only; the converter reads lambda as the layer's threshold (``converters/normalise``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from snn.errors import ConversionError


class _FloorSTE(torch.autograd.Function):
    """floor with a straight-through (identity) gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.floor(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return grad


class QCFS(nn.Module):
    """Clip-floor-shift activation with ``levels`` steps and a learnable clip ``lam``."""

    def __init__(self, levels: int, lam: float = 1.0) -> None:
        super().__init__()
        if int(levels) < 1:
            raise ConversionError(f"QCFS levels must be >= 1, got {levels}")
        if not lam > 0:
            raise ConversionError(f"QCFS clip lambda must be > 0, got {lam}")
        self.levels = int(levels)
        self.lam = nn.Parameter(torch.tensor(float(lam)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        lam = self.lam
        y = _FloorSTE.apply(x / lam * self.levels + 0.5) / self.levels
        return torch.clamp(y, 0.0, 1.0) * lam

    def extra_repr(self) -> str:  # noqa: D102
        return f"levels={self.levels}, lam={float(self.lam):.4g}"


def qcfs_reference(x: np.ndarray, levels: int, lam: float) -> np.ndarray:
    """The QCFS formula in numpy (for tests and checks)."""
    return lam * np.clip(np.floor(x * levels / lam + 0.5) / levels, 0.0, 1.0)


def _replace(module: nn.Module, kind: type, make) -> list[str]:
    """Replace every submodule of type ``kind`` (recursively) by ``make(name, old)``."""
    done: list[str] = []

    def walk(parent: nn.Module, prefix: str) -> None:
        for name, child in parent.named_children():
            full = f"{prefix}{name}"
            if isinstance(child, kind):
                setattr(parent, name, make(full, child))
                done.append(full)
            else:
                walk(child, f"{full}.")

    walk(module, "")
    return done


def _relu_inputs(model: nn.Module, calib: torch.Tensor, batch: int = 256
                 ) -> dict[str, np.ndarray]:
    """Positive pre-activations of every nn.ReLU of ``model`` on ``calib`` (eval mode)."""
    acts: dict[str, list[np.ndarray]] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, nn.ReLU):
            def hook(_m, inp, _out, _name=name) -> None:
                v = inp[0].detach().flatten()
                acts.setdefault(_name, []).append(v[v > 0].cpu().numpy())
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for s in range(0, len(calib), batch):
                model(calib[s:s + batch])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {k: np.concatenate(v) for k, v in acts.items()}


def swap_relus(model: nn.Module, levels: int, calib: torch.Tensor | None = None,
               percentile: float = 99.9, lam: float = 1.0) -> nn.Module:
    """Replace every ``nn.ReLU`` of ``model`` (nested modules too) by :class:`QCFS`, in place.

    Each lambda starts at the ``percentile`` of that ReLU's positive inputs on ``calib``
    (model inputs, e.g. a few hundred training frames), or at ``lam`` without calibration.
    ReLUs called as functions (F.relu, torch.relu) in ``forward`` cannot be swapped: use
    ``nn.ReLU`` modules. Returns the model.
    """
    stats = _relu_inputs(model, calib) if calib is not None else {}

    def make(name: str, _old: nn.Module) -> QCFS:
        a = stats.get(name)
        init = float(np.percentile(a, percentile)) if a is not None and a.size else lam
        return QCFS(levels, max(init, 1e-3))

    if not _replace(model, nn.ReLU, make):
        raise ConversionError(
            f"{type(model).__name__}: no nn.ReLU modules to swap for QCFS; ReLUs called as "
            "functions in forward() (F.relu, torch.relu, x.relu()) cannot be swapped: use "
            "nn.ReLU modules")
    return model


def to_stock(model: nn.Module) -> nn.Module:
    """Replace every :class:`QCFS` by ``nn.Hardtanh(0, lambda)`` (in place; returns it).

    The clip is what the converter needs: it reads lambda as the layer's threshold and the
    SNN's rate code supplies the floor and shift, so the saved file holds only stock layers
    and loads weights-only. (In torch the clip alone is not the QCFS ANN: evaluate that with
    :func:`from_stock`.)
    """
    def make(_name: str, old: QCFS) -> nn.Hardtanh:
        return nn.Hardtanh(0.0, float(old.lam.detach()))

    _replace(model, QCFS, make)
    return model


def from_stock(model: nn.Module, levels: int) -> nn.Module:
    """Replace every ``nn.Hardtanh(0, lambda)`` by ``QCFS(levels, lambda)`` (in place):
    the QCFS ANN of a saved clip model, for evaluation or further fine-tuning."""
    def make(name: str, old: nn.Hardtanh) -> QCFS:
        if old.min_val != 0 or not old.max_val > 0:
            raise ConversionError(f"{name}: Hardtanh({old.min_val}, {old.max_val}) is not a "
                                  "QCFS clip (needs min 0, max > 0)")
        return QCFS(levels, float(old.max_val))

    if not _replace(model, nn.Hardtanh, make):
        raise ConversionError(f"{type(model).__name__}: no nn.Hardtanh(0, lambda) clips; not "
                              "a model saved by `snn finetune` / qcfs.to_stock")
    return model


def lambdas(model: nn.Module) -> dict[str, float]:
    """The clip of every QCFS module, by module name."""
    return {n: float(m.lam.detach()) for n, m in model.named_modules() if isinstance(m, QCFS)}
