"""The demo page end to end in headless Chromium (the Debian ``chromium``, driven by Playwright; no browser
download): type a query, see results of every modality, play an audio result, ask for more like one, upload
a file. Skipped only where no ``chromium`` binary exists (``make test`` installs it where apt-get can run)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from unibind.serve import SearchEngine, create_app

from .conftest import EMOJI

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary: install the Debian package chromium (make test does where it can)"
)
TIMEOUT_MS = 20_000


@pytest.fixture
def live_url(engine: SearchEngine) -> Iterator[str]:
    """The app served by uvicorn on a free local port, in a background thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(engine), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def page(live_url: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--autoplay-policy=no-user-gesture-required"]
        )
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(live_url)
        yield page
        browser.close()
        assert not errors, errors


def only(page, *modalities: str) -> None:
    """Tick exactly ``modalities`` among the target boxes (each change repeats the last search)."""
    for box in page.locator("#targets input").all():
        box.set_checked(box.get_attribute("value") in modalities)


def test_type_a_query_see_results_and_play_one(page) -> None:
    page.wait_for_selector("#targets input >> nth=4")
    assert "45 image" in page.text_content("#info")
    page.fill("#query", "grinning face")
    page.click("#search")
    page.wait_for_selector(".result >> nth=11")
    assert page.locator(".result").count() == 12
    assert "12 results for the text query" in page.text_content("#status")
    assert page.locator(".result .score").first.text_content().startswith("score ")

    only(page, "audio")
    page.wait_for_function("() => [...document.querySelectorAll('.result')].every(r => r.dataset.modality === 'audio')")
    audio = page.locator(".result audio").first
    audio.evaluate("a => a.play().catch(() => { a.muted = true; return a.play(); })")  # muted where no sound out
    page.wait_for_function("a => a.currentTime > 0 || a.ended", arg=audio.element_handle())

    only(page, "motion", "image", "graph")
    page.wait_for_selector(".result[data-modality=motion] img")
    for modality in ("motion", "image", "graph"):
        image = page.locator(f".result[data-modality={modality}] img").first
        image.scroll_into_view_if_needed()
        page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=image.element_handle())
    graph = page.locator(".result[data-modality=graph]").first
    assert graph.locator(".neighbours li").count() == 2


def test_more_like_this_and_upload(page) -> None:
    page.wait_for_selector("#targets input >> nth=4")
    only(page, "image")
    page.fill("#query", "a face")
    page.click("#search")
    page.wait_for_selector(".result")
    first = page.locator(".result").first.get_attribute("data-id")
    page.locator(".result .more").first.click()
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('image query')")
    ids = page.locator(".result").evaluate_all("cards => cards.map(c => c.dataset.id)")
    assert first not in ids

    page.set_input_files("#file", str(EMOJI / "images" / "1f600.png"))
    page.wait_for_function("() => document.querySelector('.result')?.dataset.id === 'emoji:1f600'")


def test_errors_are_shown(page) -> None:
    page.wait_for_selector("#targets input >> nth=4")
    page.fill("#query", "x" * 2001)
    page.click("#search")
    page.wait_for_selector("#status.error")
    assert "2000 characters" in page.text_content("#status")
