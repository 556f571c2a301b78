"""The command line's side of runs under a posterior (docs/forecasts.md): which posterior
a run uses, and the one a recorded run used when it is reproduced."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from ..errors import ResultsError

__all__ = ["run_posterior", "reproduce_posterior"]


def run_posterior(args: argparse.Namespace, sc: Any, trials: int) -> Any:
    """``--posterior CAL_DIR``, else the scenario's ``posterior`` key, read and checked
    (with the engine and trial count it needs); ``None`` for a plain run."""
    from ..experiment.posterior import as_posterior, check_posterior_run

    post = as_posterior(getattr(args, "posterior", None), sc)
    if post is not None:
        check_posterior_run(trials, args.engine,
                            "--trials" if getattr(args, "trials", None) else sc.source)
    return post


def reproduce_posterior(manifest: dict[str, Any], sc: Any, where: str) -> tuple[Any, Any]:
    """The scenario and posterior to re-run a recorded run with: the posterior read from
    the recorded path, which must still hash to the recorded sha256, and the stance-rule
    bookkeeping (``Scenario.derived``) restored. ``(sc, None)`` for a plain run."""
    rec = manifest.get("posterior")
    if rec is None:
        return sc, None
    from ..experiment.posterior import read_posterior

    if not isinstance(rec, dict) or not isinstance(rec.get("path"), str):
        raise ResultsError(f"{where}: posterior = {rec!r}: expected "
                           "{calibration_id, path, sha256}")
    post = read_posterior(rec["path"], source=where)
    if post.sha256 != rec.get("sha256"):
        raise ResultsError(f"{where}: posterior.sha256 = {str(rec.get('sha256'))[:12]}...: "
                           f"{rec['path']}/posterior.parquet now hashes to "
                           f"{post.sha256[:12]}...; the run cannot be reproduced from it")
    derived = tuple(tuple(d) for d in rec.get("stance_rule_derived") or ())
    return replace(sc, derived=derived), post

