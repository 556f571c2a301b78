"""Sweep experiments: the ``[sweep]`` table, its validation and the design matrix.

An experiment file is a scenario file with a ``[sweep]`` table::

    [sweep]
    design = "grid"            # grid | lhs | sobol | morris
    points = 64                # lhs/sobol/morris: samples (sobol: base N, a power of 2;
                               # morris: trajectories); grid: values per low/high axis
    trials_per_point = 1000    # or "adaptive", with target_halfwidth (max_trials_per_point)
    seed = 7                   # optional; else the scenario's seed
    crn = true                 # common random numbers across points (default)
    levels = 4                 # morris grid levels
    [sweep.parameters."russia.pressure"]
    values = [0.0, 0.5, 1.0]   # grid; or low = 0.0, high = 1.0 (log = true for a log scale)

Any numeric scenario key can be swept by its dotted path (``states.TJK.russia_dependence``
included; a schedule key is replaced by the constant), and ``csto.consent_rule`` in a grid.
Samples come from ``scipy.stats.qmc`` (LHS) and SALib (Sobol', Morris).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ... import limits
from ...errors import ConfigError, unknown
from ...model.rng import BLOCK_SIZE, design_seed
from ...scenario import Scenario, apply_override, build, load_raw
from ...scenario.schema import key_field

__all__ = ["ADAPTIVE", "DESIGNS", "SWEEP_KEYS", "SETTABLE", "Parameter", "SweepSpec", "Experiment",
           "load_experiment", "design_matrix", "problem", "py_value"]

#: Keys of ``[sweep]``.
SWEEP_KEYS = ("design", "points", "trials_per_point", "seed", "crn", "levels", "parameters",
              "target_halfwidth", "max_trials_per_point")
#: Keys of ``[sweep]`` that ``--set sweep.<key>=...`` may change.
SETTABLE = tuple(k for k in SWEEP_KEYS if k != "parameters")

DESIGNS = ("grid", "lhs", "sobol", "morris")
BOOL_KEYS = ("csto.consent_rule",)


@dataclass(frozen=True)
class Parameter:
    """One swept key: grid ``values``, or a ``low``-``high`` range (``log`` scale)."""

    key: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False

    def to_dict(self) -> dict[str, Any]:
        if self.values is not None:
            return {"key": self.key, "values": list(self.values)}
        return {"key": self.key, "low": self.low, "high": self.high, "log": self.log}


#: ``trials_per_point`` of a sweep whose points stop when precise enough.
ADAPTIVE = "adaptive"


@dataclass(frozen=True)
class SweepSpec:
    design: str
    trials_per_point: int | str    # a number, or ADAPTIVE
    parameters: tuple[Parameter, ...]
    points: int | None = None
    seed: int | None = None
    crn: bool = True
    levels: int = 4
    target_halfwidth: float | None = None
    max_trials_per_point: int | None = None

    @property
    def rule(self) -> Any:
        """The stopping rule of an adaptive sweep (every point,
        :class:`abm.analysis.sequential.SequentialRule`), None otherwise."""
        if self.trials_per_point != ADAPTIVE:
            return None
        from ...analysis.sequential import SequentialRule

        return SequentialRule(self.target_halfwidth, self.max_trials_per_point,
                              limits.FIRST_LOOK)

    def to_dict(self) -> dict[str, Any]:
        # the adaptive keys only when adaptive: a fixed sweep's id is unchanged
        extra = ({"target_halfwidth": self.target_halfwidth,
                  "max_trials_per_point": self.max_trials_per_point}
                 if self.trials_per_point == ADAPTIVE else {})
        return {"design": self.design, "points": self.points,
                "trials_per_point": self.trials_per_point, "seed": self.seed,
                "crn": self.crn, "levels": self.levels,
                "parameters": [p.to_dict() for p in self.parameters], **extra}


@dataclass
class Experiment:
    """A loaded experiment: the base scenario, the spec and the design matrix."""

    path: str
    base: Scenario
    spec: SweepSpec
    seed: int
    X: np.ndarray                      # (n_points, D) parameter values
    raw: dict[str, Any] = field(repr=False)
    prov: Any = field(repr=False)
    overrides: tuple[str, ...] = ()
    scenarios: list[Scenario] = field(default_factory=list, repr=False)  # one per point
    #: the calibration's posterior every point runs under (:mod:`.posterior`), or None
    posterior: Any = field(default=None, repr=False)

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.spec.parameters]

    @property
    def n_points(self) -> int:
        return self.X.shape[0]

    def sweep_id(self) -> str:
        spec = {"base": self.base.sha256(), "spec": self.spec.to_dict(),
                "seed": self.seed, "block": BLOCK_SIZE, "v": 1}
        if self.posterior is not None:  # only then: a plain sweep's id is unchanged
            spec["posterior"] = self.posterior.sha256
        blob = json.dumps(spec, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def point_scenario(self, i: int) -> Scenario:
        raw = copy.deepcopy(self.raw)
        raw.pop("sweep", None)
        for key, v in zip(self.keys, self.X[i], strict=True):
            apply_override(raw, key, py_value(key, v))
        return build(raw, self.prov)


def py_value(key: str, v: float) -> Any:
    return bool(v) if key in BOOL_KEYS else float(v)


def _sweepable(key: str) -> bool:
    """A numeric scenario key (a schedule is set to a constant), or a switch in
    :data:`BOOL_KEYS`."""
    if key in BOOL_KEYS:
        return True
    f = key_field(key)
    return f is not None and f.metadata["kind"] in ("float", "whole", "schedule")


def _spec(path: str, raw: dict[str, Any], prov: Any) -> SweepSpec:
    sw = raw.get("sweep")
    src = prov("sweep")
    if not isinstance(sw, dict):
        raise ConfigError(src, "sweep", sw, "an experiment file needs a [sweep] table "
                          "(design, trials_per_point, [sweep.parameters.\"<key>\"])")
    for k in sw:
        if k not in SWEEP_KEYS:
            raise ConfigError(prov(f"sweep.{k}"), f"sweep.{k}", sw[k], unknown(k, SWEEP_KEYS))
    design = sw.get("design")
    if design not in DESIGNS:
        raise ConfigError(prov("sweep.design"), "sweep.design", design,
                          f"must be one of {', '.join(DESIGNS)}")

    def pos_int(k: str, default: int | None, lo: int = 1) -> int | None:
        v = sw.get(k, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(prov(f"sweep.{k}"), f"sweep.{k}", v,
                              f"must be an integer >= {lo}")
        return v

    target = max_tpp = None
    if sw.get("trials_per_point") == ADAPTIVE:
        from ..adaptive import precision_rule

        if "target_halfwidth" not in sw:
            raise ConfigError(prov("sweep"), "sweep.target_halfwidth", None,
                              'trials_per_point = "adaptive" needs target_halfwidth = H, the '
                              "largest half-width of a point's 95% intervals, e.g. 0.02")
        rule = precision_rule(sw["target_halfwidth"], sw.get("max_trials_per_point"),
                              target_source=prov("sweep.target_halfwidth"),
                              max_source=prov("sweep.max_trials_per_point"),
                              target_key="sweep.target_halfwidth",
                              max_key="sweep.max_trials_per_point")
        tpp, target, max_tpp = ADAPTIVE, rule.target_halfwidth, rule.max_trials
    else:
        for k in ("target_halfwidth", "max_trials_per_point"):
            if k in sw:
                raise ConfigError(prov(f"sweep.{k}"), f"sweep.{k}", sw[k],
                                  'only with trials_per_point = "adaptive"')
        tpp = sw.get("trials_per_point", 1000)
        if (isinstance(tpp, bool) or not isinstance(tpp, int)
                or not 1 <= tpp <= limits.MAX_TRIALS):
            raise ConfigError(prov("sweep.trials_per_point"), "sweep.trials_per_point", tpp,
                              f"must be an integer in [1, {limits.MAX_TRIALS}], or "
                              '"adaptive" (with target_halfwidth)')
    points = pos_int("points", None)
    levels = pos_int("levels", 4, lo=2)
    seed = sw.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(prov("sweep.seed"), "sweep.seed", seed, "must be an integer >= 0")
    crn = sw.get("crn", True)
    if not isinstance(crn, bool):
        raise ConfigError(prov("sweep.crn"), "sweep.crn", crn, "must be true or false")
    if design in ("lhs", "sobol", "morris") and points is None:
        raise ConfigError(prov("sweep"), "sweep.points", None,
                          f"design {design!r} needs points = <number of samples>")
    if design == "sobol" and points & (points - 1):
        raise ConfigError(prov("sweep.points"), "sweep.points", points,
                          "Sobol' sampling needs a power of 2 (e.g. 32, 64, 128)")
    params_raw = sw.get("parameters")
    if not isinstance(params_raw, dict) or not params_raw:
        raise ConfigError(prov("sweep"), "sweep.parameters", params_raw,
                          'needs at least one [sweep.parameters."<dotted key>"] table')
    params = []
    for key, spec in params_raw.items():
        where = f'sweep.parameters."{key}"'
        if not _sweepable(key):
            raise ConfigError(prov(f"sweep.parameters.{key}"), where, key,
                              "not a sweepable key: use a numeric scenario key such as "
                              "russia.pressure, dynamics.threshold or "
                              "states.TJK.russia_dependence (or csto.consent_rule in a grid)")
        if not isinstance(spec, dict):
            raise ConfigError(src, where, spec, "must be a table with values = [...] or "
                              "low = x, high = y")
        for k in spec:
            if k not in ("values", "low", "high", "log"):
                raise ConfigError(src, f"{where}.{k}", spec[k],
                                  "unknown key; allowed: values, low, high, log")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise ConfigError(src, f"{where}.log", log, "must be true or false")
        if "values" in spec:
            vals = spec["values"]
            if design != "grid":
                raise ConfigError(src, f"{where}.values", vals,
                                  f"values = [...] is for design = \"grid\"; {design!r} "
                                  "needs low and high")
            if not isinstance(vals, list) or not vals:
                raise ConfigError(src, f"{where}.values", vals, "must be a non-empty list")
            for j, v in enumerate(vals):
                ok = (isinstance(v, bool) if key in BOOL_KEYS else
                      isinstance(v, int | float) and not isinstance(v, bool)
                      and math.isfinite(v))
                if not ok:
                    want = "true or false" if key in BOOL_KEYS else "a finite number (a " \
                        "sweep sets a constant, not a schedule)"
                    raise ConfigError(src, f"{where}.values[{j}]", v, f"must be {want}")
            params.append(Parameter(key, values=tuple(vals)))
            continue
        f = key_field(key)
        if f is not None and f.metadata["kind"] == "whole":
            raise ConfigError(src, where, spec, f"{key} is a whole number of months: use "
                              "values = [...] in design = \"grid\"")
        if "low" not in spec or "high" not in spec:
            raise ConfigError(src, where, spec, "give values = [...] (grid) or low and high")
        lo, hi = spec["low"], spec["high"]
        for k, v in (("low", lo), ("high", hi)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ConfigError(src, f"{where}.{k}", v, "must be a finite number")
        if not lo < hi:
            raise ConfigError(src, f"{where}.high", hi, f"must exceed low = {lo}")
        if log and lo <= 0:
            raise ConfigError(src, f"{where}.low", lo, "must be > 0 with log = true")
        if design == "grid" and points is None:
            raise ConfigError(src, where, spec, "a grid axis given by low/high needs "
                              "sweep.points (values per axis), or give values = [...]")
        if key in BOOL_KEYS:
            raise ConfigError(src, where, spec, f"{key} is a switch: use values = [true, false]")
        params.append(Parameter(key, low=float(lo), high=float(hi), log=log))
    return SweepSpec(design=design, trials_per_point=tpp, parameters=tuple(params),
                     points=points, seed=seed, crn=crn, levels=levels,
                     target_halfwidth=target, max_trials_per_point=max_tpp)


def problem(spec: SweepSpec) -> dict[str, Any]:
    bounds = [[math.log(p.low), math.log(p.high)] if p.log else [p.low, p.high]
              for p in spec.parameters]
    return {"num_vars": len(spec.parameters), "names": [p.key for p in spec.parameters],
            "bounds": bounds}


def _untransform(spec: SweepSpec, U: np.ndarray) -> np.ndarray:
    X = U.copy()
    for j, p in enumerate(spec.parameters):
        if p.log:
            # exp(log(high)) can exceed high in the last bit; keep samples inside the range
            X[:, j] = np.clip(np.exp(X[:, j]), p.low, p.high)
    return X


def design_matrix(spec: SweepSpec, seed: int) -> np.ndarray:
    """The points, shape ``(n_points, D)``, in the design's canonical order."""
    dseed = design_seed(seed)
    if spec.design == "grid":
        axes = []
        for p in spec.parameters:
            if p.values is not None:
                axes.append([float(v) for v in p.values])
            elif p.log:
                axes.append(list(np.geomspace(p.low, p.high, spec.points)))
            else:
                axes.append(list(np.linspace(p.low, p.high, spec.points)))
        return np.array(list(itertools.product(*axes)), dtype=np.float64)
    prob = problem(spec)
    if spec.design == "lhs":
        from scipy.stats import qmc

        u = qmc.LatinHypercube(d=prob["num_vars"], seed=dseed).random(spec.points)
        lo, hi = np.array(prob["bounds"]).T
        return _untransform(spec, qmc.scale(u, lo, hi))
    if spec.design == "sobol":
        from SALib.sample import sobol as sobol_sample

        return _untransform(spec, sobol_sample.sample(prob, spec.points,
                                                      calc_second_order=False,
                                                      seed=dseed))
    from SALib.sample import morris as morris_sample

    return _untransform(spec, morris_sample.sample(prob, spec.points, num_levels=spec.levels,
                                                   seed=dseed))


