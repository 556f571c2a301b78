"""The per-trial outcome record, declared once.

:data:`OUTCOMES` lists every per-trial, per-state outcome with its dtype and meaning. The
engines return arrays named by it, :class:`ChunkResult` carries them, the per-trial table
(``trials.parquet``) has a column for each (:data:`TRIAL_COLUMNS`), the canonical hash
(:func:`outputs_sha256`) encodes each by its dtype, and the docs' outcome table is
generated from it (:func:`outcomes_markdown`). A new outcome is one entry here plus the
line of the month step that computes it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .accumulators import ACCUMULATORS

__all__ = ["Outcome", "OUTCOMES", "OUTCOME_NAMES", "TRIAL_COLUMNS", "OUTPUTS_FORMAT",
           "FORMAT_COLUMNS",
           "ChunkResult",
           "empty_outcomes", "trial_table", "outputs_sha256", "outcomes_markdown"]


@dataclass(frozen=True)
class Outcome:
    """One per-trial, per-state outcome: its name, dtype, unit and meaning.

    ``missing`` is the value that stands for "none" in the arrays (written as a missing
    value in the table and as itself in the hash).
    """

    name: str
    dtype: type
    unit: str
    meaning: str
    missing: int | None = None

    @property
    def hash_format(self) -> str:
        """Little-endian fixed-width encoding in :func:`outputs_sha256`."""
        kind = np.dtype(self.dtype).kind
        return {"b": "u1", "f": "<f8"}.get(kind, "<i8")


OUTCOMES: tuple[Outcome, ...] = (
    Outcome("first_base_month", np.int32, "month",
            "t + 1 if a base first opened during month t; 0 if hosting at month 0; "
            "missing if never", missing=-1),
    Outcome("months_hosted", np.int32, "months", "months that ended with a base"),
    Outcome("closed", np.bool_, "switch", "a base was closed during the run"),
    Outcome("vetoes", np.int32, "count", "agreements refused consent under the CSTO rule"),
    Outcome("incidents", np.int64, "count", "spillover incidents on the state's border"),
    Outcome("openings", np.int32, "count",
            "bases opened during the run (a month-0 base not counted)"),
    Outcome("notices", np.int32, "count", "notices to end a base given by the host"),
    Outcome("notices_withdrawn", np.int32, "count", "notices withdrawn before they ran out"),
    Outcome("first_base_closed_month", np.int32, "month",
            "t + 1 if the first base closed during month t; missing if it did not",
            missing=-1),
    Outcome("final_w", np.float64, "share", "willingness at the horizon"),
    Outcome("final_p", np.float64, "share", "public support at the horizon"),
    Outcome("final_s", np.float64, "threat", "threat stock at the horizon"),
    Outcome("final_h", np.bool_, "switch", "hosting a base at the horizon"),
)
OUTCOME_NAMES: tuple[str, ...] = tuple(o.name for o in OUTCOMES)
#: The format tag of :func:`outputs_sha256` (and of ``trials.parquet``): it changes
#: whenever the columns change, so a hash is only ever compared with one of its format.
#: v1: the nine columns up to ``final_h``; v2: the life-cycle outcomes added.
OUTPUTS_FORMAT = "abm-trials-v2"
#: Columns of the per-trial table, in canonical order.
TRIAL_COLUMNS: tuple[str, ...] = ("trial", "state", *OUTCOME_NAMES)
#: The outcome columns each format hashes, so that a run written in an older format can
#: still be reproduced on the columns it has.
FORMAT_COLUMNS: dict[str, tuple[str, ...]] = {
    "abm-trials-v1": ("first_base_month", "months_hosted", "closed", "vetoes", "incidents",
                      "final_w", "final_p", "final_s", "final_h"),
    OUTPUTS_FORMAT: OUTCOME_NAMES,
}


@dataclass
class ChunkResult:
    """Outcomes of trials ``start .. start + n - 1`` and their per-month accumulators.

    ``outcomes`` maps each name of :data:`OUTCOMES` to an array ``(n, S)`` of its dtype;
    ``acc`` maps each name of :data:`~abm.model.accumulators.ACCUMULATORS` to its
    integer array ``(T + 1, S, ...)``.
    """

    start: int
    outcomes: dict[str, np.ndarray]
    acc: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [o for o in OUTCOME_NAMES if o not in self.outcomes]
        if missing:
            raise ValueError(f"ChunkResult lacks outcomes {missing}")
        for k in ACCUMULATORS:
            if self.acc and k not in self.acc:
                raise ValueError(f"ChunkResult lacks accumulator {k!r}")

    @property
    def n(self) -> int:
        return self.outcomes[OUTCOME_NAMES[0]].shape[0]

    def __getattr__(self, name: str) -> np.ndarray:
        # chunk.final_w, chunk.hist_w: the record's names as attributes
        d = self.__dict__
        if name in d.get("outcomes", {}):
            return d["outcomes"][name]
        if name in d.get("acc", {}):
            return d["acc"][name]
        raise AttributeError(name)


def empty_outcomes(shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Zeroed outcome arrays of ``shape`` (the missing value where one is declared)."""
    return {o.name: np.full(shape, o.missing if o.missing is not None else 0, dtype=o.dtype)
            for o in OUTCOMES}


