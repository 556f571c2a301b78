"""The explorer page (Solara): ``Page`` is what the server renders.

Which scenario files it offers and where it writes come from the environment the server
sets (:mod:`abm.app.server`): ``ABM_APP_CONFIG`` (a scenario to show first),
``ABM_APP_EXPERIMENTS`` (the folder of scenarios, default ``experiments``; edited scenarios
are saved there unless another file is typed) and ``ABM_APP_RESULTS`` (results root,
default ``results``).
"""

from __future__ import annotations

import html
import os
import threading
from pathlib import Path
from typing import Any

import solara
import solara.lab

from abm.errors import ConfigError, display_path
from abm.scenario import load_scenario

from ..analysis.formats import fmt_diff, fmt_prob
from . import figures as F
from . import logic as L

__all__ = ["Page"]


def _env(name: str, default: str | None) -> str | None:
    v = os.environ.get(name)
    return v if v else default


def _files() -> list[Path]:
    return L.scenario_files(_env("ABM_APP_EXPERIMENTS", "experiments"),
                            _env("ABM_APP_CONFIG", None))


# --------------------------------------------------------------------------- controls


@solara.component
def TextField(label: str, value: Any, on_value: Any = None, *, error: bool = False,
              classes: list[str] | None = None, style: dict[str, str] | None = None) -> Any:
    """A text field whose value reaches the server on Enter or when it loses focus.

    ``solara.InputText`` binds ``v_model``, so every keystroke is sent to the server and
    the value it echoes back can overwrite characters typed in the meantime (fast typing
    lost all but the first character). This field shows ``value`` as a plain prop and
    listens only to Vuetify's ``change`` event (Enter, or blur after an edit), so what is
    typed stays in the browser until it is committed; a new value from the server (a
    slider, "reset all values") still replaces it.
    """
    reactive = solara.use_reactive(value, on_value)
    el = solara.v.TextField(label=label, value=reactive.value, error=error, dense=True,
                            hide_details="auto", class_=" ".join(classes or []),
                            style_=";".join(f"{k}:{v}" for k, v in (style or {}).items()))

    def commit(widget: Any, event: str, data: Any) -> None:
        reactive.set("" if data is None else str(data))

    solara.v.use_event(el, "change", commit)
    return el


@solara.component
def ControlInput(c: L.Control, text: str, original: str, on_text: Any,
                 error: str | None) -> None:
    """One key: a slider (or switch) and a text field holding its TOML value."""
    value = L.parse_value(text)
    rng = "" if c.lo is None else f"[{c.lo:g}, {c.hi:g}]"
    unit = f"{c.unit}, {rng}" if rng else c.unit
    changed = text.strip() != original
    mark = " <span style='color:#c05000'>(changed)</span>" if changed else ""
    with solara.Column(gap="0px", classes=["abm-control"], style={"margin-bottom": "6px"}):
        solara.HTML(tag="div", unsafe_innerHTML=(
            f"<b>{html.escape(c.label)}</b>{mark}"
            f" <span style='color:#666;font-size:11px'>{html.escape(unit)}</span>"),
            attributes={"title": c.doc})
        if c.kind == "bool":
            solara.Switch(label=f"{'on' if value is True else 'off'}: {c.doc}",
                          value=value is True,
                          on_value=lambda v: on_text("true" if v else "false"))
            return
        with solara.Row(gap="8px", style={"align-items": "center"}):
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if is_number and c.lo is not None and c.lo <= value <= c.hi:
                with solara.Column(style={"flex": "1 1 auto", "min-width": "120px"}):
                    solara.SliderFloat("", value=float(value), min=c.lo, max=c.hi,
                                       step=c.step, thumb_label=False,
                                       on_value=lambda v: _slid(v, float(value), c, on_text))
            with solara.Column(style={"flex": "0 0 auto",
                                      "width": "110px" if is_number or error else "100%"}):
                TextField("", value=text, on_value=on_text, error=bool(error),
                          classes=[f"abm-input-{c.key}"], style={"font-size": "13px"})
        if c.kind == "schedule" and isinstance(value, list):
            solara.HTML(tag="div", unsafe_innerHTML=(
                "<span style='color:#666;font-size:11px'>a schedule [[month, value], ...]: "
                "type one number to make it constant</span>"))
        if error:
            solara.HTML(tag="div", classes=["abm-field-error"], unsafe_innerHTML=(
                f"<span style='color:#b00020;font-size:12px'>{html.escape(error)}</span>"))


