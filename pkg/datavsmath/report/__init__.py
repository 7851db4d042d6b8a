"""What the report pages show: figures, findings and what a page needs from a results folder.

The API, reachable from here (``from datavsmath.report import load``) and loaded on first use
(plotnine only with the figures):

* a results folder as the pages see it: :func:`~datavsmath.report.site.load` (a
  :class:`~datavsmath.report.site.Site`), ``default_results_dir``; what a build of the site
  rests on: ``build_info`` (:mod:`~datavsmath.report.build`);
* the findings in numbers and words: ``headline`` (:mod:`~datavsmath.report.findings`),
  ``size_verdict``, ``derivative_verdict`` (:mod:`~datavsmath.report.verdicts`);
* figures: ``talk_figures``, ``scaling_figures``, ``export_figures`` (``datavsmath figures``);
* the published site: ``publish`` (``make report``).
"""

from __future__ import annotations

from ..lazyapi import lazy_api

_API = {
    "load": "site", "Site": "site", "default_results_dir": "site", "build_info": "build",
    "headline": "findings", "size_verdict": "verdicts", "derivative_verdict": "verdicts",
    "talk_figures": "figures", "export_figures": "figures", "scaling_figures": "stats_figures",
    "publish": "publish",
}
__getattr__, __dir__ = lazy_api(__name__, _API)
__all__ = list(_API)
