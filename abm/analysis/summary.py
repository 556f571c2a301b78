"""The summary of a run (``summary.json``): probabilities, means and medians per state,
each with its interval (:mod:`abm.analysis.stats`), the base life-cycle's included."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .stats import grouped_proportion, km_median, km_median_ci, mean_ci, wilson

__all__ = ["summarize", "add_posterior_summary"]


def summarize(table: pd.DataFrame, *, name: str, trials: int, horizon: int, seed: int,
              engine: str, state_ids: tuple[str, ...],
              state_names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The ``summary.json`` dict (without ``outputs_sha256``, added by the caller)."""
    S = len(state_ids)
    fb = table["first_base_month"].to_numpy(dtype=np.float64, na_value=np.nan).reshape(trials, S)
    got = ~np.isnan(fb)
    col = {c: table[c].to_numpy().reshape(trials, S) for c in
           ("months_hosted", "closed", "vetoes", "incidents", "final_w", "final_h",
            "openings", "notices", "notices_withdrawn")}
    ended = table["first_base_closed_month"].to_numpy(dtype=np.float64, na_value=np.nan
                                                      ).reshape(trials, S)
    any_base = got.any(axis=1)
    lo, hi = wilson(int(any_base.sum()), trials)
    first_any = np.where(any_base, np.nanmin(np.where(got, fb, np.inf), axis=1), np.nan)
    out: dict[str, Any] = {
        "name": name,
        "trials": trials,
        "horizon_months": horizon,
        "seed": seed,
        "engine": engine,
        "any_base": {"p": float(any_base.mean()), "ci_low": lo, "ci_high": hi,
                     "median_first_month": km_median(first_any, horizon)},
        "states": {},
    }
    for i, sid in enumerate(state_ids):
        k = int(got[:, i].sum())
        lo, hi = wilson(k, trials)
        n_closed = int(col["closed"][:, i].sum())
        n_veto = int((col["vetoes"][:, i] > 0).sum())
        # counts are >= 0 and willingness in [0, 1]: intervals clipped to the range
        mh, mh_lo, mh_hi = mean_ci(col["months_hosted"][:, i], low=0.0, high=float(horizon))
        mi, mi_lo, mi_hi = mean_ci(col["incidents"][:, i], low=0.0)
        fw = col["final_w"][:, i].astype(np.float64)
        fw_m, fw_lo, fw_hi = mean_ci(fw, low=0.0, high=1.0)
        given = fb[got[:, i], i]
        n_end = int(col["final_h"][:, i].sum())
        n_notice = int((col["notices"][:, i] > 0).sum())
        n_rev = int((col["notices_withdrawn"][:, i] > 0).sum())
        mo, mo_lo, mo_hi = mean_ci(col["openings"][:, i], low=0.0)
        # the first base's duration, opening to closing; censored at the horizon if open
        closed_i = ended[got[:, i], i]
        dur = np.where(np.isnan(closed_i), horizon, closed_i) - given
        md, md_ci = km_median_ci(dur, ~np.isnan(closed_i), horizon)
        out["states"][sid] = {
            "name": state_names[i] if state_names else sid,
            "p_base": k / trials,
            "ci_low": lo,
            "ci_high": hi,
            "p_closed": n_closed / trials,
            "p_closed_ci": list(wilson(n_closed, trials)),
            "p_veto": n_veto / trials,
            "p_veto_ci": list(wilson(n_veto, trials)),
            "mean_vetoes": float(col["vetoes"][:, i].mean()),
            "mean_months_hosted": mh,
            "mean_months_hosted_ci": [mh_lo, mh_hi],
            "mean_incidents": mi,
            "mean_incidents_ci": [mi_lo, mi_hi],
            "median_first_base_month": km_median(fb[:, i], horizon),
            "median_first_base_month_given_base": (float(np.median(given)) if given.size
                                                   else None),
            "p_hosting_end": n_end / trials,
            "p_hosting_end_ci": list(wilson(n_end, trials)),
            "mean_openings": mo,
            "mean_openings_ci": [mo_lo, mo_hi],
            "p_notice": n_notice / trials,
            "p_notice_ci": list(wilson(n_notice, trials)),
            "p_notice_reversed": n_rev / trials,
            "p_notice_reversed_ci": list(wilson(n_rev, trials)),
            "median_base_duration": md,
            "median_base_duration_ci": md_ci,
            "final_willingness": {
                "mean": fw_m,
                "mean_ci": [fw_lo, fw_hi],
                "q05": float(np.quantile(fw, 0.05)),
                "q50": float(np.quantile(fw, 0.50)),
                "q95": float(np.quantile(fw, 0.95)),
            },
        }
    return out


def add_posterior_summary(summary: dict[str, Any], table: pd.DataFrame, *, trials: int,
                          state_ids: tuple[str, ...], group_size: int,
                          posterior: dict[str, Any]) -> None:
    """Add the parameter-uncertainty fields of a posterior run to ``summary``, in place.

    Trials ``g*G .. g*G + G - 1`` share parameter draw ``g`` (``G = group_size``). Per state
    and for ``any_base``: ``p_base_ci`` (``ci`` for any), the t interval on the mean of the
    group means, which includes parameter uncertainty, ``p_base_se``, and the law-of-total-
    variance split ``p_base_param_sd`` / ``p_base_mc_sd``
    (:func:`~abm.analysis.stats.grouped_proportion`). The Wilson fields stay: they are
    Monte Carlo only (they treat the trials as independent). ``posterior`` (calibration
    id, sha256, keys, ...) is recorded as ``summary["posterior"]``.
    """
    S = len(state_ids)
    got = table["first_base_month"].notna().to_numpy().reshape(trials // group_size,
                                                                group_size, S)
    st = grouped_proportion(got)
    for i, sid in enumerate(state_ids):
        summary["states"][sid].update({
            "p_base_ci": [float(st["ci_low"][i]), float(st["ci_high"][i])],
            "p_base_se": float(st["se"][i]),
            "p_base_param_sd": float(st["param_sd"][i]),
            "p_base_mc_sd": float(st["mc_sd"][i])})
    a = grouped_proportion(got.any(axis=2))
    summary["any_base"].update({"p_ci": [a["ci_low"], a["ci_high"]], "p_se": a["se"],
                                "p_param_sd": a["param_sd"], "p_mc_sd": a["mc_sd"]})
    summary["posterior"] = {**posterior, "group_trials": group_size,
                            "groups": trials // group_size,
                            "ci_method": "t interval on the mean of group means",
                            "wilson_fields": "Monte Carlo only (trials taken as independent)"}
