"""Statistics of finished results: curve forms, curve fitting, learning curves, data needed,
quality, breakdown, parity.

The public API is that of :mod:`datavsmath.stats.scaling` (``fit_learning_curves(df)
.summary()``, ``data_needed``, ``data_quality_derivative``, ``joint_law``, ``analyze``, ...),
reachable from here: ``from datavsmath.stats import fit_learning_curves``. The names are
loaded on first use, so that importing a light submodule (``datavsmath.stats.parity``) does
not import statsmodels.
"""

from __future__ import annotations

from ..lazyapi import lazy_api

__all__ = [  # noqa: F822 (loaded on first use by __getattr__)
    "FORM_NAMES", "EXTENDED_FORMS", "learning_forms", "N_TOTAL", "N_TEST", "HORIZON", "CHANCE",
    "DEFAULT_TARGETS", "ScalingWarning", "cell_table", "fit_learning_curves", "data_needed",
    "observations_needed", "data_quality_derivative", "joint_law", "backtest",
    "breakdown_points", "analyze", "write_tables", "BacktestResults", "CurveSet",
    "LearningCurveResults", "DataNeededResults", "ObservationsNeeded", "DataQualityDerivative",
    "BreakdownResults", "ScalingReport", "TABLE_FILES", "CROSS_THRESHOLDS", "fit_pruning",
    "PruningResults", "PruningCrossover",
]
__getattr__, __dir__ = lazy_api(__name__, {name: "scaling" for name in __all__})
