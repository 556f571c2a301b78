"""The ``abm`` command line.

Exit codes: 0 success; 1 internal error (or ``reproduce`` found a difference); 2 bad input,
reported as one line on stderr naming the file, the dotted key, the value and what is
allowed. Nothing is written when the input is bad.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from . import limits
from .commands import precision as _precision
from .commands.formatting import format_summary, format_sweep
from .commands.signals import by_interrupt, interrupted, signal_handlers
from .errors import ConfigError, ResultsError

__all__ = ["main", "entry", "format_summary", "format_sweep"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


#: An integer typed on the command line (``1000``, ``1_000``, ``1e9``), else ``None``.
_int_text = _precision.int_text


def _positive_int(flag: str, hi: int | None = None):
    """Parser of a positive integer option; ``hi`` is the largest value allowed."""
    def parse(text: str) -> int:
        v = _int_text(text)
        if v is None:
            raise ConfigError(flag, flag.lstrip("-"), text, "must be a positive integer")
        if v < 1:
            raise ConfigError(flag, flag.lstrip("-"), text, "must be a positive integer (>= 1)")
        if hi is not None and v > hi:
            raise ConfigError(flag, flag.lstrip("-"), text,
                              f"must be a positive integer in [1, {hi}]")
        return v
    return parse


def _run_options(args: argparse.Namespace) -> tuple[int | None, int | None, int]:
    """``--trials``, ``--seed`` and ``--workers`` as given (None where absent), with the
    bounds of :mod:`abm.limits` in every command (as in a scenario file)."""
    trials = (_positive_int("--trials", limits.MAX_TRIALS)(args.trials)
              if args.trials is not None else None)
    seed = _seed(args.seed) if args.seed is not None else None
    return trials, seed, _positive_int("--workers", limits.MAX_WORKERS)(args.workers)


def _seed(text: str) -> int:
    v = _int_text(text)
    if v is None or not 0 <= v <= limits.MAX_SEED:
        raise ConfigError("--seed", "seed", text,
                          "must be a non-negative integer in [0, 2**128 - 1]")
    return v


def _executor(args: argparse.Namespace, workers: int, threads: bool = False):
    """The executor chosen by ``--scheduler``, ``--dask-local`` or ``--workers``:
    ``workers`` threads when the work releases the GIL (``threads``), else processes."""
    from .experiment.executors import Executor

    if getattr(args, "scheduler", None):
        if not args.scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise ConfigError("--scheduler", "scheduler", args.scheduler,
                              "must be a Dask scheduler address such as tcp://127.0.0.1:8786")
        return Executor("dask", 0, args.scheduler)
    if getattr(args, "dask_local", None) is not None:
        return Executor("dask", _positive_int("--dask-local", limits.MAX_WORKERS)(
            args.dask_local))
    if workers == 1:
        return Executor("inprocess", 1)
    return Executor("threads" if threads else "pool", workers)


def _kernel(args: argparse.Namespace) -> str:
    from .model.kernels import DEFAULT_KERNEL

    return args.kernel or DEFAULT_KERNEL


def _add_kernel_option(p: argparse.ArgumentParser) -> None:
    from .model.kernels import DEFAULT_KERNEL, kernel_names

    p.add_argument("--kernel", choices=kernel_names(), default=None,
                   help=f"month kernel: compiled (numba, threads) or numpy (the reference); "
                        f"same numbers (default {DEFAULT_KERNEL})")


def _add_executor_options(p: argparse.ArgumentParser, workers_help: str,
                          workers_default: str | None) -> None:
    ex = p.add_mutually_exclusive_group()
    ex.add_argument("--workers", type=str, default=workers_default, help=workers_help)
    ex.add_argument("--scheduler", help="address of a running Dask scheduler, tcp://HOST:PORT")
    ex.add_argument("--dask-local", type=str, metavar="N",
                    help="start a Dask LocalCluster of N workers on loopback")


def _parser() -> _Parser:
    p = _Parser(prog="abm", description="Monte Carlo simulator of US basing decisions in "
                "Central Asia under Russian pressure.")
    p.add_argument("--version", action="version", version=f"abm {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run a scenario and write a results directory")
    r.add_argument("config", help="scenario TOML file")
    r.add_argument("--trials", type=str, help="number of trials (default: the file's)")
    _precision.add_precision_options(r)
    r.add_argument("--seed", type=str, help="seed (default: the file's, else fresh entropy)")
    r.add_argument("--months", type=str, help="horizon in months (default: the file's)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key by dotted path; VALUE is read as TOML (repeatable)")
    _add_executor_options(r, "workers on this machine: threads with the compiled kernel, "
                          "processes otherwise (default 1)", "1")
    r.add_argument("--engine", choices=_engines(), default="numpy")
    _add_kernel_option(r)
    r.add_argument("--posterior", metavar="CAL_DIR", help="run under a calibration's "
                   "posterior: one parameter draw per 100 trials (docs/forecasts.md)")
    r.add_argument("--out", help="results directory (default results/<name>/<run-id>)")
    r.add_argument("--force", action="store_true", help="recompute even if the run exists")
    r.add_argument("--json", action="store_true", help="print summary.json to stdout only")
    r.add_argument("--quiet", action="store_true", help="no progress bar or notes on stderr")
    r.add_argument("--no-figures", action="store_true", help="skip drawing figures")
    r.add_argument("--save-paths", type=str, metavar="N", help="also write every month of "
                   "the first N trials as paths.parquet")

    sw = sub.add_parser("sweep", help="run a parameter sweep / sensitivity design ([sweep] table)")
    sw.add_argument("config", help="experiment TOML file with a [sweep] table")
    _add_executor_options(sw, "workers on this machine: threads with the compiled kernel, "
                          "processes otherwise (default: all cores; 1 runs in this process)",
                          None)
    _add_kernel_option(sw)
    sw.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a key (sweep.points, sweep.trials_per_point, ... included)")
    sw.add_argument("--resume", action="store_true", help="finish a killed sweep from its "
                    "checkpoints")
    sw.add_argument("--force", action="store_true", help="start again, discarding checkpoints "
                    "and any finished sweep in the same place")
    sw.add_argument("--posterior", metavar="CAL_DIR", help="run every point under a "
                    "calibration's posterior, paired by parameter draw (docs/forecasts.md)")
    sw.add_argument("--out", help="sweep directory (default results/<name>/sweep-<id>)")
    sw.add_argument("--json", action="store_true", help="print summary.json to stdout only")
    sw.add_argument("--quiet", action="store_true", help="no progress bar or notes on stderr")
    sw.add_argument("--no-figures", action="store_true", help="skip drawing figures")

    s = sub.add_parser("show", help="print a run's summary as a table")
    s.add_argument("run_dir")
    s.add_argument("--json", action="store_true", help="print summary.json instead")
    s.add_argument("--all", action="store_true", help="a sweep: list every point")

    pl = sub.add_parser("plot", help="(re)draw a run's figures into RUN_DIR/figures")
    pl.add_argument("run_dir")

    v = sub.add_parser("validate", help="check a scenario file and print it resolved")
    v.add_argument("config")
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    from .commands.history import add_history_parser

    add_history_parser(sub)
    from .commands.compare import add_compare_parser
    from .commands.discover import add_discover_parser
    from .commands.listing import add_ls_parser

    add_compare_parser(sub)
    add_discover_parser(sub)
    add_ls_parser(sub)
    from .commands.calibrate import add_calibrate_parser

    add_calibrate_parser(sub, _add_executor_options, _add_kernel_option)

    b = sub.add_parser("bench", help="measure throughput (core, Mesa, workers, sweeps, memory)")
    b.add_argument("--quick", action="store_true", help="smaller sizes; under a minute")
    b.add_argument("--out", help="write the results JSON to this file")

    ap = sub.add_parser("app", help="explore scenarios in the browser (a local web app)")
    ap.add_argument("config", nargs="?", help="scenario to show first (default: the first)")
    ap.add_argument("--port", type=str, default="8521", help="port (default 8521)")
    ap.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    ap.add_argument("--experiments", default="experiments", help="scenarios offered and saved")
    ap.add_argument("--results", default="results", help="where runs are saved")

    rp = sub.add_parser("reproduce", help="re-run a run or sweep from its manifest and compare "
                        "outputs_sha256")
    rp.add_argument("run_dir")
    rp.add_argument("--workers", type=str, default=None, help="processes (default: as recorded)")
    return p


def _engines() -> tuple[str, ...]:
    from .model.engines import engine_names

    return engine_names()


def _version() -> str:
    from . import __version__

    return __version__


def _note(args: argparse.Namespace, msg: str) -> None:
    if not getattr(args, "quiet", False) and not getattr(args, "json", False):
        print(msg, file=sys.stderr)


# --------------------------------------------------------------------------- formatting


# --------------------------------------------------------------------------- commands


def _cmd_run(args: argparse.Namespace) -> int:
    # Options and the scenario are checked before the heavy imports below, so bad input
    # is refused at once and before any work.
    from .model.kernels import releases_gil
    from .scenario import load_scenario

    trials, seed, workers = _run_options(args)
    rule = _precision.parse_precision(args)  # --target-halfwidth: trials up to rule.max_trials
    executor = _executor(args, workers, releases_gil(args.engine, _kernel(args)))
    months = (_positive_int("--months", limits.MAX_HORIZON)(args.months)
              if args.months is not None else None)
    sc = load_scenario(args.config, args.overrides)

    from .experiment.simulate import check_memory, check_months, simulate
    from .experiment.store import default_run_dir, read_run, run_id, write_run
    from .model.rng import fresh_seed

    trials = rule.max_trials if rule else sc.trials if trials is None else trials
    check_memory(trials, len(sc.states), source="--max-trials" if rule else "--trials"
                 if args.trials else sc.source)
    if seed is None:
        seed = sc.seed if sc.seed is not None else fresh_seed()
    if months is not None:
        check_months(sc, months)
    from dataclasses import replace

    # The file's horizon stays in the resolved scenario (its schedules may reach past a
    # shorter --months); the horizon actually run is recorded beside it.
    resolved = replace(sc, trials=trials, seed=seed)
    horizon = months if months is not None else sc.horizon_months
    from .commands.posterior import run_posterior

    post = run_posterior(args, sc, trials)
    from .commands.paths import complete_existing, save_paths_option

    save_paths = save_paths_option(args, trials, horizon, len(sc.states), post is not None)
    rid = run_id(resolved.sha256(), trials, seed, args.engine, horizon,
                 post.sha256 if post is not None else None, _precision.precision_key(rule))
    run_dir = Path(args.out) if args.out else default_run_dir(Path("results"), sc.name, rid)

    if run_dir.exists() and args.force:
        _check_replaceable(run_dir, "manifest.json")
    if run_dir.exists() and not args.force:
        if not (run_dir / "manifest.json").exists():
            raise ConfigError("--out", "out", str(run_dir),
                              "exists and is not a results directory; choose another path")
        try:
            existing = read_run(run_dir)
        except ResultsError as exc:
            raise ConfigError("--out", "out", str(run_dir),
                              f"exists but is damaged ({exc}); use --force to recompute") from None
        if existing.manifest.get("run_id") != rid:
            raise ConfigError("--out", "out", str(run_dir),
                              "holds a different run; use --force to replace it or another --out")
        _note(args, f"found existing results for this run in {run_dir} (use --force to "
                    "recompute)")
        complete_existing(args, existing, resolved, seed, horizon, save_paths,
                          lambda msg: _note(args, msg))
        _emit(args, existing.summary, run_dir, existing.manifest)
        return EXIT_OK

    bar = None
    if not args.quiet and not args.json:
        from .commands.progress import Progress

        bar = Progress(trials, desc=sc.name)
    try:
        res = simulate(resolved, **_precision.trials_kwargs(rule, trials), seed=seed,
                       months=months, executor=executor, engine=args.engine,
                       kernel=_kernel(args), progress=bar or False, posterior=post,
                       save_paths=save_paths)
    finally:
        if bar is not None:
            bar.close()
    write_run(res, run_dir, rid=rid, config=str(args.config), overrides=args.overrides,
              extra=None if args.no_figures else _run_figures(res), replace=args.force)
    _note(args, f"wrote {run_dir} in {res.wall_seconds:.1f} s of simulation")
    _emit(args, res.summary, run_dir, {"run_id": rid, "overrides": list(args.overrides)})
    return EXIT_OK


def _run_figures(res: Any):
    """The figures of a run, drawn into its directory before it appears."""
    def draw(tmp: Path) -> None:
        from .plots import decision_thresholds, draw_figures

        draw_figures(res.table, res.months, res.summary, tmp / "figures",
                     thresholds=decision_thresholds(res.scenario), paths=res.paths)
    return draw


def _check_replaceable(path: Path, marker: str) -> None:
    """``--force`` replaces only an empty directory or one this tool wrote (its marker file
    is there), never an arbitrary directory named by ``--out``."""
    if path.is_dir() and (not any(path.iterdir()) or (path / marker).is_file()):
        return
    raise ConfigError("--out", "out", str(path), f"exists and is not an abm results directory "
                      f"(no {marker}); --force will not replace it: choose another path")


def _emit(args: argparse.Namespace, summary: dict[str, Any], run_dir: Path,
          manifest: dict[str, Any]) -> None:
    """Print a run's summary: as a table, or (``--json``) summary.json plus ``run_dir`` and
    ``run_id``."""
    if args.json:
        print(json.dumps({**summary, "run_dir": str(run_dir),
                          "run_id": manifest.get("run_id")}, indent=2))
    else:
        print(format_summary(summary, str(run_dir), manifest.get("overrides")))


def _cmd_show(args: argparse.Namespace) -> int:
    from .commands.resultdirs import cmd_show

    return cmd_show(args)


def _cmd_plot(args: argparse.Namespace) -> int:
    from .commands.resultdirs import cmd_plot

    return cmd_plot(args)


def _cmd_validate(args: argparse.Namespace) -> int:
    import tomli_w

    from .experiment.sweep.spec import SETTABLE, load_experiment
    from .scenario import load_raw, load_scenario

    raw, _ = load_raw(args.config, args.overrides, extensions={"sweep": SETTABLE})
    scenario_overrides = [o for o in args.overrides if not o.strip().startswith("sweep.")]
    sc = load_scenario(args.config, scenario_overrides)
    if "sweep" in raw:
        exp = load_experiment(args.config, args.overrides)
        print(f"# [sweep]: {exp.spec.design} design, {exp.n_points} points x "
              f"{exp.spec.trials_per_point} trials over {', '.join(exp.keys)}")
    print(f"# {args.config}: valid; resolved scenario (sha256 {sc.sha256()[:12]}) follows")
    print(tomli_w.dumps(sc.to_dict()), end="")
    return EXIT_OK


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .commands.sweepdir import is_sweep_dir, reproduce_sweep
    from .experiment.simulate import simulate
    from .experiment.store import file_problems, read_run
    from .model.kernels import kernel_names
    from .model.outcomes import FORMAT_COLUMNS, outputs_sha256
    from .scenario import scenario_from_dict

    if is_sweep_dir(args.run_dir):
        return reproduce_sweep(Path(args.run_dir), _positive_int(
            "--workers", limits.MAX_WORKERS)(args.workers) if args.workers else None)
    run = read_run(args.run_dir, verify=False)
    m = run.manifest
    # manifests before the life-cycle outcomes recorded no format: they wrote v1
    fmt = str(m.get("outputs_format") or "abm-trials-v1")
    if fmt not in FORMAT_COLUMNS:  # a format newer than this installation
        print(f"abm reproduce: NOT reproduced {run.path}: the run was made with output format "
              f"{fmt}, which this installation does not know ({', '.join(FORMAT_COLUMNS)})",
              file=sys.stderr)
        return EXIT_FAIL
    try:
        sc = scenario_from_dict(m["scenario"], source=str(run.path / "manifest.json"))
        from .commands.posterior import reproduce_posterior

        sc, post = reproduce_posterior(m, sc, str(run.path / "manifest.json"))
        workers = (_positive_int("--workers", limits.MAX_WORKERS)(args.workers) if args.workers
                   else int(m.get("workers", 1)))
        # manifests before the compiled kernel recorded none: they ran the numpy kernel
        kernel = str(m.get("kernel") or "numpy")
        recorded_version = str(m.get("kernel_version") or "numpy-1")
        if kernel not in kernel_names():
            raise ResultsError(f"{run.path / 'manifest.json'}: kernel = {kernel!r}: this "
                               f"installation has {', '.join(kernel_names())}")
        res = simulate(sc, **_precision.reproduce_trials(m), seed=int(m["seed"]),
                       months=int(m["horizon_months"]), engine=m["engine"], workers=workers,
                       kernel=kernel, posterior=post)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ResultsError(
            f"{run.path / 'manifest.json'}: cannot re-run from it ({exc!r})") from None
    # an older format is compared on its own columns (the re-run has more)
    fresh = outputs_sha256(res.table, fmt)
    recorded = m.get("outputs_sha256")
    problems = []
    if fresh != recorded and recorded_version != res.kernel_version:
        print(f"abm reproduce: NOT reproduced {run.path}: the run was made by kernel {kernel} "
              f"version {recorded_version}, this installation's is {res.kernel_version} "
              f"(outputs_sha256 recorded {str(recorded)[:16]}... re-run {fresh[:16]}...)",
              file=sys.stderr)
        return EXIT_FAIL
    if fresh != recorded:
        problems.append(f"outputs_sha256 recorded {str(recorded)[:16]}... re-run {fresh[:16]}...")
    try:
        stored = run.table()
        stored_hash = outputs_sha256(stored, fmt)
    except Exception as exc:  # a damaged Parquet file: report, don't crash
        stored, stored_hash = None, None
        problems.append(f"trials.parquet unreadable: {_one_line(str(exc))}")
    if stored_hash is not None and stored_hash != fresh:
        problems.append(f"trials.parquet hashes to {stored_hash[:16]}... re-run {fresh[:16]}...")
        if len(stored) != len(res.table):
            problems.append(f"rows: stored {len(stored)}, re-run {len(res.table)}")
        else:
            for c in ("trial", "state", *FORMAT_COLUMNS[fmt]):
                a, b = stored[c].astype(object), res.table[c].astype(object)
                n_diff = int((~((a == b) | (a.isna() & b.isna()))).sum())
                if n_diff:
                    problems.append(f"column {c}: {n_diff} of {len(a)} rows differ")
    # the other files must still be the ones written (a missing months.parquet is a
    # damaged directory even if the trials reproduce)
    problems += file_problems(run.path, m.get("files"))
    if not problems:
        print(f"reproduced {run.path}: outputs_sha256 {fresh} matches")
        return EXIT_OK
    print(f"abm reproduce: NOT reproduced {run.path}: {'; '.join(problems)}", file=sys.stderr)
    return EXIT_FAIL


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .experiment.sweep import SweepInterrupted, load_experiment, run_sweep
    from .model.kernels import releases_gil

    workers = (_positive_int("--workers", limits.MAX_WORKERS)(args.workers)
               if args.workers is not None else (os.cpu_count() or 1))
    executor = _executor(args, workers, releases_gil("numpy", _kernel(args)))
    exp = load_experiment(args.config, args.overrides, posterior=args.posterior)
    bar = None
    if not args.quiet and not args.json:
        from .commands.progress import Progress

        bar = Progress(0, desc=exp.base.name, unit="chunks")

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.set_total(total)
            bar.update(done - bar.done)

    _note(args, f"{exp.base.name}: {exp.spec.design} design, {exp.n_points} points x "
                f"{exp.spec.trials_per_point} trials, seed {exp.seed}, executor "
                f"{executor.kind} ({executor.workers or executor.scheduler})")
    try:
        out = Path(args.out) if args.out else None
        path, summary, reused = run_sweep(exp, out_dir=out, executor=executor,
                                          resume=args.resume, force=args.force,
                                          progress=progress, kernel=_kernel(args),
                                          extra=None if args.no_figures else _sweep_figures)
    except SweepInterrupted as exc:
        print(f"abm sweep: {exc}", file=sys.stderr)
        return 143 if exc.terminated else 130
    finally:
        if bar is not None:
            bar.close()
    if reused:
        _note(args, f"found the finished sweep in {path} (use --force to recompute)")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_sweep(summary, path, list(args.overrides)))
    return EXIT_OK


def _sweep_figures(tmp: Path, points: Any, summary: dict[str, Any],
                   sens: dict[str, Any]) -> None:
    from .plots import draw_sweep_figures

    draw_sweep_figures(points, summary, sens, tmp / "figures")


def _cmd_validate_history(args: argparse.Namespace) -> int:
    from .commands.history import cmd_validate_history

    return cmd_validate_history(args, _run_options)


def _cmd_compare(args: argparse.Namespace) -> int:
    from .commands.compare import cmd_compare

    return cmd_compare(args, _run_options)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .commands.calibrate import cmd_calibrate

    return cmd_calibrate(args, _executor, _positive_int, _kernel(args))


def _cmd_discover(args: argparse.Namespace) -> int:
    from .commands.discover import cmd_discover

    return cmd_discover(args)


def _cmd_ls(args: argparse.Namespace) -> int:
    from .commands.listing import cmd_ls

    return cmd_ls(args)


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main([*(["--quick"] if args.quick else []),
                       *(["--out", args.out] if args.out else [])])


def _cmd_app(args: argparse.Namespace) -> int:
    port = _positive_int("--port", 65535)(args.port)
    if args.config is not None:
        from .scenario import load_scenario

        load_scenario(args.config)  # a bad file is refused here, before the server starts
    from .app import serve  # light; raises ConfigError if Solara is not installed

    serve(args.config, host=args.host, port=port, experiments=args.experiments,
          results=args.results)
    return EXIT_OK


_COMMANDS = {"run": _cmd_run, "sweep": _cmd_sweep, "bench": _cmd_bench, "show": _cmd_show,
             "plot": _cmd_plot, "validate": _cmd_validate, "reproduce": _cmd_reproduce,
             "validate-history": _cmd_validate_history, "compare": _cmd_compare,
             "discover": _cmd_discover,
             "ls": _cmd_ls, "app": _cmd_app, "calibrate": _cmd_calibrate}


def _one_line(text: str) -> str:
    """Collapse a message onto one line (the CLI's errors are always one line)."""
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``abm`` command; returns the exit code."""
    with signal_handlers():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:  # building the parser imports; a Ctrl-C then must not be a traceback either
        args = _parser().parse_args(argv)
    except (KeyboardInterrupt, ImportError) as exc:
        cause = exc if isinstance(exc, KeyboardInterrupt) else by_interrupt(exc)
        if cause is None:
            raise
        words = sys.argv[1:] if argv is None else argv
        args = argparse.Namespace(command=next((w for w in words if not w.startswith("-")),
                                               "") or "")
        return interrupted(args, cause)
    try:
        return _COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"abm {args.command}: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except ResultsError as exc:
        print(f"abm {args.command}: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        return interrupted(args, exc)
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the last line of defence: exit 1, one line, no traceback
        cause = by_interrupt(exc)
        if cause is not None:
            return interrupted(args, cause)
        if os.environ.get("ABM_DEBUG"):
            raise
        print(f"abm {args.command}: internal error: {type(exc).__name__}: "
              f"{_one_line(str(exc))} (set ABM_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_FAIL


def entry() -> NoReturn:
    """The console script: run :func:`main` and exit with its code.

    After an interrupt (130, 143) everything is already cleaned up, and the process leaves
    with ``os._exit``: CPython 3.11 marks a KeyboardInterrupt as unhandled when it escapes
    code an extension module runs through ``PyRun_String`` during its import (Cython does,
    e.g. in scipy.special), and would then kill itself with SIGINT at exit although the
    interrupt was handled here, turning exit code 130 into "killed by signal 2".
    """
    code = main()
    if code in (130, 143):
        import atexit

        # the normal exit work (multiprocessing releases its pools' semaphores here), then
        # leave without the interpreter's final check of that flag
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
