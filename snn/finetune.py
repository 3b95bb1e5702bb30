"""QCFS fine-tuning: train a torch model whose ReLUs are QCFS clips (``snn finetune``).

:func:`train_qcfs` swaps the model's ReLUs for :class:`snn.converters.qcfs.QCFS` (lambda
from calibration frames) or reads back the clips of a model saved by a previous run, then
trains with Adam and a cosine learning rate on the given frames. Deterministic for a seed:
frame order, flips, input quantisation and dropout of every step derive from (seed, epoch,
step), so a run resumed from a checkpoint continues exactly where it stopped. The
checkpoint (a dict of tensors and numbers: loads weights-only) is written atomically every
``checkpoint_every`` steps and at every epoch's end.

Input quantisation (``input_quant``, the fraction of frames): the cores see pixels as a
deterministic rate code, ``(T q + 127) // 255`` spikes in T ticks for pixel q (``snn.
encoding.rate``); training on that value at T = L keeps the first layer exact at T = L.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from snn.converters.qcfs import QCFS, from_stock, lambdas, swap_relus
from snn.distill import distillation_loss
from snn.errors import ConfigError

CHECKPOINT_FORMAT = "snn-finetune-checkpoint/1"


def rate_quantise(pixels: torch.Tensor, levels: int) -> torch.Tensor:
    """Raw 0..255 pixels -> the value the cores' rate code gives in ``levels`` ticks."""
    return torch.div(levels * pixels + 127, 255, rounding_mode="floor") / levels


