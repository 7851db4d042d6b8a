"""The ``datavsmath`` command line. Each subcommand lives in ``datavsmath.commands.<name>``
as ``add_arguments(parser)`` plus ``run(args) -> int``; heavy imports happen inside ``run``
so that ``--help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__

#: subcommand -> one-line help; the module is datavsmath.commands.<subcommand>
COMMANDS = {
    "data": "find, verify or download the dataset",
    "run": "run experiments (resumable) and export their tables",
    "status": "show what a results folder holds and what is left",
    "export": "write results.csv and the R-shaped CSVs of a results folder",
    "fit": "scaling-law statistics: learning-curve fits, data needed, d(data)/d(quality), breakdown",
    "figures": "draw the talk's figures as PNGs from a results folder or CSVs",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="datavsmath",
        description="Bigger Data v Better Math: does a model gain more from more data, a better "
        "algorithm, or cleaner labels? A faithful port of the R Fashion-MNIST testbench.",
    )
    parser.add_argument("--version", action="version", version=f"datavsmath {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"datavsmath.commands.{name}")
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


#: exit status when the reader of our output went away (as a process killed by SIGPIPE shows)
EXIT_BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    from .errors import UserError

    args = build_parser().parse_args(argv)
    try:
        rc = int(args._module.run(args) or 0)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
        return rc
    except BrokenPipeError:
        # `datavsmath status | head -1`: the reader has what it wanted. Point stdout at
        # /dev/null so that the interpreter's final flush does not raise again, and end quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except UserError as exc:
        print(f"datavsmath {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; finished fits are saved, rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
