"""The ``labkit`` command line: ``labkit prepare`` and ``labkit info``.

``prepare`` converts the embedded models once (``make`` runs it during set-up); ``info`` prints
the environment report for bug reports.
"""

from __future__ import annotations

import argparse
import sys


def _prepare(args: argparse.Namespace) -> int:
    from labkit import models

    print(f"{models.SMOLLM2} ready at {models.prepare_smollm2()}")
    print(f"{models.MINILM} ready at {models.model_path(models.MINILM)}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from labkit.envcheck import format_report

    print(format_report())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="The labkit course's command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare", help="convert and cache the embedded models (once)").set_defaults(run=_prepare)
    commands.add_parser("info", help="print versions, device and model status").set_defaults(run=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
