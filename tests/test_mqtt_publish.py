"""`--mqtt URL` on a live session: tracker/mqtt_publish.py against a real mosquitto (tests/mosquitto.py).

A simulated session runs through run_live_session with the publisher beside a reference dashboard fed
the same states; a raw aiomqtt subscriber sees info retained and live, state at most 10 times a second,
every event the dashboard derived (reps, the compensation, set done) in the same order, the summary
retained, and info finished at the end. A process killed while publishing leaves info offline (its last
will). A broker that is not there never slows the session, and events beyond the bound are dropped
oldest first and counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from mosquitto import Broker, free_port

from firmware_bridge.errors import MqttConnectionError
from firmware_bridge.mqtt.settings import MqttSettings
from firmware_bridge.replay import replay
from firmware_bridge.simulator import simulate_session
from firmware_bridge.simulator.exercises import Compensation, CompensationKind
from imu_core.frames import Side
from tracker.dashboard.feed import LiveFeed
from tracker.dashboard.messages import summary_message
from tracker.exercises import get_exercise
from tracker.mqtt_publish import LiveStatePublisher
from tracker.pipeline import SessionPipeline
from tracker.session import LiveState, run_live_session
from tracker.store import SessionStore

ROOT = Path(__file__).resolve().parent.parent
PID = "ht-test01"


class Received:
    """Messages of one subscriber: (wall time received, topic kind, payload, retained)."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, str, dict[str, Any], bool]] = []

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [p for _, k, p, _ in self.messages if k == kind]

    def times(self, kind: str) -> list[float]:
        return [w for w, k, _, _ in self.messages if k == kind]


async def subscribe(broker: Broker, sid: str, into: Received, ready: asyncio.Event) -> None:
    """A plain aiomqtt subscriber to `hiptrack/v1/session/{sid}/#` (as a second screen would be)."""
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(f"hiptrack/v1/session/{sid}/#", qos=1)
        ready.set()
        async for msg in client.messages:
            kind = str(msg.topic).split("/")[-1]
            assert str(msg.topic) == f"hiptrack/v1/session/{sid}/{kind}"
            assert isinstance(msg.payload, bytes)
            if not msg.payload:  # a retained message cleared
                into.messages.append((time.monotonic(), f"{kind} cleared", {}, bool(msg.retain)))
                continue
            into.messages.append((time.monotonic(), kind, json.loads(msg.payload), bool(msg.retain)))


async def retained(broker: Broker, sid: str, wait_s: float = 1.0) -> dict[str, dict[str, Any]]:
    """What a subscriber that connects now is given at once (the retained messages)."""
    got: dict[str, dict[str, Any]] = {}
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(f"hiptrack/v1/session/{sid}/#", qos=1)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(wait_s):
                async for msg in client.messages:
                    assert msg.retain and isinstance(msg.payload, bytes)
                    got[str(msg.topic).split("/")[-1]] = json.loads(msg.payload)
    return got


