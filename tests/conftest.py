"""Shared test helpers: ``random_test_programs`` (tests/cores/engine/) is importable from every
test folder (tests run with --import-mode=importlib, so test folders are not on sys.path)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "cores" / "engine"))
