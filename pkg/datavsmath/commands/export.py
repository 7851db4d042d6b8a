"""Write results.csv (tidy, one row per fit) and the R-shaped CSVs
(frac,exp_name,acc,auc; the cross product: frac_damage,frac_sample,exp_name,acc,auc) of a
results folder, so they compare 1:1 with the R tables.

example:
  datavsmath export results/quick --to /tmp/tables
"""

from .run import add_experiment_arguments


def add_arguments(p):
    """Add ``export``'s arguments and options to its subparser.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The ``export`` subparser (:func:`datavsmath.cli.build_parser`).
    """
    add_experiment_arguments(p)
    p.add_argument("--to", help="where to write (default: the results folder itself)")


def run(args) -> int:
    """Write results.csv and the R-shaped CSVs of the chosen experiments.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line, its results folder settled
        (:func:`datavsmath.commands.finish_results_argument`).

    Returns
    -------
    int
        The exit status: 0 the tables were written.

    Raises
    ------
    UserError
        Bad input (a folder that does not exist, an unreadable table, a bad option); the command
        line prints it as one line and exits with status 2.
    """
    from ..errors import UserError
    from ..training.store import ResultStore
    from .run import resolve

    _, out, _ = resolve(args, broken=[])  # export reads the folder only; a broken spec is no reason to stop
    store = ResultStore(out)
    if not store.records():
        raise UserError(f"{out} holds no results; run `datavsmath run EXPERIMENT {out}` first")
    for path in store.export(args.to):
        print(f"wrote {path}")
    return 0
