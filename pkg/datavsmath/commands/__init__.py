"""The subcommands, one module each (see ``datavsmath.cli``), and the option helpers they share.

Folder arguments mean the same in every command. The results folder a command reads or runs
into is an argument, never an option: ``datavsmath status results/full``, ``datavsmath fit
results/quick``, ``datavsmath run size results/quick``. ``--to DIR`` names where a command
writes what it derives from its input (export, fit, figures, parity, advise). run, status and
export also take experiment names as arguments: an argument that names an experiment or a group
(``all``, ``r``) is one; any other is the results folder (a path, such as ``results/quick`` or
``./mine``, or a folder that exists). ``--out`` once named the results folder of run, status and
export; it still works everywhere, with a one-line note on stderr (and in fit and figures, next
to RESULTS, it keeps its older meaning, --to).
"""

from __future__ import annotations

import sys
from pathlib import Path

#: how a command takes its results folder: "experiments" (run, status, export: one of the
#: EXPERIMENT arguments), "sources" (one or more RESULTS arguments) or "folder" (one RESULTS)
RESULTS_STYLES = ("experiments", "sources", "folder")
#: commands that create their results folder rather than read it
WRITERS = ("run",)
#: shown after the note on --out: the same command with the folder as an argument
EXAMPLES = {"run": "datavsmath run size results/quick", "status": "datavsmath status results/full",
            "export": "datavsmath export results/quick", "fit": "datavsmath fit results/quick",
            "figures": "datavsmath figures results/quick", "parity": "datavsmath parity results/full",
            "advise": "datavsmath advise results/full ...", "exchange": "datavsmath exchange results/full",
            "verify": "datavsmath verify results/quick"}


def add_results_argument(parser, style: str, *, dest: str = "source", help_text: str = "",
                         old_to: bool = False, optional: bool = False) -> None:
    """The results folder as a positional argument, and ``--out`` as its deprecated alias.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    style : {"sources", "folder"}
        "sources": one or more RESULTS (``fit``); "folder": exactly one (the rest). The
        "experiments" style (run, status, export) adds its positional itself and calls
        :func:`add_out_alias` only.
    dest : str
        Attribute the folder (a list for "sources") is stored under.
    help_text : str
        The positional's help.
    old_to : bool
        The command once took ``--out`` for its output folder (fit, figures): next to a
        RESULTS argument, ``--out`` still means ``--to``.
    optional : bool
        RESULTS may be left out (``figures`` has a default folder).
    """
    if style not in ("sources", "folder"):
        raise ValueError(f"style must be 'sources' or 'folder', got {style!r}")
    # not required here: `--out DIR` may stand in for it (checked in finish_results_argument)
    parser.add_argument(dest, nargs="*" if style == "sources" else "?", metavar="RESULTS",
                        help=help_text + ("" if optional else " (required)"))
    add_out_alias(parser, style, dest=dest, old_to=old_to)
    parser.set_defaults(_results_optional=optional)


def add_out_alias(parser, style: str, *, dest: str = "out", old_to: bool = False) -> None:
    """``--out DIR``, the deprecated alias of the results folder argument (see the module).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    style : {"experiments", "sources", "folder"}
        How the command takes its results folder (:data:`RESULTS_STYLES`);
        :func:`finish_results_argument` settles the folder by it.
    dest : str
        Attribute the results folder is stored under.
    old_to : bool
        Next to a RESULTS argument, ``--out`` still means ``--to`` (fit, figures).
    """
    extra = "; next to RESULTS, the old name of --to" if old_to else ""
    parser.add_argument("--out", dest="out_deprecated", metavar="DIR",
                        help=f"deprecated: give the results folder as an argument instead{extra}")
    parser.set_defaults(_results_style=style, _results_dest=dest, _old_to=old_to)


def results_missing_message(folder, command: str) -> str:
    """Why ``folder`` cannot be read, and what to do (one line).

    Parameters
    ----------
    folder : str or PathLike
        The results folder or CSV that does not exist.
    command : str
        The command that was to read it (the message is the same for every command now).

    Returns
    -------
    str
        The message: for a ``.csv`` path, to name a table that exists; else to run an
        experiment into the folder first.
    """
    if Path(folder).suffix.lower() == ".csv":  # a table named, not a folder
        return (f"no such file {folder}: give a results.csv (or R-shaped CSV) that exists, or the "
                "results folder that holds results.csv / cells/")
    return (f"no results folder {folder} (nothing stored there yet?): run `datavsmath run EXPERIMENT "
            f"{folder}` first, or give the folder that holds results.csv / cells/")


def check_results_exist(path, command: str) -> None:
    """Stop early when the results folder (or CSV) a command reads does not exist.

    Called before anything else is done with it, so that a mistyped folder is one line, not a
    traceback from deep inside the reader.

    Parameters
    ----------
    path : str or PathLike
        The results folder or CSV.
    command : str
        The command that reads it.

    Raises
    ------
    UserError
        If ``path`` does not exist (:func:`results_missing_message` says what to do).
    """
    from ..errors import UserError

    if not Path(path).exists():
        raise UserError(results_missing_message(path, command))


def _looks_like_path(text: str) -> bool:
    return ("/" in text or "\\" in text or text.startswith((".", "~")) or Path(text).is_dir())


