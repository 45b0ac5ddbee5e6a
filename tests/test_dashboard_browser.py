"""The dashboard page in headless Chromium against a live simulated session: the page loads, the angle
and the rep count update, an injected compensation shows its alert, the hold ring completes, the summary
appears at the end, and the sound cues of those moments were played. Then the Start panel of a guided
session and the per-sensor rows, from hand-built live states. Screenshots at those moments go to
$HIPTRACK_ARTIFACTS (or the test's tmp folder).

Needs Debian's chromium (/usr/bin/chromium) and the Python playwright package (no browser download: it
drives the system's Chromium). CI installs both and sets HIPTRACK_REQUIRE_BROWSER=1, so there the test
fails rather than skips if either is missing."""

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from browser import BROWSER_ARGS, artifacts_dir, browser_or_skip, cue_kinds

from firmware_bridge.ble.sensor import LinkStats
from firmware_bridge.replay import replay
from firmware_bridge.simulator import simulate_session
from firmware_bridge.simulator.exercises import Compensation, CompensationKind
from imu_core.frames import Segment, Side
from tracker.dashboard.messages import Command, summary_message
from tracker.dashboard.server import DashboardServer
from tracker.exercises import get_exercise
from tracker.pipeline import SessionPipeline
from tracker.session import LiveState, run_live_session
from tracker.store import SessionStore


def test_page_follows_a_live_session(tmp_path: Path) -> None:
    chromium = browser_or_skip()
    from playwright.async_api import async_playwright

    artifacts = artifacts_dir(tmp_path)
    exercise = get_exercise("seated-ir")
    sim = simulate_session(seed=12, side=Side.LEFT, reps=3,
                           compensations=[Compensation(CompensationKind.THIGH_DRIFT, 2)])
    seen: dict[str, Any] = {}
    page_errors: list[str] = []

    async def main() -> None:
        with SessionStore.open(tmp_path / "s.sqlite3") as store:
            sid = store.create_session(exercise.id, sim.side, "demo", 100.0, sim.recording.sensors_info)
            pipe = SessionPipeline(exercise, sim.side, 100.0)
            state = LiveState(exercise.name, sim.side.value, 3, exercise.prescription.hold_s)
            async with DashboardServer(exercise) as dash, async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=BROWSER_ARGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                page.on("pageerror", lambda e: page_errors.append(str(e)))
                await page.goto(dash.url)
                await page.wait_for_selector("#dial")
                await page.screenshot(path=str(artifacts / "1-loaded.png"))

                async def moment(condition: str, name: str) -> None:
                    """Wait for a moment (the condition returns what it saw then), and screenshot it."""
                    seen[name] = await (await page.wait_for_function(condition, timeout=60_000)).json_value()
                    await page.screenshot(path=str(artifacts / f"{name}.png"))

                async def watch() -> None:
                    # all at once: a moment that passes while another's screenshot is taken is not missed
                    await asyncio.gather(
                        moment("() => { const t = document.querySelector('#angle').textContent;"
                               " return parseFloat(t) > 10 && t; }", "2-rotating"),
                        moment("() => !!document.querySelector('#hold-ring.complete')", "3-hold-complete"),
                        moment("() => { const t = document.querySelector('#alerts').textContent;"
                               " return t.includes('knee') && t; }", "4-compensation"))

                watcher = asyncio.create_task(watch())
                result = await run_live_session(replay(sim.recording, speed=6.0), pipe, store, sid, state,
                                                lambda st, news: dash.update(st, news))
                await watcher
                dash.update(state, summary=summary_message(result, pipe.engine.details(), chart_url=None))
                await page.wait_for_selector("#summary:not([hidden])", timeout=20_000)
                seen["reps"] = await page.text_content("#reps") or ""
                seen["summary"] = await page.text_content("#summary") or ""
                await page.screenshot(path=str(artifacts / "5-summary.png"), full_page=True)
                seen["cues"] = await cue_kinds(page)
                seen["audio"] = await page.evaluate("() => window.hiptrackAudioState()")
                await browser.close()

    asyncio.run(main())
    assert "°" in seen["2-rotating"]
    assert "Keep your knee still" in seen["4-compensation"]
    assert "2 clean" in seen["reps"] and "1 with compensation" in seen["reps"]
    summary = seen["summary"]
    assert "thigh drift" in summary.replace("_", " ") and summary.count("clean") == 2
    for name in ("1-loaded", "2-rotating", "3-hold-complete", "4-compensation", "5-summary"):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
    assert page_errors == []
    # each moment was heard: a rep counted, a hold complete, the compensation, the set done (after the reps)
    cues = seen["cues"]
    assert {"rep", "hold_complete", "compensation", "set_done"} <= set(cues), cues
    assert cues.count("rep") == 3, cues
    assert cues.index("hold_complete") < cues.index("rep") < cues.index("set_done"), cues
    assert cues.index("compensation") < cues.index("set_done"), cues
    assert seen["audio"] == "running"


