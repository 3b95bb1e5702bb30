"""Fill the README's ``console`` blocks with the real output of their commands.

Usage (from the repository root, after `make demo` has made .venv)::

    .venv/bin/python docs/refresh_readme.py

Every ``$ command`` line of a ```` ```console ```` block is run, in order, in a fresh temporary
folder (``make demo`` as what the Makefile runs; ``make test`` is not run), and the lines
after it are replaced by what it printed (progress bars dropped, at most 40 lines). The
test ``tests/test_readme.py`` checks that the accuracies shown are what the commands print.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 40
PROGRESS = re.compile(r"\r|\d+%\||/s\]")  # tqdm bars


def run_block(block: str, cwd: Path, env: dict) -> str:
    out_lines: list[str] = []
    for line in block.splitlines():
        if not line.startswith("$ "):
            continue
        cmd = line[2:].split("  #")[0].strip()
        out_lines.append(line)
        if cmd.startswith("make test"):
            continue
        real = "snn demo --out demo-output" if cmd.startswith("make demo") else cmd
        print(f"$ {cmd}", file=sys.stderr)
        # blocks using ../shared/data run from a folder beside it, as from the repository root
        here = cwd / "repo" if "../shared/" in block else cwd
        proc = subprocess.run(shlex.split(real), cwd=here, env=env, capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            sys.exit(f"{cmd!r} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        text = proc.stdout + proc.stderr
        got = [ln.rstrip() for ln in text.splitlines() if not PROGRESS.search(ln)]
        while got and not got[-1]:
            got.pop()
        if len(got) > MAX_LINES:
            got = got[:MAX_LINES] + ["..."]
        out_lines += got
    return "\n".join(out_lines) + "\n"


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
               COLUMNS="100")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "benchmarks").symlink_to(ROOT / "benchmarks")
        (cwd / "repo").mkdir()
        (cwd / "shared").symlink_to(ROOT.parent / "shared")
        parts = re.split(r"(```console\n.*?```)", text, flags=re.S)
        for i, part in enumerate(parts):
            if part.startswith("```console\n"):
                body = part[len("```console\n"):-3]
                parts[i] = "```console\n" + run_block(body, cwd, env) + "```"
        new = "".join(parts)
        for name in ("raster.png",):  # the README's picture, from the demo run above
            src = cwd / "demo-output" / name
            if src.exists():
                (ROOT / "docs" / name).write_bytes(src.read_bytes())
    tmp_readme = readme.with_suffix(".md.tmp")
    tmp_readme.write_text(new)
    os.replace(tmp_readme, readme)
    print("README.md refreshed", file=sys.stderr)


if __name__ == "__main__":
    main()
