"""The dashboard page in headless Chromium against a live simulated session: the page loads, the angle
and the rep count update, an injected compensation shows its alert, the hold ring completes, the summary
appears at the end. Screenshots at those moments go to $HIPTRACK_ARTIFACTS (or the test's tmp folder).

Needs Debian's chromium (/usr/bin/chromium) and the Python playwright package (no browser download: it
drives the system's Chromium). CI installs both and sets HIPTRACK_REQUIRE_BROWSER=1, so there the test
fails rather than skips if either is missing."""

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from firmware_bridge.replay import replay
from firmware_bridge.simulator import simulate_session
from firmware_bridge.simulator.exercises import Compensation, CompensationKind
from imu_core.frames import Side
from tracker.dashboard.messages import summary_message
from tracker.dashboard.server import DashboardServer
from tracker.exercises import get_exercise
from tracker.pipeline import SessionPipeline
from tracker.session import LiveState, run_live_session
from tracker.store import SessionStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser_or_skip() -> str:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing = "the playwright package"
    else:
        if CHROMIUM:
            return CHROMIUM
        missing = "chromium"
    if os.environ.get("HIPTRACK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{missing} is not installed, and this run requires the browser tests")
    pytest.skip(f"{missing} is not installed")


def test_page_follows_a_live_session(tmp_path: Path) -> None:
    chromium = _browser_or_skip()
    from playwright.async_api import async_playwright

    artifacts = Path(os.environ.get("HIPTRACK_ARTIFACTS", tmp_path / "screenshots"))
    artifacts.mkdir(parents=True, exist_ok=True)
    exercise = get_exercise("seated-ir")
    sim = simulate_session(seed=12, side=Side.LEFT, reps=3,
                           compensations=[Compensation(CompensationKind.THIGH_DRIFT, 2)])
    seen: dict[str, str] = {}

    async def main() -> None:
        with SessionStore.open(tmp_path / "s.sqlite3") as store:
            sid = store.create_session(exercise.id, sim.side, "demo", 100.0, sim.recording.sensors_info)
            pipe = SessionPipeline(exercise, sim.side, 100.0)
            state = LiveState(exercise.name, sim.side.value, 3, exercise.prescription.hold_s)
            async with DashboardServer(exercise) as dash, async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium, headless=True,
                                                   args=["--no-sandbox", "--disable-gpu"])
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                await page.goto(dash.url)
                await page.wait_for_selector("#dial")
                await page.screenshot(path=str(artifacts / "1-loaded.png"))

                async def watch() -> None:
                    await page.wait_for_function(
                        "() => { const t = document.querySelector('#angle').textContent;"
                        " return parseFloat(t) > 10; }", timeout=60_000)
                    seen["angle"] = await page.text_content("#angle") or ""
                    await page.screenshot(path=str(artifacts / "2-rotating.png"))
                    await page.wait_for_selector("#hold-ring.complete", timeout=60_000)
                    await page.screenshot(path=str(artifacts / "3-hold-complete.png"))
                    await page.wait_for_function(
                        "() => document.querySelector('#alerts').textContent.includes('knee')", timeout=60_000)
                    seen["alert"] = await page.text_content("#alerts") or ""
                    await page.screenshot(path=str(artifacts / "4-compensation.png"))

                watcher = asyncio.create_task(watch())
                result = await run_live_session(replay(sim.recording, speed=6.0), pipe, store, sid, state,
                                                lambda st, news: dash.update(st, news))
                await watcher
                dash.update(state, summary=summary_message(result, pipe.engine.details(), chart_url=None))
                await page.wait_for_selector("#summary:not([hidden])", timeout=20_000)
                seen["reps"] = await page.text_content("#reps") or ""
                seen["summary"] = await page.text_content("#summary") or ""
                await page.screenshot(path=str(artifacts / "5-summary.png"), full_page=True)
                await browser.close()

    asyncio.run(main())
    assert "°" in seen["angle"]
    assert "Keep your knee still" in seen["alert"]
    assert "2 clean" in seen["reps"] and "1 with compensation" in seen["reps"]
    summary = seen["summary"]
    assert "thigh drift" in summary.replace("_", " ") and summary.count("clean") == 2
    for name in ("1-loaded", "2-rotating", "3-hold-complete", "4-compensation", "5-summary"):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
