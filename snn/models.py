"""Builtin models: the small torch MLP on scikit-learn's 8x8 digits that ``snn demo`` trains
and the benchmark suite names ``builtin:digits-mlp``. Trained here in seconds, seeded; no
download. torch is imported only when a model is trained.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from snn.errors import ConfigError

DIGITS_SHAPE = (1, 8, 8)


def train_digits_mlp(seed: int = 0, hidden: int = 64, epochs: int = 40, batch: int = 128,
                     lr: float = 5e-3) -> Any:
    """A flatten-fc1 (64 -> hidden)-relu-fc2 (hidden -> 10) torch MLP trained on the digits
    train split (pixels / 255), seeded; about 2 s on one CPU thread."""
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise ConfigError("the demo trains its model with torch: pip install 'snn[torch]'"
                          ) from exc
    from snn.datasets import load_digits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small model: threads cost more than they give
    try:
        images, labels = load_digits("train")
        x = torch.tensor(images, dtype=torch.float32) / 255.0
        y = torch.tensor(labels)
        torch.manual_seed(seed)
        model = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(64, hidden),
                                          relu=nn.ReLU(), fc2=nn.Linear(hidden, 10)))
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch):
                idx = perm[i:i + batch]
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        model.eval()
    finally:
        torch.set_num_threads(threads)
    return model