def split_experiments(items: list[str], command: str) -> tuple[list[str], str | None]:
    """(experiment names, results folder or None) from run/status/export's arguments.

    An argument naming an experiment or a group (``all``, ``r``) is one; any other is the
    results folder when it looks like a path (holds a ``/``, starts with ``.`` or ``~``) or is
    a folder that exists.

    Parameters
    ----------
    items : list of str
        The command's positional arguments.
    command : str
        The command (run, status or export), for the messages.

    Returns
    -------
    (list of str, str or None)
        The experiment names (``["all"]`` when none is given) and the results folder.

    Raises
    ------
    UserError
        If an argument is neither an experiment nor a path, or two folders are named.
    """
    from ..errors import UserError
    from ..experiments import experiment_names

    known = experiment_names()
    names, folders = [], []
    for item in items:
        if item in known or item in ("all", "r"):
            names.append(item)
        elif _looks_like_path(item):
            folders.append(item)
        else:
            raise UserError(f"{item!r} is neither an experiment nor a results folder: choose experiments "
                            f"from {', '.join(known)}, r (R's four) or all, and give a results folder as "
                            f"a path (e.g. results/{item} or ./{item})")
    if len(folders) > 1:
        raise UserError(f"{' and '.join(folders)} name two results folders; `datavsmath {command}` "
                        "takes one")
    return names or ["all"], (folders[0] if folders else None)


def finish_results_argument(args) -> None:
    """Settle the results folder of a parsed command line, in place.

    The folder is the positional argument or the deprecated ``--out`` (with a note on
    stderr). A folder a command reads is checked to exist first (:func:`check_results_exist`).
    Commands without a results folder pass.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (:func:`datavsmath.cli.parse_args`); its results attribute
        (``out`` for the "experiments" style, else the ``dest`` given) is set.

    Raises
    ------
    UserError
        If two different folders are named, none is given where one is needed, or a folder
        a command reads does not exist.
    """
    from ..errors import UserError

    style = getattr(args, "_results_style", None)
    if style is None:
        return
    command, old = args.command, args.out_deprecated
    if style == "experiments":
        args.experiments, folder = split_experiments(args.experiments, command)
        if old is not None:
            if folder is not None and folder != old:
                raise UserError(f"{folder} and --out {old} name two results folders; give one")
            _note_deprecated(command)
            folder = old
        args.out = folder
        if folder is not None and command not in WRITERS:
            check_results_exist(folder, command)
        return
    dest = args._results_dest
    given = getattr(args, dest)
    given = [g for g in (given if isinstance(given, list) else [given]) if g is not None]
    if old is not None:
        if given and args._old_to:  # `fit RESULTS --out DIR`, as before: DIR is --to
            if args.to is not None and args.to != old:
                raise UserError(f"--to {args.to} and --out {old} name two folders; give --to only")
            print(f"datavsmath {command}: note: --out is deprecated here, use --to {old}", file=sys.stderr)
            args.to = old
        elif given:
            raise UserError(f"{given[0]} and --out {old} name two results folders; give one, as an "
                            f"argument: {EXAMPLES.get(command, 'datavsmath ' + command + ' RESULTS')}")
        else:
            _note_deprecated(command)
            given = [old]
    if not given and not getattr(args, "_results_optional", False):
        raise UserError(f"give the results folder (or CSV) to read: {EXAMPLES[command]}")
    for path in given:
        check_results_exist(path, command)
    setattr(args, dest, given if style == "sources" else (given[0] if given else None))


def _note_deprecated(command: str) -> None:
    print(f"--out is deprecated; give the results folder as an argument: "
          f"{EXAMPLES.get(command, 'datavsmath ' + command + ' RESULTS')}", file=sys.stderr)


def json_records(frame, columns) -> list[dict]:
    """Rows of a table as JSON-ready dicts, for the commands' ``--json``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    columns : sequence of str
        The columns to keep, in order; those ``frame`` lacks are left out.

    Returns
    -------
    list of dict
        One dict per row: numpy scalars as Python numbers, NaN and infinite numbers as None
        (JSON has neither).
    """
    import math

    keep = [c for c in columns if c in frame.columns]
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else
                 v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame[keep].to_dict("records")]


def write_tables(to, frames: dict, quiet: bool = False) -> list[Path]:
    """With ``--to DIR``: each frame as ``DIR/tables/<name>``, and a "wrote" line for each.

    Parameters
    ----------
    to : str, os.PathLike or None
        The ``--to`` folder; None writes nothing.
    frames : dict of str -> pandas.DataFrame
        File name (e.g. "advice.csv") -> table, written without its index.
    quiet : bool
        Say nothing (a command printing JSON keeps standard output to the JSON).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    if not to:
        return []
    tables = Path(to) / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in frames.items():
        frame.to_csv(tables / name, index=False)
        written.append(tables / name)
    if not quiet:
        print("\n" + "\n".join(f"wrote {p}" for p in written))
    return written


def add_json_argument(parser, schema: str) -> None:
    """``--json``: one JSON object on stdout instead of the text.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    schema : str
        The object's keys, for the option's help.
    """
    parser.add_argument("--json", action="store_true",
                        help=f"print one JSON object instead of the text (same exit status): {schema}")
