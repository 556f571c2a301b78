"""Forecasts that carry parameter uncertainty: runs under a calibration's posterior.

A calibration directory (written by ``abm calibrate``) holds ``manifest.json`` and
``posterior.parquet``: one row per particle, one column per calibrated scenario key (its
dotted name, e.g. ``dynamics.pressure_effect``) and ``weight``. :func:`read_posterior`
reads and checks it. Under a posterior, trials come in groups of
:data:`~abm.model.rng.GROUP_SIZE`; group ``g`` runs the scenario with the parameter set of
the particle drawn for it (:func:`abm.model.rng.group_particles`), applied by
:func:`abm.scenario.params.with_parameters` (the fast path of ``--set``, whole months
rounded to the nearest whole number). :func:`posterior_plan` compiles each particle drawn
once and hands the executor :func:`abm.model.groups.run_groups` tasks. docs/forecasts.md
has the statistics.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError, ResultsError, display_path
from ..model.compile import Compiled, compile_scenario
from ..model.rng import BLOCK_SIZE, GROUP_SIZE, group_particles
from ..scenario import Scenario
from ..scenario.params import parameter_meta, with_parameters

__all__ = ["Posterior", "read_posterior", "as_posterior", "check_posterior_run",
           "posterior_plan", "PosteriorPlan", "POSTERIOR_FILE", "WEIGHT_COLUMN"]

POSTERIOR_FILE = "posterior.parquet"
WEIGHT_COLUMN = "weight"
_ID_RE = re.compile(r"^[0-9a-f]{12}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Posterior(NamedTuple):
    """A weighted sample of parameter sets.

    ``keys`` the dotted scenario keys (``d``), ``values`` shape ``(K, d)`` float64,
    ``weights`` shape ``(K,)`` summing to 1, the calibration's id, the sha256 of
    ``posterior.parquet`` and the directory it was read from.
    """

    keys: tuple[str, ...]
    values: np.ndarray
    weights: np.ndarray
    calibration_id: str
    sha256: str
    path: str

    def record(self) -> dict[str, Any]:
        """What a manifest records: ``{calibration_id, path, sha256}``."""
        return {"calibration_id": self.calibration_id, "path": self.path,
                "sha256": self.sha256}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_posterior(cal_dir: str | Path, source: str = "--posterior") -> Posterior:
    """Read and check a calibration directory's posterior.

    Checks: the directory and its ``manifest.json`` exist, ``kind`` is ``"calibration"``,
    ``calibration_id`` is 12 hex digits, ``files["posterior.parquet"]`` is the sha256 of
    the file; every column but ``weight`` is a scenario key of kind float or whole, holding
    finite numbers (ranges are checked when applied); weights finite, >= 0, summing to 1
    (within 1e-6; renormalised). ``source`` names where the path came from (``--posterior``
    or the scenario file) for a missing directory.

    Raises ConfigError (bad content) or ResultsError (missing, unreadable or changed files),
    each one line naming the file, the key, the value and what is allowed.
    """
    if not str(cal_dir).strip():
        raise ConfigError(source, "posterior", str(cal_dir),
                          "must name a calibration directory (one written by abm "
                          "calibrate, with manifest.json and posterior.parquet)")
    d = Path(cal_dir)
    if not d.is_dir():
        raise ConfigError(source, "posterior", str(cal_dir),
                          "no such calibration directory (one written by abm calibrate, "
                          "with manifest.json and posterior.parquet)")
    mpath = d / "manifest.json"
    where = display_path(mpath)
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(source, "posterior", str(cal_dir), "is not a calibration "
                          "directory: it has no manifest.json (one written by abm "
                          "calibrate, with manifest.json and posterior.parquet)") from None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{where}: not valid JSON ({' '.join(str(exc).split())}); the "
                           "file is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "calibration":
        got = manifest.get("kind") if isinstance(manifest, dict) else manifest
        raise ConfigError(where, "kind", got, "must be 'calibration' (a directory written "
                          "by abm calibrate)")
    cid = manifest.get("calibration_id")
    if not isinstance(cid, str) or not _ID_RE.match(cid):
        raise ConfigError(where, "calibration_id", cid, "must be 12 lower-case hex digits")
    files = manifest.get("files")
    want = files.get(POSTERIOR_FILE) if isinstance(files, dict) else None
    if not isinstance(want, str) or not _HEX64.match(want):
        raise ConfigError(where, f"files.{POSTERIOR_FILE}", want,
                          "must be the sha256 (64 hex digits) of posterior.parquet")
    ppath = d / POSTERIOR_FILE
    pwhere = display_path(ppath)
    if not ppath.is_file():
        raise ResultsError(f"{pwhere}: missing; the calibration directory is incomplete")
    got = _sha256(ppath)
    if got != want:
        raise ResultsError(f"{pwhere}: sha256 {got[:12]}... does not match the manifest "
                           f"({want[:12]}...); the file was changed or truncated")
    keys, values, weights = _read_table(ppath, pwhere)
    return Posterior(keys, values, weights, cid, got, display_path(d))


def _read_table(path: Path, where: str) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ResultsError(f"{where}: not a readable Parquet file "
                           f"({' '.join(str(exc).split())})") from None
    names = list(table.column_names)
    if WEIGHT_COLUMN not in names:
        raise ConfigError(where, WEIGHT_COLUMN, None, "a column 'weight' (>= 0, summing to "
                          "1) is required beside the parameter columns")
    if table.num_rows < 1:
        raise ConfigError(where, "rows", 0, "must hold at least one particle (row)")
    keys = [c for c in names if c != WEIGHT_COLUMN]
    if not keys:
        raise ConfigError(where, "columns", names, "must hold at least one parameter column "
                          "named by its dotted scenario key, e.g. dynamics.pressure_effect")
    if len(set(names)) != len(names):
        raise ConfigError(where, "columns", names, "column names must be distinct")
    cols = {}
    for c in names:
        if c != WEIGHT_COLUMN:
            parameter_meta(c, where)
        typ = table.schema.field(c).type
        if not (pa.types.is_floating(typ) or pa.types.is_integer(typ)):
            raise ConfigError(where, c, str(typ), "must be a column of numbers (float64)")
        x = table.column(c).to_numpy(zero_copy_only=False)
        x = np.asarray(x, dtype=np.float64)
        bad = ~np.isfinite(x)
        if bad.any():
            j = int(np.argmax(bad))
            raise ConfigError(where, f"{c}[{j}]", float(x[j]), "must be a finite number "
                              "(no missing values)")
        cols[c] = x
    w = cols[WEIGHT_COLUMN]
    if (w < 0).any():
        j = int(np.argmax(w < 0))
        raise ConfigError(where, f"{WEIGHT_COLUMN}[{j}]", float(w[j]), "weights must be >= 0")
    total = float(w.sum())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ConfigError(where, WEIGHT_COLUMN, f"sum {total:.9g}", "weights must sum to 1 "
                          "(within 1e-6)")
    values = np.column_stack([cols[k] for k in keys]).astype(np.float64)
    return tuple(keys), values, w / total


def as_posterior(posterior: str | Path | Posterior | None, scenario: Scenario
                 ) -> Posterior | None:
    """The posterior a run uses: the one given (a path or a :class:`Posterior`), else the
    scenario's ``posterior`` key, else ``None``."""
    if isinstance(posterior, Posterior):
        return posterior
    if posterior is not None:
        return read_posterior(posterior)
    if scenario.posterior is not None:
        return read_posterior(scenario.posterior, source=scenario.source)
    return None


