"""``abm show`` and ``abm plot`` on any results directory: a run, a sweep, a calibration
or a discovery, told apart by the ``kind`` its manifest records."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .formatting import format_summary

__all__ = ["cmd_show", "cmd_plot"]


def cmd_show(args: argparse.Namespace) -> int:
    from ..experiment.store import read_run
    from .calibrate import is_calibration_dir, show_calibration
    from .discover import is_discovery_dir, show_discovery
    from .sweepdir import is_sweep_dir, show_sweep

    path = Path(args.run_dir)
    if is_calibration_dir(path):
        return show_calibration(path, args.json)
    if is_discovery_dir(path):
        return show_discovery(path, args.json)
    if is_sweep_dir(path):
        return show_sweep(path, args.json, args.all)
    run = read_run(path)
    if args.json:
        print(json.dumps(run.summary, indent=2))
    else:
        print(format_summary(run.summary, str(run.path), run.manifest.get("overrides")))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from ..experiment.store import read_run
    from ..plots import decision_thresholds, draw_figures
    from .calibrate import is_calibration_dir, plot_calibration
    from .discover import is_discovery_dir, plot_discovery
    from .sweepdir import is_sweep_dir, plot_sweep

    path = Path(args.run_dir)
    if is_calibration_dir(path):
        return plot_calibration(path)
    if is_discovery_dir(path):
        return plot_discovery(path)
    if is_sweep_dir(path):
        return plot_sweep(path)
    run = read_run(path)
    scenario = run.manifest.get("scenario")
    paths = draw_figures(run.table(), run.months(), run.summary, run.path / "figures",
                         thresholds=decision_thresholds(scenario) if scenario else None,
                         paths=run.paths())
    for p in paths:
        print(p)
    return 0
