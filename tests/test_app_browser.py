"""``abm app`` in a real headless Chromium (Debian's chromium + chromedriver, Selenium).

One server (a subprocess on a free loopback port) and one browser serve the whole module;
every wait is on a condition with a generous timeout, never on time. The server offers a
copy of experiments/ in a temporary folder and saves there and into a temporary results
root: nothing is written into the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

import abm
from abm.app import logic as L
from tests.conftest import ROOT
from tests.conftest import SHIPPED_BASELINE as BASELINE  # what the app serves: experiments/

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT = 240  # seconds: a loaded 2-core machine runs two simulations per change
ARTIFACTS = ROOT / "results" / "test-artifacts"

if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip("no headless Chromium: install it with `apt-get install -y chromium "
                "chromium-driver` (as root; .ci/run does this)", allow_module_level=True)
pytest.importorskip("solara", reason="the app extra is not installed: pip install -e '.[app]'")
webdriver = pytest.importorskip("selenium.webdriver",
                                reason="selenium is not installed: pip install -e '.[test]'")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    results = tmp_path_factory.mktemp("app-results")
    experiments = tmp_path_factory.mktemp("app-experiments")
    for f in (ROOT / "experiments").glob("*.toml"):  # `extends` paths are relative
        shutil.copy(f, experiments / f.name)
    log = open(tmp_path_factory.mktemp("app-log") / "server.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "abm", "app", "--port", str(port),
                             "--experiments", str(experiments), "--results", str(results)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"abm app exited with {proc.returncode}: {log.read()}")
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("abm app did not answer")
            time.sleep(0.5)
        yield {"url": url, "port": port, "pid": proc.pid, "results": results, "log": log,
               "experiments": experiments}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser(server):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
              "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--window-size=1500,1250"):
        opts.add_argument(a)
    profile = tempfile.mkdtemp(prefix="abm-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        d.set_page_load_timeout(WAIT)
        d.get(server["url"])
        _until(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#abm-pbase"))
        yield d
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _until(d, cond, timeout: float = WAIT):
    return WebDriverWait(d, timeout, poll_frequency=0.3,
                         ignored_exceptions=(StaleElementReferenceException,)).until(cond)


def _input(d, cls: str):
    xp = f"//div[contains(concat(' ', @class, ' '), ' {cls} ')]//input"
    return _until(d, lambda d: d.find_element(By.XPATH, xp))


def _type(d, cls: str, text: str) -> None:
    """Replace a text field's value as a person would: select all, type the new value in
    one go, press Enter (the field commits on Enter or blur, not per keystroke)."""
    el = _input(d, cls)
    el.click()
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(text + Keys.ENTER)
    _until(d, lambda d: el.get_attribute("value") == text)


def _click(d, css: str) -> None:
    el = _until(d, lambda d: d.find_element(By.CSS_SELECTOR, css))
    d.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
    _until(d, lambda d: el.is_enabled())
    d.execute_script("arguments[0].click();", el)


def _run_attr(d, name: str) -> str | None:
    return d.execute_script(
        "const e = document.querySelector('#abm-run'); return e ? e.dataset[arguments[0]] : null;",
        name)


def _wait_run(d, scenario) -> None:
    """Until the page shows the results of exactly this scenario (sha, trials, seed)."""
    _until(d, lambda d: _run_attr(d, "sha") == scenario.sha256()
           and not d.find_elements(By.CSS_SELECTOR, ".abm-progress"))


def _shown(d) -> dict[str, tuple[float, str, float]]:
    """Per state: P(base) in full (data-p), as displayed, and the paired difference (read
    in one script, so a re-render cannot interleave)."""
    rows = d.execute_script(
        "return Array.from(document.querySelectorAll('#abm-pbase tr[data-state]')).map(r => "
        "[r.dataset.state, r.querySelector('.abm-p').dataset.p, "
        "r.querySelector('.abm-p').textContent.trim(), r.querySelector('.abm-d').dataset.d]);")
    return {sid: (float(p), text, float(delta)) for sid, p, text, delta in rows}


def _settings(d, trials: int, seed: int) -> None:
    """Set trials, wait for that run, then the seed (one change at a time)."""
    if _run_attr(d, "trials") != str(trials):
        _type(d, "abm-trials", str(trials))
        _until(d, lambda d: _run_attr(d, "trials") == str(trials)
               and not d.find_elements(By.CSS_SELECTOR, ".abm-progress"))
    if _run_attr(d, "seed") != str(seed):
        _type(d, "abm-seed", str(seed))
        _until(d, lambda d: _run_attr(d, "seed") == str(seed)
               and not d.find_elements(By.CSS_SELECTOR, ".abm-progress"))


def test_page_loads_with_the_scenario_and_no_external_assets(server, browser):
    text = browser.find_element(By.TAG_NAME, "body").text
    base = abm.load_scenario(BASELINE)
    assert base.description in text and "baseline_2021.toml" in text
    for key in ("russia.pressure", "russia.veto_strength", "us.demand", "csto.consent_rule",
                "legal_bar", "russia_dependence"):
        assert key in text
    with urllib.request.urlopen(server["url"], timeout=60) as r:
        page = r.read().decode()
    for tag in re.findall(r"<(?:script|link)\b[^>]*>", page):
        for ref in re.findall(r"(?:src|href)\s*=\s*[\"']([^\"']+)", tag):
            assert not re.match(r"(?i)(https?:)?//", ref), f"external asset {ref}"
    # every script and stylesheet the browser loaded came from this server
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(u.startswith(server["url"].rstrip("/")) for u in loaded), loaded


def test_numbers_equal_simulate_with_the_same_settings(browser):
    base = abm.load_scenario(BASELINE)
    _settings(browser, 2000, 7)
    _wait_run(browser, L.build_scenario(base, {}, trials=2000, seed=7))
    ref = abm.simulate(BASELINE, trials=2000, seed=7).summary
    shown = _shown(browser)
    for sid, st in ref["states"].items():
        p, text, delta = shown[sid]
        assert p == st["p_base"] and text == f"{st['p_base']:.3f}"
        assert delta == 0.0
    assert shown["any"][0] == ref["any_base"]["p"]


def test_an_input_change_reruns_with_paired_differences(browser):
    base = abm.load_scenario(BASELINE)
    _settings(browser, 2000, 7)
    _type(browser, "abm-input-states.UZB.legal_bar", "0")
    edited = L.build_scenario(base, {"states.UZB.legal_bar": 0}, trials=2000, seed=7)
    _wait_run(browser, edited)
    ref = abm.simulate(edited, trials=2000, seed=7)
    out = L.run(L.build_scenario(base, {}, trials=2000, seed=7), edited, 2000, 7)
    shown = _shown(browser)
    for row in out.rows:
        assert shown[row["state"]][0] == row["p_base"]
        assert shown[row["state"]][2] == pytest.approx(row["delta"], abs=1e-15)
    assert shown["UZB"][0] == ref.summary["states"]["UZB"]["p_base"] > 0.05
    assert "changed: states.UZB.legal_bar = 0" in browser.find_element(By.TAG_NAME,
                                                                       "body").text
    _save_screenshot(browser)


def test_mesa_model_steps_month_by_month(browser):
    from abm.model.mesa_engine import model_for_trial

    base = abm.load_scenario(BASELINE)
    edited = L.build_scenario(base, {"states.UZB.legal_bar": 0}, trials=2000, seed=7)
    _click(browser, ".abm-step")
    _until(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#abm-mesa-month")
           .get_attribute("data-month") == "1")
    model = model_for_trial(edited, 0, 7)
    model.step()
    shown = browser.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll("
        "'#abm-mesa-states tr[data-state]')).map(r => [r.dataset.state, "
        "r.querySelector('.abm-w').dataset.w]));")
    for a in model.states:
        assert float(shown[a.id]) == a.w


def test_bad_values_show_a_clear_message(browser):
    body = lambda: browser.find_element(By.TAG_NAME, "body").text  # noqa: E731
    _type(browser, "abm-input-states.UZB.legal_bar", "abc")
    _until(browser, lambda d: "states.UZB.legal_bar = 'abc': must be a number in [0, 1]"
           in body())
    _type(browser, "abm-input-states.UZB.legal_bar", "2")
    _until(browser, lambda d: "states.UZB.legal_bar = 2: must be a number in [0, 1]"
           in body())
    _type(browser, "abm-trials", "many")
    _until(browser, lambda d: "trials = 'many': must be an integer number of trials"
           in body())
    assert "Traceback" not in body()
    _type(browser, "abm-trials", "2000")
    _type(browser, "abm-input-states.UZB.legal_bar", "0")
    _until(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, ".abm-error"))


def test_save_as_scenario_reproduces_the_page(server, browser):
    base = abm.load_scenario(BASELINE)
    edited = L.build_scenario(base, {"states.UZB.legal_bar": 0}, trials=2000, seed=7)
    _wait_run(browser, edited)
    shown = _shown(browser)
    before = sorted(p.name for p in (ROOT / "experiments").iterdir())
    # offered by default in the app's --experiments folder (here a temporary copy)
    folder = Path(server["experiments"])
    assert _input(browser, "abm-save-file").get_attribute("value") == str(
        folder / "baseline_2021_edited.toml")
    target = folder / "app_test.toml"
    _type(browser, "abm-save-file", str(target))
    _click(browser, ".abm-save-scenario")
    _until(browser, lambda d: target.is_file() and d.find_elements(By.CSS_SELECTOR,
                                                                   ".abm-saved"))
    saved = abm.load_scenario(target)
    res = abm.simulate(saved)
    for sid, st in res.summary["states"].items():
        assert shown[sid][0] == st["p_base"]
    assert sorted(p.name for p in (ROOT / "experiments").iterdir()) == before


def test_run_and_save_writes_a_results_directory(server, browser):
    from abm.experiment.store import read_run

    _click(browser, ".abm-run-save")
    _until(browser, lambda d: list(Path(server["results"]).glob("*/*/manifest.json")))
    run = read_run(next(Path(server["results"]).glob("*/*/manifest.json")).parent)
    assert run.manifest["overrides"] == ["states.UZB.legal_bar=0"]
    assert run.manifest["trials"] == 2000 and run.manifest["seed"] == 7


def test_server_listens_on_loopback_only(server):
    """The listening socket's local address is 127.0.0.1 (read from the kernel's table;
    nothing is sent anywhere)."""
    port = server["port"]
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in open(table).read().splitlines()[1:]:
            f = line.split()
            addr, p = f[1].split(":")
            if int(p, 16) == port and f[3] == "0A":  # LISTEN
                rows.append((table, addr))
    assert rows == [("/proc/net/tcp", "0100007F")]  # 127.0.0.1, little-endian hex


def _save_screenshot(d) -> None:
    """The page from its top (Solara scrolls an inner element, not the window)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    top = ("window.scrollTo(0, 0); document.querySelectorAll('*').forEach(e => "
           "{ if (e.scrollTop) e.scrollTop = 0; });")
    d.execute_script(top)
    _until(d, lambda d: d.execute_script(
        "return Array.from(document.querySelectorAll('*')).every(e => !e.scrollTop) "
        "&& window.scrollY === 0;"))
    d.save_screenshot(str(ARTIFACTS / "app.png"))


def test_the_page_fits_the_window_and_nothing_covers_it(browser):
    """No horizontal scrolling at 1500 px, and no Solara badge over the charts."""
    wide = browser.execute_script(
        "return Array.from(document.querySelectorAll('*')).filter(e => "
        "e.scrollWidth > e.clientWidth + 1 && "
        "['auto', 'scroll'].includes(getComputedStyle(e).overflowX)).map(e => "
        "[e.className.toString(), e.scrollWidth, e.clientWidth]);")
    assert wide == [] and browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth;")
    assert "runs on Solara" not in browser.find_element(By.TAG_NAME, "body").text
