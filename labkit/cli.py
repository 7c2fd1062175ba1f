"""The ``labkit`` command line: ``labkit prepare``, ``labkit info``, ``labkit pipeline`` and ``labkit bench``.

``prepare`` converts the embedded models once (``make`` runs it during set-up); ``info`` prints
the environment report for bug reports; ``pipeline run CONFIG`` runs the seven-stage pipeline of
notebook 06 and ``pipeline check CONFIG`` only checks the config and its data; ``bench`` times
labkit's training path against plain TRL (:mod:`labkit.perf.bench`).

Every command has one exit path for errors: a :class:`~labkit.errors.LabkitError` (a bad config,
data file or model name, a full disk) is printed as its message, what and where on one line and
the fix on the next, with exit status 2; anything else is a labkit bug and gets a one-line
message, exit status 1. ``--debug`` shows the traceback instead.
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


def _pipeline(args: argparse.Namespace) -> int:
    from labkit.pipeline import stages

    if args.action == "check":
        config = stages.check(args.config)
        print(f"{args.config}: OK (run '{config.run_name}', data {config.data.train_file}, config hash {config.config_hash()})")
        return 0
    result = stages.run_pipeline(args.config, run_dir=args.run_dir, until=args.until, fresh=args.fresh)
    print(f"run folder: {result.folder}\n{stages.describe(result.folder)}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from labkit.perf import bench

    return bench.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="The labkit course's command line.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    # --debug also after the command (labkit pipeline run x.yaml --debug); SUPPRESS keeps one given before it
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare", parents=[debug], help="convert and cache the embedded models (once)").set_defaults(run=_prepare)
    commands.add_parser("info", parents=[debug], help="print versions, device and model status").set_defaults(run=_info)
    pipe = commands.add_parser("pipeline", parents=[debug], help="run or check a seven-stage pipeline config (notebook 06)")
    pipe.add_argument("action", choices=["run", "check"], help="run: all stages; check: validate config and data only")
    pipe.add_argument("config", help="the YAML run config, e.g. configs/pipeline_example.yaml")
    pipe.add_argument("--run-dir", help="the run folder (default: $LABKIT_RUNS/<run_name>, else runs/<run_name>)")
    pipe.add_argument("--until", help="stop after this stage (data, model, setup, finetune, evaluation, export, monitoring)")
    pipe.add_argument("--fresh", action="store_true", help="delete the run folder's earlier results and start again")
    pipe.set_defaults(run=_pipeline)
    from labkit.perf.bench import build_parser as bench_parser  # light: torch is imported by labkit anyway

    bench = commands.add_parser("bench", parents=[debug], help="time labkit's training against plain TRL (sft, dpo)")
    bench_parser(bench).set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; an error ends in a short message and status 2 (labkit's) or 1 (a bug)."""
    from labkit.errors import LabkitError

    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    except LabkitError as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        if args.debug:
            raise
        first = str(error).splitlines()[0][:300] if str(error) else ""
        print(f"error: unexpected {type(error).__name__}: {first}\n"
              "  this is likely a bug in labkit: run again with --debug to see where, and report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
