"""The subcommands, one module each (see ``datavsmath.cli``), and the option helpers they share.

Folder options mean the same in every command: ``--out`` names the results folder a command
reads or runs into (run, status, export); ``--to`` names where a command writes what it
derives from its input (export, fit, figures). fit and figures once called that ``--out``;
they still accept it, with a note.
"""


def add_to_argument(parser, help_text: str) -> None:
    """``--to DIR`` for a command's outputs, with ``--out`` kept as a deprecated alias."""
    parser.add_argument("--to", metavar="DIR", help=help_text)
    parser.add_argument("--out", dest="out_deprecated", metavar="DIR",
                        help="deprecated alias of --to (elsewhere --out names the results folder read)")


def output_dir(args, command: str) -> str | None:
    """The folder given by --to (or the deprecated --out, with a note on stderr), or None."""
    import sys

    from ..errors import UserError

    to, old = args.to, args.out_deprecated
    if old is not None:
        if to is not None and to != old:
            raise UserError(f"--to {to} and --out {old} name two folders; give --to only")
        print(f"datavsmath {command}: note: --out is deprecated here, use --to {old} (--out names "
              "the results folder that run, status and export read)", file=sys.stderr)
    return to if to is not None else old


def json_records(frame, columns) -> list[dict]:
    """Rows of ``frame`` as JSON-ready dicts of ``columns`` (those present), for the commands'
    ``--json``: numpy scalars as Python numbers, NaN and infinite numbers as None (JSON has
    neither)."""
    import math

    keep = [c for c in columns if c in frame.columns]
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else
                 v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame[keep].to_dict("records")]


def add_json_argument(parser, schema: str) -> None:
    """``--json``: one JSON object on stdout instead of the text; ``schema`` says its keys."""
    parser.add_argument("--json", action="store_true",
                        help=f"print one JSON object instead of the text (same exit status): {schema}")
