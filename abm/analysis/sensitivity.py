"""Global sensitivity indices of a sweep's outputs (SALib): Sobol' S1/ST or Morris mu*."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["sensitivity"]


def sensitivity(design: str, problem: dict[str, Any], X: np.ndarray, logs: list[bool],
                points: pd.DataFrame, outputs: list[str], seed: int, levels: int = 4
                ) -> dict[str, Any]:
    """Sobol' S1/ST (with intervals) or Morris mu*/sigma per output, from SALib.

    Parameters
    ----------
    design : str
        The sweep's design; only ``sobol`` and ``morris`` have indices.
    problem : dict
        SALib's problem (``num_vars``, ``names``, ``bounds``; log-scale bounds for
        parameters swept on a log scale).
    X : ndarray
        The design matrix as run, ``(points, D)``; ``logs[j]`` says parameter ``j`` was
        sampled on a log scale.
    points : DataFrame
        One row per point with a column per output.
    seed : int
        Seed of the bootstrap intervals (the design's seed, :func:`abm.model.rng.design_seed`).
    """
    out: dict[str, Any] = {"design": design, "outputs": {}}
    if design not in ("sobol", "morris"):
        out["method"] = None
        out["note"] = (f"design {design!r} has no variance-based index; use design = "
                       "\"sobol\" or \"morris\" for sensitivity")
        return out
    prob = problem
    keys = list(problem["names"])
    out["method"] = design
    out["conf_level"] = 0.95
    out["scale"] = {k: ("log" if lg else "linear") for k, lg in zip(keys, logs, strict=True)}

    def clean(x: Any) -> float | None:
        x = float(x)
        return x if math.isfinite(x) else None

    for name in outputs:
        Y = points[name].to_numpy(dtype=np.float64)
        res: dict[str, Any] = {}
        if np.ptp(Y) == 0:
            out["outputs"][name] = {"constant": True, "value": float(Y[0]),
                                    "indices": None}
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if design == "sobol":
                from SALib.analyze import sobol as sobol_an

                si = sobol_an.analyze(prob, Y, calc_second_order=False, conf_level=0.95,
                                      seed=seed)
                for j, key in enumerate(keys):
                    res[key] = {"S1": clean(si["S1"][j]), "S1_conf": clean(si["S1_conf"][j]),
                                "ST": clean(si["ST"][j]), "ST_conf": clean(si["ST_conf"][j])}
            else:
                from SALib.analyze import morris as morris_an

                U = X.copy()
                for j, lg in enumerate(logs):
                    if lg:
                        U[:, j] = np.log(U[:, j])
                si = morris_an.analyze(prob, U, Y, conf_level=0.95,
                                       num_levels=levels, seed=seed)
                for j, key in enumerate(keys):
                    res[key] = {"mu": clean(si["mu"][j]), "mu_star": clean(si["mu_star"][j]),
                                "mu_star_conf": clean(si["mu_star_conf"][j]),
                                "sigma": clean(si["sigma"][j])}
        out["outputs"][name] = {"constant": False, "indices": res}
    return out
