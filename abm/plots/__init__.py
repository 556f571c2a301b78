"""Figures: PNG files an analyst can read without the code.

Four products, one module each:

=================================  =========================================================
module                             figures
=================================  =========================================================
:mod:`abm.plots.run`               the six figures of one run (:func:`draw_figures`,
                                   :func:`build_figures`, :func:`draw_run_dir`); three of
                                   them are drawn by :mod:`abm.plots.run_outcomes`
:mod:`abm.plots.sweep`             a parameter sweep's response curves and (through
                                   :mod:`abm.plots.sweep_heatmap`) heatmap
                                   (:func:`draw_sweep_figures`, :func:`iter_sweep_figures`)
:mod:`abm.plots.sensitivity`       a sweep's Sobol' or Morris indices (drawn by
                                   :func:`draw_sweep_figures`)
:mod:`abm.plots.history`           the historical check (:func:`draw_history`,
                                   :func:`build_history_figure`)
=================================  =========================================================

:mod:`abm.plots.style` holds what they share: palette, sizes, the figure frame, axes and
number formats. Every ``draw_*`` function writes PNG files; the matching ``build_*`` or
``iter_*`` function returns the :class:`matplotlib.figure.Figure` objects instead, to show
in a notebook or to inspect.

Colours follow the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), which
stays distinguishable under the common colour-vision deficiencies; ordered levels and
heatmaps use viridis, which does too.

Only the object-oriented matplotlib API is used (:class:`matplotlib.figure.Figure`, saved
through the Agg canvas): this package never imports ``matplotlib.pyplot``, never selects a
backend and never changes ``rcParams``, so drawing figures inside a notebook or a GUI
session leaves the user's matplotlib set-up as it was. Nothing in :mod:`abm` imports this
package at import time (the commands and :mod:`abm.experiment` do when they draw), so
``import abm`` does not load matplotlib. It imports only :mod:`abm.errors`,
:mod:`abm.analysis` and :mod:`abm.scenario`, never :mod:`abm.experiment`.
"""

from __future__ import annotations

from .history import build_history_figure, draw_history
from .run import FIGURE_NAMES, build_figures, decision_thresholds, draw_figures, draw_run_dir
from .sweep import draw_sweep_figures, iter_sweep_figures

__all__ = [
    "FIGURE_NAMES",
    "build_figures",
    "build_history_figure",
    "decision_thresholds",
    "draw_figures",
    "draw_history",
    "draw_run_dir",
    "draw_sweep_figures",
    "iter_sweep_figures",
]