def _slid(v: float, now: float, c: L.Control, on_text: Any) -> None:
    """A slider moved: take its value, unless it only snapped the typed value to its step
    (the slider reports a snapped value when it is drawn; that is not a change)."""
    if abs(v - now) <= c.step / 2 + 1e-12:
        return
    on_text(L.value_text(round(v, 6)))


# --------------------------------------------------------------------------- results


def _results_html(out: L.Outcome) -> str:
    r = out.result
    head = (f"<div id='abm-run' data-trials='{r.trials}' data-seed='{r.seed}' "
            f"data-sha='{r.scenario.sha256()}' data-outputs='{r.outputs_sha256}'>"
            f"<b>{html.escape(r.scenario.name)}</b>: {r.trials:,} trials, seed {r.seed}, "
            f"{r.horizon} months; difference from the unchanged scenario over the same "
            "trials (same seed, paired by trial).</div>")
    rows = ["<table id='abm-pbase' style='border-collapse:collapse;font-size:13px'>",
            "<tr style='border-bottom:1px solid #888'><th align='left'>state</th>"
            "<th>P(base)</th><th>95% CI</th><th>unchanged</th>"
            "<th>difference [95% paired CI]</th></tr>"]
    for row in out.rows:
        sid = html.escape(row["state"])
        rows.append(
            f"<tr data-state='{sid}' style='border-bottom:1px solid #ddd'>"
            f"<td title='{html.escape(row['name'])}'><b>{sid}</b> "
            f"<span style='color:#666'>{html.escape(row['name'])}</span></td>"
            f"<td class='abm-p' data-p='{row['p_base']!r}' align='right' "
            f"style='padding:0 10px'><b>{fmt_prob(row['p_base'])}</b></td>"
            f"<td class='abm-ci' data-lo='{row['ci_low']!r}' data-hi='{row['ci_high']!r}'>"
            f"[{fmt_prob(row['ci_low'])}, {fmt_prob(row['ci_high'])}]</td>"
            f"<td class='abm-p0' data-p='{row['p_base0']!r}' align='right' "
            f"style='padding:0 10px'>{fmt_prob(row['p_base0'])}</td>"
            f"<td class='abm-d' data-d='{row['delta']!r}' data-lo='{row['d_low']!r}' "
            f"data-hi='{row['d_high']!r}' style='padding:0 10px'>{fmt_diff(row['delta'])} "
            f"[{fmt_diff(row['d_low'])}, {fmt_diff(row['d_high'])}]</td></tr>")
    rows.append("</table>")
    return head + "".join(rows)


@solara.component
def Results(out: L.Outcome, figs: dict[str, Any]) -> None:
    key = out.result.outputs_sha256 + out.base.outputs_sha256
    with solara.Card("P(base) per state", margin=0, classes=["abm-results"]):
        solara.HTML(tag="div", unsafe_innerHTML=_results_html(out))
    with solara.Columns([1, 1]):
        with solara.Column():
            solara.FigureMatplotlib(figs["p_base"], dependencies=[key, "p"], format="png")
        with solara.Column():
            solara.FigureMatplotlib(figs["diff"], dependencies=[key, "d"], format="png")
    with solara.Columns([3, 2]):
        with solara.Column():
            solara.FigureMatplotlib(figs["fan"], dependencies=[key, "f"], format="png")
        with solara.Column():
            solara.FigureMatplotlib(figs["surv"], dependencies=[key, "s"], format="png")


def _figures(out: L.Outcome) -> dict[str, Any]:
    r = out.result
    return {"p_base": F.p_base_figure(out.rows), "diff": F.difference_figure(out.rows),
            "fan": F.fan_figure(r.months, r.scenario.state_ids, r.scenario.dynamics.threshold),
            "surv": F.survival_figure(r)}


# --------------------------------------------------------------------------- Mesa


def _driver_rows(sc: Any, model: Any) -> list[tuple[str, str]]:
    T = sc.horizon_months
    t = min(model.month, T - 1)

    def at(schedule: Any) -> str:
        return f"{schedule.values(T)[t]:.3f}"

    sp = sc.spillover
    return [
        ("Russian pressure R(t)", at(sc.russia.pressure)),
        ("drill rate (per month)", at(sc.russia.drill_rate)),
        ("drill pulse now", f"{model.pulse_value:.3f}"),
        ("veto strength", f"{sc.russia.veto_strength:.3f}"),
        ("Russian campaign", at(sc.russia.campaign)),
        ("US demand D(t)", at(sc.us.demand)),
        ("US incentives", at(sc.us.incentives)),
        ("spillover rate x instability",
         f"{sp.rate.values(T)[t] * sp.instability.values(T)[t]:.3f}"),
        ("CSTO consent rule", "on" if sc.csto.consent_rule else "off"),
    ]


