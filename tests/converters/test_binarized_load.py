"""Binarized training checkpoints (benchmarks/models/*.pt) -> SpikingNetwork, weights_only."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from snn.converters.binarized_load import NAMED_ARCHS, load_binarized  # noqa: E402
from snn.errors import ConversionError  # noqa: E402

MODELS = Path(__file__).resolve().parents[2] / "benchmarks" / "models"


@pytest.mark.skipif(not (MODELS / "nmnist_bsnn.pt").exists(), reason="no nmnist_bsnn.pt")
def test_nmnist_checkpoint_is_temporal_with_its_transform():
    net = load_binarized(MODELS / "nmnist_bsnn.pt")
    assert net.meta["binarized_mode"] == "temporal" and net.input_shape == (2, 17, 17)
    tr = net.meta["event_transform"]
    assert tr["time_factor"] == 0.1 and tr["ticks"] == 32 and tr["spatial_factor"] == 0.5


@pytest.mark.skipif(not (MODELS / "fashion_Ap4_bsnn.pt").exists(), reason="no Ap4 model")
def test_fashion_checkpoint_named_arch_frame_mode():
    net = load_binarized(MODELS / "fashion_Ap4_bsnn.pt")
    assert net.meta["binarized_mode"] == "frame" and net.meta["readout_pop"] == 4
    assert net.input_shape == (7, 28, 28)  # thermometer channels


def test_refusals(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "x.pt")
    with pytest.raises(ConversionError, match="arch.*state_dict"):
        load_binarized(tmp_path / "x.pt")
    torch.save({"arch": "tiny", "kind": "bnn", "levels": [128], "state_dict": {}},
               tmp_path / "b.pt")
    with pytest.raises(ConversionError, match="'bnn'"):
        load_binarized(tmp_path / "b.pt")
    torch.save({"arch": "nope", "kind": "bsnn", "state_dict": {}}, tmp_path / "n.pt")
    with pytest.raises(ConversionError, match="unknown architecture"):
        load_binarized(tmp_path / "n.pt")
    assert "Ap4" in NAMED_ARCHS


def test_pickled_code_not_run(tmp_path):
    """A checkpoint holding a pickled object is refused (weights_only=True)."""
    torch.save({"arch": [], "state_dict": {}, "obj": Path("x")}, tmp_path / "p.pt")
    with pytest.raises(ConversionError, match="weights_only"):
        load_binarized(tmp_path / "p.pt")
