"""`hiptrack monitor` in headless Chromium: two simulated sessions publish their live state to one
mosquitto (tests/mosquitto.py); the monitor page lists both with their angles and rep counts updating
and the injected compensation's alert; the drill-down is the person's own dashboard page, with the dial,
the reps and, at the end, the summary, but no Stop, Pause or pain question (it only watches). No page
ever shows anything of the person but the pseudonymous id. Screenshots go to $HIPTRACK_ARTIFACTS (or
the test's tmp folder), as tests/test_dashboard_browser.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
from browser import BROWSER_ARGS, artifacts_dir, browser_or_skip
from mosquitto import Broker

from firmware_bridge.mqtt.settings import MqttSettings
from firmware_bridge.replay import replay
from firmware_bridge.simulator import simulate_session
from firmware_bridge.simulator.exercises import Compensation, CompensationKind
from imu_core.frames import Side
from tracker.dashboard.feed import LiveFeed
from tracker.dashboard.messages import summary_message
from tracker.dashboard.server import DashboardServer
from tracker.exercises import get_exercise
from tracker.monitor.server import MonitorServer
from tracker.mqtt_publish import LiveStatePublisher
from tracker.pipeline import SessionPipeline
from tracker.session import LiveState, run_live_session
from tracker.store import SessionStore

PERSON = "Alice Example"
"""The name the sessions are stored under: it must appear on no page."""
IDS = ("ht-a1b2c3", "ht-d4e5f6")


async def simulated_session(settings: MqttSettings, pid: str, side: Side, seed: int, store_path: Path,
                            compensate: bool, speed: float) -> int:
    """A demo-like session (replayed in real time x speed) that publishes its live state; returns its reps."""
    exercise = get_exercise("seated-ir")
    sim = simulate_session(seed=seed, side=side, reps=4, compensations=[
        Compensation(CompensationKind.THIGH_DRIFT, 2)] if compensate else [])
    with SessionStore.open(store_path) as store:
        sid = store.create_session(exercise.id, side, "demo", 100.0, sim.recording.sensors_info, person=PERSON)
        pipe = SessionPipeline(exercise, side, 100.0)
        state = LiveState(exercise.name, side.value, 4, exercise.prescription.hold_s)
        async with LiveStatePublisher(settings, pid, exercise, side.value, sets=1, reps_per_set=4) as pub:
            result = await run_live_session(replay(sim.recording, speed=speed), pipe, store, sid, state,
                                            lambda st, news: pub.update(st, news))
            pub.update(state, summary=summary_message(result, pipe.engine.details(), chart_url=f"/chart/{sid}.png"))
        return len(result.reps)


def test_monitor_lists_two_people_and_drills_down(tmp_path: Path) -> None:
    chromium = browser_or_skip()
    from playwright.async_api import async_playwright

    artifacts = artifacts_dir(tmp_path)
    seen: dict[str, Any] = {}
    page_errors: list[str] = []
    card = "#people a[data-id='{}']"

    async def main() -> list[int]:
        with Broker() as broker:
            settings = MqttSettings.from_url(broker.url)
            async with MonitorServer(settings) as monitor, async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=BROWSER_ARGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                page.on("pageerror", lambda e: page_errors.append(str(e)))
                await page.goto(monitor.url)
                await page.wait_for_selector("#empty:not([hidden])")
                await page.screenshot(path=str(artifacts / "monitor-1-empty.png"))

                sessions = asyncio.gather(
                    simulated_session(settings, IDS[0], Side.LEFT, 21, tmp_path / "a.sqlite3", True, 3.0),
                    simulated_session(settings, IDS[1], Side.RIGHT, 22, tmp_path / "b.sqlite3", False, 3.0))

                async def text(selector: str) -> str:
                    return await page.text_content(selector) or ""

                async def angles() -> list[str]:
                    return [await text(f"{card.format(i)} .angle") for i in IDS]

                await page.wait_for_selector(card.format(IDS[0]), timeout=30_000)
                await page.wait_for_selector(card.format(IDS[1]), timeout=30_000)

                async def moment(condition: str, name: str) -> None:
                    seen[name] = await (await page.wait_for_function(condition, timeout=60_000)).json_value()
                    await page.screenshot(path=str(artifacts / f"{name}.png"))

                # watched from now on, while the angles are sampled: an alert lasts a few seconds only
                moments = asyncio.gather(
                    moment(f"() => {{ const t = document.querySelector(\"{card.format(IDS[0])} .alerts\").textContent;"
                           " return t.includes('knee') && t; }", "monitor-3-alert"),
                    moment("() => { const t = [...document.querySelectorAll('#people .reps')]"
                           ".map((e) => e.textContent); return t.every((x) => !x.startsWith('0 clean')) && t; }",
                           "monitor-4-reps"))
                # once both are calibrated (sooner or later with the machine's load), the angles move:
                # sample them over a few seconds
                await page.wait_for_function(
                    "() => { const a = [...document.querySelectorAll('#people .angle')];"
                    " return a.length === 2 && a.every((e) => /[0-9]/.test(e.textContent)); }", timeout=30_000)
                samples = []
                for _ in range(12):
                    samples.append(await angles())
                    await asyncio.sleep(0.5)
                seen["angles"] = samples
                await page.screenshot(path=str(artifacts / "monitor-2-two-people.png"))
                await moments

                # the drill-down: a click on the first card opens that person's own dashboard page
                await page.click(card.format(IDS[0]))
                await page.wait_for_selector("#dial")
                seen["drill_url"] = page.url
                seen["rotating"] = await (await page.wait_for_function(
                    "() => { const t = document.querySelector('#angle').textContent;"
                    " return parseFloat(t) > 10 && t; }", timeout=60_000)).json_value()
                await page.wait_for_function("() => document.querySelector('#trace').width > 0")
                await page.screenshot(path=str(artifacts / "monitor-5-drill-down.png"))
                await page.wait_for_function("() => /[1-9] clean/.test(document.querySelector('#reps').textContent)",
                                             timeout=60_000)
                seen["drill_reps"] = await text("#reps")
                seen["drill_controls"] = [await page.is_visible(c) for c in ("#stop", "#pause", "#pain")]
                seen["drill_title"] = await text("header")
                reps = list(await sessions)
                await page.wait_for_selector("#summary:not([hidden])", timeout=20_000)
                seen["drill_summary"] = await text("#summary")
                seen["drill_page"] = await page.content()
                await page.screenshot(path=str(artifacts / "monitor-6-drill-down-summary.png"), full_page=True)

                await page.go_back()
                await page.wait_for_function(
                    "() => [...document.querySelectorAll('#people .badge')].every((b) => b.textContent === 'finished')",
                    timeout=20_000)
                seen["final_cards"] = [await text(card.format(i)) for i in IDS]
                seen["monitor_page"] = await page.content()
                await page.screenshot(path=str(artifacts / "monitor-7-finished.png"))
                await browser.close()

                async with aiohttp.ClientSession() as http:  # a page from another host would need the token
                    forbidden = await http.get(monitor.url + "?s=nobody")
                    seen["unknown_ws"] = (await http.get(monitor.url.rstrip("/") + "/ws?s=ht-nobody")).status
                    seen["index"] = forbidden.status
                seen["missed"] = {p.sid: p.states_missed for p in monitor.roster.people.values()}
                seen["bad"] = monitor.roster.bad_messages
        return reps

    reps = asyncio.run(main())
    assert reps == [4, 4]
    for i in range(2):  # each person's angle changed while watched
        assert len({s[i] for s in seen["angles"]}) > 3, seen["angles"]
    assert "Keep your knee still" in seen["monitor-3-alert"]
    assert all("clean" in t for t in seen["monitor-4-reps"])
    assert seen["drill_url"].endswith(f"/?s={IDS[0]}")
    assert "°" in seen["rotating"]
    assert "clean" in seen["drill_reps"] and "Seated" in seen["drill_title"]
    assert seen["drill_controls"] == [False, False, False]  # watch-only: no Stop, Pause or pain question
    assert seen["drill_summary"].count("clean") >= 3  # 4 reps, one with the knee drifting
    assert "3 clean" in seen["final_cards"][0] and "1 with comp." in seen["final_cards"][0], seen["final_cards"]
    assert "4 clean" in seen["final_cards"][1] and "0 with comp." in seen["final_cards"][1], seen["final_cards"]
    for html in (seen["drill_page"], seen["monitor_page"]):
        assert "Alice" not in html and "Example" not in html and "/chart/" not in html
    assert seen["unknown_ws"] == 404 and seen["index"] == 200
    assert seen["bad"] == 0
    assert page_errors == []
    for name in ("monitor-1-empty", "monitor-2-two-people", "monitor-3-alert", "monitor-4-reps",
                 "monitor-5-drill-down", "monitor-6-drill-down-summary", "monitor-7-finished"):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000


def test_monitor_needs_its_token_only_watches_and_ignores_bad_messages() -> None:
    """Served on another address, the monitor wants its token; a drill-down page's commands are refused;
    messages that do not parse are counted and change nothing; a session's last will turns it offline; a
    retained session that ended long ago is not listed."""
    prefix = "hiptrack/v1/session"
    state = {"type": "state", "seq": 1, "t": 12.5, "angle_deg": 21.0, "side": "left",
             "exercise": {"id": "seated-ir", "name": "Seated hip internal rotation", "measure": "hip_ir_deg"},
             "reps": {"clean": 2, "with_compensation": 1, "target": 8}, "set": {"number": 1, "total": 2},
             "alerts": [{"kind": "thigh_drift", "message": "Keep your knee still."}], "finished": False}

    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        with Broker() as broker:
            settings = MqttSettings.from_url(broker.url)
            async with MonitorServer(settings, host="0.0.0.0") as monitor, aiohttp.ClientSession() as http, \
                    aiomqtt.Client(broker.host, broker.port) as raw:
                assert monitor.token and f"token={monitor.token}" in monitor.url
                base = f"http://127.0.0.1:{monitor.port}"
                for _ in range(100):
                    if monitor.broker_connected:
                        break
                    await asyncio.sleep(0.05)
                await raw.publish(f"{prefix}/ht-old/info", json.dumps(
                    {"state": "finished", "exercise": "seated-ir", "started": "2020-01-01T08:00:00+00:00"}),
                    qos=1, retain=True)
                await raw.publish(f"{prefix}/ht-live/info", json.dumps(
                    {"state": "live", "exercise": "seated-ir", "side": "left",
                     "started": "2030-01-01T08:00:00+00:00"}), qos=1, retain=True)
                await raw.publish(f"{prefix}/ht-live/state", json.dumps(state), qos=1)
                for bad in (b"not json", b"[1, 2]", json.dumps({**state, "alerts": "boom"}).encode(),
                            json.dumps({"kind": 3}).encode()):
                    await raw.publish(f"{prefix}/ht-bad/{'event' if b'kind' in bad else 'state'}", bad, qos=1)
                await asyncio.sleep(0.5)
                seen["rows"] = monitor.roster.rows()
                seen["bad"] = monitor.roster.bad_messages
                seen["no_token"] = (await http.get(base + "/")).status
                seen["no_token_ws"] = (await http.get(base + "/ws?s=ht-live")).status
                seen["page"] = (await http.get(monitor.url)).status
                seen["static"] = (await http.get(f"{base}/static/monitor.js")).status
                ws = await http.ws_connect(f"{base}/ws?s=ht-live&token={monitor.token}")
                first = await ws.receive_json(timeout=5)
                seen["drill"] = first
                await ws.send_str(json.dumps({"type": "command", "command": "stop"}))
                while (reply := await ws.receive_json(timeout=5))["type"] == "state":
                    pass
                seen["reply"] = reply
                await ws.close()
                # the session's process vanishes: its last will, retained, says offline
                await raw.publish(f"{prefix}/ht-live/info", json.dumps({"state": "offline"}), qos=1, retain=True)
                await asyncio.sleep(0.3)
                seen["after_will"] = monitor.roster.rows()
        return seen

    seen = asyncio.run(main())
    rows = seen["rows"]
    assert [r["id"] for r in rows] == ["ht-live"]  # not the old one, not the unreadable one
    row = rows[0]
    assert row["status"] == "live" and row["angle_deg"] == 21.0 and row["alerts"] == ["Keep your knee still."]
    assert row["reps"]["clean"] == 2 and row["reps"]["with_compensation"] == 1
    assert seen["bad"] == 4
    assert seen["no_token"] == 403 and seen["no_token_ws"] == 403
    assert seen["page"] == 200 and seen["static"] == 200
    drill = seen["drill"]
    assert drill["type"] == "state" and drill["angle_deg"] == 21.0 and drill["trace"]["deg"] == [21.0]
    assert drill["watch_only"] is True
    assert seen["reply"]["type"] == "error" and "only watches" in seen["reply"]["message"]
    after = seen["after_will"][0]
    assert after["status"] == "offline" and after["exercise"]["id"] == "seated-ir"


def test_a_watch_only_page_shows_the_start_prompt_but_no_controls(tmp_path: Path) -> None:
    """A snapshot marked watch_only (as the monitor's drill-down is): the person waiting for Start is
    shown, but without the Start button, Pause or Stop, and Enter on the page sends nothing."""
    chromium = browser_or_skip()
    from playwright.async_api import async_playwright

    exercise = get_exercise("seated-ir")
    feed = LiveFeed(exercise)
    state = LiveState(exercise.name, "left", 8, exercise.prescription.hold_s)
    state.awaiting_start = "Sensors on this leg, then get into position."
    state.can_pause = True
    feed.update(state)
    assert feed.snapshot is not None
    commands: list[str] = []

    async def main() -> dict[str, Any]:
        async with DashboardServer(None, on_command=lambda c: commands.append(c.command) or None) as page_server, \
                async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=BROWSER_ARGS)
            page = await browser.new_page()
            await page.goto(page_server.url)
            page_server.publish({**feed.snapshot, "watch_only": True})
            await page.wait_for_selector("#start:not([hidden])")
            seen = {c: await page.is_visible(c) for c in ("#start-prompt", "#start-button", "#pause", "#stop")}
            await page.keyboard.press("Enter")
            await asyncio.sleep(0.3)
            await browser.close()
        return seen

    seen = asyncio.run(main())
    assert seen == {"#start-prompt": True, "#start-button": False, "#pause": False, "#stop": False}
    assert commands == []
