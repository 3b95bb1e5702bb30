"""snn.scoring: the predicted class of a run, decoded as the program says."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from snn.errors import ConfigError
from snn.scoring import predict


def test_predict_counts_without_decode_extras():
    res = SimpleNamespace(outputs=np.array([[1, 5, 2], [7, 0, 7]]), potential=None)
    prog = SimpleNamespace(extras={})
    assert predict(prog, res, 10).tolist() == [1, 0]  # ties: the lowest class


def test_predict_by_potential_needs_the_membranes():
    res = SimpleNamespace(outputs=np.zeros((1, 2), np.int64), potential=None)
    prog = SimpleNamespace(extras={"decode": "potential", "readout_class": np.array([0, 1])})
    with pytest.raises(ConfigError, match="return_potential=True"):
        predict(prog, res, 10)
