"""`hiptrack run` done from the page alone, in headless Chromium: both legs of a guided set with emulated
sensors (the unchanged drivers, through bleak's backend hook, on bumble's in-process stack) worn by a
simulated person who waits in the start position until Start is pressed on the page. The page starts
each leg, shows the calibration's progress and the reps, takes the pain rating after the set, and ends
on each leg's summary; the terminal is never touched. What the store holds is checked against what the
simulated person did."""

from __future__ import annotations

import asyncio
import io
import socket
from pathlib import Path

import pytest
from browser import BROWSER_ARGS, artifacts_dir, browser_or_skip, cue_kinds
from rich.console import Console

from firmware_bridge.ble.emulation import RadioWorld
from firmware_bridge.ble.emulation.nano33 import EmulatedNano
from firmware_bridge.simulator import simulate_session
from imu_core.frames import Segment, Side
from imu_core.types import MarkerLabel
from tracker.cli import build_parser
from tracker.guide import GuidePlan
from tracker.live_commands import run_guided
from tracker.live_run import make_link
from tracker.sensor_config import SensorAssignment, config_path, save_assignments
from tracker.session_control import TerminalLines
from tracker.store import SessionStore

REPS = 2
ADDRESSES = {(Side.LEFT, Segment.THIGH): "C0:FF:EE:00:00:01", (Side.LEFT, Segment.SHIN): "C0:FF:EE:00:00:02",
             (Side.RIGHT, Segment.THIGH): "C0:FF:EE:00:00:03", (Side.RIGHT, Segment.SHIN): "C0:FF:EE:00:00:04"}
