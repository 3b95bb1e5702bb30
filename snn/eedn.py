"""Published reference points of IBM's Eedn networks on TrueNorth (energy per frame and
accuracy), to set beside ours (``snn bench`` Pareto plots, ``benchmarks/frontier.py``).

Measured on the chip with frames streamed back to back (so compare them with the streaming
accounting, ``snn.cores.hardware.energy.ACCOUNTINGS``). Only the figures below are used: the PNAS
paper's per-dataset table was not available to us, so its eight datasets enter as the
abstract's bound (> 6,000 frames/s/W), not as points.
"""

from __future__ import annotations

from dataclasses import dataclass

NIPS2015 = ("Esser et al., Backpropagation for energy-efficient neuromorphic computing, "
            "NIPS 2015")
PNAS2016 = ("Esser et al., Convolutional networks for fast, energy-efficient neuromorphic "
            "computing, PNAS 113:11441 (2016)")


@dataclass(frozen=True)
class ReferencePoint:
    """One published accuracy at an energy per frame (J) on a dataset's test set."""

    name: str
    dataset: str  # snn.datasets name
    accuracy: float  # fraction
    j_per_frame: float
    source: str
    note: str = ""

    @property
    def frames_per_s_per_w(self) -> float:
        return 1.0 / self.j_per_frame


EEDN_POINTS: tuple[ReferencePoint, ...] = (
    ReferencePoint("Eedn ensemble (NIPS 2015)", "mnist", 0.9942, 108e-6, NIPS2015,
                   "an ensemble of networks on TrueNorth chips"),
    ReferencePoint("Eedn one network (NIPS 2015)", "mnist", 0.9270, 0.268e-6, NIPS2015,
                   "one small network"),
)

#: "effectively > 6,000 frames/s per Watt" over 8 datasets at 1,200-2,600 frames/s and
#: 25-275 mW (PNAS 2016, abstract): a bound, drawn as a line of equal energy per frame.
EEDN_FRAMES_PER_S_PER_W = 6000.0
EEDN_LINE_LABEL = "Eedn PNAS 2016: > 6,000 frames/s/W (8 datasets)"


def points_for(dataset: str) -> list[ReferencePoint]:
    """The published points on ``dataset`` (an snn.datasets name)."""
    return [p for p in EEDN_POINTS if p.dataset == dataset]
