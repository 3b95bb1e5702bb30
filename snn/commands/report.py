"""``snn report RUN.json``: render a saved run report as a table or Markdown."""

from __future__ import annotations

import argparse

from snn.fileio import atomic_write_text
from snn.report import Report

HELP = "render a saved run report (JSON) as a table or Markdown"

EPILOG = """\
RUN.json is a report written by `snn sim PROG.npz --energy truenorth --json RUN.json` (its
"report" key) or by snn.Report.to_json().

examples:
  snn report run.json
  snn report run.json --markdown --out run.md
"""


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("run", metavar="RUN.json", help="saved report (snn-report/1)")
    parser.add_argument("--markdown", action="store_true",
                        help="full Markdown (energy terms, per layer, notes) instead of the "
                             "short table")
    parser.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    from snn.fileio import check_outputs
    check_outputs({"RUN.json": args.run}, {"--out": args.out})
    rep = Report.from_json(args.run)
    text = rep.to_markdown() if args.markdown else rep.summary() + "\n"
    if args.out:
        out = atomic_write_text(args.out, text)
        print(f"wrote {out}")
    else:
        print(text, end="")
    return 0