@dataclass
class _Link:
    """A sensor as the live state shows it (as a driver's SensorLink does)."""

    segment: Segment
    model: str
    stats: LinkStats


def test_start_panel_and_sensor_rows(tmp_path: Path) -> None:
    """A guided session waiting for the person: the Start panel shows the prompt, its button (or Enter)
    sends "start", a refusal shows in the panel; once started, the panel goes. The footer has a row per
    sensor. A muted page plays and says nothing."""
    chromium = browser_or_skip()
    from playwright.async_api import async_playwright

    artifacts = artifacts_dir(tmp_path)
    exercise = get_exercise("seated-ir")
    prompt = "Sit still: sensors on the left thigh and shin, then press Start."
    commands: list[Command] = []
    seen: dict[str, Any] = {}
    page_errors: list[str] = []

    def on_command(cmd: Command) -> str | None:
        commands.append(cmd)
        return "the sensors are still connecting" if len(commands) == 1 else None  # the first start is early

    state = LiveState(exercise.name, "left", 3, exercise.prescription.hold_s, sets_total=2, leg=(1, 2),
                      awaiting_start=prompt, samples=2000, samples_lost=12)
    state.sensor_links = [
        _Link(Segment.THIGH, "MetaMotionS", LinkStats(samples=998, samples_lost=2, rate_hz=99.8,
                                                       battery_percent=87, connected=True)),
        _Link(Segment.SHIN, "Nano 33 BLE Rev2", LinkStats(samples=990, samples_lost=10, rate_hz=97.4,
                                                           connected=False, reconnects=1)),
    ]

    async def main() -> None:
        async with DashboardServer(exercise, on_command=on_command) as dash, async_playwright() as pw:
            dash.best_deg = 31.0
            dash.update(state)
            browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=BROWSER_ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            await page.add_init_script("localStorage.setItem('hiptrack.voice', 'true')")
            muted = await browser.new_page(viewport={"width": 800, "height": 1280})
            muted.on("pageerror", lambda e: page_errors.append(str(e)))
            await muted.add_init_script("localStorage.setItem('hiptrack.muted', 'true');"
                                        "localStorage.setItem('hiptrack.voice', 'true')")
            for p in (page, muted):
                await p.goto(dash.url)
                await p.wait_for_selector("#start-button", state="visible")
            await page.wait_for_selector("#sensor-links tr >> nth=1")
            seen["prompt"] = await page.text_content("#start-prompt")
            seen["leg"] = await page.text_content("#start-leg")
            seen["focused"] = await page.evaluate("() => document.activeElement.id")
            seen["sensors"] = await page.evaluate(
                "() => Array.from(document.querySelectorAll('#sensor-links tbody tr'),"
                " (tr) => Array.from(tr.cells, (c) => c.textContent.trim()).join(' | '))")
            seen["best"] = await page.get_attribute("#dial-best-label", "visibility")
            await page.screenshot(path=str(artifacts / "0-start.png"))
            await muted.screenshot(path=str(artifacts / "0-start-portrait.png"))

            await page.click("#start-button")
            await page.wait_for_selector("#start-error:not([hidden])")
            seen["refusal"] = await page.text_content("#start-error")
            await page.click("#start-button")
            await page.wait_for_function("() => window.hiptrackCues.some((c) => c.kind === 'start')")
            await muted.keyboard.press("Enter")
            for _ in range(100):
                if len(commands) == 3:
                    break
                await asyncio.sleep(0.05)
            state.awaiting_start = None
            state.phase = "calibration.static"
            dash.update(state)
            state.hip_ir_deg, state.max_ir_deg = 24.0, 27.0
            dash.update(state)
            for p in (page, muted):
                await p.wait_for_selector("#start", state="hidden")
            await page.wait_for_function("() => document.querySelector('#angle').textContent === '24°'")
            await page.screenshot(path=str(artifacts / "0-sensors.png"))
            await muted.screenshot(path=str(artifacts / "0-sensors-portrait.png"))
            seen["leg_progress"] = await page.text_content("#leg")
            # a compensation, then the set done: both pages get the events, only one may play them
            state.phase = "exercise.start"
            state.alerts = {"thigh_drift": "Keep your knee still"}
            dash.update(state)
            state.phase = "exercise.end"
            dash.update(state)
            await page.wait_for_function("() => window.hiptrackCues.some((c) => c.kind === 'set_done')")
            await muted.wait_for_selector("#pain:not([hidden])")
            await page.screenshot(path=str(artifacts / "0-pain.png"))
            seen["cues"] = await cue_kinds(page)
            seen["spoken"] = await page.evaluate("() => window.hiptrackSpoken")
            seen["muted_cues"] = await cue_kinds(muted)
            seen["muted_spoken"] = await muted.evaluate("() => window.hiptrackSpoken")
            seen["muted_toggle"] = await muted.text_content("#mute")
            await browser.close()

    asyncio.run(main())
    assert page_errors == []
    assert seen["prompt"] == prompt and seen["leg"] == "Left leg · 1 of 2"
    assert seen["focused"] == "start-button"  # Space / Enter from across the room start too
    assert seen["refusal"] == "the sensors are still connecting"
    assert commands == [Command("start")] * 3
    assert seen["leg_progress"] == "Leg 1 of 2"
    assert len(seen["sensors"]) == 2, seen["sensors"]
    thigh, shin = seen["sensors"]
    assert "thigh" in thigh and "99.8 Hz" in thigh and "lost 2 · 0.2 %" in thigh and "87 %" in thigh
    assert "shin" in shin and "reconnecting" in shin and "97.4 Hz" in shin and "battery —" in shin
    assert seen["best"] == "visible"
    assert seen["cues"] == ["start", "compensation", "set_done"]
    assert prompt in seen["spoken"] and "Keep your knee still" in seen["spoken"]
    assert seen["muted_cues"] == [] and seen["muted_spoken"] == [] and seen["muted_toggle"] == "Muted"
    assert (artifacts / "0-start.png").stat().st_size > 10_000


