"""The ``datavsmath`` command line. Each subcommand lives in ``datavsmath.commands.<name>``
as ``add_arguments(parser)`` plus ``run(args) -> int``; heavy imports happen inside ``run``
so that ``--help`` stays fast."""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import signal
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
    "parity": "compare a results folder with R's published tables, cell by cell",
    "exchange": "exchange rates: every lever (model, labels, augmentation, pretraining, pruning) in training rows",
    "advise": "collect or clean? the cheapest way to a target, priced from the fitted laws",
    "verify": "retrain a sample of stored cells and check them within the reproducibility envelope",
}


def build_parser() -> argparse.ArgumentParser:
    """The ``datavsmath`` parser with one subparser per entry of :data:`COMMANDS`.

    Each subparser carries its command module (``_module``) and itself (``_parser``), so that
    :func:`main` can run the command and :func:`parse_args` re-read its arguments.

    Returns
    -------
    argparse.ArgumentParser
        The parser; its subcommand's options come from the module's ``add_arguments``.
    """
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
        p.set_defaults(_module=module, _parser=p)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, parsed.

    Arguments may follow options (``run size --profile smoke results/x``): a command's
    positional arguments are read intermixed with its options, which argparse does not do for
    a list of them by itself.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    argparse.Namespace
        The options, with ``command`` and the command's ``_module`` and ``_parser``. argparse
        exits with status 2 and its usage message on a bad command line.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extra = build_parser().parse_known_args(argv)
    if extra:  # more positionals after an option, or a real mistake: the command's parser says which
        rest = argv[argv.index(args.command) + 1:]
        args = args._parser.parse_intermixed_args(rest, argparse.Namespace(command=args.command))
    return args


#: errors of the folder being written rather than of the program: one clear line, rc 2
STORAGE_ERRORS = {errno.ENOSPC: "the disk is full: free some space (or choose another folder), then rerun",
                  errno.EDQUOT: "the disk quota is used up: free some space (or choose another folder), then rerun",
                  errno.EROFS: "the folder is on a read-only file system: choose another folder",
                  errno.EACCES: "permission denied: choose another folder or fix its permissions",
                  errno.EPERM: "permission denied: choose another folder or fix its permissions",
                  errno.EIO: "the disk reported an I/O error: check it, then rerun",
                  errno.ENOTDIR: "part of that path is a file, not a folder: choose another folder",
                  errno.EEXIST: "a file stands where a folder should be: choose another folder"}


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGTERM (a scheduler's stop, ``kill``) unwinds like Ctrl-C, once: a second one during
    the cleanup that follows is ignored, so that the session gets recorded."""
    from .errors import Terminated

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


#: exit status when the reader of our output went away (as a process killed by SIGPIPE shows)
EXIT_BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    """Run one command, turning the errors a user can fix into one line on stderr.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 done, 1 ``status`` with fits left, 2 a user or storage error (one
        line, no traceback), 130 Ctrl-C, 141 the reader of the output went away, 143 SIGTERM.
    """
    from .commands import finish_results_argument
    from .errors import Terminated, UserError

    args = parse_args(argv)
    try:
        finish_results_argument(args)  # the results folder, however given, checked first
        with sigterm_as_interrupt():
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
    except OSError as exc:
        if exc.errno not in STORAGE_ERRORS:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"datavsmath {args.command}: error: {exc.strerror or exc}{where}; {STORAGE_ERRORS[exc.errno]}."
              + (" Finished fits are stored; rerunning resumes." if args.command == "run" else ""),
              file=sys.stderr)
        return 2
    except Terminated:
        print("\nterminated (SIGTERM); finished fits are saved, rerun the same command to resume",
              file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("\ninterrupted; finished fits are saved, rerun the same command to resume", file=sys.stderr)
        return 130


def entry() -> None:
    """The console script (and ``python -m datavsmath.cli``): run :func:`main` and exit with
    its status. After Ctrl-C or SIGTERM the process ends without the interpreter's teardown
    (``os._exit`` once the output is flushed): every finished fit, the tables and the session
    record are written by then, and a native thread still inside a tree fit would otherwise
    make the C++ runtime abort during teardown (SIGABRT, "terminate called without an active
    exception") instead of exiting with 130 or 143."""
    rc = main()
    if rc in (130, 143):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a reader gone, or a closed stream: nothing to save
                pass
        os._exit(rc)
    sys.exit(rc)


if __name__ == "__main__":
    entry()
