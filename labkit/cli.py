"""The ``labkit`` command line: ``labkit prepare``, ``labkit info`` and ``labkit bench``.

``prepare`` converts the embedded models once (``make`` runs it during set-up); ``info`` prints
the environment report for bug reports; ``bench`` times labkit's training path against plain TRL
(:mod:`labkit.bench`).
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


def _bench(args: argparse.Namespace) -> int:
    from labkit import bench

    return bench.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="The labkit course's command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare", help="convert and cache the embedded models (once)").set_defaults(run=_prepare)
    commands.add_parser("info", help="print versions, device and model status").set_defaults(run=_info)
    from labkit.bench import build_parser as bench_parser  # light: torch is imported by labkit anyway

    bench = commands.add_parser("bench", help="time labkit's training against plain TRL (sft, dpo)")
    bench_parser(bench).set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
