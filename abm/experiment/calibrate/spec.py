"""Calibration files: the ``[calibration]`` table, its priors and the episodes it fits.

A calibration file (``experiments/history/calibration.toml``) names episodes of the
library, the parameters to fit with their priors, and the method's settings::

    [calibration]
    name = "history"
    seed = 2026
    episodes = ["opening_2001.toml", "long_run_2002_2011.toml"]   # relative to this file

    [calibration.method]
    population = 1000          # particles per generation
    trials_per_particle = 40   # trials of each episode per particle
    batch = 250                # particles simulated together (batch x trials: whole blocks)

    [calibration.quick]        # --quick: the same keys, smaller
    population = 100

    [calibration.priors]
    "dynamics.pressure_effect" = {dist = "uniform", low = 0.0, high = 0.5}
    "dynamics.decision_width" = {dist = "loguniform", low = 0.02, high = 0.3}
    "stances.w_intercept" = {dist = "normal", mean = 0.0, sd = 1.5}
    "dynamics.threshold" = {dist = "beta", a = 4, b = 3}

A parameter is a ``[dynamics]`` or ``[stances]`` key; its prior must lie inside the key's
schema range (a normal prior is truncated to it, a beta prior spans it unless ``low`` and
``high`` are given). A whole-month key (``dynamics.notice_months``) is sampled on a
continuous scale and rounded to the nearest month when applied. An episode that sets a
calibrated key in its own file keeps its value there (a fact of that episode, such as the
notice of a lease); the manifest lists these. The out-of-sample episode is refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special, stats

from ... import limits
from ...errors import ConfigError, display_path, unknown
from ...model.rng import BLOCK_SIZE
from ...scenario import Scenario, build, load_raw
from ...scenario.record import legacy_patterns
from ...scenario.schema import Dynamics, Stances, key_field

__all__ = ["CAL_KEYS", "METHOD_KEYS", "DISTS", "CALIBRATED_TABLES", "Method", "Prior",
           "Episode", "Calibration", "load_calibration", "is_calibration_file", "read_episode",
           "calibratable_keys"]

CAL_KEYS = ("name", "description", "seed", "episodes", "method", "quick", "priors")
METHOD_KEYS = ("population", "trials_per_particle", "batch", "max_generations",
               "final_generations", "ess_fraction", "max_moves", "move_target", "tolerance")
#: How the tolerance is lowered: the same for every episode, or episode by episode.
TOLERANCES = ("common", "per_episode")
#: Prior families and their parameters (``low``/``high`` optional for normal and beta).
DISTS = {"uniform": ("low", "high"), "loguniform": ("low", "high"),
         "normal": ("mean", "sd"), "beta": ("a", "b")}
#: The tables whose keys may be calibrated.
CALIBRATED_TABLES = {"dynamics": Dynamics, "stances": Stances}


def calibratable_keys() -> list[str]:
    """Every key a calibration may fit: the numeric keys of ``[dynamics]``, ``[stances]``."""
    return [f"{t}.{f.name}" for t, cls in CALIBRATED_TABLES.items() for f in fields(cls)
            if f.metadata.get("kind") in ("float", "whole")]


@dataclass(frozen=True)
class Method:
    """ABC-SMC settings (docs/calibration.md)."""

    population: int = 1000
    trials_per_particle: int = 40
    batch: int = 250
    max_generations: int = 12
    final_generations: int = 2
    ess_fraction: float = 0.5
    max_moves: int = 10
    move_target: float = 0.9
    tolerance: str = "common"

    def to_dict(self) -> dict[str, Any]:
        """The settings; ``tolerance`` only when not the default, so that calibrations
        made before the key existed keep their ids."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "tolerance" or self.tolerance != "common"}


#: ``--quick``: small populations for tests and a first look (a file's [calibration.quick]
#: overrides these).
QUICK = Method(population=200, trials_per_particle=20, batch=50, max_generations=6,
               final_generations=0, max_moves=3)


def _logit(y: np.ndarray) -> np.ndarray:
    return np.log(y) - np.log1p(-y)


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(u, dtype=np.float64)))


