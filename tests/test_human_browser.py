"""The experiment page in a real browser: Debian's headless chromium driven by Playwright.

Playwright's own browser download is not reachable here, so the system chromium is used
(`.ci/run` installs it); without it, or without Playwright, the test skips and says why.
Set MNISTROBUST_SCREENSHOTS=<folder> to save the screenshots used in the README.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from human_support import LiveServer

from mnistrobust.io.hdf5 import load_stimuli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run does it)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def shoot(page, name: str) -> None:
    folder = os.environ.get("MNISTROBUST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name))


def answers(db: Path) -> list[tuple[str, int, int]]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT subject_id, image_id, answer FROM answers ORDER BY image_id").fetchall()


@pytest.mark.slow
def test_a_subject_consents_answers_by_key_and_click_and_resumes_after_reload(browser, tiny_stimuli, tmp_path):
    db = tmp_path / "responses.sqlite"
    total = load_stimuli(tiny_stimuli).images_per_set
    with LiveServer(tiny_stimuli, db) as live:
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(live.url)
        shoot(page, "consent.png")

        # Consent is required, and an unknown id is refused with a message.
        page.fill("#subject-id", "nobody")
        page.check("#consent")
        page.click("#consent-button")
        page.wait_for_selector("#consent-error:has-text('unknown subject id')")
        page.fill("#subject-id", "s03")
        page.click("#consent-button")
        page.wait_for_selector("#instructions-screen:visible")
        assert "Press the digit on your keyboard" in page.inner_text("#instructions-screen")
        shoot(page, "instructions.png")
        page.click("#start-button")

        def wait_for_image(number: int) -> None:
            page.wait_for_selector(f"#progress-text:has-text('Image {number} of {total}')")
            page.wait_for_function(
                "() => { const i = document.getElementById('stimulus'); "
                "return i.complete && i.naturalWidth > 0 && !i.classList.contains('waiting'); }"
            )

        wait_for_image(1)
        page.keyboard.press("3")
        wait_for_image(2)
        page.keyboard.press("8")
        wait_for_image(3)
        shoot(page, "trial.png")
        page.click("#digit-buttons button[data-digit='5']")
        wait_for_image(4)
        assert answers(db) == [("s03", 0, 3), ("s03", 1, 8), ("s03", 2, 5)]

        # A reload (or a closed tab reopened at the same address) resumes at the first unanswered image.
        page.reload()
        wait_for_image(4)
        assert "subject=s03" in page.url
        assert page.get_attribute("#stimulus", "src").endswith("/images/s03/3.png")
        page.click("#digit-buttons button[data-digit='0']")
        wait_for_image(5)
        assert answers(db)[-1] == ("s03", 3, 0) and len(answers(db)) == 4

        # The image is shown large and crisp.
        box = page.locator("#stimulus").bounding_box()
        assert box["width"] >= 300
        assert page.eval_on_selector("#stimulus", "i => getComputedStyle(i).imageRendering") == "pixelated"
