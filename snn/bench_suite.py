"""The benchmark suite: a declarative TOML grid of dataset x model x core preset x weight
precision x ticks, run row by row, resumable, on a local process pool or a Dask cluster.

The suite file (TOML) and its rows: :mod:`snn.bench_spec`; what one row does:
:mod:`snn.bench_pipeline`.

Each row gives accuracy (held-out frames), SOPs/frame, energy/frame, latency, GSOP/s/W,
frames/s/W and cores. ``run_suite`` writes ``suite.json`` and ``suite.md`` (atomically,
after every row) and the Pareto fronts ``pareto_energy.png`` and ``pareto_latency.png``;
rerunning skips the rows already finished.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path

from snn.bench_spec import ModelSpec, PreparedModel, Row, Suite, load_suite
from snn.errors import ConfigError, SnnError
from snn.fileio import atomic_write_text

__all__ = ["ModelSpec", "PreparedModel", "Row", "Suite", "load_suite", "load_results", "run_suite",
           "to_markdown", "write_pareto", "write_results"]

RESULTS_FORMAT = "snn-bench/1"
#: what a row holds; part of the recipe fingerprint, so rows of an older layout run again
ROW_LAYOUT = "2: latency and streaming accountings"
DASK_CONNECT_TIMEOUT = "10s"
COLUMNS = [  # (key, header, format) of the Markdown table
    ("dataset", "dataset", "{}"), ("model", "model", "{}"), ("preset", "preset", "{}"),
    ("weight_bits", "w bits", "{}"), ("ticks", "ticks", "{}"),
    ("accuracy", "accuracy %", "{:.2f}"), ("ann_accuracy", "ANN %", "{:.2f}"),
    ("sops_per_frame", "SOPs/frame", "{:,.0f}"),
    ("stream_energy_per_frame_uj", "µJ/frame streaming", "{:.3f}"),
    ("stream_frames_per_s_per_w", "frames/s/W streaming", "{:,.0f}"),
    ("energy_per_frame_uj", "µJ/frame latency", "{:.3f}"),
    ("frames_per_s_per_w", "frames/s/W latency", "{:,.0f}"),
    ("latency_ms", "latency ms", "{:g}"), ("gsops_per_watt", "GSOP/s/W latency", "{:.1f}"),
    ("cores", "cores", "{}"),
    ("frames", "frames", "{}"), ("wall_s", "wall s", "{:.1f}"),
]


# -- results files -------------------------------------------------------------------------


def recipe_fingerprint(suite: Suite, model: str) -> str:
    """What a model's finished rows depend on besides the row itself: its spec, the suite's
    settings, the converter's and the compiler's defaults and code (their modules' bytes) and
    the package version; a row finished under another fingerprint is run again (a changed
    default recipe or a fix must not keep old rows)."""
    import hashlib
    import inspect

    from snn import __version__
    from snn.converters import convert
    from snn.cores.compiler import compile as compile_cores

    def defaults_of(fn: Callable) -> dict[str, str]:
        return {k: repr(p.default) for k, p in inspect.signature(fn).parameters.items()
                if p.default is not inspect.Parameter.empty}
    defaults = defaults_of(convert)
    compile_defaults = defaults_of(compile_cores)
    code = hashlib.sha1()  # a fix in the converter or the compiler changes results too
    for package in (sys.modules[convert.__module__], sys.modules[compile_cores.__module__]):
        for f in sorted(Path(package.__file__).parent.glob("*.py")):
            code.update(f.name.encode() + f.read_bytes())
    text = json.dumps({"spec": asdict(suite.models[model]), "defaults": defaults,
                       "compile_defaults": compile_defaults, "code": code.hexdigest(),
                       "seed": suite.seed, "energy": suite.energy, "tick_us": suite.tick_us,
                       "version": __version__, "row_layout": ROW_LAYOUT}, sort_keys=True,
                      default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def load_results(out_dir: Path) -> dict[str, dict]:
    """Finished rows of an earlier run (``suite.json`` in ``out_dir``), by row key."""
    f = out_dir / "suite.json"
    if not f.exists():
        return {}
    try:
        doc = json.loads(f.read_text())
    except ValueError as exc:
        raise ConfigError(f"{f}: not valid JSON ({exc}); move it away to start afresh") from exc
    if doc.get("format") != RESULTS_FORMAT:
        raise ConfigError(f"{f}: format {doc.get('format')!r} is not {RESULTS_FORMAT!r}")
    return {r["key"]: r for r in doc.get("rows", [])}


def to_markdown(suite: Suite, rows: list[dict]) -> str:
    """The results table in Markdown (finished rows; failed ones listed below it)."""
    ok = [r for r in rows if r.get("status") == "ok"]
    lines = [f"# Benchmark suite `{suite.name}`", "",
             f"Energy preset `{suite.energy}`, tick {suite.tick_us:g} µs; accuracy on held-out "
             "frames; SOPs, energy and latency per frame from the engine's counters. "
             f"Written by `snn bench {_rel(suite.path)}`.", ""]
    if any(r.get("preset") not in (None, "truenorth", "truenorth-0.75v") for r in ok):
        lines += ["The energy preset prices every core as a TrueNorth core (256 x 256) whatever "
                  "the core preset, so the static and per-tick energy of smaller cores (e.g. "
                  "`small`, 64 x 64) is overestimated: compare their SOPs, cores and accuracy "
                  "first.", ""]
    lines += ["Latency: the ticks a frame runs (its input ticks + the pipeline from input to "
              "readout) at the tick period. Energy in two accountings (docs/energy.md): "
              "*streaming* charges each frame T ticks of static and per-tick energy (frames "
              "back to back through the pipelined network, as IBM measured Eedn); *latency* "
              "charges the T + pipeline ticks it runs alone. Pareto fronts per model: "
              "`pareto_energy.png` (streaming, with Eedn's published points), "
              "`pareto_latency.png`.", ""]
    lines.append("| " + " | ".join(h for _, h, _ in COLUMNS) + " |")
    lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    for r in ok:
        cells = []
        for key, _, fmt in COLUMNS:
            v = r.get(key)
            if v is None:
                cells.append("")
            elif key in ("accuracy", "ann_accuracy"):
                cells.append(fmt.format(100 * v))
            else:
                cells.append(fmt.format(v))
        lines.append("| " + " | ".join(cells) + " |")
    bad = [r for r in rows if r.get("status") != "ok"]
    have = {r["key"] for r in rows}
    missing = [r.key for r in suite.rows if r.key not in have]
    if bad or missing:
        lines += ["", "Rows not finished (a rerun of `snn bench` runs them):", ""]
        lines += [f"- `{r['key']}`: {r.get('status')}: {r.get('error', '')}" for r in bad]
        lines += [f"- `{k}`: not run yet" for k in missing]
    return "\n".join(lines) + "\n"


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def write_results(suite: Suite, rows: list[dict], out_dir: Path) -> None:
    """``suite.json`` + ``suite.md``, atomically; rows in suite order."""
    order = {r.key: i for i, r in enumerate(suite.rows)}
    rows = sorted(rows, key=lambda r: order.get(r["key"], len(order)))
    doc = {"format": RESULTS_FORMAT, "suite": suite.name, "energy": suite.energy,
           "tick_us": suite.tick_us, "seed": suite.seed, "rows": rows}
    atomic_write_text(out_dir / "suite.json", json.dumps(doc, indent=1) + "\n")
    atomic_write_text(out_dir / "suite.md", to_markdown(suite, rows))


def write_pareto(rows: list[dict], out_dir: Path, suite_name: str = "") -> list[Path]:
    """Pareto fronts: accuracy vs energy/frame (streaming accounting; latency for rows made
    before it) with Eedn's published points, and accuracy vs latency (PNG)."""
    from snn.plots import plot_pareto

    ok = [dict(r, group=f"preset {r['preset']}", panel=f"{r['model']} ({r.get('dataset', '')})")
          for r in rows if r.get("status") == "ok"]
    if not ok:
        return []
    for r in ok:
        r["label"] = f"w{r['weight_bits']} t{r['ticks']}"
    sfx = f" ({suite_name})" if suite_name else ""
    refs, lines = eedn_references(ok)
    stream = any(r.get("stream_energy_per_frame_uj") is not None for r in ok)
    a = plot_pareto(ok, "stream_energy_per_frame_uj" if stream else "energy_per_frame_uj",
                    cost_label="energy per frame (µJ), streaming: a frame every T ticks"
                    if stream else "energy per frame (µJ), latency accounting",
                    group_key="group", panel_key="panel", label_key="label",
                    title=f"Accuracy vs energy per frame{sfx}", references=refs,
                    reference_lines=lines, out=out_dir / "pareto_energy.png")
    b = plot_pareto(ok, "latency_ms", cost_label="latency per frame (ms)", group_key="group",
                    panel_key="panel", label_key="label", title=f"Accuracy vs latency{sfx}",
                    out=out_dir / "pareto_latency.png")
    del a, b
    return [out_dir / "pareto_energy.png", out_dir / "pareto_latency.png"]


def eedn_references(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Eedn's published points (µJ/frame) on the panels of their dataset, and the PNAS 2016
    6,000 frames/s/W bound as a line on every panel (``plot_pareto`` references)."""
    from snn.eedn import EEDN_FRAMES_PER_S_PER_W, EEDN_LINE_LABEL, points_for

    refs = []
    for panel, dataset in dict.fromkeys((r["panel"], r.get("dataset", "")) for r in rows):
        refs += [{"label": p.name, "cost": p.j_per_frame * 1e6, "accuracy": p.accuracy,
                  "panel": panel} for p in points_for(str(dataset))]
    lines = [{"label": EEDN_LINE_LABEL, "cost": 1e6 / EEDN_FRAMES_PER_S_PER_W, "panel": None}]
    return refs, lines


# -- running -------------------------------------------------------------------------------


PrepareFn = Callable[[Suite, ModelSpec], PreparedModel]
RowFn = Callable[[dict, PreparedModel, dict], dict]


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the parent, which stops them itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_suite(suite: Suite, out_dir: str | os.PathLike, *, scheduler: str | None = None,
              workers: int | None = None, progress: bool = True, rows: Iterable[Row] | None = None,
              prepare_fn: PrepareFn | None = None, row_fn: RowFn | None = None,
              log: Callable[[str], None] | None = None) -> list[dict]:
    """Run the rows not finished yet; return all rows (finished earlier and now).

    scheduler: a Dask scheduler address (``tcp://host:8786``): rows become Dask tasks.
    workers: local process-pool size (default: half the CPUs, at least 1); 0 runs the rows
        in this process. Results are written after every row; Ctrl-C stops cleanly
        (KeyboardInterrupt re-raised after the finished rows are saved).
    prepare_fn, row_fn: the pipeline (default: :func:`snn.bench_pipeline.prepare_model`,
        :func:`snn.bench_pipeline.evaluate_row`); both must be picklable module functions.
    """
    from snn import bench_pipeline

    prepare_fn = prepare_fn or bench_pipeline.prepare_model
    row_fn = row_fn or bench_pipeline.evaluate_row
    log = log or (lambda s: print(s, file=sys.stderr))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = load_results(out)
    recipes = {m: recipe_fingerprint(suite, m) for m in suite.models}
    todo = [r for r in (rows or suite.rows)
            if done.get(r.key, {}).get("status") != "ok"
            or done[r.key].get("recipe") != recipes[r.model]]
    results = dict(done)
    stale = sum(1 for r in todo if r.key in done and done[r.key].get("status") == "ok")
    if len(todo) < len(list(rows or suite.rows)) or stale:
        log(f"resuming: {len(list(rows or suite.rows)) - len(todo)} finished rows kept, "
            f"{len(todo)} to run ({stale} finished with another recipe or version)")
    if not todo:
        write_results(suite, list(results.values()), out)
        write_pareto(list(results.values()), out, suite.name)
        return list(results.values())
    settings = {"seed": suite.seed, "energy": suite.energy, "tick_us": suite.tick_us}

    # 1. convert each model once (here), 2. rows in parallel
    prepared: dict[str, PreparedModel | str] = {}
    for name in dict.fromkeys(r.model for r in todo):
        t0 = time.perf_counter()
        try:
            prepared[name] = prepare_fn(suite, suite.models[name])
            log(f"model {name}: prepared in {time.perf_counter() - t0:.1f} s")
        except SnnError as exc:
            prepared[name] = f"{type(exc).__name__}: {exc}"
            log(f"model {name}: skipped: {exc}")

    def record(row: Row, result: dict) -> None:
        result = {"key": row.key, "model": row.model, "preset": row.preset,
                  "weight_bits": row.weight_bits, "ticks": row.ticks,
                  "recipe": recipes[row.model], **result}
        results[row.key] = result
        write_results(suite, list(results.values()), out)

    runnable = []
    for row in todo:
        p = prepared[row.model]
        if isinstance(p, str):
            record(row, {"dataset": suite.models[row.model].dataset, "status": "skipped",
                         "error": p})
        else:
            runnable.append(row)

    bar = _progress(len(runnable), progress, suite.name)
    try:
        if scheduler:
            _run_dask(scheduler, runnable, prepared, settings, row_fn, record, bar)
        elif workers == 0:
            for row in runnable:
                record(row, _safe(row_fn, asdict(row), prepared[row.model], settings))
                bar.update(1)
        else:
            _run_pool(workers, runnable, prepared, settings, row_fn, record, bar)
    finally:
        bar.close()
    # (not after Ctrl-C: stop at once; the table is current, the next run redraws the fronts)
    write_pareto(list(results.values()), out, suite.name)
    return list(results.values())


def _safe(row_fn: RowFn, row: dict, prepared: PreparedModel, settings: dict) -> dict:
    """Run one row; an error becomes a failed row (the others go on; a rerun retries it).
    Ctrl-C propagates. Errors that are not SnnError are bugs: their traceback is kept."""
    try:
        return {"status": "ok", **row_fn(row, prepared, settings)}
    except SnnError as exc:
        return {"dataset": prepared.spec.dataset, "status": "error",
                "error": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # noqa: BLE001 - one broken row must not lose the suite
        import traceback
        return {"dataset": prepared.spec.dataset, "status": "error",
                "error": f"internal error {type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=-4)}


def _progress(total: int, enabled: bool, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"suite {name}", unit="row", disable=not enabled,
                file=sys.stderr)


def _run_pool(workers: int | None, rows: list[Row], prepared: dict, settings: dict,
              row_fn: RowFn, record: Callable, bar) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    n = workers or max(1, (os.cpu_count() or 2) // 2)
    pool = ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"),
                               initializer=_ignore_sigint)
    try:
        futs = {pool.submit(_safe, row_fn, asdict(r), prepared[r.model], settings): r
                for r in rows}
        for fut in as_completed(futs):
            record(futs[fut], fut.result())
            bar.update(1)
    except BaseException:
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:  # stop the rows still running now (their results are lost)
            proc.terminate()
        raise
    pool.shutdown(wait=True)


def _run_dask(address: str, rows: list[Row], prepared: dict, settings: dict, row_fn: RowFn,
              record: Callable, bar) -> None:
    from snn.cores.engine.stream import dask_client
    client = dask_client(address, DASK_CONNECT_TIMEOUT)
    from distributed import as_completed
    futs = []
    try:
        shared = {m: client.scatter(prepared[m], broadcast=False)
                  for m in dict.fromkeys(r.model for r in rows)}
        futs = [client.submit(_safe, row_fn, asdict(r), shared[r.model], settings,
                              key=f"snn-bench-{r.key}-{time.time_ns()}", pure=False)
                for r in rows]
        by_key = {f.key: r for f, r in zip(futs, rows, strict=True)}
        for fut in as_completed(futs):
            record(by_key[fut.key], fut.result())
            bar.update(1)
    finally:
        for f in futs:
            if not f.done():
                f.cancel()
        client.close()
