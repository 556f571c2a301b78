"""A few saved trajectories over a run's fan charts.

When a run saved the paths of its first trials (``paths.parquet``, see
:mod:`abm.model.paths`), the fan charts of :mod:`abm.plots.run` overlay the first
:data:`PATHS_SHOWN` of them as thin lines: the bands say how spread the trials are, the
lines how one trial moves through them (a base opening shows as a jump in ``w``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

__all__ = ["PATHS_SHOWN", "path_lines", "draw_path_lines", "path_handle", "path_note"]

#: Trials drawn over each fan chart (the first ones saved).
PATHS_SHOWN = 5
_PATH_COLOUR = "0.15"


def path_lines(paths: pd.DataFrame | None, ids: Sequence[str], var: str,
               k: int = PATHS_SHOWN) -> dict[str, np.ndarray]:
    """Per state, ``var`` of the first ``k`` saved trials, shape ``(trials, months)``;
    empty if there are no paths (or no such column)."""
    if paths is None or paths.empty or var not in paths.columns:
        return {}
    first = paths[paths["trial"] < k]
    state = first["state"].astype(str)
    out = {}
    for sid in ids:
        d = first.loc[state == sid, ["trial", "month", var]]
        if not d.empty:
            out[sid] = d.pivot(index="trial", columns="month", values=var).to_numpy(float)
    return out


def draw_path_lines(ax: Axes, lines: Mapping[str, np.ndarray], sid: str) -> None:
    """The thin lines of one state's panel (nothing if it has none)."""
    ys = lines.get(sid)
    if ys is None:
        return
    m = np.arange(ys.shape[1])
    for y in ys:
        ax.plot(m, y, color=_PATH_COLOUR, linewidth=0.6, alpha=0.55, zorder=3)


def path_handle(lines: Mapping[str, np.ndarray]) -> list[Line2D]:
    """The legend entry of the lines (none without paths)."""
    if not lines:
        return []
    n = max(len(v) for v in lines.values())
    label = "trial 0" if n == 1 else f"trials 0–{n - 1}"
    return [Line2D([], [], color=_PATH_COLOUR, linewidth=0.6, alpha=0.7, label=label)]


def path_note(lines: Mapping[str, np.ndarray]) -> str:
    """The sentence the figure's note gains (empty without paths)."""
    if not lines:
        return ""
    n = max(len(v) for v in lines.values())
    which = "trial 0" if n == 1 else f"trials 0–{n - 1}"
    return f" Thin lines: the paths of {which} (paths.parquet)."
