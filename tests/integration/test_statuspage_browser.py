"""The local status page in a real headless browser (Debian's chromium through selenium and
chromium-driver; .ci/install-chromium.sh installs them): after a good and a failing Provider
the page shows both, the failing one marked, and pressing Replay on a letter moves it.

Set STATUS_SCREENSHOT=FILE.png to keep screenshots of the page (before and after the replay)."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import fixtures.status.status_fixtures as fx
import pytest

from fluxnotify.ops.local import LocalStack
from fluxnotify.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is absent (bash .ci/install-chromium.sh installs it)"
    if not os.path.exists(CHROMEDRIVER):
        return f"{CHROMEDRIVER} is absent (bash .ci/install-chromium.sh installs chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


def wait_for(condition, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def browser(tmp_path):
    missing = _missing()
    if missing:
        print(f"SKIP browser test: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1400,1300", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


@pytest.fixture
def stack(tmp_path, sink):
    sink.handler = fx.answer
    config = tmp_path / "config.yaml"
    config.write_text(fx.manifests(sink.url))
    local = LocalStack([str(config)], port=0, database=str(tmp_path / "q.db"), workers=2,
                       settings=Settings(rate_limit_interval=0), status_addr="127.0.0.1:0").start()
    try:
        for text in ("first", "second"):
            body = json.dumps({**fx.event(), "message": text}).encode()
            request = urllib.request.Request(local.url + "/", data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as answer:
                assert answer.status == 202
        wait_for(lambda: local.dead.count() == 2 and len(sink.requests) == 4, "two deliveries and two letters")
        yield local
    finally:
        local.stop()


def row(driver, kind: str, name: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'#objects tr[data-kind="{kind}"][data-name="{name}"]')


def test_page_shows_both_providers_marks_the_failing_one_and_replays_a_letter(browser, stack, sink, tmp_path):
    from selenium.webdriver.common.by import By

    page = stack.status_page.url  # where the form's redirect leads ("…/")
    browser.get(page + "/")  # "//": a URL the redirect is not, so waiting for `page` waits for it
    assert browser.title == "fluxnotify status"
    good, bad = row(browser, "Provider", "flux-system/good"), row(browser, "Provider", "flux-system/bad")
    assert good.get_attribute("class") == "ok" and bad.get_attribute("class") == "failing"
    assert "delivered" in good.text and "2/0/0" in good.text
    assert "dead-lettered" in bad.text and "0/0/2" in bad.text and fx.BAD_ERROR in bad.text
    # Marked for the eye, not just in the markup: the failing row is tinted red.
    assert bad.value_of_css_property("background-color") == "rgba(254, 243, 242, 1)"
    assert good.value_of_css_property("background-color") != bad.value_of_css_property("background-color")
    assert "failing" in row(browser, "Alert", "flux-system/bad-alert").get_attribute("class")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#recent tbody tr")) == 4
    letters = browser.find_elements(By.CSS_SELECTOR, "#dead tbody tr[data-id]")
    assert len(letters) == 2
    screenshot = os.environ.get("STATUS_SCREENSHOT") or str(tmp_path / "status.png")
    assert browser.save_screenshot(screenshot)

    sink.handler = lambda request: (200, {}, b"ok")  # the hook is fixed: replay one letter
    replayed = letters[0].get_attribute("data-id")
    browser.find_element(By.ID, f"replay-{replayed}").click()
    wait_for(lambda: browser.current_url == page and browser.find_elements(By.ID, "dead"), "the page again")

    def moved() -> bool:
        browser.get(page)
        ids = [r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "#dead tbody tr[data-id]")]
        return replayed not in ids and len(ids) == 1 and "delivered" in row(browser, "Provider", "flux-system/bad").text

    wait_for(moved, "the replayed letter to leave the dead letters and be delivered")
    assert [r.path for r in sink.requests].count("/bad") == 3
    bad = row(browser, "Provider", "flux-system/bad")
    assert bad.get_attribute("class") == "ok" and "1/0/2" in bad.text
    assert browser.save_screenshot(screenshot.replace(".png", "-after-replay.png"))


def test_pressing_expire_ends_a_silence(browser, tmp_path):
    from selenium.webdriver.common.by import By

    from fluxnotify.queue.sqlite import SqliteDatabase
    from fluxnotify.state.silences import SqliteSilences, added, new_silence, parse_matchers

    config = tmp_path / "empty.yaml"
    config.write_text("")
    local = LocalStack([str(config)], port=0, database=str(tmp_path / "s.db"), workers=0,
                       status_addr="127.0.0.1:0").start()
    try:
        store = SqliteSilences(SqliteDatabase(str(tmp_path / "s.db")))
        made = [new_silence(parse_matchers([f"namespace=apps,name={name}"]), "", time.time() + 3600, "migration")
                for name in ("web-*", "api")]
        for silence in made:
            store.change(lambda current, s=silence: added(current, s, time.time()))
        page = local.status_page.url
        browser.get(page + "/")
        rows = browser.find_elements(By.CSS_SELECTOR, "#silences tbody tr[data-silence]")
        assert [r.get_attribute("data-silence") for r in rows] == [s.id for s in made]
        assert "namespace=apps,name=web-*" in rows[0].text and "migration" in rows[0].text
        browser.find_element(By.ID, f"expire-{made[0].id}").click()
        wait_for(lambda: browser.current_url == page and browser.find_elements(By.ID, "silences"), "the page again")
        left = browser.find_elements(By.CSS_SELECTOR, "#silences tbody tr[data-silence]")
        assert [r.get_attribute("data-silence") for r in left] == [made[1].id]
        assert [s.id for s in store.load() if s.active(time.time())] == [made[1].id]
    finally:
        local.stop()
