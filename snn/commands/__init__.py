"""Sub-commands of the ``snn`` console script: one module each, with ``add_parser`` and ``run``.

A module here defines::

    HELP: str                                   # one line for ``snn --help``
    def add_parser(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...   # exit code
"""