def test_a_live_session_publishes_info_state_events_and_summary(tmp_path: Path) -> None:
    exercise = get_exercise("seated-ir")
    sim = simulate_session(seed=5, side=Side.LEFT, reps=3,
                           compensations=[Compensation(CompensationKind.THIGH_DRIFT, 2)])
    got = Received()
    dashboard_events: list[dict[str, str]] = []

    async def main() -> tuple[LiveStatePublisher, dict[str, dict[str, Any]], float]:
        with Broker() as broker, SessionStore.open(tmp_path / "s.sqlite3") as store:
            settings = MqttSettings.from_url(broker.url)
            ready = asyncio.Event()
            listener = asyncio.create_task(subscribe(broker, PID, got, ready))
            await ready.wait()
            sid = store.create_session(exercise.id, sim.side, "demo", 100.0, sim.recording.sensors_info)
            pipe = SessionPipeline(exercise, sim.side, 100.0)
            state = LiveState(exercise.name, sim.side.value, 3, exercise.prescription.hold_s)
            feed = LiveFeed(exercise)  # what feeds the person's page: what it derives is the reference
            async with LiveStatePublisher(settings, PID, exercise, sim.side.value, sets=1, reps_per_set=3) as pub:

                def on_change(st: LiveState, news: list[str]) -> None:
                    dashboard_events.extend(feed.update(st, news))
                    pub.update(st, news)

                t0 = time.monotonic()
                result = await run_live_session(replay(sim.recording, speed=5.0), pipe, store, sid, state,
                                                on_change)
                took = time.monotonic() - t0
                summary = summary_message(result, pipe.engine.details(), chart_url="/chart/1.png",
                                          report_url="/report/1.html")
                dashboard_events.extend(feed.update(state, summary=summary))
                pub.update(state, summary=summary)
            await asyncio.sleep(0.5)
            listener.cancel()
            late = await retained(broker, PID)
        return pub, late, took

    pub, late, took = asyncio.run(main())
    duration = sim.recording.merged_samples()[-1].t / 5.0
    assert took < duration + 2.0  # the publisher did not slow the session

    infos = got.of("info")
    assert infos[0]["state"] == "live" and infos[-1]["state"] == "finished"
    assert infos[0] | {"state": "finished"} == infos[-1]
    assert {k: infos[0][k] for k in ("exercise", "exercise_name", "side", "sets", "reps_per_set")} == {
        "exercise": "seated-ir", "exercise_name": exercise.name, "side": "left", "sets": 1, "reps_per_set": 3}
    assert "started" in infos[0]

    # state: the dashboard's snapshot without trace and events, numbered, at most 10 a second
    states = got.of("state")
    assert len(states) > 5 * duration  # about 10 a second for the whole session
    assert [s["seq"] for s in states] == list(range(1, len(states) + 1))  # none lost on a local broker
    assert all("trace" not in s and "events" not in s and s["type"] == "state" for s in states)
    when = got.times("state")
    assert all(when[i + 10] - when[i] >= 0.95 for i in range(len(when) - 10)), "more than 10 states a second"
    assert pub.states_skipped > 0  # the session updated far more often: newest wins
    counts = [s["reps"]["clean"] + s["reps"]["with_compensation"] for s in states]
    assert counts == sorted(counts) and counts[-1] == 3
    assert max(s["angle_deg"] or 0.0 for s in states) > 15.0
    assert any(a["kind"] == "thigh_drift" for s in states for a in s["alerts"])
    assert states[-1]["finished"] is True

    # events: every one the dashboard derived, in its order, each with its session time
    events = got.of("event")
    assert [(e["kind"], e["text"]) for e in events] == [(e["kind"], e["text"]) for e in dashboard_events]
    kinds = [e["kind"] for e in events]
    assert kinds.count("rep") == 3 and "compensation" in kinds and kinds[-1] == "set_done"
    assert kinds.index("calibrated") < kinds.index("rep") < kinds.index("compensation") < kinds.index("set_done")
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)
    assert pub.events_published == len(events) and pub.events_dropped == 0

    # the summary: retained, as the dashboard's but without the local links
    summaries = got.of("summary")
    assert len(summaries) == 1 and len(summaries[0]["reps"]) == 3
    assert summaries[0]["chart_url"] is None and summaries[0]["report_url"] is None
    assert late["summary"] == summaries[0]
    assert late["info"]["state"] == "finished"
    assert set(late) == {"info", "summary"}  # state and events are not retained

    # nothing in any payload names the person or the store's session
    assert all("/chart/" not in json.dumps(p) and "/report/" not in json.dumps(p) for _, _, p, _ in got.messages)


CHILD = textwrap.dedent("""
    import asyncio, sys
    from firmware_bridge.mqtt.settings import MqttSettings
    from tracker.exercises import get_exercise
    from tracker.mqtt_publish import LiveStatePublisher
    from tracker.session import LiveState

    async def main(url, pid):
        exercise = get_exercise("seated-ir")
        state = LiveState(exercise.name, "right", 8, exercise.prescription.hold_s)
        async with LiveStatePublisher(MqttSettings.from_url(url), pid, exercise, "right") as pub:
            while True:
                state.t += 0.05
                state.hip_ir_deg = 10.0
                pub.update(state, [])
                if pub.states_published:
                    print("publishing", flush=True)
                await asyncio.sleep(0.05)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
""")


