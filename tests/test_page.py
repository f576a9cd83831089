"""The page at `/`, in real headless Chromium (Debian's `chromium` and `chromedriver`) against
the real server process: build a request, paste a body, by keyboard, at 375 px.

Screenshots of each state go to `tests/artifacts/` (or `$MIMO_SELECT_ARTIFACTS`); with
`MIMO_SELECT_UPDATE_DOCS=1` the builder's is also written to `docs/serve-page.png` for the
README. Without Chromium these tests skip locally and fail under CI (`CI` set), as the Redis
tests do: `.ci/run` installs it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT
from .serve_client import ServerProcess

ARTIFACTS = Path(os.environ.get("MIMO_SELECT_ARTIFACTS") or ROOT / "tests" / "artifacts")
WAIT = 15.0  # seconds for the page to answer


def _binaries() -> tuple[str, str]:
    browser = os.environ.get("CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if browser is None or driver is None:
        message = "chromium and chromedriver are not installed (apt-get install chromium " \
                  "chromium-driver, or set CHROMIUM and CHROMEDRIVER)"  # fmt: skip
        if os.environ.get("CI"):
            pytest.fail(f"{message}: CI must run the page tests", pytrace=False)
        pytest.skip(message)
    return browser, driver


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("serve"))
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    binary, driver = _binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,1500", "--lang=en-US", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


def shot(browser: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    path = ARTIFACTS / f"{name}.png"
    browser.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def wait_for(browser: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT).until(condition)


def open_page(browser: Any, server: ServerProcess) -> None:
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#catalog tbody tr")) == 9)
    wait_for(browser, lambda b: "Recommended" in b.find_element(By.ID, "decision").text)


# the decision as the page shows it, read in one step (None while an answer is on its way):
# the page redraws it as answers come, so elements found earlier may be gone
_SNAPSHOT = """
const d = document.getElementById('decision');
if (d.getAttribute('aria-busy') !== 'false') return null;
const winner = d.querySelector('.winner .model');
const rejected = {};
for (const li of d.querySelectorAll('.rejected > li[data-model]')) {
  rejected[li.dataset.model] = li.innerText;
}
return {winner: winner ? winner.dataset.model : null, text: d.innerText, rejected: rejected};
"""


def decision(browser: Any, ready: Any) -> dict[str, Any]:
    """The settled decision once `ready(snapshot)` holds."""

    def settled(b: Any) -> Any:
        shown = b.execute_script(_SNAPSHOT)
        return shown if shown is not None and ready(shown) else None

    return dict(wait_for(browser, settled))


def console_errors(browser: Any) -> list[str]:
    """What the page logged as errors: a CSP violation or a script error shows here."""
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_build_a_request_and_read_the_decision(browser: Any, server: ServerProcess) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(browser, server)
    # by keyboard: focus each box and press space, as a person tabbing through would
    browser.find_element(By.ID, "input_modalities-image").send_keys(Keys.SPACE)
    browser.find_element(By.ID, "features-function_call").send_keys(Keys.SPACE)

    shown = decision(browser, lambda d: d["winner"] == "mimo-v2.5")
    flash = shown["rejected"]["mimo-v2-flash"]
    assert "needs image, text input; accepts text" in flash
    assert "input_modalities: needs image, text; allows text" in flash
    assert "[input-modalities]" in flash
    assert "Fallbacks, in order" in shown["text"]
    assert "mimo-v2-omni" in shown["text"]
    shot(browser, "page-builder")
    if os.environ.get("MIMO_SELECT_UPDATE_DOCS"):
        (ROOT / "docs").mkdir(exist_ok=True)
        browser.save_screenshot(str(ROOT / "docs" / "serve-page.png"))
    assert console_errors(browser) == []


def test_today_s_catalog_with_a_budget_in_a_currency(browser: Any, server: ServerProcess) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(browser, server)
    decision(browser, lambda d: d["winner"] is not None)
    Select(browser.find_element(By.ID, "as-of")).select_by_value("today")
    rows = "#catalog tbody tr"
    wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, rows)) == 13)
    status = {row.find_element(By.TAG_NAME, "th").text: row.find_elements(By.TAG_NAME, "td")[2].text
              for row in browser.find_elements(By.CSS_SELECTOR, rows)}  # fmt: skip
    assert status["mimo-v2-flash"] == "retired"
    assert status["mimo-v2.6-flash"] == "active"
    shown = decision(browser, lambda d: "mimo-v2-flash" in d["rejected"])
    assert (
        "retired on 2026-06-30: requests to it fail [retired]" in shown["rejected"]["mimo-v2-flash"]
    )
    assert "News of these models" in shown["text"]
    assert "mimo-v2.5 reported to be deprecated on 2026-10-21" in shown["text"]
    assert "about $0.00042" in shown["text"]
    # a budget: the dearer models are out, with their cost and the budget
    browser.find_element(By.ID, "max-cost").send_keys("0.001")
    shown = decision(browser, lambda d: "mimo-v2.6-pro" in d["rejected"])
    assert "the budget is 0.001 USD [max-cost]" in shown["rejected"]["mimo-v2.6-pro"]
    assert shown["winner"] in ("mimo-v2.5", "mimo-v2.6-flash")
    # in yuan: only models priced in CNY can be checked against it
    Select(browser.find_element(By.ID, "currency")).select_by_value("CNY")
    shown = decision(browser, lambda d: "publishes no CNY price" in d["text"])
    assert "publishes no CNY price" in shown["rejected"]["mimo-v2.6-flash"]
    shot(browser, "page-today")
    # back to the page's own catalog
    browser.find_element(By.ID, "reset").click()
    wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, rows)) == 9)
    decision(browser, lambda d: d["winner"] == "mimo-v2-flash")
    assert console_errors(browser) == []


def test_paste_a_body_and_see_it_routed(browser: Any, server: ServerProcess) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(browser, server)
    body = json.loads((ROOT / "examples" / "weather.json").read_text())
    box = browser.find_element(By.ID, "paste")
    box.send_keys(json.dumps(body))
    box.send_keys(Keys.TAB, Keys.ENTER)  # to the button, and press it
    count = wait_for(browser, lambda b: b.find_element(By.ID, "paste-count"))
    assert count.text == "310 tokens (exact), read as anthropic"
    result = browser.find_element(By.ID, "paste-result").text
    assert "The body asks for mimo-v2.5-pro: it fits." in result
    assert "Recommended: mimo-v2.5-pro" in result
    browser.execute_script("document.getElementById('paste-result').scrollIntoView()")
    shot(browser, "page-paste")
    # plain text is a prompt
    box.clear()
    box.send_keys("Write a haiku about routers.")
    browser.find_element(By.CSS_SELECTOR, "#paste-form button").click()
    wait_for(browser, lambda b: "read as text" in b.find_element(By.ID, "paste-count").text)
    assert console_errors(browser) == []


def test_every_control_has_a_label_and_the_page_fits_375px(
    browser: Any, server: ServerProcess
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    # a phone's viewport (a desktop window does not get narrower than 500 px)
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 900, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        open_page(browser, server)
        unlabelled = browser.execute_script(
            "return [...document.querySelectorAll('input, select, textarea, button')]"
            ".filter(e => !e.closest('[hidden]'))"
            ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
            " && !(e.tagName === 'BUTTON' && e.textContent.trim()))"
            ".map(e => e.outerHTML)"
        )
        assert unlabelled == []
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert browser.execute_script("return window.innerWidth") == 375
        assert width <= 375, f"the page scrolls sideways: {width} px wide"
        # the first Tab reaches the skip link, and it leads to the builder
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        active = browser.switch_to.active_element
        assert active.text == "Skip to the request builder"
        active.send_keys(Keys.ENTER)
        assert browser.switch_to.active_element.get_attribute("id") == "builder"
        shot(browser, "page-375px")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert console_errors(browser) == []