PAIN = {Side.LEFT: 2, Side.RIGHT: 3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(240)
def test_a_whole_guided_session_of_both_legs_from_the_page(tmp_path: Path) -> None:
    chromium = browser_or_skip()
    from playwright.async_api import async_playwright

    artifacts = artifacts_dir(tmp_path)
    store_path = tmp_path / "run.sqlite3"
    # one simulated person (one seed: the same timing on both legs, which the one guide plan needs)
    sims = {side: simulate_session(seed=30, side=side, reps=REPS) for side in (Side.LEFT, Side.RIGHT)}
    save_assignments(config_path(store_path), [SensorAssignment(address, seg, side, "nano33")
                                               for (side, seg), address in ADDRESSES.items()])
    port = _free_port()
    args = build_parser().parse_args(["--store", str(store_path), "run", "--exercise", "seated-ir", "--side", "left",
                                      "--both-sides", "--reps", str(REPS), "--sets", "1", "--no-browser",
                                      "--port", str(port)])
    markers = {m.label: m.t for m in sims[Side.LEFT].recording.markers}
    # the guide's phases as the simulated person performs them, from the moment Start is pressed
    plan = GuidePlan(lead_in_s=markers[MarkerLabel.CALIBRATION_STATIC],
                     still_s=markers[MarkerLabel.CALIBRATION_SWING] - markers[MarkerLabel.CALIBRATION_STATIC],
                     swing_s=markers[MarkerLabel.EXERCISE_START] - markers[MarkerLabel.CALIBRATION_SWING],
                     settle_s=0.0, reps=REPS, max_exercise_s=90.0, after_last_rep_s=0.5)
    assert all({m.label: m.t for m in sim.recording.markers} == markers for sim in sims.values())
    terminal = io.StringIO()
    seen: dict[str, str] = {}

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        async with RadioWorld() as world:
            boards: dict[Side, list[EmulatedNano]] = {Side.LEFT: [], Side.RIGHT: []}
            for (side, seg), address in ADDRESSES.items():
                boards[side].append(await world.add(EmulatedNano(
                    f"hiptrack-{side.value}-{seg.value}", address, sims[side].recording.streams[seg],
                    hold_first_pose=True, seed=len(boards[side]))))
            session = loop.create_task(run_guided(
                args, Console(file=terminal, width=100), lambda a: make_link(a, client_backend=world.client_backend),
                lines=TerminalLines(io.StringIO("")), plan=plan), name="hiptrack-run")

            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium, headless=True,
                                                   args=BROWSER_ARGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                for _ in range(50):
                    try:
                        await page.goto(f"http://127.0.0.1:{port}/")
                        break
                    except Exception:  # not serving yet
                        await asyncio.sleep(0.1)
                for n, side in enumerate((Side.LEFT, Side.RIGHT)):
                    start = page.get_by_role("button", name="Start")
                    await start.wait_for(state="visible", timeout=30_000)
                    seen[f"ready-{side.value}"] = await page.text_content("body") or ""
                    await page.screenshot(path=str(artifacts / f"run-{n + 1}a-{side.value}-ready.png"))
                    await start.click()
                    for board in boards[side]:  # the person begins on hearing Start
                        board.begin_motion_at(loop.time())
                    await page.wait_for_selector("#phase-progress:not([hidden])", timeout=10_000)
                    await page.screenshot(path=str(artifacts / f"run-{n + 1}b-{side.value}-calibrating.png"))
                    await page.wait_for_selector("#pain:not([hidden])", timeout=90_000)
                    seen[f"reps-{side.value}"] = await page.text_content("#reps") or ""
                    await page.screenshot(path=str(artifacts / f"run-{n + 1}c-{side.value}-pain.png"))
                    await page.click(f"#pain-{PAIN[side]}")
                    await page.wait_for_selector("#summary:not([hidden])", timeout=30_000)
                    seen[f"summary-{side.value}"] = await page.text_content("#summary") or ""
                    await page.screenshot(path=str(artifacts / f"run-{n + 1}d-{side.value}-summary.png"),
                                          full_page=True)
                    if n == 0:  # the summary links to the full report and the person's sessions
                        other = await browser.new_page()
                        base = f"http://127.0.0.1:{port}"
                        await other.goto(base + (await page.get_attribute("text=Full report", "href") or ""))
                        seen["report"] = await other.text_content("body") or ""
                        await other.goto(base + (await page.get_attribute("text=All sessions", "href") or ""))
                        seen["history"] = await other.text_content("body") or ""
                        await other.close()
                seen["cues"] = " ".join(await cue_kinds(page))
                sids = await asyncio.wait_for(session, timeout=30)
                await browser.close()
            return sids

    sids = asyncio.run(main())
    assert "Left leg" in seen["ready-left"] and "Right leg" in seen["ready-right"]
    assert len(sids) == 2
    with SessionStore.open(store_path) as store:
        for sid, side in zip(sids, (Side.LEFT, Side.RIGHT), strict=True):
            info = store.get_session(sid)
            assert (info.status, info.side, info.source) == ("complete", side, "live")
            assert store.load_pain(sid) == {1: PAIN[side]}
            result = store.load_analysis(sid)
            assert result is not None and len(result.reps) == REPS
            for rep, true in zip(result.reps, sims[side].truth_reps, strict=True):
                assert rep.peak_ir_deg == pytest.approx(true.peak_ir_deg, abs=2.0)
            assert f"{REPS} clean" in seen[f"reps-{side.value}"]
            assert seen[f"summary-{side.value}"].count("clean") >= REPS
    # the sounds of each leg, in order: Start, a cue per rep, set done (holds and calibration in between)
    assert [k for k in seen["cues"].split() if k in ("start", "rep", "set_done")] == (
        ["start"] + ["rep"] * REPS + ["set_done"]) * 2, seen["cues"]
    assert "Pain right now" not in terminal.getvalue()
    assert "Seated hip internal rotation" in seen["report"] and f"pain {PAIN[Side.LEFT]}/10" in seen["report"]
    assert "report" in seen["history"] and "seated-ir" in seen["history"]  # asked on the page, not in the terminal