def test_a_killed_session_leaves_info_offline(tmp_path: Path) -> None:
    got = Received()

    async def main() -> None:
        with Broker() as broker:
            ready = asyncio.Event()
            listener = asyncio.create_task(subscribe(broker, "ht-killed", got, ready))
            await ready.wait()
            child = subprocess.Popen([sys.executable, "-c", CHILD, broker.url, "ht-killed"], cwd=ROOT,
                                     stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
            try:
                assert child.stdout is not None
                line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 30.0)
                assert line.strip() == b"publishing"
                await asyncio.sleep(0.3)
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait(10.0)
                if child.stdout is not None:
                    child.stdout.close()
            for _ in range(100):  # the broker sees the connection drop and publishes the will
                if got.of("info") and got.of("info")[-1]["state"] == "offline":
                    break
                await asyncio.sleep(0.05)
            listener.cancel()
            late = await retained(broker, "ht-killed")
            assert late["info"] == {"state": "offline"}

    asyncio.run(main())
    infos = got.of("info")
    assert infos[0]["state"] == "live" and infos[-1] == {"state": "offline"}
    assert got.of("state")  # it was publishing when killed


def test_no_broker_never_slows_the_session_and_events_are_bounded(tmp_path: Path) -> None:
    """A broker that is not there: the session runs at its own pace; the publisher keeps retrying, and
    of the events it holds it drops the oldest beyond its bound (counted)."""
    exercise = get_exercise("seated-ir")
    sim = simulate_session(seed=5, side=Side.LEFT, reps=3)
    settings = MqttSettings.from_url(f"mqtt://127.0.0.1:{free_port()}")

    async def main() -> tuple[LiveStatePublisher, float, float]:
        with SessionStore.open(tmp_path / "s.sqlite3") as store:
            sid = store.create_session(exercise.id, sim.side, "demo", 100.0, sim.recording.sensors_info)
            pipe = SessionPipeline(exercise, sim.side, 100.0)
            state = LiveState(exercise.name, sim.side.value, 3, exercise.prescription.hold_s)
            pub = LiveStatePublisher(settings, PID, exercise, "left", max_events=3, drain_timeout_s=0.5)
            async with pub:
                t0 = time.monotonic()
                await run_live_session(replay(sim.recording, speed=0.0), pipe, store, sid, state,
                                       lambda st, news: pub.update(st, news))
                took = time.monotonic() - t0
            t1 = time.monotonic()
        return pub, took, time.monotonic() - t1

    pub, took, closing = asyncio.run(main())
    assert took < 30.0
    assert closing < 1.5  # leaving waits at most drain_timeout_s for a broker that is not there
    assert pub.connections == 0 and pub.events_published == 0
    assert pub.events_dropped >= 3  # calibrated, phases, 3 reps, set done: more than 3, the oldest dropped


def test_a_refused_login_is_said_once_and_the_session_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrong password: the broker refuses; retrying cannot help, so the publisher stops trying (the
    session is not affected) and says why."""
    exercise = get_exercise("seated-ir")
    monkeypatch.setenv("HIPTRACK_MQTT_PASSWORD", "wrong")

    async def main() -> LiveStatePublisher:
        with Broker(users={"clinic": "right"}) as broker:
            settings = MqttSettings.from_url(broker.url, user="clinic")
            state = LiveState(exercise.name, "left", 8, exercise.prescription.hold_s)
            async with LiveStatePublisher(settings, PID, exercise, "left") as pub:
                for i in range(40):
                    state.t = i * 0.05
                    pub.update(state, [])
                    await asyncio.sleep(0.05)
            return pub

    pub = asyncio.run(main())
    assert isinstance(pub.failure, MqttConnectionError) and not pub.failure.retryable
    assert "refused" in str(pub.failure) and pub.connections == 0 and pub.states_published == 0