@dataclass(frozen=True)
class Prior:
    """A prior on one key, with its *working scale*, on which the SMC perturbs particles.

    Bounded priors (uniform, loguniform, beta) work on the logit of the position in their
    support, ``u = logit(y)`` with ``y = (x - low) / (high - low)`` (for loguniform, ``y``
    on the log scale), so that a perturbed particle never leaves the support; the density
    on that scale is the prior's density in ``y`` times ``dy/du = y (1 - y)``. A normal
    prior (truncated to the schema range) works on the value itself.
    """

    key: str
    dist: str
    args: dict[str, float]
    low: float                 # support on the natural scale
    high: float
    whole: bool = False

    @property
    def bounded(self) -> bool:
        return self.dist != "normal"

    def _truncnorm(self) -> Any:
        m, s = self.args["mean"], self.args["sd"]
        return stats.truncnorm((self.low - m) / s, (self.high - m) / s, loc=m, scale=s)

    def _unit(self) -> Any:
        """The distribution of ``y`` in (0, 1) for a bounded prior."""
        if self.dist == "beta":
            return stats.beta(self.args["a"], self.args["b"])
        return stats.uniform(0.0, 1.0)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws on the working scale (by inversion of one uniform each)."""
        r = rng.random(n)
        if not self.bounded:
            return self._truncnorm().ppf(r)
        return _logit(np.clip(self._unit().ppf(r), 1e-12, 1 - 1e-12))

    def logpdf(self, u: np.ndarray) -> np.ndarray:
        """Log density on the working scale (``-inf`` outside the support)."""
        u = np.asarray(u, dtype=np.float64)
        with np.errstate(divide="ignore"):
            if not self.bounded:
                return self._truncnorm().logpdf(u)
            if self.dist == "beta":  # exactly, without forming y (y^(a-1) at y = 0 or 1)
                a, b = self.args["a"], self.args["b"]
                return (-a * np.logaddexp(0.0, -u) - b * np.logaddexp(0.0, u)
                        - special.betaln(a, b))
            return -np.logaddexp(0.0, u) - np.logaddexp(0.0, -u)

    def natural(self, u: np.ndarray) -> np.ndarray:
        if not self.bounded:
            return np.asarray(u, dtype=np.float64)
        y = _sigmoid(u)
        if self.dist == "loguniform":
            lo, hi = math.log(self.low), math.log(self.high)
            return np.clip(np.exp(lo + (hi - lo) * y), self.low, self.high)
        return np.clip(self.low + (self.high - self.low) * y, self.low, self.high)

    def working(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if not self.bounded:
            return x
        if self.dist == "loguniform":
            lo, hi = math.log(self.low), math.log(self.high)
            y = (np.log(x) - lo) / (hi - lo)
        else:
            y = (x - self.low) / (self.high - self.low)
        with np.errstate(divide="ignore"):
            return _logit(y)

    def _frozen(self) -> Any:
        """The prior on the natural scale, for quantiles and densities in figures."""
        if self.dist == "normal":
            return self._truncnorm()
        if self.dist == "loguniform":
            return stats.loguniform(self.low, self.high)
        if self.dist == "beta":
            return stats.beta(self.args["a"], self.args["b"], loc=self.low,
                              scale=self.high - self.low)
        return stats.uniform(self.low, self.high - self.low)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density on the natural scale (figures)."""
        return self._frozen().pdf(x)

    def quantiles(self, q: list[float]) -> list[float]:
        """Quantiles on the natural scale (for tables and figures)."""
        return [float(v) for v in self._frozen().ppf(q)]

    def to_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, **self.args, "low": self.low, "high": self.high,
                "whole": self.whole}


@dataclass(frozen=True)
class Episode:
    """One episode of the library as the calibration uses it."""

    name: str                  # file stem, e.g. "opening_2001"
    path: Path
    scenario: Scenario
    raw: dict[str, Any] = field(repr=False)
    prov: Any = field(repr=False)
    patterns: tuple[Any, ...] = ()
    fixed: tuple[str, ...] = ()  # calibrated keys this episode sets itself (kept)