def trial_table(outcomes: dict[str, np.ndarray], trials: int, ids: tuple[str, ...]
                ) -> pd.DataFrame:
    """The per-trial table: one row per (trial, state), columns :data:`TRIAL_COLUMNS`.

    ``outcomes`` arrays have shape ``(trials, S)``. Built without copies: ``ravel()`` of a
    C-ordered array is a view, IntegerArray takes values and mask as they are, and the
    state column is one byte of codes per row.
    """
    S = len(ids)
    cols = {
        "trial": np.repeat(np.arange(trials, dtype=np.int64), S),
        "state": pd.Categorical.from_codes(np.tile(np.arange(S, dtype=np.int16), trials),
                                           categories=list(ids)),
    }
    for o in OUTCOMES:
        x = outcomes[o.name].ravel()
        cols[o.name] = pd.arrays.IntegerArray(x, x == o.missing) if o.missing is not None else x
    return pd.DataFrame(cols, columns=list(TRIAL_COLUMNS), copy=False)


def outputs_sha256(table: pd.DataFrame, fmt: str = OUTPUTS_FORMAT) -> str:
    """SHA-256 of the per-trial table in canonical order and format.

    Rows in the table's order (trial, then state in scenario order, as every engine builds
    it; a reordered table hashes differently); each column in :data:`TRIAL_COLUMNS` order
    as little-endian fixed-width bytes by the outcome's dtype (int64, float64 bit patterns,
    bool as uint8; a missing value as the outcome's ``missing``). The state column is its
    distinct ids in order of first appearance, UTF-8 joined by NUL, then an int32 code per
    row. Two runs that agree row for row and bit for bit give the same hash, whatever the
    executor. The bytes start with the format tag ``fmt`` (default :data:`OUTPUTS_FORMAT`);
    an older format hashes its own columns (:data:`FORMAT_COLUMNS`).
    """
    names = FORMAT_COLUMNS[fmt]
    by_name = {o.name: o for o in OUTCOMES}
    h = hashlib.sha256()
    h.update(fmt.encode() + b"\0")
    h.update(b"trial\0")
    h.update(table["trial"].to_numpy(dtype="<i8").tobytes())
    h.update(b"state\0")
    # ids in order of first appearance, then one code per row: canonical for a
    # categorical or a string column alike, without a Python string per row
    codes, uniques = pd.factorize(table["state"], sort=False)
    h.update("\0".join(map(str, uniques)).encode() + b"\0")
    h.update(codes.astype("<i4").tobytes())
    for o in (by_name[n] for n in names):
        s = table[o.name]
        h.update(o.name.encode() + b"\0")
        if o.missing is not None:
            s = s.fillna(o.missing)
        h.update(s.to_numpy(dtype=o.hash_format).tobytes())
    return h.hexdigest()


def outcomes_markdown() -> str:
    """The outcome table of ``docs/model.md``."""
    rows = ["| column | dtype | unit | meaning |", "|---|---|---|---|"]
    for o in OUTCOMES:
        rows.append(f"| `{o.name}` | {np.dtype(o.dtype).name} | {o.unit} | {o.meaning} |")
    return "\n".join(rows) + "\n"