def prepare(model: nn.Module, levels: int, calib: torch.Tensor, percentile: float = 99.9
            ) -> nn.Module:
    """QCFS modules for the model's ReLUs (lambda from ``calib``) or, for a model saved with
    clips (``nn.Hardtanh(0, lambda)``), for its clips; a model with QCFS is kept."""
    if any(isinstance(m, QCFS) for m in model.modules()):
        return model
    if any(isinstance(m, nn.Hardtanh) for m in model.modules()):
        return from_stock(model, levels)
    return swap_relus(model, levels, calib, percentile)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: str = "cpu",
             batch: int = 1000, levels: int | None = None) -> float:
    """Accuracy of ``model`` on raw pixels ``x`` (uint8 tensor); ``levels``: rate-quantised
    input as the cores see it at T = levels."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = x[i:i + batch].to(device).float()
            xb = rate_quantise(xb, levels) if levels else xb / 255.0
            correct += int((model(xb).argmax(1).cpu() == y[i:i + batch]).sum())
    return correct / max(len(x), 1)


def _config_key(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def _save_checkpoint(path: Path, state: dict) -> None:
    from snn.fileio import atomic_open

    with atomic_open(path, "wb") as fh:
        torch.save(state, fh)


def _load_checkpoint(path: Path, key: str) -> dict | None:
    if not path.exists():
        return None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds
        raise ConfigError(f"{path}: not a readable finetune checkpoint ({type(exc).__name__}: "
                          f"{exc}); delete it to start afresh") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path}: not a finetune checkpoint ({CHECKPOINT_FORMAT}); delete it "
                          "or give another --checkpoint")
    if state.get("key") != key:
        raise ConfigError(f"{path}: a checkpoint of another run (different model, data or "
                          f"settings: {state.get('config')}); delete it to start afresh or "
                          "give another --checkpoint")
    return state


def train_qcfs(model: nn.Module, images: np.ndarray, labels: np.ndarray, *, levels: int,
               epochs: int, lr: float = 1e-3, seed: int = 0, device: str = "cpu",
               batch_size: int = 128, weight_decay: float = 1e-4, flip: bool = True,
               input_quant: float = 0.5, calib_frames: int = 512,
               checkpoint: str | Path | None = None, checkpoint_every: int = 200,
               config: dict | None = None, progress: bool = True,
               log: Callable[[str], None] | None = None,
               soft: torch.Tensor | None = None, kd_weight: float = 0.5,
               kd_temp: float = 4.0) -> tuple[nn.Module, list[dict]]:
    """Train ``model`` with QCFS activations on raw 0..255 ``images`` [N, C, H, W].

    soft: a teacher's logits [2, N, K] of the frames as they are and flipped left-right
    (``snn.distill.mirror_logits``): the loss is then ``snn.distill.distillation_loss``
    (weight ``kd_weight``, temperature ``kd_temp``) instead of the cross-entropy.

    Returns the model (QCFS modules; :func:`snn.converters.qcfs.to_stock` makes it
    saveable) and the per-epoch history (loss, lambdas, seconds). ``config`` (e.g. the input
    file's hash and the frame range) identifies the run in the checkpoint, with the
    settings: a checkpoint of another run is refused, not silently resumed.
    """
    from tqdm import tqdm

    if soft is not None and tuple(soft.shape[:2]) != (2, len(labels)):
        raise ConfigError(f"soft: expected the teacher's logits [2, {len(labels)}, K] (each "
                          f"frame as it is and flipped), got {tuple(soft.shape)}")
    if levels < 1 or epochs < 1 or batch_size < 1 or not lr > 0:
        raise ConfigError(f"levels ({levels}), epochs ({epochs}) and batch size ({batch_size})"
                          f" must be >= 1 and lr ({lr}) > 0")
    images = np.asarray(images)
    if images.ndim != 4 or len(images) != len(labels) or not len(images):
        raise ConfigError(f"training frames must be [N, C, H, W] with one label each; got "
                          f"{images.shape} and {len(labels)} labels")
    log = log or (lambda s: None)
    torch.manual_seed(seed)
    xs = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8))
    ys = torch.from_numpy(np.asarray(labels, np.int64))
    calib_idx = np.random.default_rng([seed, 1]).permutation(len(xs))[:calib_frames]
    model = prepare(model, levels, xs[calib_idx].float() / 255.0).to(device)
    steps_per_epoch = -(-len(xs) // batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    cfg = dict(config or {}, levels=levels, epochs=epochs, lr=lr, seed=seed,
               batch_size=batch_size, weight_decay=weight_decay, flip=flip,
               input_quant=input_quant, calib_frames=calib_frames, frames=len(xs))
    if soft is not None:  # another teacher's logits make another run
        digest = hashlib.sha256(soft.detach().cpu().numpy().tobytes()).hexdigest()[:16]
        cfg.update(kd_weight=kd_weight, kd_temp=kd_temp, teacher_logits=digest)
    key = _config_key(cfg)
    ckpt = Path(checkpoint) if checkpoint else None
    start_epoch, start_step, partial, history = 0, 0, 0.0, []
    state = _load_checkpoint(ckpt, key) if ckpt else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch, start_step = int(state["epoch"]), int(state["step"])
        partial = float(state["partial_loss"])
        history = json.loads(state["history"])
        log(f"resuming from {ckpt}: epoch {start_epoch + 1}, step {start_step}")

    def save(epoch: int, step: int, loss_sum: float = 0.0) -> None:
        if ckpt is not None:
            _save_checkpoint(ckpt, {
                "format": CHECKPOINT_FORMAT, "key": key, "config": json.dumps(cfg),
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "epoch": epoch, "step": step,
                "partial_loss": loss_sum, "history": json.dumps(history)})

    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(start_epoch, epochs):
        rng = np.random.default_rng([seed, 2, epoch])
        order = torch.from_numpy(rng.permutation(len(xs)))
        flips = torch.from_numpy(rng.random(len(xs)) < (0.5 if flip else 0.0))
        quant = torch.from_numpy(rng.random(len(xs)) < input_quant)
        model.train()
        t0 = time.time()
        first = start_step if epoch == start_epoch else 0
        total = partial if first else 0.0
        bar = tqdm(range(first, steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}",
                   disable=not progress, initial=first, total=steps_per_epoch, leave=False)
        step = first
        try:
            for step in bar:
                torch.manual_seed(seed * 1_000_003 + epoch * 10_007 + step)
                idx = order[step * batch_size:(step + 1) * batch_size]
                xb = xs[idx].float()
                xb = torch.where(quant[idx, None, None, None], rate_quantise(xb, levels),
                                 xb / 255.0)
                xb = torch.where(flips[idx, None, None, None], xb.flip(3), xb).to(device)
                opt.zero_grad()
                if soft is None:
                    loss = loss_fn(model(xb), ys[idx].to(device))
                else:
                    target = torch.where(flips[idx, None], soft[1, idx], soft[0, idx])
                    loss = distillation_loss(model(xb), ys[idx].to(device),
                                             target.to(device), kd_weight, kd_temp)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
                bar.set_postfix(loss=f"{total / min((step + 1) * batch_size, len(xs)):.4f}")
                if checkpoint_every and (step + 1) % checkpoint_every == 0 and \
                        step + 1 < steps_per_epoch:
                    save(epoch, step + 1, total)
        except KeyboardInterrupt:
            bar.close()
            log(f"interrupted in epoch {epoch + 1}; the last checkpoint is kept"
                + (f" ({ckpt}): rerun the same command to resume" if ckpt else ""))
            raise
        bar.close()
        rec = {"epoch": epoch + 1, "loss": round(total / len(xs), 5),
               "lambdas": {k: round(v, 5) for k, v in lambdas(model).items()},
               "seconds": round(time.time() - t0, 1)}
        history.append(rec)
        save(epoch + 1, 0)
        log(f"epoch {epoch + 1}/{epochs}: loss {rec['loss']:.4f} ({rec['seconds']:.0f} s)")
    return model, history
