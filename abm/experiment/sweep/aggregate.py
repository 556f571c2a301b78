"""A sweep chunk's result: the kernel's per-trial outcomes of ``P`` points reduced to
integer aggregates and packed indicator bits (the checkpoint format), shared by plain
sweeps (:func:`.run.sweep_chunk`) and sweeps under a posterior
(:func:`.posterior.posterior_chunk`)."""

from __future__ import annotations

import numpy as np

from ...model.accumulators import FIXED_POINT

__all__ = ["chunk_aggregates"]


def chunk_aggregates(out: dict[str, np.ndarray], p0: int, b0: int, m: int
                     ) -> dict[str, np.ndarray]:
    """Integer aggregates per point and state (shape ``(P, S)``), ``n_any`` per point and
    ``bits`` (per point and trial, the packed indicators of a base per state and
    anywhere) from the kernel's outcome arrays of shape ``(P, m, S)``."""
    got = out["first_base_month"] >= 0
    hosted = out["months_hosted"].astype(np.int64)
    inc = out["incidents"].astype(np.int64)
    anyb = got.any(axis=-1)
    return {
        "p0": np.int64(p0), "b0": np.int64(b0), "m": np.int64(m),
        "n_base": got.sum(axis=1, dtype=np.int64),
        "n_veto": (out["vetoes"] > 0).sum(axis=1, dtype=np.int64),
        "n_closed": out["closed"].sum(axis=1, dtype=np.int64),
        "sum_hosted": hosted.sum(axis=1), "sumsq_hosted": (hosted * hosted).sum(axis=1),
        "sum_incidents": inc.sum(axis=1), "sumsq_incidents": (inc * inc).sum(axis=1),
        "sum_final_w": np.rint(out["final_w"] * FIXED_POINT).astype(np.int64).sum(axis=1),
        "n_any": anyb.sum(axis=1, dtype=np.int64),
        "bits": np.packbits(np.concatenate([got, anyb[..., None]], axis=-1), axis=-1),
    }
