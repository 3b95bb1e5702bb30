"""Shared test helpers: ``random_test_programs`` (tests/cores/engine/) is importable from every
test folder (tests run with --import-mode=importlib, so test folders are not on sys.path);
the ``benchmark_script`` fixture loads a script of benchmarks/ as a module."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "cores" / "engine"))

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def benchmark_script():
    """``benchmark_script("frontier")``: a script of benchmarks/ loaded as a module (once)."""
    loaded: dict[str, ModuleType] = {}

    def load(name: str) -> ModuleType:
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            loaded[name] = mod
        return loaded[name]

    return load
