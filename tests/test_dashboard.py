"""The dashboard server against a live simulated session, with real WebSocket clients on 127.0.0.1."""

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from firmware_bridge.replay import merged_events, replay
from firmware_bridge.simulator import simulate_session
from firmware_bridge.simulator.exercises import Compensation, CompensationKind
from imu_core.frames import Side
from tracker.dashboard.feed import LiveFeed
from tracker.dashboard.messages import CommandError, parse_command, state_message
from tracker.dashboard.server import DashboardServer, is_loopback
from tracker.exercises import get_exercise
from tracker.pipeline import SessionPipeline
from tracker.session import LiveState, apply_update, run_live_session
from tracker.store import SessionStore


async def collect(ws: aiohttp.ClientWebSocketResponse, into: list[dict[str, Any]]) -> None:
    async for msg in ws:
        if msg.type is aiohttp.WSMsgType.TEXT:
            into.append(json.loads(msg.data))


def test_live_session_on_two_pages_with_bad_messages_and_a_page_closed(tmp_path: Path) -> None:
    exercise = get_exercise("seated-ir")
    sim = simulate_session(seed=5, side=Side.LEFT, reps=3,
                           compensations=[Compensation(CompensationKind.THIGH_DRIFT, 2)])
    received_a: list[dict[str, Any]] = []
    received_b: list[dict[str, Any]] = []

    async def main() -> tuple[int, int]:
        with SessionStore.open(tmp_path / "s.sqlite3") as store:
            sid = store.create_session(exercise.id, sim.side, "demo", 100.0, sim.recording.sensors_info)
            pipe = SessionPipeline(exercise, sim.side, 100.0)
            state = LiveState(exercise.name, sim.side.value, 3, exercise.prescription.hold_s)
            async with DashboardServer(exercise) as dash, aiohttp.ClientSession() as http:
                assert dash.url.startswith("http://127.0.0.1:") and dash.port > 0
                page = await http.get(dash.url)
                assert page.status == 200 and "<html" in (await page.text()).lower()
                a = await http.ws_connect(dash.url.replace("http", "ws").rstrip("/") + "/ws")
                b = await http.ws_connect(dash.url.replace("http", "ws").rstrip("/") + "/ws")
                ta = asyncio.create_task(collect(a, received_a))
                tb = asyncio.create_task(collect(b, received_b))
                await a.send_str("not json")
                await a.send_str(json.dumps({"type": "command", "command": "dance"}))
                await a.send_str(json.dumps({"type": "command", "command": "pain", "set": 1, "value": 11}))

                async def close_b_midway() -> None:
                    while len(state.reps) < 1:
                        await asyncio.sleep(0.05)
                    await b.close()

                closer = asyncio.create_task(close_b_midway())
                result = await run_live_session(replay(sim.recording, speed=40.0), pipe, store, sid, state,
                                                lambda st, news: dash.update(st, news))
                dash.update(state, summary={"reps": len(result.reps)})
                await asyncio.sleep(0.3)
                await closer
                await a.close()
                await asyncio.gather(ta, tb)
                rejected = dash.commands_rejected
            return len(result.reps), rejected

    reps, rejected = asyncio.run(main())
    assert reps == 3
    assert rejected == 3
    errors = [m for m in received_a if m["type"] == "error"]
    assert len(errors) == 3 and "not JSON" in errors[0]["message"] and "unknown command" in errors[1]["message"]
    states = [m for m in received_a if m["type"] == "state"]
    # the angle moves, the rep count rises, the alert shows, the session ends with its summary
    angles = [s["angle_deg"] for s in states if s["angle_deg"] is not None]
    assert max(angles) > 15.0 and min(angles) < 5.0
    counts = [s["reps"]["clean"] + s["reps"]["with_compensation"] for s in states]
    assert counts == sorted(counts) and counts[-1] == 3
    assert any(a["kind"] == "thigh_drift" for s in states for a in s["alerts"])
    assert states[-1]["finished"] and states[-1]["summary"] == {"reps": 3}
    assert [s["seq"] for s in states] == sorted({s["seq"] for s in states})  # newest only, never repeated
    events = [e for s in states for e in s["events"]]
    assert [e["kind"] for e in events].count("rep") == 3
    assert any(e["kind"] == "compensation" for e in events) and any(e["kind"] == "hold_complete" for e in events)
    # the second page saw the same live state while it was open, and closing it stopped nothing
    states_b = [m for m in received_b if m["type"] == "state"]
    assert [s["seq"] for s in states_b] == sorted({s["seq"] for s in states_b})
    by_seq = {s["seq"]: s for s in states}
    shared = [s for s in states_b if s["seq"] in by_seq]
    assert len(states_b) > 10 and shared  # both pages are paced on their own, so they share some frames
    for s in shared:  # the same snapshot, whichever page it went to (events differ: each page gets its own)
        assert {**s, "events": None} == {**by_seq[s["seq"]], "events": None}
    assert max(s["angle_deg"] or 0.0 for s in states_b) > 15.0  # it was closed after the first rep


