"""The pieces `hiptrack run` and `demo` are wired from: the person's best from the store, Start from the
page or the terminal, one dashboard across both legs, and the terminal view's lines."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import aiohttp
from rich.console import Console

from firmware_bridge.ble.sensor import LinkStats
from imu_core.frames import Segment, Side
from tracker.analysis import AnalysisResult, Rep
from tracker.dashboard.messages import Command
from tracker.dashboard.server import DashboardServer
from tracker.exercises import get_exercise
from tracker.live_commands import ReplayedSensor
from tracker.live_view import render, sensors_line
from tracker.rom_compare import personal_best_deg
from tracker.session import LiveState
from tracker.session_control import PageControl, TerminalLines
from tracker.store import SessionStore


def _session(store: SessionStore, exercise: str, side: Side, source: str, peaks: list[float],
             status: str = "complete") -> int:
    sid = store.create_session(exercise, side, source, 100.0, {})
    reps = [Rep(float(i), float(i) + 0.5, float(i) + 1.0, p, 2.0) for i, p in enumerate(peaks)]
    store.save_analysis(sid, AnalysisResult(exercise, side.value, max(peaks), reps))
    store.finish_session(sid, status)
    store.commit()
    return sid


def test_the_persons_best_is_their_furthest_earlier_reach_on_that_leg(tmp_path: Path) -> None:
    seated, figure_four = get_exercise("seated-ir"), get_exercise("figure-four-stretch")
    with SessionStore.open(tmp_path / "s.sqlite3") as store:
        assert personal_best_deg(store, seated, Side.LEFT, person="me", source="live") is None
        _session(store, "seated-ir", Side.LEFT, "live", [28.0, 31.5])
        _session(store, "seated-ir", Side.LEFT, "live", [33.0], status="interrupted")  # not complete
        _session(store, "seated-ir", Side.RIGHT, "live", [40.0])  # the other leg
        _session(store, "seated-ir", Side.LEFT, "demo", [45.0])  # a simulated person
        other = store.create_session("seated-ir", Side.LEFT, "live", 100.0, {}, person="someone else")
        store.save_analysis(other, AnalysisResult("seated-ir", "left", 50.0, [Rep(0.0, 0.5, 1.0, 50.0, 2.0)]))
        store.finish_session(other)
        later = _session(store, "seated-ir", Side.LEFT, "live", [35.0])
        assert personal_best_deg(store, seated, Side.LEFT, person="me", source="live") == 35.0
        assert personal_best_deg(store, seated, Side.LEFT, person="me", source="live", before_session=later) == 31.5
        # an external-rotation stretch: the most external reach, in deg of IR
        _session(store, "figure-four-stretch", Side.LEFT, "live", [-30.0, -42.0])
        _session(store, "figure-four-stretch", Side.LEFT, "live", [-38.0])
        assert personal_best_deg(store, figure_four, Side.LEFT, person="me", source="live") == -42.0


def test_start_is_taken_only_while_the_guide_waits_for_it() -> None:
    async def main() -> list[str | None]:
        page = PageControl()
        state = LiveState("seated", "left", 3, (2.0, 5.0))
        replies = [page.on_command(Command("start"))]  # connecting: no state yet
        page.state = state
        state.awaiting_start = "Left leg: ... Press Start."
        replies.append(page.on_command(Command("start")))
        assert page.start.is_set()
        state.awaiting_start, state.phase = None, "calibration.static"
        replies.append(page.on_command(Command("start")))
        page.new_leg()
        assert not page.start.is_set() and page.state is None
        return replies

    connecting, taken, late = asyncio.run(main())
    assert connecting is not None and "connecting" in connecting
    assert taken is None
    assert late is not None and "started already" in late


def test_enter_in_the_terminal_starts_the_leg_and_a_closed_stdin_leaves_it_to_the_page() -> None:
    async def main() -> tuple[bool, bool]:
        page = PageControl()
        page.state = LiveState("seated", "left", 3, (2.0, 5.0), awaiting_start="Press Start.")
        await asyncio.wait_for(page.start_on_enter(TerminalLines(io.StringIO("\n"))), 2.0)
        by_enter = page.start.is_set()
        page.new_leg()
        page.state = LiveState("seated", "right", 3, (2.0, 5.0), awaiting_start="Press Start.")
        await asyncio.wait_for(page.start_on_enter(TerminalLines(io.StringIO(""))), 2.0)
        return by_enter, page.start.is_set()

    assert asyncio.run(main()) == (True, False)


def test_one_dashboard_across_both_legs_keeps_the_summary_until_the_next_calibration(tmp_path: Path) -> None:
    exercise = get_exercise("seated-ir")
    chart = tmp_path / "session-7.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)

    async def main() -> list[object]:
        seen: list[object] = []
        async with DashboardServer(exercise) as dash, aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"ws://127.0.0.1:{dash.port}/ws")
            left = LiveState(exercise.name, "left", 3, (2.0, 5.0), leg=(1, 2), phase="exercise.end")
            url = dash.add_chart(7, chart)
            dash.update(left, summary={"reps": [], "chart_url": url})
            seen.append((await ws.receive_json())["summary"]["chart_url"])
            seen.append((await http.get(f"http://127.0.0.1:{dash.port}{url}")).status)
            seen.append((await http.get(f"http://127.0.0.1:{dash.port}/chart/8.png")).status)
            dash.new_leg(best_deg=31.5)
            right = LiveState(exercise.name, "right", 3, (2.0, 5.0), leg=(2, 2), awaiting_start="Right leg...")
            dash.update(right)
            msg = await ws.receive_json()
            seen.append((msg["summary"] is not None, msg["leg"], msg["best_deg"], msg["awaiting_start"]))
            right.awaiting_start, right.phase = None, "calibration.static"
            dash.update(right)
            seen.append((await ws.receive_json())["summary"])
            await ws.close()
        return seen

    url, got, missing, between, after = asyncio.run(main())
    assert url == "/chart/7.png" and got == 200 and missing == 404
    assert between == (True, {"number": 2, "total": 2, "side": "right"}, 31.5, {"prompt": "Right leg..."})
    assert after is None


def test_the_terminal_view_shows_each_sensor_the_start_prompt_and_the_best() -> None:
    exercise = get_exercise("seated-ir")
    state = LiveState(exercise.name, "left", 3, (2.0, 5.0), leg=(1, 2), awaiting_start="Left leg: sit.",
                      sensor_links=[ReplayedSensor(Segment.THIGH, "Nano 33 BLE", LinkStats(
                          connected=True, rate_hz=99.6, samples_lost=12, battery_percent=81)),
                          ReplayedSensor(Segment.SHIN, "Nano 33 BLE", LinkStats(connected=False))])
    assert sensors_line(state) == "thigh 100 Hz, lost 12, battery 81 % · shin reconnecting"
    out = io.StringIO()
    Console(file=out, width=120).print(render(state, exercise, best_deg=31.5))
    text = out.getvalue()
    assert "Left leg: sit. Then press Enter here (or Start on the page)." in text
    assert "(best 31.5°)" in text and "left leg (1 of 2)" in text


def test_a_persons_prescription_is_kept_and_used(tmp_path: Path, capsys: object) -> None:
    from tracker.cli import main as hiptrack
    from tracker.live_commands import person_prescription

    store = tmp_path / "p.sqlite3"
    assert hiptrack(["--store", str(store), "people", "ana", "--sides", "left", "--exercise", "seated-ir",
                     "--sets", "2", "--reps", "5", "--hold", "4"]) == 0
    assert hiptrack(["--store", str(store), "people", "ana", "--exercise", "seated-ir", "--reps", "0"]) == 1
    assert hiptrack(["--store", str(store), "people", "ana", "--exercise", "no-such-exercise", "--reps", "3"]) == 1
    with SessionStore.open(store) as s:
        ana = s.get_person("ana")
    assert ana.profile == {"sides": "left"}
    assert ana.prescriptions == {"seated-ir": {"sets": 2, "reps": 5, "hold_s": [4.0, 4.0]}}
    p = person_prescription(get_exercise("seated-ir"), store, "ana").prescription
    assert (p.sets, p.reps, p.hold_s) == (2, 5, (4.0, 4.0))
    assert person_prescription(get_exercise("seated-ir"), store, "ben").prescription == \
        get_exercise("seated-ir").prescription