@dataclass(frozen=True)
class Calibration:
    path: Path
    name: str
    description: str
    seed: int
    episodes: tuple[Episode, ...]
    method: Method
    priors: tuple[Prior, ...]
    left_out: tuple[Episode, ...] = ()
    sha256: str = ""

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.priors]

    def calibration_id(self) -> str:
        """Same file content, episodes, settings and seed -> same id."""
        blob = json.dumps({"file": self.sha256, "seed": self.seed,
                           "method": self.method.to_dict(),
                           "episodes": [(e.name, e.scenario.sha256()) for e in self.episodes],
                           "left_out": [e.name for e in self.left_out],
                           "block": BLOCK_SIZE, "v": 1}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def is_calibration_file(path: Path) -> bool:
    """A TOML file with a top-level ``[calibration]`` table (not an episode)."""
    try:
        return "calibration" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def _num(src: str, key: str, v: Any, what: str = "a finite number") -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ConfigError(src, key, v, f"must be {what}")
    return float(v)


def _prior(src: str, key: str, spec: Any) -> Prior:
    where = f'calibration.priors."{key}"'
    allowed = calibratable_keys()
    if key not in allowed:
        raise ConfigError(src, where, key, unknown(key, allowed, what="calibration parameter"))
    if not isinstance(spec, dict):
        raise ConfigError(src, where, spec, 'must be a table such as {dist = "uniform", '
                          "low = 0.0, high = 0.5}")
    dist = spec.get("dist")
    if not isinstance(dist, str) or dist not in DISTS:
        raise ConfigError(src, f"{where}.dist", dist, unknown(str(dist), list(DISTS),
                                                              what="prior"))
    names = DISTS[dist] + (("low", "high") if dist in ("normal", "beta") else ())
    for k in spec:
        if k != "dist" and k not in names:
            raise ConfigError(src, f"{where}.{k}", spec[k],
                              unknown(str(k), ["dist", *names], what=f"{dist} prior key"))
    for k in DISTS[dist]:
        if k not in spec:
            raise ConfigError(src, where, spec, f"a {dist} prior needs "
                              f"{' and '.join(DISTS[dist])}")
    f = key_field(key)
    meta = f.metadata
    lo_s, hi_s = float(meta["lo"]), float(meta["hi"])
    rng_txt = f"the schema's range of {key}, [{meta['lo']:g}, {meta['hi']:g}]"
    args = {k: _num(src, f"{where}.{k}", spec[k]) for k in DISTS[dist]}
    low = _num(src, f"{where}.low", spec.get("low", lo_s))
    high = _num(src, f"{where}.high", spec.get("high", hi_s))
    if dist in ("uniform", "loguniform"):
        low, high = args["low"], args["high"]
    if not low < high:
        raise ConfigError(src, f"{where}.high", high, f"must exceed low = {low:g}")
    for k, v in (("low", low), ("high", high)):
        if not lo_s <= v <= hi_s or (meta.get("lo_open") and v == lo_s):
            raise ConfigError(src, f"{where}.{k}", v, f"must lie inside {rng_txt}")
    if dist == "loguniform" and low <= 0:
        raise ConfigError(src, f"{where}.low", low, "must be > 0 for a loguniform prior")
    if dist == "normal" and args["sd"] <= 0:
        raise ConfigError(src, f"{where}.sd", args["sd"], "must be > 0")
    if dist == "beta":
        for k in ("a", "b"):
            if args[k] <= 0:
                raise ConfigError(src, f"{where}.{k}", args[k], "must be > 0")
    return Prior(key, dist, args, low, high, whole=meta["kind"] == "whole")


def _method(src: str, table: str, raw: Any, base: Method) -> Method:
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise ConfigError(src, f"calibration.{table}", raw, "must be a table of settings")
    out: dict[str, Any] = {}
    for k, v in raw.items():
        key = f"calibration.{table}.{k}"
        if k not in METHOD_KEYS:
            raise ConfigError(src, key, v, unknown(str(k), METHOD_KEYS))
        if k == "tolerance":
            if v not in TOLERANCES:
                raise ConfigError(src, key, v, "must be one of " + ", ".join(
                    repr(t) for t in TOLERANCES))
            out[k] = v
            continue
        if k in ("ess_fraction", "move_target"):
            x = _num(src, key, v, "a number in (0, 1)")
            if not 0 < x < 1:
                raise ConfigError(src, key, v, "must be a number in (0, 1)")
            out[k] = x
            continue
        lo = 0 if k == "final_generations" else 1
        hi = {"population": 100_000, "trials_per_particle": 10_000, "batch": 100_000,
              "max_generations": 100, "final_generations": 100, "max_moves": 1000}[k]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ConfigError(src, key, v, f"must be an integer in [{lo}, {hi}]")
        out[k] = v
    m = replace(base, **out)
    if (m.batch * m.trials_per_particle) % BLOCK_SIZE:
        raise ConfigError(src, f"calibration.{table}.batch", m.batch,
                          f"batch x trials_per_particle ({m.batch} x {m.trials_per_particle}) "
                          f"must be a multiple of {BLOCK_SIZE} (whole random-number blocks)")
    return m


def read_episode(path: Path, keys: list[str]) -> Episode | None:
    """An episode file of the library as an :class:`Episode` (``None`` without a record).
    ``fixed``: the calibrated keys its own files set (kept when a particle is applied)."""
    raw, prov = load_raw(path)
    sc = build(raw, prov)
    pats = legacy_patterns(sc.record, sc.horizon_months) + sc.patterns
    if not pats:
        return None
    # a fact of the episode: a calibrated key its own file sets (not a file it extends)
    fixed = tuple(k for k in keys
                  if isinstance(raw.get(k.split(".")[0]), dict)
                  and k.split(".")[1] in raw[k.split(".")[0]]
                  and prov.by_key.get(k) == prov.default)
    return Episode(path.stem, path, sc, raw, prov, tuple(pats), fixed)


def _episode(src: str, folder: Path, j: int, name: Any, keys: list[str]) -> Episode:
    where = f"calibration.episodes[{j}]"
    library = sorted(p.name for p in folder.glob("*.toml") if not is_calibration_file(p))
    if not isinstance(name, str) or not name:
        raise ConfigError(src, where, name, "must be an episode file name, one of "
                          + ", ".join(library))
    if any(c in name for c in "/\\") or name.startswith("."):
        raise ConfigError(src, where, name, "must be the file name of an episode in "
                          f"{display_path(folder)} (no directories), one of "
                          + ", ".join(library))
    path = folder / name
    if not path.is_file() or is_calibration_file(path):
        raise ConfigError(src, where, name, unknown(name, library, what="episode"))
    ep = read_episode(path, keys)
    if ep is None:
        raise ConfigError(src, where, name, "has no [record] to fit")
    if ep.scenario.out_of_sample:
        raise ConfigError(src, where, name,
                          "is the out-of-sample episode ([episode] out_of_sample = true): it "
                          "is never used to fit a parameter; `abm validate-history` and the "
                          "calibration's predictive check report it")
    return ep


def load_calibration(path: str | Path, *, quick: bool = False,
                     leave_out: str | None = None) -> Calibration:
    """Read and check a calibration file; every problem is a one-line ConfigError."""
    path = Path(path)
    src = display_path(path)
    try:
        text = path.read_bytes()
        doc = tomllib.loads(text.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(src, "", str(path), "no such calibration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(src, "", str(path), f"cannot be read ({exc.__class__.__name__})"
                          ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(src, "", str(exc), "is not valid TOML") from None
    extra = [k for k in doc if k != "calibration"]
    if extra:
        raise ConfigError(src, extra[0], doc[extra[0]],
                          "a calibration file holds only a [calibration] table")
    cal = doc.get("calibration")
    if not isinstance(cal, dict):
        raise ConfigError(src, "calibration", cal, "a calibration file needs a [calibration] "
                          "table (name, seed, episodes, [calibration.priors])")
    for k in cal:
        if k not in CAL_KEYS:
            raise ConfigError(src, f"calibration.{k}", cal[k], unknown(str(k), CAL_KEYS))
    name = cal.get("name")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-." for c in name):
        raise ConfigError(src, "calibration.name", name, "must be letters, digits, '_', '-' "
                          "or '.' (it names a folder under results/)")
    desc = cal.get("description", "")
    if not isinstance(desc, str):
        raise ConfigError(src, "calibration.description", desc, "must be a string")
    seed = cal.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= limits.MAX_SEED:
        raise ConfigError(src, "calibration.seed", seed,
                          f"must be an integer in [0, {limits.MAX_SEED}]")
    pri = cal.get("priors")
    if not isinstance(pri, dict) or not pri:
        raise ConfigError(src, "calibration.priors", pri,
                          'needs at least one prior: "dynamics.<key>" = {dist = ..., ...}')
    priors = tuple(_prior(src, k, v) for k, v in pri.items())
    keys = [p.key for p in priors]
    eps = cal.get("episodes")
    if not isinstance(eps, list) or not eps:
        raise ConfigError(src, "calibration.episodes", eps,
                          "must be a non-empty list of episode files of the library")
    if len(set(map(str, eps))) != len(eps):
        raise ConfigError(src, "calibration.episodes", eps, "lists an episode twice")
    episodes = [_episode(src, path.parent, j, e, keys) for j, e in enumerate(eps)]
    ids = {e.scenario.state_ids for e in episodes}
    if len(ids) > 1:
        raise ConfigError(src, "calibration.episodes", eps,
                          "episodes must list the same states in the same order")
    left: list[Episode] = []
    if leave_out is not None:
        names = [e.name for e in episodes]
        stem = Path(leave_out).stem
        if stem not in names:
            raise ConfigError("--leave-out", "leave-out", leave_out,
                              unknown(stem, names, what="episode of this calibration"))
        left = [e for e in episodes if e.name == stem]
        episodes = [e for e in episodes if e.name != stem]
        if not episodes:
            raise ConfigError("--leave-out", "leave-out", leave_out,
                              "would leave no episode to fit; list more episodes in the file")
    method = _method(src, "method", cal.get("method"), Method())
    if quick:  # the quick settings are sizes; the way the tolerance falls is the file's
        method = _method(src, "quick", cal.get("quick"),
                         replace(QUICK, tolerance=method.tolerance))
    else:
        _method(src, "quick", cal.get("quick"), QUICK)  # checked either way
    return Calibration(path=path, name=name, description=desc, seed=seed,
                       episodes=tuple(episodes), method=method, priors=priors,
                       left_out=tuple(left), sha256=hashlib.sha256(text).hexdigest())
