"""The local status page in a real headless browser (Debian's chromium through selenium and
chromium-driver; .ci/install-chromium.sh installs them): after a good and a failing Provider
the page (on the receiver's port under /status) shows both, the failing rows first and marked;
"Replay all" of the failing Provider says the letters failed again, then, once the hook is
fixed, Replay on one letter says it was delivered (issue 24.11).

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
                       settings=Settings(rate_limit_interval=0)).start()
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


def flash(driver) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.ID, "flash")
    return found[0].text if found else ""


def letter_ids(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [r.get_attribute("data-id") for r in driver.find_elements(By.CSS_SELECTOR, "#dead tbody tr[data-id]")]


def test_page_shows_failing_first_and_says_what_a_replay_became(browser, stack, sink, tmp_path):
    from selenium.webdriver.common.by import By

    page = stack.status_page.url
    assert page.endswith("/status") and page.startswith(stack.url)  # the receiver's own port
    browser.get(page)
    assert browser.title == "fluxnotify status"
    screenshot = os.environ.get("STATUS_SCREENSHOT") or str(tmp_path / "status.png")
    assert browser.save_screenshot(screenshot)
    good, bad = row(browser, "Provider", "flux-system/good"), row(browser, "Provider", "flux-system/bad")
    assert good.get_attribute("class") == "ok" and bad.get_attribute("class") == "failing"
    assert "delivered" in good.text and "2/0/0" in good.text
    assert "dead-lettered" in bad.text and "0/0/2" in bad.text and fx.BAD_ERROR in bad.text
    assert "ago" in bad.text or "just now" in bad.text  # a relative time beside the UTC one
    # Failing rows first: the failing Provider and its Alert lead the table.
    names = [(r.get_attribute("data-kind"), r.get_attribute("data-name"))
             for r in browser.find_elements(By.CSS_SELECTOR, "#objects tbody tr")]
    assert names[:2] == [("Provider", "flux-system/bad"), ("Alert", "flux-system/bad-alert")]
    # Marked for the eye, not just in the markup: the failing row is tinted red.
    assert bad.value_of_css_property("background-color") == "rgba(254, 243, 242, 1)"
    assert good.value_of_css_property("background-color") != bad.value_of_css_property("background-color")
    # One problem, not two (the Provider and its Alert).
    failing_card = next(c for c in browser.find_elements(By.CSS_SELECTOR, ".card") if c.text.startswith("Failing"))
    assert failing_card.text.split() == ["Failing", "1"]
    # The Detail column wraps within the window: nothing wider than the 1,400 px viewport.
    viewport = browser.execute_script("return document.documentElement.clientWidth")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= viewport
    assert len(browser.find_elements(By.CSS_SELECTOR, "#recent tbody tr")) == 4
    assert len(letter_ids(browser)) == 2

    # Replay all of the failing Provider while the hook is still broken: both fail again.
    browser.find_element(By.ID, "replay-all-flux-system/bad").click()
    wait_for(lambda: "/status?replayed=all-" in browser.current_url and "queued again" in flash(browser),
             "the page again, with the replay's flash line")

    def settled(expected: str):
        def check() -> bool:
            browser.get(browser.current_url)  # what the page's own refresh does every 5 s
            return expected in flash(browser) and "waiting" not in flash(browser)
        return check

    wait_for(settled("2 failed again (dead-lettered: "), "both letters to fail again")
    assert fx.BAD_ERROR in flash(browser)
    assert browser.find_element(By.ID, "flash").get_attribute("class") == "flash bad"
    wait_for(lambda: browser.get(page) or len(letter_ids(browser)) == 2, "the two new dead letters")

    sink.handler = lambda request: (200, {}, b"ok")  # the hook is fixed: replay one letter
    replayed = letter_ids(browser)[0]
    browser.find_element(By.ID, f"replay-{replayed}").click()
    wait_for(lambda: browser.current_url.endswith(f"/status?replayed={replayed}"), "the page again")
    wait_for(settled("1 delivered"), "the replayed letter to be delivered")
    assert flash(browser).startswith(f"Replayed dead letter {replayed} (Kustomization/flux-system/apps → "
                                     "flux-system/bad): queued again; 1 delivered.")
    assert browser.find_element(By.ID, "flash").get_attribute("class") == "flash ok"
    assert replayed not in letter_ids(browser) and len(letter_ids(browser)) == 1
    assert [r.path for r in sink.requests].count("/bad") == 5
    bad = row(browser, "Provider", "flux-system/bad")
    assert bad.get_attribute("class") == "ok" and "1/0/4" in bad.text
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
