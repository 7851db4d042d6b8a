"""datavsmath: Bigger Data v Better Math, a faithful Python port of the R Fashion-MNIST testbench.

The package follows the data through the experiment, one place per stage; imports point one
way, from the command line down to the data:

==========================  ====================================================================
``datavsmath.data``         datasets: read and verify Fashion-MNIST (IDX files, checksums)
``datavsmath.damage``       sampling and label damage: the noise rules (``random``, ``constant``)
``datavsmath.models``       the four models ("the math"): a registry, ``make_model(name, seed)``;
                            ``datavsmath.keras22``: keras 2.2's RMSprop and loss for keras 3;
                            ``datavsmath.pretraining``: the cached pretrained CNN weights
``datavsmath.metrics``      accuracy and caret's mean one-vs-all AUC
``datavsmath.experiments``  experiment specs (``reproduce/*.toml``), grids, seeds
``datavsmath.training``     running a grid: runner, fused programs, Dask, results store, provenance
``datavsmath.stats``        statistics of results: curve forms, fits, data needed, parity with R
``datavsmath.report``       what the report pages show: figures, findings, results folders
``datavsmath.cli``          the ``datavsmath`` command; one module per subcommand in ``commands/``
==========================  ====================================================================

Where to add things: a model in ``models.py`` (``MODELS``), a noise rule in ``damage.py``, a
curve form in ``stats/forms.py`` (``LEARNING_FORMS``), a figure in ``report/figures.py``, a
report page in ``reports/`` (narrative only; its numbers come from ``datavsmath.report`` and
``datavsmath.stats``), a subcommand in ``commands/`` (listed in ``cli.COMMANDS``).

The public API is the names listed in each module's ``__all__`` (or, where a module has none,
its names without a leading underscore). Importing ``datavsmath`` imports nothing heavy:
TensorFlow, JAX, xgboost and plotnine load when a function needs them.
"""

from importlib.metadata import PackageNotFoundError, version

try:  # one place for the version: pyproject.toml, read from the installed metadata
    __version__ = version("datavsmath")
except PackageNotFoundError:  # run from a checkout without installing
    __version__ = "0.0.0+unknown"

#: the subpackages and modules of the public API, in the order data flows through them
__all__ = ["data", "damage", "models", "metrics", "experiments", "training", "stats", "report", "cli"]