def load_experiment(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                    posterior: Any = None) -> Experiment:
    """Read an experiment file: base scenario, ``[sweep]`` spec, design matrix.

    Every parameter value the design can produce (grid values; low and high) is checked by
    the scenario validator before anything runs, so a bad range fails at once with the
    file, the key and what is allowed. ``posterior`` (a calibration directory or a
    :class:`~abm.experiment.posterior.Posterior`; default the base scenario's
    ``posterior`` key) is read and checked too (docs/forecasts.md).
    """
    raw, prov = load_raw(path, overrides, extensions={"sweep": SETTABLE})
    base = build(raw, prov)
    spec = _spec(str(path), raw, prov)
    seed_in = spec.seed if spec.seed is not None else base.seed
    if seed_in is None:
        raise ConfigError(prov("sweep"), "sweep.seed", None,
                          "a sweep needs a seed (sweep.seed, or the scenario's seed) so that "
                          "it finds its directory again, resumes and reproduces")
    seed = int(seed_in)
    spec = replace(spec, seed=seed)
    for p in spec.parameters:
        probe = p.values if p.values is not None else (p.low, p.high)
        for j, v in enumerate(probe):
            r = copy.deepcopy(raw)
            r.pop("sweep", None)
            try:
                apply_override(r, p.key, v)
                build(r, prov)
            except ConfigError as exc:
                field_ = (f"values[{j}]" if p.values is not None else ("low", "high")[j])
                raise ConfigError(prov("sweep"), f'sweep.parameters."{p.key}".{field_}', v,
                                  exc.allowed) from None
    from ..posterior import as_posterior
    from .posterior import check_sweep_posterior

    post = as_posterior(posterior, base)
    if post is not None:
        check_sweep_posterior(spec.trials_per_point, prov("sweep.trials_per_point"))
    X = design_matrix(spec, seed)
    exp = Experiment(path=str(path), base=base, spec=spec, seed=seed, X=X, raw=raw,
                     prov=prov, overrides=tuple(overrides), posterior=post)
    # every point is validated now, before anything is written (a combination can break
    # a joint limit such as the incident-rate cap even when each value is in range)
    for i in range(exp.n_points):
        try:
            exp.scenarios.append(exp.point_scenario(i))
        except ConfigError as exc:
            values = ", ".join(f"{k}={py_value(k, v)}" for k, v in zip(exp.keys, X[i], strict=True))
            raise ConfigError(prov("sweep"), f"sweep point {i} ({values})", exc.value,
                              f"{exc.key}: {exc.allowed}") from None
    return exp
