"""cnnlab: the lab without a browser. Commands: datasets, models, train, evaluate, predict, runs,
import-run, report, lr-find; `cnnlab COMMAND --help` for each. `--json` gives scripts one JSON document
(train: one JSON event per line).

Exit codes: 0 success; 1 the run ended badly (failed/diverged) or an input was bad; 2 usage error
(nothing was written); 3 a dataset is unavailable; 4 no such run; 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import time

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_DATA, EXIT_NO_RUN, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def _command(argv: list[str]) -> str | None:
    """The command word in `argv` (skipping `--runs-dir DIR`), to build only what it needs."""
    from cnnlab.cli.parser import PUBLIC

    words = iter(argv)
    for word in words:
        if word == "--runs-dir":
            next(words, None)
        elif word in PUBLIC:
            return word
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` (default: sys.argv[1:]); returns the exit code (the console script
    `cnnlab` and `python -m cnnlab` exit with it)."""
    # Before torch loads OpenMP: idle OpenMP threads sleep instead of spinning. On a busy shared
    # CPU a spinning thread burns the core its partner needs; measured with 2 threads at load
    # 8-12, training ran 3-8x faster with this (bench/RESULTS.md, "threads"). Kept if set.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from cnnlab.cli.parser import build_parser
    from cnnlab.cli.train import UsageError

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(registries=_command(argv) in ("train", "lr-find"))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    started = time.perf_counter()
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        print(f"(see `{parser.prog} {args.command} --help`)", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        return _failure(exc)
    except KeyboardInterrupt:
        print(f"\ninterrupted after {time.perf_counter() - started:.1f}s", file=sys.stderr)
        return EXIT_INTERRUPTED


def _failure(exc: Exception) -> int:
    """The exit code and message of an error a command raised (unexpected ones re-raised)."""
    from cnnlab.runs import RunNotFound, WeightsError

    if isinstance(exc, BrokenPipeError):  # `cnnlab runs --json | head`: the reader has left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return EXIT_FAILED
    if isinstance(exc, RunNotFound):
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_RUN
    if isinstance(exc, (WeightsError, KeyError, ValueError, OSError)):
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    raise exc
