"""Write docs/cli.md from the parsers themselves: ``python -m snn.clidoc > docs/cli.md``."""

from __future__ import annotations

import argparse
import os
import sys

from snn.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, build_parser

INTRO = f"""# The `snn` command line

One console script, `snn COMMAND [options]`; `snn COMMAND --help` prints the same text as
below. Exit codes: {EXIT_OK} success, {EXIT_ERROR} error (a message on stderr says what is
wrong and how to fix it), {EXIT_USAGE} bad usage, {EXIT_INTERRUPTED} interrupted with Ctrl-C
(finished results are kept). Long steps show tqdm progress bars.

Inputs are checked before any work (types, shapes, ranges, finiteness, the declared core
spec, sizes against the machine's memory; `snn.validate`), and so are outputs: an output
that is one of the inputs (also through a link), two options naming the same file, or an
output that cannot be written is refused before anything runs. Outputs are written
atomically (a temp file, then a rename); an existing file keeps its mode, and a symlink
keeps pointing at its target, which gets the new content. Torch files load weights-only
unless `snn convert --trust-pickle` is given.

This file is generated: `python -m snn.clidoc > docs/cli.md`.
"""


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps sub-parsers here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render() -> str:
    """The Markdown text of docs/cli.md."""
    os.environ["COLUMNS"] = "100"  # stable wrapping
    parser = build_parser()
    parser.prog = "snn"
    parts = [INTRO, "## snn", "", "```", parser.format_help().rstrip(), "```", ""]
    for name, sub in _subparsers(parser).items():
        sub.prog = f"snn {name}"
        parts += [f"## snn {name}", "", "```", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
