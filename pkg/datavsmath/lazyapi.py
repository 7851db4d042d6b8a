"""A subpackage's API loaded on first use (PEP 562), so that importing one light module of a
subpackage does not import the heavy ones (statsmodels, keras, plotnine) its API also names."""

from __future__ import annotations

import importlib
from typing import Callable

__all__ = ["lazy_api"]


def lazy_api(package: str, api: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a subpackage whose API lives in its modules.

    Parameters
    ----------
    package : str
        The subpackage's name, e.g. ``"datavsmath.training"``.
    api : dict of str to str
        Public name -> the module (relative to ``package``) that defines it.

    Returns
    -------
    tuple of (callable, callable)
        ``__getattr__(name)``, which imports the name's module on first use (an unknown name is
        an AttributeError listing the API; submodules still import as usual), and ``__dir__()``.
    """
    def __getattr__(name: str) -> object:
        if name in api:
            return getattr(importlib.import_module(f"{package}.{api[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}; "
                             f"the API is {', '.join(sorted(api))}")

    def __dir__() -> list[str]:
        return sorted(api)

    return __getattr__, __dir__
