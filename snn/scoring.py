"""Scoring a run of a compiled program: the predicted class per frame, decoded as the
program says, and the run's report. Shared by ``snn eval`` (``snn.eval_extras``), the demo,
saved runs (``snn.runfile``) and the benchmark suite (``snn.bench_pipeline``), so that none
of them imports another for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snn.errors import ConfigError


def predict(prog: Any, result: Any, ticks: int) -> np.ndarray:
    """Predicted class per frame, decoded as the program says (``x_decode``: the readout's
    integrated input for compiled programs, else the readout spike counts)."""
    ex = getattr(prog, "extras", {}) or {}
    if str(ex.get("decode", "count")) == "potential" and "readout_class" in ex:
        from snn.cores.evaluate import decode
        if result.potential is None:
            raise ConfigError("decoding by potential needs run(..., return_potential=True)")
        return np.argmax(decode(prog, result.outputs, result.potential, ticks), axis=1)
    return np.argmax(result.outputs, axis=1)


def frame_report(prog: Any, res: Any, accuracy: float, ticks: int, name: str) -> Any:
    """``Report.from_run`` of a run of ``ticks`` input ticks (+ the pipeline latency) with the
    accuracy decoded as the program says (readout potential for compiled programs)."""
    from snn.report import Report

    # the run's own tick count is the frame's latency; ``ticks`` its streaming period
    return Report.from_run(prog, res, "truenorth", accuracy=accuracy, tick_s=1e-3,
                           program_name=name, input_ticks=min(int(ticks), int(res.ticks)))
