"""The demo's pieces. The whole demo runs in tests/test_readme.py (as `make demo` runs it,
with its printed accuracies checked against the README); here: what it is built from."""

from __future__ import annotations

import numpy as np
import pytest

from snn.demo import _readout_neurons
from snn.models import train_digits_mlp


def test_train_digits_mlp_is_seeded():
    torch = pytest.importorskip("torch")
    a = train_digits_mlp(seed=3, epochs=1)
    b = train_digits_mlp(seed=3, epochs=1)
    c = train_digits_mlp(seed=4, epochs=1)
    pa, pb, pc = (list(m.parameters()) for m in (a, b, c))
    assert all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True))
    assert not torch.equal(pa[0], pc[0])


def test_readout_neurons_pick_the_main_term():
    from snn.cores.program import CoreProgram

    p = CoreProgram.empty(2)
    p.output_index[1, :4] = [0, 1, 2, 3]  # two terms per class: (hi, lo) of classes 0, 1
    p.extras = {"readout_class": np.array([0, 0, 1, 1]),
                "readout_weight": np.array([16.0, 1.0, 1.0, 16.0])}
    assert _readout_neurons(p) == {0: (1, 0), 1: (1, 3)}
