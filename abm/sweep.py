"""Parameter sweeps and global sensitivity from experiment files.

An experiment file is a scenario file with a ``[sweep]`` table::

    [sweep]
    design = "grid"            # grid | lhs | sobol | morris
    points = 64                # lhs/sobol/morris: samples (sobol: base N, a power of 2;
                               # morris: trajectories); grid: values per low/high axis
    trials_per_point = 1000
    seed = 7                   # optional; else the scenario's seed; else fresh entropy
    crn = true                 # common random numbers across points (default)
    levels = 4                 # morris grid levels
    [sweep.parameters."russia.pressure"]
    values = [0.0, 0.5, 1.0]   # grid; or low = 0.0, high = 1.0 (log = true for a log scale)

Any numeric scenario key can be swept by its dotted path (``states.TJK.russia_dependence``
included; a schedule key is replaced by the constant), and ``csto.consent_rule`` in a grid.
Samples come from ``scipy.stats.qmc`` (LHS) and SALib (Sobol', Morris).

Execution: all points' trials go through the core as one ``(points, trials, states)``
array per chunk; parameters become per-point arrays that broadcast. With common random
numbers every point uses the same block streams (so the block's draws are made once and
shared) and differences between points are not sampling noise; the scenario without the
sweep runs alongside as the *reference*, and every point's change against it comes with a
paired interval. Chunks are checkpointed; ``--resume`` completes a killed sweep with the
same ``outputs_sha256``. Results hold only integer counts, so they do not depend on chunks,
workers or executor (in-process, process pool, Dask).
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import itertools
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .config import SWEEP_KEYS, Scenario, apply_override, build, load_raw
from .core import FIXED_POINT, Batch, compile_scenario, crn_drawer, kernel, stack
from .errors import ConfigError, ResultsError, Terminated
from .rng import BLOCK_SIZE, MonthDraws, block_generators, draw_month, resolve_seed

__all__ = ["DESIGNS", "Parameter", "SweepSpec", "Experiment", "load_experiment",
           "run_sweep", "SweepInterrupted", "CHUNK_ROWS"]

DESIGNS = ("grid", "lhs", "sobol", "morris")
#: Spawn-key slots beyond any block index: the design sampler, and (without common random
#: numbers) point ``p``'s own streams at ``POINT_KEY + p``.
DESIGN_KEY = 2**32
POINT_KEY = 2**32 + 1
#: Target rows (points x trials) per chunk of work.
CHUNK_ROWS = 16 * BLOCK_SIZE
_BOOL_KEYS = ("csto.consent_rule",)


# --------------------------------------------------------------------------- the spec


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


@dataclass(frozen=True)
class SweepSpec:
    design: str
    trials_per_point: int
    parameters: tuple[Parameter, ...]
    points: int | None = None
    seed: int | None = None
    crn: bool = True
    levels: int = 4

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.design, "points": self.points,
                "trials_per_point": self.trials_per_point, "seed": self.seed,
                "crn": self.crn, "levels": self.levels,
                "parameters": [p.to_dict() for p in self.parameters]}


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

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.spec.parameters]

    @property
    def n_points(self) -> int:
        return self.X.shape[0]

    def sweep_id(self) -> str:
        blob = json.dumps({"base": self.base.sha256(), "spec": self.spec.to_dict(),
                           "seed": self.seed, "block": BLOCK_SIZE, "v": 1}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def point_scenario(self, i: int) -> Scenario:
        raw = copy.deepcopy(self.raw)
        raw.pop("sweep", None)
        for key, v in zip(self.keys, self.X[i], strict=True):
            apply_override(raw, key, _py(key, v))
        return build(raw, self.prov)


def _py(key: str, v: float) -> Any:
    return bool(v) if key in _BOOL_KEYS else float(v)


def _sweepable(key: str) -> bool:
    from dataclasses import fields as dc_fields

    from .config import _TABLE_CLASSES, State

    parts = key.split(".")
    if key in _BOOL_KEYS:
        return True
    if len(parts) == 2 and parts[0] in _TABLE_CLASSES:
        f = {f.name: f for f in dc_fields(_TABLE_CLASSES[parts[0]])}.get(parts[1])
        return f is not None and f.metadata["kind"] in ("float", "schedule")
    if len(parts) == 3 and parts[0] == "states":
        f = {f.name: f for f in dc_fields(State)}.get(parts[2])
        return f is not None and f.metadata["kind"] == "float"
    return False


def _spec(path: str, raw: dict[str, Any], prov: Any) -> SweepSpec:
    sw = raw.get("sweep")
    src = prov("sweep")
    if not isinstance(sw, dict):
        raise ConfigError(src, "sweep", sw, "an experiment file needs a [sweep] table "
                          "(design, trials_per_point, [sweep.parameters.\"<key>\"])")
    for k in sw:
        if k not in SWEEP_KEYS:
            import difflib

            close = difflib.get_close_matches(k, SWEEP_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(prov(f"sweep.{k}"), f"sweep.{k}", sw[k],
                              f"unknown key{hint} allowed: {', '.join(SWEEP_KEYS)}")
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

    tpp = pos_int("trials_per_point", 1000)
    if tpp > 10**9:
        raise ConfigError(prov("sweep.trials_per_point"), "sweep.trials_per_point", tpp,
                          "must be an integer in [1, 1000000000]")
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
                ok = (isinstance(v, bool) if key in _BOOL_KEYS else
                      isinstance(v, int | float) and not isinstance(v, bool)
                      and math.isfinite(v))
                if not ok:
                    want = "true or false" if key in _BOOL_KEYS else "a finite number (a " \
                        "sweep sets a constant, not a schedule)"
                    raise ConfigError(src, f"{where}.values[{j}]", v, f"must be {want}")
            params.append(Parameter(key, values=tuple(vals)))
            continue
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
        if key in _BOOL_KEYS:
            raise ConfigError(src, where, spec, f"{key} is a switch: use values = [true, false]")
        params.append(Parameter(key, low=float(lo), high=float(hi), log=log))
    return SweepSpec(design=design, trials_per_point=tpp, parameters=tuple(params),
                     points=points, seed=seed, crn=crn, levels=levels)


def _problem(spec: SweepSpec) -> dict[str, Any]:
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
    design_seed = int(np.random.SeedSequence(seed, spawn_key=(DESIGN_KEY,))
                      .generate_state(1, np.uint32)[0])
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
    prob = _problem(spec)
    if spec.design == "lhs":
        from scipy.stats import qmc

        u = qmc.LatinHypercube(d=prob["num_vars"], seed=design_seed).random(spec.points)
        lo, hi = np.array(prob["bounds"]).T
        return _untransform(spec, qmc.scale(u, lo, hi))
    if spec.design == "sobol":
        from SALib.sample import sobol as sobol_sample

        return _untransform(spec, sobol_sample.sample(prob, spec.points,
                                                      calc_second_order=False,
                                                      seed=design_seed))
    from SALib.sample import morris as morris_sample

    return _untransform(spec, morris_sample.sample(prob, spec.points, num_levels=spec.levels,
                                                   seed=design_seed))


def load_experiment(path: str | Path, overrides: list[str] | tuple[str, ...] = ()
                    ) -> Experiment:
    """Read an experiment file: base scenario, ``[sweep]`` spec, design matrix.

    Every parameter value the design can produce (grid values; low and high) is checked by
    the scenario validator before anything runs, so a bad range fails at once with the
    file, the key and what is allowed.
    """
    raw, prov = load_raw(path, overrides)
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
    X = design_matrix(spec, seed)
    exp = Experiment(path=str(path), base=base, spec=spec, seed=seed, X=X, raw=raw,
                     prov=prov, overrides=tuple(overrides))
    # every point is validated now, before anything is written (a combination can break
    # a joint limit such as the incident-rate cap even when each value is in range)
    for i in range(exp.n_points):
        try:
            exp.scenarios.append(exp.point_scenario(i))
        except ConfigError as exc:
            values = ", ".join(f"{k}={_py(k, v)}" for k, v in zip(exp.keys, X[i], strict=True))
            raise ConfigError(prov("sweep"), f"sweep point {i} ({values})", exc.value,
                              f"{exc.key}: {exc.allowed}") from None
    return exp


# --------------------------------------------------------------------------- execution


def take(bt: Batch, sl: slice) -> Batch:
    """The points ``sl`` of a batch."""
    return replace(
        bt, P=len(range(*sl.indices(bt.P))), consent_rule=bt.consent_rule[sl], W=bt.W[sl],
        exposure=bt.exposure[sl], w_init=bt.w_init[sl], p_init=bt.p_init[sl],
        h_init=bt.h_init[sl], drivers={k: v[:, sl] for k, v in bt.drivers.items()},
        monthly={k: v[:, sl] for k, v in bt.monthly.items()},
        par={k: v[sl] for k, v in bt.par.items()}, jumps=bt.jumps[sl])


AGG_INT = ("n_base", "n_veto", "n_closed", "sum_hosted", "sumsq_hosted", "sum_incidents",
           "sumsq_incidents", "sum_final_w")


def sweep_chunk(bt: Batch, entropy: Any, spawn_key: tuple[int, ...], p0: int, b0: int,
                nb: int, tpp: int, crn: bool) -> dict[str, np.ndarray]:
    """Simulate points ``p0 .. p0 + bt.P - 1`` over blocks ``b0 .. b0 + nb - 1``.

    Returns integer aggregates per point and state (shape ``(P, S)``), ``n_any`` per point,
    and ``bits``: per point and trial, the packed indicators of a base per state and
    anywhere (for paired intervals).
    """
    root = np.random.SeedSequence(entropy, spawn_key=spawn_key)
    n = nb * BLOCK_SIZE
    m = max(0, min(n, tpp - b0 * BLOCK_SIZE))
    S, P = bt.S, bt.P
    if crn:
        draws = MonthDraws.empty(n, S, bt.noise_on)
        draw = crn_drawer(root, b0, nb)
    else:
        flat = MonthDraws.empty(P * n, S, bt.noise_on)
        gens = []
        for q in range(P):
            rq = np.random.SeedSequence(root.entropy,
                                        spawn_key=(*root.spawn_key, POINT_KEY + p0 + q))
            gens += [block_generators(rq, b) for b in range(b0, b0 + nb)]

        def view(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a.reshape(P, n, *a.shape[1:])

        draws = MonthDraws(view(flat.u_threat), view(flat.u_drill), view(flat.z_p),
                           view(flat.z_w), view(flat.u_decide), view(flat.u_consent))

        def draw(_: MonthDraws) -> None:
            draw_month(gens, flat)

    out = kernel(bt, draw, draws, n, m, collect_months=False)
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


def plan_chunks(n_points: int, tpp: int) -> list[tuple[int, int, int, int]]:
    """``(p0, p1, b0, nb)`` tasks covering every point and block, about CHUNK_ROWS rows each."""
    n_blocks = math.ceil(tpp / BLOCK_SIZE)
    rows_per_point = n_blocks * BLOCK_SIZE
    if rows_per_point >= CHUNK_ROWS:
        per = max(1, CHUNK_ROWS // BLOCK_SIZE)
        return [(p, p + 1, b, min(per, n_blocks - b))
                for p in range(n_points) for b in range(0, n_blocks, per)]
    pp = max(1, CHUNK_ROWS // rows_per_point)
    return [(p, min(p + pp, n_points), 0, n_blocks) for p in range(0, n_points, pp)]


class SweepInterrupted(Exception):
    """A sweep stopped by Ctrl-C or SIGTERM (``terminated``); its checkpoints are kept."""

    def __init__(self, message: str, terminated: bool = False):
        super().__init__(message)
        self.terminated = terminated


@dataclass
class Executor:
    """Where chunks run: ``inprocess``, ``pool`` (local processes) or ``dask``."""

    kind: str = "pool"
    workers: int = 1
    scheduler: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self.workers, "scheduler": self.scheduler}

    def map(self, fn: Callable[..., dict], tasks: list[tuple]) -> Iterator[tuple[int, dict]]:
        if self.kind == "inprocess" or (self.kind == "pool" and self.workers == 1):
            for i, args in enumerate(tasks):
                yield i, fn(*args)
            return
        if self.kind == "pool":
            from .parallel import pool_map

            stream = pool_map(fn, tasks, self.workers)
            try:
                yield from stream
            finally:
                stream.close()
            return
        from distributed import Client, LocalCluster, as_completed

        cluster = None
        if self.scheduler:
            client = Client(self.scheduler, timeout="20s")
        else:
            cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                   processes=True, host="127.0.0.1", dashboard_address=None)
            client = Client(cluster)
        try:
            futs = [client.submit(fn, *args, pure=False) for args in tasks]
            index = {f.key: i for i, f in enumerate(futs)}
            for f in as_completed(futs):
                yield index[f.key], f.result()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


# --------------------------------------------------------------------------- the run


def _lock(path: Path):
    fh = open(path, "a+")  # noqa: SIM115 - held for the whole sweep
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise ResultsError(f"{path.parent}: another process is running this sweep "
                           "(lock held); wait for it or use another --out") from None
    return fh


def _save_chunk(path: Path, res: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        np.savez(f, **res)
    os.replace(tmp, path)


def _load_chunk(path: Path, expect: tuple[int, int, int, int], S: int
                ) -> dict[str, np.ndarray] | None:
    """A checkpoint, or None if it is unreadable or does not match its task."""
    p0, p1, b0, _ = expect
    try:
        with np.load(path, allow_pickle=False) as z:
            res = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError):
        return None
    try:
        ok = (int(res["p0"]) == p0 and int(res["b0"]) == b0
              and all(res[k].shape == (p1 - p0, S) for k in AGG_INT)
              and res["n_any"].shape == (p1 - p0,))
    except KeyError:
        return None
    return res if ok else None


def run_sweep(exp: Experiment, *, out_dir: Path | None = None, executor: Executor | None = None,
              resume: bool = False, force: bool = False,
              progress: Callable[[int, int], None] | None = None,
              figures: bool = True) -> tuple[Path, dict[str, Any], bool]:
    """Run (or finish, or find) a sweep; returns ``(directory, summary, reused)``."""
    executor = executor or Executor()
    sid = exp.sweep_id()
    final = Path(out_dir) if out_dir else Path("results") / exp.base.name / f"sweep-{sid}"
    if final.exists():
        is_sweep = (final / "manifest.json").is_file() and (final / "points.parquet").exists()
        if not is_sweep and any(final.iterdir()):
            raise ConfigError("--out", "out", str(final), "exists and is not a sweep "
                              "directory; choose another path (--force will not replace it)")
    if final.exists() and not force and any(final.iterdir()):
        summary = _read_finished(final)
        if summary.get("sweep_id") != sid:
            raise ConfigError("--out", "out", str(final),
                              "holds a different sweep; use --force or another --out")
        return final, summary, True
    work = final.with_name(final.name + ".partial")
    work.mkdir(parents=True, exist_ok=True)
    lock = _lock(work / "lock")
    try:
        chunks_dir = work / "chunks"
        n_total = exp.n_points + 1  # design points, then the reference (the base scenario)
        tpp = exp.spec.trials_per_point
        tasks = plan_chunks(n_total, tpp)
        plan = {"sweep_id": sid, "points": exp.n_points, "trials_per_point": tpp,
                "tasks": [list(t) for t in tasks]}
        plan_path = work / "plan.json"
        if chunks_dir.exists() and any(chunks_dir.iterdir()) and not resume and not force:
            raise ConfigError("--resume", "resume", False,
                              f"a partial sweep is checkpointed in {work}; add --resume to "
                              "finish it or --force to start again")
        if force and chunks_dir.exists():
            shutil.rmtree(chunks_dir)
        if plan_path.exists() and resume:
            old = json.loads(plan_path.read_text())
            if old != plan:
                raise ConfigError("--resume", "resume", True,
                                  f"the checkpoints in {work} belong to a different plan; "
                                  "use --force to start again")
        chunks_dir.mkdir(exist_ok=True)
        plan_path.write_text(json.dumps(plan))

        S = len(exp.base.states)
        results: dict[int, dict[str, np.ndarray]] = {}
        todo = []
        for i, t in enumerate(tasks):
            cp = chunks_dir / f"chunk-{t[0]:06d}-{t[2]:06d}.npz"
            res = _load_chunk(cp, t, S) if cp.exists() else None
            if res is not None:
                results[i] = res
            else:
                todo.append(i)
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        if todo:
            cms = [compile_scenario(sc) for sc in (exp.scenarios or [
                exp.point_scenario(i) for i in range(exp.n_points)])]
            cms.append(compile_scenario(exp.base))
            bt = stack(cms)
            root = resolve_seed(exp.seed)
            args = [(take(bt, slice(tasks[i][0], tasks[i][1])), root.entropy, root.spawn_key,
                     tasks[i][0], tasks[i][2], tasks[i][3], tpp, exp.spec.crn) for i in todo]
            done = len(results)
            stream = executor.map(sweep_chunk, args)
            try:
                for j, res in stream:
                    i = todo[j]
                    t = tasks[i]
                    _save_chunk(chunks_dir / f"chunk-{t[0]:06d}-{t[2]:06d}.npz", res)
                    results[i] = res
                    done += 1
                    if progress:
                        progress(done, len(tasks))
            except KeyboardInterrupt as exc:
                # close the pool now (drop queued chunks) rather than when the generator is
                # collected, which at interpreter exit would run every queued chunk first
                stream.close()
                raise SweepInterrupted(
                    f"interrupted: {len(results)} of {len(tasks)} chunks are checkpointed in "
                    f"{chunks_dir}; run the same command with --resume to finish",
                    terminated=isinstance(exc, Terminated)) from None
        wall = time.perf_counter() - t0
        summary, points = _assemble(exp, sid, tasks, results)
        _write(exp, final, work, summary, points, executor, started, wall, figures)
    finally:
        lock.close()
    shutil.rmtree(work, ignore_errors=True)
    return final, summary, False


SWEEP_FILES = ("points.parquet", "summary.json", "sensitivity.json")


def _read_finished(final: Path) -> dict[str, Any]:
    """The summary of a finished sweep, after checking every file against its manifest."""
    from .results import read_json

    manifest = read_json(final / "manifest.json")
    files = manifest.get("files")
    problems = (["manifest lists no files"] if not isinstance(files, dict) else
                [p for name in SWEEP_FILES for p in _sweep_file_problem(final, name, files)])
    if problems:
        raise ResultsError(f"{final}: {problems[0]}; use --force to recompute")
    return read_json(final / "summary.json")


def _sweep_file_problem(final: Path, name: str, files: dict[str, Any]) -> list[str]:
    from .results import sha256_file

    f = final / name
    if not f.is_file():
        return [f"{name} is missing"]
    if sha256_file(f) != files.get(name):
        return [f"{name} does not match the manifest's sha256 (changed or truncated)"]
    return []


def _assemble(exp: Experiment, sid: str, tasks: list[tuple[int, int, int, int]],
              results: dict[int, dict[str, np.ndarray]]) -> tuple[dict[str, Any], Any]:
    import pandas as pd

    from .history import paired_difference
    from .summary import Z95, wilson

    n_total, S, tpp = exp.n_points + 1, len(exp.base.states), exp.spec.trials_per_point
    agg = {k: np.zeros((n_total, S), dtype=np.int64) for k in AGG_INT}
    n_any = np.zeros(n_total, dtype=np.int64)
    nbytes = math.ceil((S + 1) / 8)
    bits = np.zeros((n_total, tpp, nbytes), dtype=np.uint8)
    for i, (p0, p1, b0, _nb) in enumerate(tasks):
        r = results[i]
        for k in AGG_INT:
            agg[k][p0:p1] += r[k]
        n_any[p0:p1] += r["n_any"]
        m = int(r["m"])
        bits[p0:p1, b0 * BLOCK_SIZE:b0 * BLOCK_SIZE + m] = r["bits"]
    def got(q: int) -> np.ndarray:
        """Point q's per-trial base indicators, (tpp, S+1); unpacked one point at a time."""
        return np.unpackbits(bits[q], axis=-1, count=S + 1).astype(bool)

    ids = exp.base.state_ids
    ref_got = got(exp.n_points)
    n = tpp

    def mean_ci(s: np.ndarray, ss: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mean = s / n
        var = np.maximum(ss / n - mean**2, 0.0) * n / max(n - 1, 1)
        half = Z95 * np.sqrt(var / n)
        return mean, mean - half, mean + half

    cols: dict[str, Any] = {"point": np.arange(exp.n_points)}
    for j, key in enumerate(exp.keys):
        cols[key] = (exp.X[:, j].astype(bool) if key in _BOOL_KEYS else exp.X[:, j])
    ref = exp.n_points

    diffs = {col: ([], [], []) for col in range(S + 1)}
    for q in range(exp.n_points):
        gq = got(q)
        for col in range(S + 1):
            d, lo, hi = diffs[col]
            if exp.spec.crn:
                a, b_, c = paired_difference(ref_got[:, col], gq[:, col])
            else:  # independent streams: unpaired normal interval
                pa, pb = ref_got[:, col].mean(), gq[:, col].mean()
                half = Z95 * math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / n)
                a, b_, c = pb - pa, pb - pa - half, pb - pa + half
            d.append(a)
            lo.append(b_)
            hi.append(c)

    def diff(col: int) -> tuple[list[float], list[float], list[float]]:
        return diffs[col]

    cols["any_base.p"] = n_any[:ref] / n
    cols["any_base.ci_low"], cols["any_base.ci_high"] = wilson(n_any[:ref], n)
    cols["any_base.p_diff"], cols["any_base.p_diff_ci_low"], cols["any_base.p_diff_ci_high"] = \
        diff(S)
    for i, sid_ in enumerate(ids):
        cols[f"{sid_}.p_base"] = agg["n_base"][:ref, i] / n
        cols[f"{sid_}.ci_low"], cols[f"{sid_}.ci_high"] = wilson(agg["n_base"][:ref, i], n)
        cols[f"{sid_}.p_veto"] = agg["n_veto"][:ref, i] / n
        cols[f"{sid_}.mean_months_hosted"] = agg["sum_hosted"][:ref, i] / n
        cols[f"{sid_}.p_closed"] = agg["n_closed"][:ref, i] / n
        cols[f"{sid_}.mean_incidents"] = agg["sum_incidents"][:ref, i] / n
        cols[f"{sid_}.mean_final_w"] = agg["sum_final_w"][:ref, i] / FIXED_POINT / n
        d, lo, hi = diff(i)
        cols[f"{sid_}.p_base_diff"] = d
        cols[f"{sid_}.p_base_diff_ci_low"] = lo
        cols[f"{sid_}.p_base_diff_ci_high"] = hi
    points = pd.DataFrame(cols)

    h = hashlib.sha256(b"abm-sweep-v1\0")
    h.update(np.ascontiguousarray(exp.X, dtype="<f8").tobytes())
    for k in AGG_INT:
        h.update(k.encode() + np.ascontiguousarray(agg[k], dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(n_any, dtype="<i8").tobytes())
    h.update(bits.tobytes())  # packed with zero padding, as np.packbits writes it

    ref_ci = wilson(int(n_any[ref]), n)
    reference = {"any_base": {"p": float(n_any[ref] / n), "ci_low": ref_ci[0],
                              "ci_high": ref_ci[1]}, "states": {}}
    for i, sid_ in enumerate(ids):
        lo, hi = wilson(int(agg["n_base"][ref, i]), n)
        mh, _, _ = mean_ci(agg["sum_hosted"][ref, i], agg["sumsq_hosted"][ref, i])
        reference["states"][sid_] = {"p_base": float(agg["n_base"][ref, i] / n),
                                     "ci_low": lo, "ci_high": hi,
                                     "p_veto": float(agg["n_veto"][ref, i] / n),
                                     "mean_months_hosted": float(mh)}
    summary = {
        "name": exp.base.name, "sweep_id": sid, "design": exp.spec.design,
        "points": exp.n_points, "trials_per_point": tpp, "seed": exp.seed,
        "crn": exp.spec.crn, "parameters": [p.to_dict() for p in exp.spec.parameters],
        "horizon_months": exp.base.horizon_months, "states": list(ids),
        "reference": reference,
        "outputs_sha256": h.hexdigest(),
    }
    return summary, points


def sensitivity(exp: Experiment, points: Any) -> dict[str, Any]:
    """Sobol' S1/ST (with intervals) or Morris mu*/sigma per output, from SALib."""
    outputs = ["any_base.p", *[f"{s}.p_base" for s in exp.base.state_ids]]
    out: dict[str, Any] = {"design": exp.spec.design, "outputs": {}}
    if exp.spec.design not in ("sobol", "morris"):
        out["method"] = None
        out["note"] = (f"design {exp.spec.design!r} has no variance-based index; use design = "
                       "\"sobol\" or \"morris\" for sensitivity")
        return out
    prob = _problem(exp.spec)
    design_seed = int(np.random.SeedSequence(exp.seed, spawn_key=(DESIGN_KEY,))
                      .generate_state(1, np.uint32)[0])
    out["method"] = exp.spec.design
    out["conf_level"] = 0.95
    out["scale"] = {p.key: ("log" if p.log else "linear") for p in exp.spec.parameters}

    def clean(x: Any) -> float | None:
        x = float(x)
        return x if math.isfinite(x) else None

    import warnings

    for name in outputs:
        Y = points[name].to_numpy(dtype=np.float64)
        res: dict[str, Any] = {}
        if np.ptp(Y) == 0:
            out["outputs"][name] = {"constant": True, "value": float(Y[0]),
                                    "indices": None}
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if exp.spec.design == "sobol":
                from SALib.analyze import sobol as sobol_an

                si = sobol_an.analyze(prob, Y, calc_second_order=False, conf_level=0.95,
                                      seed=design_seed)
                for j, key in enumerate(exp.keys):
                    res[key] = {"S1": clean(si["S1"][j]), "S1_conf": clean(si["S1_conf"][j]),
                                "ST": clean(si["ST"][j]), "ST_conf": clean(si["ST_conf"][j])}
            else:
                from SALib.analyze import morris as morris_an

                U = exp.X.copy()
                for j, p in enumerate(exp.spec.parameters):
                    if p.log:
                        U[:, j] = np.log(U[:, j])
                si = morris_an.analyze(prob, U, Y, conf_level=0.95,
                                       num_levels=exp.spec.levels, seed=design_seed)
                for j, key in enumerate(exp.keys):
                    res[key] = {"mu": clean(si["mu"][j]), "mu_star": clean(si["mu_star"][j]),
                                "mu_star_conf": clean(si["mu_star_conf"][j]),
                                "sigma": clean(si["sigma"][j])}
        out["outputs"][name] = {"constant": False, "indices": res}
    return out


def _write(exp: Experiment, final: Path, work: Path, summary: dict[str, Any], points: Any,
           executor: Executor, started: datetime, wall: float, figures: bool) -> None:
    from .results import git_commit, package_versions, sha256_file, swap_in, write_json

    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        sens = sensitivity(exp, points)
        points.to_parquet(tmp / "points.parquet", index=False, engine="pyarrow")
        write_json(tmp / "summary.json", summary)
        write_json(tmp / "sensitivity.json", sens)
        files = {f: sha256_file(tmp / f) for f in ("points.parquet", "summary.json",
                                                    "sensitivity.json")}
        write_json(tmp / "manifest.json", {
            "kind": "sweep", "sweep_id": summary["sweep_id"], "config": exp.path,
            "overrides": list(exp.overrides), "scenario": exp.base.to_dict(),
            "scenario_sha256": exp.base.sha256(), "sweep": exp.spec.to_dict(),
            "seed": exp.seed, "block_size": BLOCK_SIZE, "executor": executor.describe(),
            "versions": package_versions(), "git": git_commit(), "started": started.isoformat(
                timespec="seconds"), "finished": datetime.now(UTC).isoformat(
                timespec="seconds"), "wall_seconds": round(wall, 3),
            "outputs_sha256": summary["outputs_sha256"], "files": files})
        if figures:
            from .plots import draw_sweep_figures

            draw_sweep_figures(points, summary, sens, tmp / "figures")
        if final.exists():
            swap_in(tmp, final)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
