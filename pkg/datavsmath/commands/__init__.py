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
