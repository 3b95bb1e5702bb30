"""Validation of every file the package reads, before any work (issue 19).

One place for the rules, called by the loaders (``CoreProgram.load``,
``SpikingNetwork.load``, ``SpikeRun.load``) so that ``snn compile``, ``snn eval`` and
``snn sim`` check exactly the same things:

* :func:`load_npz`: an ``.npz`` read safely: a zip of plain ``.npy`` arrays (no object
  arrays, no pickles), sizes checked against the machine's memory *before* allocating.
* :func:`validate_program`: the compiler's ``x_*`` extras of a core program (input map,
  readout, latency, classes, hold inputs, layer table) and the ranges of the spec the
  program declares (``x_spec``).
* :func:`network_from_arrays`: a ``snn-net/1`` file's header and arrays turned into a
  :class:`~snn.network.SpikingNetwork`, every field checked (kinds, types, shapes,
  finiteness, positive thresholds).

Every error is an :class:`snn.errors.SnnError` naming the file, the key or layer and what
would fix it.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from snn.errors import FormatError, ProgramError

# Bounds, each with the reason it is safe to refuse beyond it.
MAX_LATENCY_TICKS = 10 ** 5  # a compiled network's latency is the sum of its layers' delays
# (tens to hundreds of ticks); every frame runs T + latency ticks, so 1e5 is minutes a frame
MAX_INPUT_ELEMENTS = 10 ** 7  # a frame of 10 M values (40 MB as float32) per frame
MAX_CLASSES = 10 ** 6  # class scores are [frames, classes] float64
MAX_SIM_TICKS = 10 ** 7  # about a minute per core at the engine's speed; split longer runs
MEMORY_FRACTION = 0.8  # of the available memory that one file's arrays may take


# -- memory -----------------------------------------------------------------------------------
def available_memory() -> int:
    """Bytes of memory this process can still use (MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 2 ** 34


def check_memory(nbytes: int, what: str, fix: str = "") -> None:
    """Raise FormatError if ``nbytes`` would not fit in the available memory."""
    avail = available_memory()
    if nbytes > MEMORY_FRACTION * avail:
        raise FormatError(f"{what}: {_gb(nbytes)} of memory needed, more than this machine "
                          f"has available ({_gb(avail)}); "
                          f"{fix or 'the declared sizes are wrong'}")


def _gb(n: int) -> str:
    if n >= 2 ** 70:
        return "more than 10^12 GB"
    return f"{n / 2 ** 30:.1f} GB" if n >= 2 ** 30 else f"{n / 2 ** 20:.1f} MB"


# -- npz --------------------------------------------------------------------------------------
def load_npz(path: str | os.PathLike, what: str, hint: str = "") -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, read safely.

    Refuses (FormatError naming the file and key) a file that is not a zip of ``.npy``
    arrays, an object (pickled) array, a damaged member, and declared shapes whose total
    size exceeds the available memory (checked from the headers, before allocating).
    what: the kind of file for messages ("core program"); hint: how to make a good one.
    """
    path = Path(path)
    tail = f"; {hint}" if hint else ""
    if not path.exists():
        raise FormatError(f"{path}: no such {what} file{tail}")
    if path.is_dir():
        raise FormatError(f"{path}: is a folder, not a {what} file{tail}")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            head = fh.read(4)
        why = ("a truncated or damaged zip archive (its end is missing)"
               if head == b"PK\x03\x04" else "empty" if not head else "not a zip archive")
        raise FormatError(f"{path}: not a readable {what} (.npz, a zip of numpy arrays): it is "
                          f"{why}{tail}")
    try:
        with zipfile.ZipFile(path) as zf:
            total = 0
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise FormatError(f"{path}: member {info.filename!r} is not a numpy "
                                      f"array; not a {what}{tail}")
                key = info.filename[:-4]
                with zf.open(info) as fh:
                    shape, dtype = _npy_header(fh, path, key)
                if dtype.hasobject:
                    raise FormatError(f"{path}: key {key!r} is an object array (pickled "
                                      f"Python objects), which is never loaded: {what} "
                                      "files hold plain numeric or string arrays only")
                total += math.prod(shape) * max(dtype.itemsize, 1)  # exact, no overflow
            check_memory(total, f"{path}: the arrays the file declares",
                         "the file's declared array sizes are wrong or it was not made for "
                         "this machine")
            out: dict[str, np.ndarray] = {}
            for info in zf.infolist():
                with zf.open(info) as fh:
                    out[info.filename[:-4]] = np.lib.format.read_array(fh, allow_pickle=False)
            return out
    except FormatError:
        raise
    except MemoryError:
        raise FormatError(f"{path}: the {what} does not fit in memory") from None
    except Exception as exc:  # noqa: BLE001 - zipfile, zlib and numpy raise many kinds
        raise FormatError(f"{path}: damaged {what} ({type(exc).__name__}: {exc}){tail}") \
            from None


def npz_format(path: str | os.PathLike) -> str:
    """The ``format`` tag of an ``.npz`` file ("none" when it has none), read safely:
    FormatError (never numpy's or zipfile's exceptions) for anything that is not an
    ``.npz`` of plain arrays. For commands that accept several kinds of file."""
    path = Path(path)
    arrays = load_npz(path, "snn file (.npz)", "give a spiking network (snn-net/1, from "
                      "`snn convert`) or a core program (snn-cores/1, from `snn compile`)")
    return scalar(arrays, "format", "str", str(path)) if "format" in arrays else "none"


def _npy_header(fh: Any, path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except Exception as exc:  # noqa: BLE001 - a damaged header fails in many ways
        raise FormatError(f"{path}: key {key!r} is not a readable numpy array "
                          f"({type(exc).__name__}: {exc})") from None
    return tuple(int(s) for s in shape), np.dtype(dtype)


def scalar(arrays: dict[str, np.ndarray], key: str, kind: str, where: str) -> Any:
    """arrays[key] as one Python value of ``kind`` ("int", "float", "str")."""
    a = arrays[key]
    if a.size != 1:
        raise FormatError(f"{where}: key {key!r} must hold one value, has shape {a.shape}")
    v = a.reshape(-1)[0]
    if kind == "str":
        if a.dtype.kind not in "US":
            raise FormatError(f"{where}: key {key!r} must be a string, is {a.dtype}")
        return str(v)
    if a.dtype.kind not in ("iub" if kind == "int" else "iubf"):
        want = "an integer" if kind == "int" else "a number"
        raise FormatError(f"{where}: key {key!r} must be {want}, is {a.dtype}")
    if kind == "float":
        f = float(v)
        if not np.isfinite(f):
            raise FormatError(f"{where}: key {key!r} is {f}, must be finite")
        return f
    return int(v)


# -- core programs (snn-cores/1) --------------------------------------------------------------
def _extra(p: Any, name: str, kinds: str, ndim: int | None, n: int | None = None
           ) -> np.ndarray | None:
    """The extra ``name`` as an array of dtype kind in ``kinds``, checked; None if absent."""
    if name not in p.extras:
        return None
    a = np.asarray(p.extras[name])
    key = "x_" + name
    if a.dtype.hasobject or a.dtype.kind not in kinds:
        want = {"iu": "integers", "iub": "integers", "iuf": "numbers", "iubf": "numbers",
                "US": "strings"}.get(kinds, kinds)
        raise ProgramError(key, f"dtype is {a.dtype}, must hold {want}")
    if ndim is not None and a.ndim != ndim:
        what = "a single value (a 0-d array)" if ndim == 0 else f"{ndim}-D"
        raise ProgramError(key, f"must be {what}, has shape {a.shape}")
    if n is not None and a.ndim == 1 and len(a) != n:
        raise ProgramError(key, f"has {len(a)} entries, must have {n}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ProgramError(key, "holds NaN or inf", _first_index(~np.isfinite(a)),
                           fix="a damaged or hand-edited file: recompile it")
    return a


def _first_index(mask: np.ndarray) -> tuple[int, ...] | int | None:
    if mask.ndim == 0:
        return None
    idx = np.argwhere(mask)[0]
    return int(idx[0]) if len(idx) == 1 else tuple(int(i) for i in idx)


def _range(key: str, a: np.ndarray, lo: int | float, hi: int | float, rule: str) -> None:
    bad = (a < lo) | (a > hi)
    if np.any(bad):
        raise ProgramError(key, rule, _first_index(np.asarray(bad)))


def validate_program(p: Any) -> None:
    """Check the ``x_*`` extras a program carries (the compiler's input map, readout,
    latency, classes, hold inputs, layer table) and, when it declares a known spec
    (``x_spec``), that its arrays fit that spec; raises ProgramError naming the key.

    Runs on every ``CoreProgram.load`` and in ``snn compile`` before writing: what one
    command accepts, the others accept too.
    """
    C, A, N = p.n_cores, p.n_axons, p.n_neurons
    if p.output_index.size and int(p.output_index.max()) >= max(C * N, 1):
        bad = p.output_index >= C * N
        raise ProgramError("output_index", f"must be < {C * N} (the number of neurons: one "
                           "readout counter per neuron at most; a larger index only allocates "
                           "empty counters)", _first_index(bad))
    spec_name = _extra(p, "spec", "US", 0)
    if spec_name is not None:
        from snn.cores.hardware.spec import CoreSpec
        from snn.errors import ConfigError
        try:
            spec = CoreSpec.preset(str(spec_name.reshape(-1)[0]))
        except ConfigError:
            spec = None  # a user-defined spec: its ranges are not known here
        if spec is not None:
            p.validate(spec)
    shape = _extra(p, "input_shape", "iu", 1)
    n_el = None
    if shape is not None:
        if len(shape) == 0 or np.any(shape < 1):
            raise ProgramError("x_input_shape", f"must be positive sizes, got {shape.tolist()}")
        n_el = int(np.prod(shape, dtype=np.float64))
        if n_el > MAX_INPUT_ELEMENTS:
            raise ProgramError("x_input_shape", f"{shape.tolist()} is {n_el} values a frame, "
                               f"more than {MAX_INPUT_ELEMENTS}")
    enc = _extra(p, "encoding", "US", 0)
    # binarized programs (snn.cores.compiler.binarized_map) take thermometer frames or events
    binarized = _extra(p, "binarized_mode", "US", 0) is not None
    allowed = ("current", "rate", "poisson") + (("thermometer", "events") if binarized else ())
    if enc is not None and str(enc.reshape(-1)[0]) not in allowed:
        raise ProgramError("x_encoding", f"is {str(enc.reshape(-1)[0])!r}, must be "
                           f"{', '.join(allowed)}")
    for name in ("pixel_scale",):
        v = _extra(p, name, "iuf", 0)
        if v is not None and not float(v.reshape(-1)[0]) > 0:
            raise ProgramError("x_" + name, f"is {float(v.reshape(-1)[0])}, must be > 0")
    v_init = _extra(p, "v_init", "iuf", 0)
    if v_init is not None:
        _range("x_v_init", v_init, -10, 10, "must be a fraction of the threshold, -10..10")
    lat = _extra(p, "latency_ticks", "iu", 0)
    if lat is not None:
        _range("x_latency_ticks", lat, 0, MAX_LATENCY_TICKS,
               f"must be 0..{MAX_LATENCY_TICKS} ticks (a compiled network's latency is the "
               "sum of its layers' delays, a few hundred ticks; every frame runs T + latency "
               "ticks)")
    ticks = _extra(p, "ticks", "iu", 0)
    if ticks is not None:
        _range("x_ticks", ticks, 1, MAX_SIM_TICKS, f"must be 1..{MAX_SIM_TICKS}")
    _validate_input_map(p, C, A, n_el)
    _validate_readout(p, C, N)
    _validate_hold(p, C, A)
    _validate_layers(p, C)


def _validate_input_map(p: Any, C: int, A: int, n_el: int | None) -> None:
    elem = _extra(p, "input_element", "iu", 1)
    if elem is None:
        return
    m = len(elem)
    core = _extra(p, "input_map_core", "iu", 1, m)
    axon = _extra(p, "input_map_axon", "iu", 1, m)
    tick = _extra(p, "input_map_tick", "iu", 1, m)
    n_bin = _extra(p, "n_input_elements", "iu", 0)
    if n_bin is not None:  # binarized programs: element n is the bias input
        limit = int(n_bin) + 1
    else:
        limit = n_el
    if limit is not None:
        _range("x_input_element", elem, 0, limit - 1,
               f"must be 0..{limit - 1} (an element of the input frame, x_input_shape); "
               "an index outside drops that input")
    if core is not None:
        _range("x_input_map_core", core, 0, C - 1, f"must be a core of this program, 0..{C - 1}")
    if axon is not None:
        _range("x_input_map_axon", axon, 0, A - 1, f"must be an axon, 0..{A - 1}")
    if tick is not None:
        _range("x_input_map_tick", tick, 0, MAX_LATENCY_TICKS,
               f"must be 0..{MAX_LATENCY_TICKS} ticks")


def _validate_readout(p: Any, C: int, N: int) -> None:
    n_cls = _extra(p, "n_classes", "iu", 0)
    if n_cls is not None:
        _range("x_n_classes", n_cls, 1, MAX_CLASSES,
               f"must be 1..{MAX_CLASSES} (a classifier has at least one class)")
    n_out = p.n_outputs
    cls = _extra(p, "readout_class", "iu", 1)
    w = _extra(p, "readout_weight", "iuf", 1)
    compiled = "latency_ticks" in p.extras and "input_element" in p.extras
    potential = "decode" in p.extras and str(np.asarray(p.extras["decode"])) == "potential"
    if compiled and potential:
        for name, a in (("readout_class", cls), ("readout_weight", w)):
            if a is None:
                raise ProgramError("x_" + name, "missing: the program decodes the readout "
                                   "potential (x_decode='potential') and needs "
                                   "x_readout_class and x_readout_weight",
                                   fix="recompile it with `snn compile`")
        if n_out == 0:
            raise ProgramError("output_index", "no neuron is a readout (all -1): the program "
                               "has no output", fix="recompile it with `snn compile`")
    if cls is not None:
        if len(cls) < n_out:
            raise ProgramError("x_readout_class", f"has {len(cls)} entries, the program has "
                               f"{n_out} readout counters (max output_index + 1)")
        if n_cls is not None:
            k = int(n_cls.reshape(-1)[0])
            _range("x_readout_class", cls, 0, k - 1,
                   f"must be a class 0..{k - 1} (x_n_classes = {k})")
    if w is not None and cls is not None and len(w) != len(cls):
        raise ProgramError("x_readout_weight", f"has {len(w)} entries, x_readout_class has "
                           f"{len(cls)}")


def _validate_hold(p: Any, C: int, A: int) -> None:
    core = _extra(p, "hold_core", "iu", 1)
    if core is None:
        for name in ("hold_axon", "hold_ticks"):
            if name in p.extras and np.asarray(p.extras[name]).size:
                raise ProgramError("x_" + name, "given without x_hold_core")
        return
    m = len(core)
    axon = _extra(p, "hold_axon", "iu", 1, m)
    ticks = _extra(p, "hold_ticks", "iu", 1, m)
    if m and (axon is None or ticks is None):
        raise ProgramError("x_hold_axon" if axon is None else "x_hold_ticks",
                           "missing: x_hold_core, x_hold_axon and x_hold_ticks come together")
    _range("x_hold_core", core, 0, C - 1, f"must be a core of this program, 0..{C - 1}")
    if axon is not None:
        _range("x_hold_axon", axon, 0, A - 1, f"must be an axon, 0..{A - 1}")
    if ticks is not None:
        _range("x_hold_ticks", ticks, 0, MAX_LATENCY_TICKS,
               f"must be 0..{MAX_LATENCY_TICKS} ticks")


def _validate_layers(p: Any, C: int) -> None:
    names = _extra(p, "layer_names", "US", 1)
    core_layer = _extra(p, "core_layer", "iu", 1, C)
    if core_layer is not None and names is not None:
        _range("x_core_layer", core_layer, -1, len(names) - 1,
               f"must be -1 or a layer 0..{len(names) - 1} of x_layer_names")
    if names is not None:
        for name in ("layer_blocks", "layer_relays", "layer_splitters", "layer_neurons",
                     "layer_weight_bits", "layer_exact", "layer_tick"):
            _extra(p, name, "iub", 1, len(names))


# -- spiking networks (snn-net/1) -------------------------------------------------------------
_TUPLE_PARAMS = {"stride": 2, "kernel": 2, "padding": 4}


def network_from_arrays(arrays: dict[str, np.ndarray], where: str, *, network: type,
                        kinds: dict[str, type], input_name: str, fmt: str) -> Any:
    """A SpikingNetwork from the arrays of an ``snn-net/1`` file, every field checked.

    ``SpikingNetwork.load`` passes its class, layer kinds, input name and format tag (this
    module does not import ``snn.network``, which imports it). Raises FormatError naming
    the file, the layer (index and name) and the field.
    """
    from snn.errors import ConversionError

    hint = "(a spiking network written by `snn convert`)"
    tag = scalar(arrays, "format", "str", where) if "format" in arrays else "none"
    if tag != fmt:
        raise FormatError(f"{where}: format is {tag!r}, expected {fmt!r} {hint}")
    if "header" not in arrays:
        raise FormatError(f"{where}: key 'header' (the JSON list of layers) missing {hint}")
    try:
        header = json.loads(scalar(arrays, "header", "str", where))
    except json.JSONDecodeError as exc:
        raise FormatError(f"{where}: the header is not valid JSON ({exc}) {hint}") from None
    if not isinstance(header, dict):
        raise FormatError(f"{where}: the header must be a JSON object, is "
                          f"{type(header).__name__}")
    specs = header.get("layers")
    if not isinstance(specs, list) or not specs:
        raise FormatError(f"{where}: header 'layers' must be a non-empty list of layers, got "
                          f"{specs!r:.60}; a network needs at least its readout layer")
    shape = header.get("input_shape")
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1
                       for s in shape)):
        raise FormatError(f"{where}: header 'input_shape' must be a list of positive "
                          f"integers, got {shape!r:.60}")
    if float(np.prod(shape, dtype=np.float64)) > MAX_INPUT_ELEMENTS:
        raise FormatError(f"{where}: header input_shape {shape} is more than "
                          f"{MAX_INPUT_ELEMENTS} values a frame")
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise FormatError(f"{where}: header 'meta' must be a JSON object")
    _check_meta(meta, where)
    layers = [_layer(i, spec, arrays, where, kinds, input_name)
              for i, spec in enumerate(specs)]
    calib = arrays.get("calibration")
    if calib is not None:
        if calib.dtype.kind not in "iuf" or (calib.dtype.kind == "f"
                                             and not np.isfinite(calib).all()):
            raise FormatError(f"{where}: key 'calibration' must hold finite numbers")
    try:
        net = network(tuple(shape), layers, meta, calib)
    except ConversionError as exc:
        raise FormatError(f"{where}: {exc}") from None
    except (ValueError, TypeError, IndexError) as exc:
        raise FormatError(f"{where}: the layers do not fit together ({type(exc).__name__}: "
                          f"{exc})") from None
    validate_network(net, where)
    return net


def _check_meta(meta: dict, where: str) -> None:
    for key in ("encoding", "decode"):  # values checked where used (binarized nets differ)
        if key in meta and not isinstance(meta[key], str):
            raise FormatError(f"{where}: meta {key!r} is {meta[key]!r}, must be a name")
    for key in ("pixel_scale",):
        if key in meta:
            v = meta[key]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not (
                    np.isfinite(v) and v > 0):
                raise FormatError(f"{where}: meta {key!r} is {v!r}, must be a number > 0")
    if "v_init" in meta:
        v = meta["v_init"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not abs(v) <= 10:
            raise FormatError(f"{where}: meta 'v_init' is {v!r}, must be a fraction of the "
                              "threshold, -10..10")


def _layer(i: int, spec: Any, arrays: dict[str, np.ndarray], where: str,
           kinds: dict[str, type], input_name: str) -> Any:
    from dataclasses import fields

    if not isinstance(spec, dict):
        raise FormatError(f"{where}: layer {i} must be a JSON object, is {type(spec).__name__}")
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if not isinstance(kind, str) or kind not in kinds:
        raise FormatError(f"{where}: layer {i} has kind {kind!r}; known kinds: {sorted(kinds)}")
    klass = kinds[kind]
    name = spec.get("name")
    at = f"{where}: layer {i} ({name!r}, {kind})"
    if not isinstance(name, str) or not name:
        raise FormatError(f"{where}: layer {i} ({kind}): 'name' must be a non-empty string")
    allowed = {f.name for f in fields(klass)} - {"threshold", *klass.array_fields}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise FormatError(f"{at}: unknown field {unknown[0]!r}; {kind} layers have "
                          f"{sorted(allowed)}")
    kwargs: dict[str, Any] = {"name": name}
    for key, v in spec.items():
        if key == "name":
            continue
        if key == "inputs":
            if not isinstance(v, list) or not v or not all(isinstance(s, str) for s in v):
                raise FormatError(f"{at}: 'inputs' must be a non-empty list of layer names "
                                  f"(or {input_name!r})")
            kwargs[key] = tuple(v)
        elif key == "spiking":
            if not isinstance(v, bool):
                raise FormatError(f"{at}: 'spiking' must be true or false, got {v!r}")
            kwargs[key] = v
        elif key in _TUPLE_PARAMS:
            n = _TUPLE_PARAMS[key]
            lo = 0 if key == "padding" else 1
            if (not isinstance(v, list) or len(v) != n or not all(
                    isinstance(x, int) and not isinstance(x, bool) and lo <= x <= 4096
                    for x in v)):
                raise FormatError(f"{at}: {key!r} must be {n} integers {lo}..4096, got {v!r}")
            kwargs[key] = tuple(v)
        elif key == "groups":
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise FormatError(f"{at}: 'groups' must be an integer >= 1, got {v!r}")
            kwargs[key] = v
        elif key == "mode":
            if v not in ("avg", "max"):
                raise FormatError(f"{at}: 'mode' must be 'avg' or 'max', got {v!r}")
            kwargs[key] = v
        else:  # pragma: no cover - every field of the layer kinds is handled above
            kwargs[key] = v
    for key in ("threshold", *klass.array_fields):
        akey = f"L{i}.{key}"
        if akey not in arrays:
            raise FormatError(f"{at}: array {akey!r} missing from the file")
        a = arrays[akey]
        if a.dtype.kind not in "iuf":
            raise FormatError(f"{at}: array {akey!r} has dtype {a.dtype}, must hold numbers")
        kwargs[key] = a
    want_ndim = {"weight": 2 if kind == "dense" else 4, "bias": 1}
    for key, nd in want_ndim.items():
        if key in kwargs and kwargs[key].ndim != nd:
            raise FormatError(f"{at}: array 'L{i}.{key}' has shape {kwargs[key].shape}, must "
                              f"have {nd} dimensions")
    if kwargs["threshold"].ndim != 1:
        raise FormatError(f"{at}: array 'L{i}.threshold' has shape "
                          f"{kwargs['threshold'].shape}, must be 1-D (1 or one per channel)")
    return klass(**kwargs)


def validate_network(net: Any, where: str = "network") -> None:
    """Values of a SpikingNetwork that every command needs: finite weights and biases,
    positive finite thresholds of length 1 or one per output channel, a bias per output.

    Raises FormatError naming the layer and the fix. ``snn compile`` and ``snn eval``
    both load networks through this check.
    """
    if not net.layers:
        raise FormatError(f"{where}: the network has no layers; it needs at least a readout")
    # binarized networks (snn.converters.binarized_export) fire on V >= threshold with any
    # sign; the IF neurons of converted networks reset by subtracting a positive threshold
    binarized = bool(net.meta.get("binarized"))
    for i, layer in enumerate(net.layers):
        at = f"{where}: layer {i} ({layer.name!r}, {layer.kind})"
        thr = np.asarray(layer.threshold)
        out_ch = None
        w = getattr(layer, "weight", None)
        if w is not None:
            out_ch = int(w.shape[0])
        if thr.size < 1 or (out_ch is not None and thr.size not in (1, out_ch)):
            raise FormatError(f"{at}: threshold has {thr.size} values, must have 1 or one per "
                              f"output channel ({out_ch})")
        ok = np.isfinite(thr) & (thr > 0 if layer.spiking and not binarized else True)
        if not np.all(ok):
            bad = int(np.flatnonzero(~ok)[0])
            raise FormatError(f"{at}: threshold[{bad}] is {float(thr[bad])}: thresholds must "
                              "be finite, and positive for spiking layers (a threshold of 0 "
                              "fires every tick); reconvert the model")
        for key in layer.array_fields:
            a = np.asarray(getattr(layer, key))
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                bad = np.argwhere(~np.isfinite(a))[0]
                raise FormatError(f"{at}: {key}[{', '.join(str(int(x)) for x in bad)}] is "
                                  f"{float(a[tuple(bad)])}: weights and biases must be finite; "
                                  "reconvert the model")
        b = getattr(layer, "bias", None)
        if b is not None and out_ch is not None and b.size not in (0, out_ch):
            raise FormatError(f"{at}: bias has {b.size} values, must have {out_ch} (one per "
                              "output) or none")