def check_posterior_run(trials: int, engine: str, source: str = "--trials") -> None:
    """What a posterior run needs: the numpy engine, and whole groups (at least two)."""
    if engine != "numpy":
        raise ConfigError("--engine", "engine", engine, "a run under a posterior needs the "
                          "numpy engine (its kernels take a parameter set per group)")
    if trials % GROUP_SIZE or trials < 2 * GROUP_SIZE:
        raise ConfigError(source, "trials", trials, f"under a posterior must be a multiple "
                          f"of {GROUP_SIZE} and at least {2 * GROUP_SIZE} (each group of "
                          f"{GROUP_SIZE} trials runs one parameter draw)")


@dataclass
class PosteriorPlan:
    """The particles a run draws, compiled once each.

    ``particle[g]`` is group ``g``'s particle; ``cms[j]`` the compiled scenario of particle
    ``used[j]``; ``group_cm[g]`` the index into ``cms`` of group ``g``.
    """

    posterior: Posterior
    particle: np.ndarray
    used: np.ndarray
    group_cm: np.ndarray
    cms: list[Compiled]

    def args(self, kernel: str, root: np.random.SeedSequence, tasks: list[tuple[int, int]],
             trials: int) -> list[tuple[Any, ...]]:
        """Arguments of :func:`abm.model.groups.run_groups` for the blocks of ``tasks``
        (``(first, n)`` chunks), one task per block: the kernel keeps per-month histograms
        per point (group), ``T x S x 1,002`` counts each, so a chunk of 16 blocks (160
        points) would hold hundreds of MB of them (and run twice as slowly: measured in
        docs/forecasts.md). Each task carries only the compiled particles its groups use."""
        per = BLOCK_SIZE // GROUP_SIZE
        out = []
        for fb, nb in ((b, 1) for f, n in tasks for b in range(f, f + n)):
            idx = self.group_cm[fb * per:(fb + nb) * per]
            # groups past the last trial (padding in the last block) reuse the first set
            idx = np.concatenate([idx, np.zeros(nb * per - idx.size, dtype=np.int64)])
            keep, local = np.unique(idx, return_inverse=True)
            out.append((kernel, [self.cms[int(j)] for j in keep], local.astype(np.int64),
                        root.entropy, root.spawn_key, fb, nb, trials))
        return out

    def record(self, scenario: Scenario) -> dict[str, Any]:
        """The summary's and manifest's ``posterior`` entry."""
        return {**self.posterior.record(), "keys": list(self.posterior.keys),
                "particles": int(len(self.posterior.weights)),
                "particles_drawn": int(self.used.size),
                "stance_rule_derived": [list(d) for d in scenario.derived]}


def posterior_plan(post: Posterior, scenario: Scenario, root: np.random.SeedSequence,
                   trials: int, horizon: int) -> PosteriorPlan:
    """Draw every group's particle and compile each particle drawn, once."""
    n_groups = trials // GROUP_SIZE
    particle = group_particles(root, 0, n_groups, post.weights)
    used, group_cm = np.unique(particle, return_inverse=True)
    src = display_path(Path(post.path) / POSTERIOR_FILE)
    cms = []
    for k in used:
        vals = dict(zip(post.keys, post.values[int(k)].tolist(), strict=True))
        sc = with_parameters(scenario, vals, source=f"{src} row {int(k)}")
        cms.append(compile_scenario(sc, horizon=horizon))
    return PosteriorPlan(post, particle, used, group_cm.astype(np.int64), cms)