def test_snapshots_are_made_when_asked_for_as_their_update_would_have(monkeypatch: pytest.MonkeyPatch) -> None:
    """A feed makes a snapshot only when one is asked for (at most once per update; the page gets a few dozen
    a second, the session updates hundreds of times), and the one it makes is its update's: the same as a
    feed asked after every update, across reps, alerts, a summary, the next leg and a new best."""
    made = [0]
    make = state_message

    def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        made[0] += 1
        return make(*args, **kwargs)

    monkeypatch.setattr("tracker.dashboard.feed.state_message", counted)
    exercise = get_exercise("seated-ir")
    sim = simulate_session(seed=5, side=Side.LEFT, reps=3,
                           compensations=[Compensation(CompensationKind.THIGH_DRIFT, 2)])
    events = merged_events(sim.recording)
    asked_each, asked_now_and_then = LiveFeed(exercise), LiveFeed(exercise)
    dash = DashboardServer(exercise)
    asked = compared = 0
    for leg in range(2):
        pipe = SessionPipeline(exercise, sim.side, 100.0)
        state = LiveState(exercise.name, sim.side.value, 3, exercise.prescription.hold_s, leg=(leg + 1, 2))
        events_seen: list[list[dict[str, str]]] = [[], []]
        for i in range(0, len(events), 4):
            news = apply_update(state, pipe, pipe.feed(events[i:i + 4]))
            summary = {"reps": len(state.reps)} if i + 4 >= len(events) else None
            for k, feed in enumerate((asked_each, asked_now_and_then)):
                events_seen[k] += feed.update(state, news, summary=summary)
            dash.update(state, news, summary=summary)
            assert asked_each.snapshot is not None
            asked += 1
            if i % 388 == 0 or summary is not None:
                assert asked_now_and_then.snapshot == asked_each.snapshot
                compared += 1
        assert events_seen[0] == events_seen[1] and [e["kind"] for e in events_seen[0]].count("rep") == 3
        assert any(e["kind"] == "compensation" for e in events_seen[0])
        for consumer in (asked_each, asked_now_and_then, dash):
            consumer.best_deg = 40.0  # after the leg's last update: not in its snapshot
            consumer.new_leg(best_deg=35.0)
        assert asked_now_and_then.snapshot == asked_each.snapshot
        assert asked_each.snapshot is not None and asked_each.snapshot["best_deg"] == (None, 35.0)[leg]
        assert asked_each.snapshot["summary"] == {"reps": 3} and asked_each.snapshot["trace"]["t"]
    # one per update asked about, none for the others; none for the dashboard, which no page has asked
    assert compared > 10 and made[0] == asked + compared
    # its newest is made when a page is sent it, numbered as the dashboard numbers them
    newest, reference = dash.newest_snapshot(), asked_each.snapshot
    assert reference is not None and newest == {**reference, "seq": dash.snapshots} and dash.snapshots == asked
    assert made[0] == asked + compared + 1


def test_commands_are_validated() -> None:
    for name in ("stop", "pause", "resume"):
        assert parse_command(json.dumps({"type": "command", "command": name})).command == name
    pain = parse_command('{"type": "command", "command": "pain", "set": 2, "value": 0}')
    assert (pain.command, pain.set_no, pain.value) == ("pain", 2, 0)
    skipped = parse_command('{"type": "command", "command": "pain", "set": 2, "value": null}')
    assert (skipped.set_no, skipped.value) == (2, None)
    for bad in ('{"type": "command", "command": "pain", "set": 0, "value": 3}',
                '{"type": "command", "command": "pain", "set": 1, "value": true}',
                '{"type": "state"}', "[]", "x" * 5000):
        with pytest.raises(CommandError):
            parse_command(bad)


def test_any_other_address_needs_the_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    exercise = get_exercise("seated-ir")

    async def main() -> tuple[int, int, int]:
        async with DashboardServer(exercise, host="0.0.0.0") as dash, aiohttp.ClientSession() as http:
            assert dash.token and f"token={dash.token}" in dash.url
            base = f"http://127.0.0.1:{dash.port}/"
            without = (await http.get(base)).status
            wrong = (await http.get(base + "?token=nope")).status
            right = (await http.get(dash.url)).status
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await http.ws_connect(f"ws://127.0.0.1:{dash.port}/ws")
            return without, wrong, right

    assert asyncio.run(main()) == (403, 403, 200)


def test_the_dashboard_links_to_the_persons_sessions_reports_and_progress(tmp_path: Path) -> None:
    from tracker.dashboard.history import History
    from tracker.offline import analyse_recording_in_detail

    store_path = tmp_path / "h.sqlite3"
    sim = simulate_session(seed=8, side=Side.LEFT, reps=2)
    with SessionStore.open(store_path) as store:
        mine = store.store_recording(sim.recording, "live", person="ana")
        result, _, _, details = analyse_recording_in_detail(sim.recording)
        store.save_analysis(mine, result)
        store.save_details(mine, details)
        store.add_pain(mine, 1, 3)
        store.commit()
        theirs = store.store_recording(sim.recording, "live", person="ben")

    async def main() -> dict[str, tuple[int, str]]:
        got: dict[str, tuple[int, str]] = {}
        async with DashboardServer(get_exercise("seated-ir"), host="0.0.0.0",
                                   history=History(store_path, "ana")) as dash, aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{dash.port}"
            q = f"?token={dash.token}"
            for name, path in (("history", f"/history{q}"), ("report", f"/report/{mine}.html{q}"),
                               ("other", f"/report/{theirs}.html{q}"), ("progress", f"/progress.html{q}"),
                               ("no token", f"/report/{mine}.html")):
                async with http.get(base + path) as r:
                    got[name] = (r.status, await r.text())
        return got

    got = asyncio.run(main())
    status, page = got["history"]
    assert status == 200 and f"/report/{mine}.html?token=" in page and f"/report/{theirs}.html" not in page
    status, page = got["report"]
    assert status == 200 and "Seated hip internal rotation" in page and "<img" in page
    assert got["other"][0] == 404  # another person's session is not shown here
    status, page = got["progress"]
    assert status == 200 and "ana" in page
    assert got["no token"][0] == 403
