"""datavsmath: Bigger Data v Better Math, a faithful Python port of the R Fashion-MNIST testbench.

Pipeline, one module each: ``data`` -> ``damage`` (sampling and label damage) -> ``models``
-> ``metrics`` -> ``experiments`` (specs and grids) -> ``runner`` / ``store`` -> ``scaling``
(statistics) -> ``figures`` -> the Quarto reports.
"""

__version__ = "0.1.0"
