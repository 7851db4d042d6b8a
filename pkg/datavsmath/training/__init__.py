"""Training: what a run is to do (plan), its units and their execution (units, runner), fused
programs (fused, programs), Dask (cluster), the results store and provenance.

The API, reachable from here (``from datavsmath.training import read_results``) and loaded on
first use, so that importing the store does not start keras:

* results: :class:`~datavsmath.training.store.ResultStore`, ``read_results``, ``read_r_csv``
  (:mod:`~datavsmath.training.rshape`), ``atomic_write`` (:mod:`~datavsmath.training.files`);
* a run: ``run_experiment`` (:mod:`~datavsmath.training.runner`), ``RunLock``,
  ``read_provenance``, ``local_cluster`` and ``connect`` (Dask);
* checking stored fits: ``verify_cells``, ``choose_cells``, ``stored_cells``, ``envelope_for``.
"""

from __future__ import annotations

from ..lazyapi import lazy_api

_API = {
    "ResultStore": "store", "read_results": "store", "read_r_csv": "rshape", "atomic_write": "files",
    "run_experiment": "runner", "RunLock": "lock", "read_provenance": "provenance",
    "local_cluster": "cluster", "connect": "cluster",
    "verify_cells": "verify", "choose_cells": "verify", "stored_cells": "verify",
    "envelope_for": "envelope",
}
__getattr__, __dir__ = lazy_api(__name__, _API)
__all__ = list(_API)
