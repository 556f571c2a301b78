"""Retake ``docs/img/app.png``: the explorer on the 2021 baseline with Uzbekistan's legal
bar lifted, 2,000 trials, seed 7, in headless Chromium (Debian's ``chromium`` and
``chromium-driver``), served from the repository root so paths show as the CLI shows them.

Usage::

    .venv/bin/python docs/scripts/app_screenshot.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "img" / "app.png"
PORT = 8531


def until(d, cond, timeout: float = 240):
    return WebDriverWait(d, timeout, poll_frequency=0.3,
                         ignored_exceptions=(StaleElementReferenceException,)).until(cond)


def typed(d, cls: str, text: str) -> None:
    el = until(d, lambda d: d.find_element(
        By.XPATH, f"//div[contains(concat(' ', @class, ' '), ' {cls} ')]//input"))
    el.click()
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(text + Keys.ENTER)
    until(d, lambda d: el.get_attribute("value") == text)


def idle(d) -> None:
    time.sleep(1.0)
    until(d, lambda d: not d.find_elements(By.CSS_SELECTOR, ".abm-progress"))


def main() -> int:
    results = tempfile.mkdtemp(prefix="abm-app-shot-")
    proc = subprocess.Popen([sys.executable, "-m", "abm", "app",
                             "experiments/baseline_2021.toml", "--port", str(PORT),
                             "--results", results], cwd=ROOT)
    profile = tempfile.mkdtemp(prefix="abm-chromium-")
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=5)
                break
            except OSError:
                time.sleep(0.5)
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1500,1300",
                  f"--user-data-dir={profile}"):
            opts.add_argument(a)
        d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        try:
            d.get(f"http://127.0.0.1:{PORT}/")
            until(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#abm-pbase"))
            typed(d, "abm-trials", "2000")
            idle(d)
            typed(d, "abm-seed", "7")
            idle(d)
            typed(d, "abm-input-states.UZB.legal_bar", "0")
            until(d, lambda d: "changed: states.UZB.legal_bar" in d.find_element(
                By.TAG_NAME, "body").text)
            idle(d)
            d.execute_script("window.scrollTo(0, 0); document.querySelectorAll('*')"
                             ".forEach(e => { if (e.scrollTop) e.scrollTop = 0; });")
            time.sleep(1.0)
            d.save_screenshot(str(OUT))
        finally:
            d.quit()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(results, ignore_errors=True)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
