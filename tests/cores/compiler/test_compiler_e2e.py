"""End to end on a small real model made in the test: a torch MLP trained for a second on
scikit-learn's digits, converted, compiled, run on the engine; on-core accuracy vs ideal."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from snn.converters import convert  # noqa: E402
from snn.cores.compiler import compile_network  # noqa: E402
from snn.cores.evaluate import evaluate_program  # noqa: E402
from snn.cores.hardware.spec import CoreSpec  # noqa: E402
from snn.datasets import load_digits  # noqa: E402
from snn.simulate import simulate  # noqa: E402


@pytest.fixture(scope="module")
def digits_net():
    xtr, ytr = load_digits("train")
    xte, yte = load_digits("test")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 48), torch.nn.ReLU(),
                                torch.nn.Linear(48, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.from_numpy(xtr.astype(np.float32) / 255)
    y = torch.from_numpy(ytr)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    net = convert(model, xtr[:300], pixel_scale=1 / 255)
    with torch.no_grad():
        ann = (model(torch.from_numpy(xte.astype(np.float32) / 255)).argmax(1).numpy() == yte)
    return net, xte[:120], yte[:120], float(ann.mean())


@pytest.mark.parametrize("spec_name,tol", [("truenorth", 0.03), ("small", 0.08)])
def test_on_cores_close_to_ideal(digits_net, spec_name: str, tol: float) -> None:
    net, x, y, ann = digits_net
    assert ann > 0.9
    T = 48
    spec = CoreSpec.preset(spec_name)
    comp = compile_network(net, spec)
    if spec_name == "small":
        assert any(s.blocks > 1 for s in comp.stats)  # fan-in split on 64-axon cores
    ideal = simulate(net, x, T, encoding="rate").accuracy(y, "potential")[T]
    ev = evaluate_program(comp.program, x, y, [T])
    acc = ev["accuracy"][T]
    assert acc >= ideal - tol, (acc, ideal)
    assert ev["sops_per_frame"][T] > 0 and ev["counters"][T]["axon_collisions"] == 0


def test_fewer_bits_fewer_axons(digits_net) -> None:
    net = digits_net[0]
    c4 = compile_network(net, weight_bits=4)
    c2 = compile_network(net, weight_bits=2)
    ax4 = c4.program.crossbar.any(axis=2).sum()
    ax2 = c2.program.crossbar.any(axis=2).sum()
    assert ax2 < ax4
    assert c2.weight_bits == 2 and int(c2.program.extras["weight_bits"]) == 2