_TRACE_PIXELS = """() => {
  const c = document.querySelector('#trace');
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i] < 120 && px[i + 1] > 170 && px[i + 2] > 220) n++;
  return n;
}"""
"""How many of the trace's pixels are the angle's line (cyan)."""


def test_between_legs_the_summary_and_the_next_start_show_together(tmp_path: Path) -> None:
    """Both sides: the left leg's summary stays up next to the right leg's Start panel; once the right
    leg's session begins, the summary goes and the trace starts afresh."""
    chromium = browser_or_skip()
    from playwright.async_api import async_playwright

    artifacts = artifacts_dir(tmp_path)
    exercise = get_exercise("seated-ir")
    hold = exercise.prescription.hold_s
    seen: dict[str, Any] = {}
    page_errors: list[str] = []
    summary = {"reps": [{"number": n, "peak_ir_deg": 30.0 + n, "hold_s": 2.1, "clean": n != 2,
                         "compensations": [] if n != 2 else ["thigh_drift"]} for n in (1, 2, 3)],
               "max_ir_deg": 33.0, "side": "left", "chart_url": None, "time_at_target_s": None}

    async def main() -> None:
        async with DashboardServer(exercise) as dash, async_playwright() as pw:
            left = LiveState(exercise.name, "left", 3, hold, leg=(1, 2), phase="exercise.start")
            for i in range(40):
                left.t, left.hip_ir_deg = 10.0 + i * 0.25, 30.0 * (i % 10) / 10
                dash.update(left)
            left.phase, left.finished = "exercise.end", True
            dash.update(left, summary=summary)
            browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=BROWSER_ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            await page.goto(dash.url)
            await page.wait_for_selector("#summary:not([hidden])")
            seen["trace_before"] = await page.evaluate(_TRACE_PIXELS)
            seen["status_after_leg"] = await page.text_content("#status")

            dash.new_leg(best_deg=28.0)
            right = LiveState(exercise.name, "right", 3, hold, leg=(2, 2),
                              awaiting_start="Right leg: sensors on this thigh and shin, then press Start.")
            dash.update(right)
            await page.wait_for_selector("#start:not([hidden])")
            seen["both"] = await page.evaluate(
                "() => !document.querySelector('#summary').hidden && document.querySelector('#sheet.both') !== null")
            seen["summary_title"] = await page.text_content("#summary-title")
            seen["start_leg"] = await page.text_content("#start-leg")
            await page.screenshot(path=str(artifacts / "6-between-legs.png"))
            await page.set_viewport_size({"width": 800, "height": 1280})
            await page.screenshot(path=str(artifacts / "6-between-legs-portrait.png"))
            await page.set_viewport_size({"width": 1280, "height": 800})

            right.awaiting_start, right.phase = None, "calibration.static"
            right.t, right.hip_ir_deg = 0.5, 2.0
            dash.update(right)
            await page.wait_for_selector("#sheet", state="hidden")
            seen["summary_hidden"] = await page.evaluate("() => document.querySelector('#summary').hidden")
            seen["trace_after"] = await page.evaluate(_TRACE_PIXELS)
            seen["side"] = await page.text_content("#side")
            seen["leg"] = await page.text_content("#leg")
            seen["status_live"] = await page.text_content("#status")
            await browser.close()

    asyncio.run(main())
    assert page_errors == []
    assert seen["trace_before"] > 500 and seen["status_after_leg"] == "leg done"
    assert seen["both"] and seen["summary_title"] == "Left leg: summary" and seen["start_leg"] == "Right leg · 2 of 2"
    assert seen["summary_hidden"] and seen["trace_after"] == 0
    assert seen["side"] == "right leg · 2 of 2" and seen["leg"] == "Leg 2 of 2" and seen["status_live"] == "live"
    assert (artifacts / "6-between-legs.png").stat().st_size > 10_000