def _states_html(model: Any) -> str:
    rows = ["<table id='abm-mesa-states' style='border-collapse:collapse;font-size:12px'>"
            "<tr style='border-bottom:1px solid #888'><th align='left'>state</th>"
            + "".join(f"<th style='padding:0 6px'>{h}</th>"
                      for h in ("w", "p", "threat", "base", "1st base", "vetoes", "incidents"))
            + "</tr>"]
    for a in model.states:
        first = "-" if a.first_base_month < 0 else str(a.first_base_month)
        rows.append(f"<tr data-state='{a.id}' style='border-bottom:1px solid #eee'>"
                    f"<td><b>{a.id}</b></td><td class='abm-w' data-w='{a.w!r}' "
                    f"style='padding:0 6px'>{a.w:.3f}</td><td style='padding:0 6px'>"
                    f"{a.p:.3f}</td><td style='padding:0 6px'>{a.s:.2f}</td>"
                    f"<td align='center'>{'yes' if a.h else ''}</td><td align='center'>"
                    f"{first}</td><td align='center'>{a.vetoes}</td><td align='center'>"
                    f"{a.incidents}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


@solara.component
def MesaView(scenario: Any) -> None:
    """One trial's Mesa model, stepped month by month."""
    from abm.model.mesa_engine import model_for_trial

    trial_text = solara.use_reactive("0")
    tick = solara.use_reactive(0)
    error = solara.use_reactive("")
    holder = solara.use_ref(None)

    def build(trial_s: str) -> None:
        try:
            v = L.parse_value(trial_s)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < scenario.trials:
                raise ConfigError(L.SOURCE, "trial", v,
                                  f"must be a trial index in [0, {scenario.trials - 1}]")
            holder.current = model_for_trial(scenario, v, scenario.seed)
            error.set("")
        except ConfigError as exc:
            holder.current = None
            error.set(str(exc))
        tick.set(tick.value + 1)

    solara.use_memo(lambda: build(trial_text.value),
                    dependencies=[scenario.sha256(), trial_text.value])
    model = holder.current

    def step(n: int) -> None:
        m = holder.current
        if m is None:
            return
        for _ in range(n):
            if not m.running:
                break
            m.step()
        tick.set(tick.value + 1)

    with solara.Card("One trial, month by month (Mesa model)", margin=0,
                     classes=["abm-mesa"]):
        with solara.Row(style={"align-items": "center"}):
            with solara.Column(style={"width": "110px"}):
                TextField("trial", value=trial_text, classes=["abm-trial"])
            solara.Button("step 1 month", on_click=lambda: step(1), outlined=True,
                          classes=["abm-step"])
            solara.Button("step 12", on_click=lambda: step(12), outlined=True)
            solara.Button("to the end", on_click=lambda: step(10**6), outlined=True)
            solara.Button("reset", on_click=lambda: build(trial_text.value), text=True)
        if error.value:
            solara.Error(error.value, classes=["abm-error"])
        if model is None:
            return
        T = scenario.horizon_months
        with solara.Columns([3, 2]):
            with solara.Column():
                solara.FigureMatplotlib(F.network_figure(model),
                                        dependencies=[tick.value, scenario.sha256()],
                                        format="png")
            with solara.Column():
                rows = "".join(f"<tr><td>{html.escape(k)}</td><td align='right' "
                               f"style='padding-left:8px'><b>{v}</b></td></tr>"
                               for k, v in _driver_rows(scenario, model))
                solara.HTML(tag="div", unsafe_innerHTML=(
                    f"<div id='abm-mesa-month' data-month='{model.month}'>"
                    f"Month <b>{model.month}</b> of {T} (trial {model.trial}, seed "
                    f"{model.seed})</div><table style='font-size:12px'>{rows}</table>"))
                solara.HTML(tag="div", unsafe_innerHTML=_states_html(model),
                            style="margin-top:8px")


# --------------------------------------------------------------------------- saving


@solara.component
def SaveView(path: Path, scenario: Any, edits: dict[str, Any], outcome: L.Outcome | None
             ) -> None:
    name = solara.use_reactive(f"{scenario.name}_edited")
    folder = Path(_env("ABM_APP_EXPERIMENTS", "experiments") or "experiments")
    target = solara.use_reactive(str(folder / f"{scenario.name}_edited.toml"))
    message = solara.use_reactive(("", ""))
    busy = solara.use_reactive(False)

    def save() -> None:
        try:
            p = L.save_scenario(target.value, path, scenario, edits, name=name.value.strip())
            message.set(("ok", f"saved {p}: `abm run {p}` reproduces these numbers"))
        except ConfigError as exc:
            message.set(("error", str(exc)))
        except OSError as exc:
            message.set(("error", f"{target.value}: cannot write: {exc.strerror}"))

    def run_save() -> None:
        busy.set(True)

        def work() -> None:
            try:
                res = outcome.result if outcome is not None else None
                if res is None or res.scenario != scenario:
                    res = L.run(load_scenario(path), scenario, scenario.trials,
                                scenario.seed).result
                d, wrote = L.run_and_save(res, _env("ABM_APP_RESULTS", "results"),
                                          config=path, edits=edits)
                message.set(("ok", f"{'wrote' if wrote else 'already there'}: {d}"))
            except (ConfigError, OSError) as exc:
                message.set(("error", str(exc)))
            finally:
                busy.set(False)

        threading.Thread(target=work, daemon=True).start()

    with solara.Card("Save", margin=0, classes=["abm-save"]):
        with solara.Row(style={"align-items": "center"}):
            with solara.Column(style={"width": "220px"}):
                TextField("scenario name", value=name, classes=["abm-save-name"])
            with solara.Column(style={"flex": "1 1 auto"}):
                TextField("file", value=target, classes=["abm-save-file"])
            solara.Button("save as scenario", on_click=save, color="primary", outlined=True,
                          classes=["abm-save-scenario"])
            solara.Button("run and save", on_click=run_save, color="primary",
                          outlined=True, disabled=busy.value, classes=["abm-run-save"])
        kind, text = message.value
        if kind == "ok":
            solara.Success(text, classes=["abm-saved"])
        elif kind == "error":
            solara.Error(text, classes=["abm-error"])


# --------------------------------------------------------------------------- page


@solara.component
def ScenarioView(path: Path, files: list[str], choice: Any) -> None:
    """Everything about one scenario file (state resets when another file is picked)."""

    def load() -> tuple[Any, str]:
        try:
            return load_scenario(path), ""
        except ConfigError as exc:
            return None, str(exc)

    base, problem = solara.use_memo(load, dependencies=[str(path)])
    if base is None:
        solara.Error(problem, classes=["abm-error"])
    else:
        ScenarioEditor(path, base, files, choice)


@solara.component
def ScenarioEditor(path: Path, base: Any, files: list[str], choice: Any) -> None:
    ctrls = solara.use_memo(lambda: L.controls(base), dependencies=[str(path)])
    originals = solara.use_memo(
        lambda: {c.key: L.value_text(L.current(base, c.key)) for c in ctrls},
        dependencies=[str(path)])
    texts = solara.use_reactive(dict(originals))
    trials_text = solara.use_reactive(str(L.DEFAULT_TRIALS))
    seed_text = solara.use_reactive(str(base.seed if base.seed is not None else 1))
    auto = solara.use_reactive(True)
    clicks = solara.use_reactive(0)
    progress = solara.use_reactive(0.0)
    generation = solara.use_ref(0)

    error: ConfigError | None = None
    scenario = unchanged = None
    edits: dict[str, Any] = {}
    try:
        trials = L.parse_trials(trials_text.value)
        seed = L.parse_seed(seed_text.value)
        edits = L.changed(base, texts.value)
        scenario = L.build_scenario(base, edits, trials=trials, seed=seed)
        unchanged = L.build_scenario(base, {}, trials=trials, seed=seed)
    except ConfigError as exc:
        error = exc

    run_key = (scenario.sha256(), scenario.trials, scenario.seed) if scenario else None

    def job() -> tuple[L.Outcome, dict[str, Any]] | None:
        if scenario is None:
            return None
        generation.current += 1
        mine = generation.current
        progress.set(0.0)

        def on_progress(x: float) -> None:
            if generation.current != mine:
                raise L.Cancelled()
            progress.set(x)

        try:
            out = L.run(unchanged, scenario, scenario.trials, scenario.seed, on_progress)
        except L.Cancelled:
            return None
        return out, _figures(out)

    task = solara.lab.use_task(job, dependencies=[run_key if auto.value else None,
                                                  clicks.value])

    def set_text(key: str, text: str) -> None:
        texts.set({**texts.value, key: text})

    with solara.Row(gap="12px", style={"align-items": "flex-start", "flex-wrap": "nowrap"}):
        with solara.Column(gap="4px", classes=["abm-controls"], style=_LEFT):
            solara.Select("scenario", values=files, value=choice, classes=["abm-select"])
            with solara.Row(style={"align-items": "center"}):
                with solara.Column(style={"width": "100px"}):
                    TextField("trials", value=trials_text,
                              error=bool(error and error.key == "trials"),
                              classes=["abm-trials"])
                with solara.Column(style={"width": "110px"}):
                    TextField("seed", value=seed_text,
                              error=bool(error and error.key == "seed"),
                              classes=["abm-seed"])
                solara.Button("run", on_click=lambda: clicks.set(clicks.value + 1),
                              color="primary", disabled=scenario is None,
                              classes=["abm-run"])
            solara.Checkbox(label="re-run on every change", value=auto)
            solara.Button("reset all values", text=True,
                          on_click=lambda: texts.set(dict(originals)))
            group = None
            for c in ctrls:
                if c.group != group:
                    group = c.group
                    solara.HTML(tag="div", unsafe_innerHTML=(
                        f"<div style='margin-top:10px;padding-top:4px;border-top:1px "
                        f"solid #ccc;font-weight:600'>{html.escape(group)}</div>"))
                msg = str(error) if error is not None and error.key == c.key else None
                ControlInput(c, texts.value.get(c.key, originals[c.key]), originals[c.key],
                             lambda t, k=c.key: set_text(k, t), msg)

        # 12px of side padding: solara.Columns draws a Vuetify row with -12px side margins,
        # which with less padding made the page wider than the window
        with solara.Column(gap="10px", style={"flex": "1 1 auto", "min-width": "0",
                                              "padding": "6px 12px"}):
            with solara.Card(margin=0, classes=["abm-scenario"]):
                solara.HTML(tag="div", unsafe_innerHTML=(
                    f"<div id='abm-file' style='font-size:13px'>file <code>{html.escape(str(path))}"
                    f"</code> &middot; name <b>{html.escape(base.name)}</b> &middot; "
                    f"{base.horizon_months} months &middot; {len(base.states)} states</div>"
                    f"<div id='abm-description' style='font-size:16px;margin-top:4px'>"
                    f"{html.escape(base.description or '(no description)')}</div>"))
                with solara.Details("sources (the comments of the file)"):
                    solara.Preformatted(L.read_sources(path))
            if error is not None:
                solara.Error(f"Not run: {error}", classes=["abm-error"])
            elif edits:
                solara.Info("changed: " + ", ".join(f"{k} = {L.value_text(v)}"
                                                    for k, v in edits.items()),
                            dense=True, classes=["abm-edits"])
            if task.pending:
                with solara.Row(style={"align-items": "center"}):
                    solara.Text(f"running {scenario.trials if scenario else 0:,} trials "
                                f"(and the unchanged scenario): {progress.value:.0%}",
                                classes=["abm-progress"])
                solara.ProgressLinear(progress.value * 100 if progress.value else True)
            if task.error:
                solara.Error(f"run failed: {type(task.exception).__name__}: {task.exception}",
                             classes=["abm-error"])
            latest = task.latest if task.pending else task.value
            if latest is not None:
                out, figs = latest
                if scenario is not None and out.result.scenario != scenario and not task.pending:
                    solara.Warning("the numbers below are for the previous values: press run",
                                   dense=True)
                Results(out, figs)
            if scenario is not None:
                MesaView(scenario)
                SaveView(path, scenario, edits,
                         latest[0] if latest is not None else None)


_LEFT = {"flex": "0 0 390px", "width": "390px", "max-height": "calc(100vh - 16px)",
         "overflow-y": "auto", "position": "sticky", "top": "8px", "padding": "6px 10px",
         "border-right": "1px solid #ddd", "background": "#fafafa"}


@solara.component
def Page() -> None:
    # shown as the command line shows paths: relative to the working directory when below it
    files = solara.use_memo(lambda: [display_path(Path(f).resolve()) for f in _files()],
                            dependencies=[])
    choice = solara.use_reactive(files[0] if files else "")
    solara.Title("abm explorer")
    solara.HTML(tag="div", unsafe_innerHTML=(
        "<div style='font-size:20px;font-weight:600;padding:4px 8px'>abm explorer "
        "<span style='font-weight:400;font-size:14px;color:#555'>US basing decisions in "
        "Central Asia, by Monte Carlo</span></div>"))
    if not files:
        solara.Error("no scenario files found: give one, `abm app FILE.toml`, or run "
                     "from the project folder (experiments/)", classes=["abm-error"])
        return
    ScenarioView(Path(choice.value), files, choice).key(choice.value)
