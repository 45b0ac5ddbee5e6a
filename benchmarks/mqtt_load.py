"""MQTT load: N simulated bridges -> one mosquitto -> N live sessions -> one monitor, in real time.

    .venv/bin/python benchmarks/mqtt_load.py [--bridges 20] [--seconds 60] [--workers 2] [--sweep 10,20,30]

Each bridge is `firmware_bridge.mqtt.bridge` publishing a simulated person (thigh and shin at 100 Hz, a
batch per sensor every 50 ms, QoS 1). Each live session is what `hiptrack run --source mqtt` runs: the
bridge's `MqttSensorLink`s, the guide, the pipeline and the store, with `--mqtt` publishing its live
state (`tracker.mqtt_publish.LiveStatePublisher`, at most 10 states a second). One `hiptrack monitor`
(`tracker.monitor.server.MonitorServer`) reads every session, with one page open on its list (a
WebSocket client; no browser). Processes: the bridges in one, the sessions spread over `--workers`,
the monitor in this one, and mosquitto: all on this machine, sharing its cores.

Latency, measured end to end on the one monotonic clock all processes share:

- *publish -> monitor*: from the bridge handing the batch that holds a sample to its MQTT client, to
  the monitor having taken the first state message whose newest sample is that one or a later one.
  Each session reports, per published state, the exact time of its newest sample (`on_publish`; the
  published `t` is rounded to 10 ms), mapped back to the bridge's clock with the link's own
  `BridgeClock` (its offset: the smallest delay seen); each bridge logs when it handed each batch over
  (`_publish`, timed here).
- *sample -> monitor*: from the sample's own time at the bridge (when the simulated sensor delivered it)
  to the same moment; it adds the bridge's 50 ms batching and the sensor's 20 ms notifications.

Both include the state's wait for its 10 Hz slot (up to 100 ms), which is by design. The people start
one after another over `--stagger` s (10), as they would in a clinic: started all at once, every session
of a process calibrates in the same second and the backlog shows as seconds of latency. Percentiles are
over every state the monitor took in the measured window (from 5 s after the last bridge started). Loss:
samples the sessions never received (their links' `broker` gaps) and samples dropped by a session's
queue; state messages the monitor missed (gaps in their `seq`; QoS 0); events published by the sessions
but not seen by the monitor (QoS 1). Event-loop lag: how late each process's loop woke for a 50 ms
timer. CPU: each process's user + system time over the window, as % of one core (so 100 % per core),
and the whole machine's busy time, other processes included: anything else running on the machine
competes for the same cores and shows there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

WARMUP_S = 5.0
BRIDGES_AFTER_S = 3.0
"""The bridges stream on this long after the sessions stop (so the sessions end on live data)."""
LEAD_S = 0.2
"""The sessions start this long before the bridges (their links wait for the streams)."""
SESSION_EXERCISE = "seated-ir"


# ----------------------------------------------------------------------------------------- bridges
async def bridges_role(url: str, ids: list[str], seeds: list[int], offsets: list[float], reps: int,
                       out: Path) -> None:
    from firmware_bridge.mqtt.bridge import BridgeStats, Held, MqttBridge, SensorChannel
    from firmware_bridge.mqtt.settings import MqttSettings
    from firmware_bridge.replay import simulated_links
    from imu_core.frames import Side

    class TimedBridge(MqttBridge):
        """The bridge, logging when each data batch is handed to the MQTT client."""

        log: list[tuple[float, float]]

        async def _publish(self, client: Any, ch: SensorChannel, held: Held, window: asyncio.Semaphore) -> None:
            if held.samples:
                self.log.append((held.t_last, time.monotonic()))
            await super()._publish(client, ch, held, window)

    settings = MqttSettings.from_url(url)
    stop = asyncio.Event()
    bridges = []
    for bid, seed in zip(ids, seeds, strict=True):
        bridge = TimedBridge(settings, bid, simulated_links(seed, exercise=SESSION_EXERCISE, reps=reps,
                                                            side=Side.LEFT))
        bridge.log = []
        bridges.append(bridge)

    async def run(bridge: TimedBridge, start_at: float) -> BridgeStats:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        async with bridge:
            return await bridge.run(stop)

    start_at, stop_at = await ready_then_times()
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    lags: list[float] = []
    lagging = asyncio.create_task(loop_lag(lags))
    tasks = [asyncio.create_task(run(b, start_at + offset)) for b, offset in zip(bridges, offsets, strict=True)]
    await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    lagging.cancel()
    await asyncio.sleep(max(0.0, stop_at + BRIDGES_AFTER_S - time.monotonic()))
    stop.set()
    stats = await asyncio.gather(*tasks)
    out.write_text(json.dumps({"lag": lags, "bridges": {
        b.bridge_id: {"log": sorted(b.log), "dropped": s.dropped_samples, "undelivered": s.undelivered_samples}
        for b, s in zip(bridges, stats, strict=True)}}))


async def loop_lag(into: list[float], period_s: float = 0.05) -> None:
    """How late this process's event loop wakes (a busy or blocked loop delays every message), s."""
    while True:
        due = time.monotonic() + period_s
        await asyncio.sleep(period_s)
        into.append(time.monotonic() - due)


async def ready_then_times() -> tuple[float, float]:
    """Say "ready" to the parent; it answers with when to start and when to stop (monotonic clock)."""
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    start_at, stop_at = map(float, line.split())
    return start_at, stop_at


# ---------------------------------------------------------------------------------------- sessions
async def sessions_role(url: str, pairs: list[tuple[str, str, int, float]], reps: int, folder: Path,
                        out: Path) -> None:
    from firmware_bridge.mqtt.link import BROKER_GAP, MqttSensorLink, mqtt_assignments, mqtt_link_factory
    from firmware_bridge.mqtt.settings import MqttSettings
    from firmware_bridge.simulator import simulate_session
    from imu_core.frames import Side
    from imu_core.types import MarkerLabel
    from tracker.exercises import get_exercise
    from tracker.guide import GuidePlan
    from tracker.live_run import run_session_with_sensors
    from tracker.mqtt_publish import LiveStatePublisher
    from tracker.session import LiveState
    from tracker.store import SessionStore

    settings = MqttSettings.from_url(url)
    exercise = get_exercise(SESSION_EXERCISE)
    results: dict[str, Any] = {}

    plans = {}
    for sid, _, seed, _ in pairs:
        sim = simulate_session(seed=seed, side=Side.LEFT, exercise=SESSION_EXERCISE, reps=reps)
        m = {mk.label: mk.t for mk in sim.recording.markers}
        # the session starts LEAD_S before its bridge plays the person: the guide's phases, on the session's
        # clock, are the simulated person's, shifted by that, 0.3 s inside them on both ends
        static, swing = m[MarkerLabel.CALIBRATION_STATIC], m[MarkerLabel.CALIBRATION_SWING]
        plans[sid] = GuidePlan(lead_in_s=static + LEAD_S + 0.3, still_s=swing - static - 0.6,
                               swing_s=m[MarkerLabel.EXERCISE_START] - swing + 0.3,
                               settle_s=0.0, reps=10_000, max_exercise_s=10_000.0)

    async def session(sid: str, bid: str, start_at: float, stop_at: float) -> None:
        await asyncio.sleep(max(0.0, start_at - LEAD_S - time.monotonic()))
        plan = plans[sid]
        link_for = mqtt_link_factory(settings, bid)
        links = [link_for(a) for a in mqtt_assignments(bid, Side.LEFT)]
        clock = links[0].subscription.bridge_clock if isinstance(links[0], MqttSensorLink) else None
        published: list[tuple[int, float]] = []
        last: list[LiveState] = []

        started: list[float] = []

        def session_clock() -> float:
            """The session's clock (LiveSource's): its first reading is the session's time 0."""
            now = time.monotonic()
            if not started:
                started.append(now)
            return now

        def on_publish(seq: int, t_session: float) -> None:
            t_host = t_session + started[0]
            published.append((seq, t_host - (clock.to_host(t_host) - t_host if clock is not None else 0.0)))

        stop = asyncio.Event()
        asyncio.get_running_loop().call_at(asyncio.get_running_loop().time() + stop_at - time.monotonic(), stop.set)
        with SessionStore.open(folder / f"{sid}.sqlite3") as store:
            async with LiveStatePublisher(settings, sid, exercise, "left", on_publish=on_publish) as pub:

                def on_change(state: LiveState, news: list[str]) -> None:
                    if not last:
                        last.append(state)
                    pub.update(state, news)

                store_id, result = await run_session_with_sensors(links, exercise, Side.LEFT, store, plan,
                                                                  rate_hz=100.0, on_change=on_change, stop=stop,
                                                                  source_kwargs={"clock": session_clock})
            gaps = store.load_gaps(store_id)
        state = last[0]
        results[sid] = {
            "published": published, "states_published": pub.states_published, "states_skipped": pub.states_skipped,
            "events_published": pub.events_published, "events_dropped": pub.events_dropped,
            "samples": state.samples, "dropped": state.dropped_samples,
            "lost": sum(g[3] for g in gaps if g[4] == BROKER_GAP),
            "radio_lost": sum(g[3] for g in gaps if g[4] != BROKER_GAP),
            "reps": len(result.reps), "calibrated": state.calibration_score is not None,
        }

    start_at, stop_at = await ready_then_times()
    await asyncio.sleep(max(0.0, start_at - LEAD_S - time.monotonic()))
    lags: list[float] = []
    lagging = asyncio.create_task(loop_lag(lags))
    done = await asyncio.gather(*(session(sid, bid, start_at + offset, stop_at) for sid, bid, _, offset in pairs),
                                return_exceptions=True)
    lagging.cancel()
    results["lag"] = lags
    for (sid, _, _, _), outcome in zip(pairs, done, strict=True):
        if isinstance(outcome, BaseException):
            print(f"session {sid} failed: {outcome!r}", file=sys.stderr)
            results[sid] = {"failed": repr(outcome)}
    out.write_text(json.dumps(results))


# ------------------------------------------------------------------------------------------- main
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, s."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU time the whole machine spent busy so far (all processes, all cores), s."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def percentiles(values: list[float]) -> tuple[float, float, float, float]:
    if not values:
        return (math.nan,) * 4
    v = sorted(values)

    def q(p: float) -> float:
        return v[min(len(v) - 1, max(0, math.ceil(p * len(v)) - 1))]

    return q(0.50), q(0.95), q(0.99), v[-1]


async def run_config(n: int, seconds: float, workers: int, store_dir: str | None, stagger: float) -> dict[str, Any]:
    import aiohttp
    from mosquitto import Broker

    from firmware_bridge.mqtt.settings import MqttSettings
    from tracker.monitor.people import Person
    from tracker.monitor.server import MonitorServer

    bridge_ids = [f"bench-b{i:02d}" for i in range(n)]
    session_ids = [f"bench-s{i:02d}" for i in range(n)]
    seeds = list(range(100, 100 + n))
    offsets = [stagger * i / n for i in range(n)]
    """People start one after another over `stagger` s, as in a clinic (not all calibrating at once)."""
    reps = math.ceil((seconds + stagger + 30.0) / 6.0) + 2  # the simulated people exercise past the end
    received: list[tuple[str, int, float]] = []

    def on_state(person: Person, at: float) -> None:
        seq = (person.state or {}).get("seq")
        if isinstance(seq, int):
            received.append((person.sid, seq, at))

    with Broker(persistence=False) as broker, \
            tempfile.TemporaryDirectory(prefix="hiptrack-mqtt-load-", dir=store_dir) as tmp:
        folder = Path(tmp)
        settings = MqttSettings.from_url(broker.url)
        async with MonitorServer(settings, on_state=on_state) as monitor, aiohttp.ClientSession() as http:
            page_updates = 0
            ws = await http.ws_connect(monitor.url.rstrip("/") + "/ws")

            async def read_page() -> None:
                nonlocal page_updates
                async for _ in ws:
                    page_updates += 1

            page = asyncio.create_task(read_page())
            lag_monitor: list[float] = []
            python = sys.executable
            me = str(Path(__file__).resolve())
            procs: list[tuple[str, subprocess.Popen[bytes]]] = []
            for w in range(workers):
                mine = [(session_ids[i], bridge_ids[i], seeds[i], offsets[i]) for i in range(w, n, workers)]
                if not mine:
                    continue
                procs.append(("sessions", subprocess.Popen(
                    [python, me, "--role", "sessions", "--url", broker.url,
                     "--reps", str(reps), "--pairs", json.dumps(mine), "--folder", tmp,
                     "--out", str(folder / f"sessions-{w}.json")], stdin=subprocess.PIPE, stdout=subprocess.PIPE)))
            procs.append(("bridges", subprocess.Popen(
                [python, me, "--role", "bridges", "--url", broker.url,
                 "--reps", str(reps), "--ids", json.dumps(bridge_ids), "--seeds", json.dumps(seeds),
                 "--offsets", json.dumps(offsets),
                 "--out", str(folder / "bridges.json")], stdin=subprocess.PIPE, stdout=subprocess.PIPE)))
            for _, p in procs:  # each has made its simulated people and is ready to go
                assert p.stdout is not None
                line = await asyncio.to_thread(p.stdout.readline)
                assert line.strip() == b"ready", line
            t0 = time.monotonic() + 1.0  # the first bridge starts; the last at t0 + stagger
            stop_at = t0 + stagger + seconds
            for _, p in procs:
                assert p.stdin is not None
                p.stdin.write(f"{t0} {stop_at}\n".encode())
                p.stdin.close()
            window_start = t0 + stagger + WARMUP_S
            await asyncio.sleep(window_start - time.monotonic())
            lagging = asyncio.create_task(loop_lag(lag_monitor))
            pids = {"mosquitto": [broker.process.pid] if broker.process else [],
                    "bridges": [p.pid for role, p in procs if role == "bridges"],
                    "sessions": [p.pid for role, p in procs if role == "sessions"], "monitor": [os.getpid()]}
            cpu0 = {role: sum(cpu_seconds(pid) for pid in ps) for role, ps in pids.items()}
            busy0 = busy_seconds()
            page0 = page_updates
            await asyncio.sleep(stop_at - time.monotonic())
            cpu1 = {role: sum(cpu_seconds(pid) for pid in ps) for role, ps in pids.items()}
            busy1 = busy_seconds()
            lagging.cancel()
            page1 = page_updates
            window = stop_at - window_start
            for role, p in procs:
                await asyncio.to_thread(p.wait, 120.0)
                if p.stdout is not None:
                    p.stdout.close()
                if p.returncode != 0:
                    raise SystemExit(f"a {role} process failed ({p.returncode})")
            await asyncio.sleep(0.5)
            events_seen = {p.sid: p.events for p in monitor.roster.people.values()}
            missed = sum(p.states_missed for p in monitor.roster.people.values())
            page.cancel()
            await ws.close()
        bridges_out = json.loads((folder / "bridges.json").read_text())
        bridges, lag_bridges = bridges_out["bridges"], bridges_out["lag"]
        sessions: dict[str, Any] = {}
        lag_sessions: list[float] = []
        for w in range(workers):
            path = folder / f"sessions-{w}.json"
            if path.exists():
                out = json.loads(path.read_text())
                lag_sessions += out.pop("lag")
                sessions.update(out)

    failed = [sid for sid, r in sessions.items() if "failed" in r]
    sessions = {sid: r for sid, r in sessions.items() if "failed" not in r}
    # join: monitor receipt <- the session's newest sample (bridge clock) <- the bridge's publish of it
    lat_pub: list[float] = []
    lat_sample: list[float] = []
    sample_t = {sid: dict(map(tuple, s["published"])) for sid, s in sessions.items()}
    logs = {bid: [tuple(x) for x in b["log"]] for bid, b in bridges.items()}
    for sid, seq, at in received:
        if at < window_start or at > stop_at:
            continue
        t_b = sample_t.get(sid, {}).get(seq)
        if t_b is None:
            continue
        log = logs[bridge_ids[session_ids.index(sid)]]
        i = bisect_left(log, (t_b - 1e-6, -math.inf))
        if i < len(log):
            lat_pub.append(at - log[i][1])
        lat_sample.append(at - t_b)

    in_window = sum(1 for _, _, at in received if window_start <= at <= stop_at)
    return {
        "n": n, "seconds": seconds, "window": window, "workers": workers,
        "lat_pub": percentiles(lat_pub), "lat_sample": percentiles(lat_sample), "matched": len(lat_pub),
        "states_per_s": in_window / window / max(1, n),
        "page_updates_per_s": (page1 - page0) / window,
        "samples": sum(s["samples"] for s in sessions.values()),
        "lost": sum(s["lost"] for s in sessions.values()), "dropped": sum(s["dropped"] for s in sessions.values()),
        "bridge_dropped": sum(b["dropped"] for b in bridges.values()),
        "states_published": sum(s["states_published"] for s in sessions.values()), "states_missed": missed,
        "events_published": sum(s["events_published"] for s in sessions.values()),
        "events_missed": sum(s["events_published"] - events_seen.get(sid, 0) for sid, s in sessions.items()),
        "calibrated": sum(1 for s in sessions.values() if s["calibrated"]),
        "reps": sum(s["reps"] for s in sessions.values()), "sessions": len(sessions) + len(failed),
        "failed": len(failed),
        "lag_bridges": percentiles(lag_bridges), "lag_sessions": percentiles(lag_sessions),
        "lag_monitor": percentiles(lag_monitor),
        "cpu": {role: 100.0 * (cpu1[role] - cpu0[role]) / window for role in cpu0},
        "cpu_machine": 100.0 * (busy1 - busy0) / window,
    }


def ms(x: float) -> str:
    return "–" if math.isnan(x) else f"{1000 * x:.0f}"


def print_tables(rows: list[dict[str, Any]]) -> None:
    cores = os.cpu_count() or 1
    print(f"\nMQTT load on this machine ({cores} cores): bridges (2 x 100 Hz each) -> mosquitto -> live sessions "
          "(link, guide, pipeline, store, live-state publisher) -> one monitor with a page open.\n")
    print("| bridges | window s | publish -> monitor p50 / p95 / p99 / max ms | sample -> monitor p50 / p95 / p99 / "
          "max ms | states/s per person | list updates/s |")
    print("|---:|---:|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['n']} | {r['window']:.0f} | {' / '.join(ms(x) for x in r['lat_pub'])} | "
              f"{' / '.join(ms(x) for x in r['lat_sample'])} | {r['states_per_s']:.1f} | "
              f"{r['page_updates_per_s']:.1f} |")
    print("\n| bridges | samples received | lost (broker gaps) | dropped (session queue) | dropped (bridge buffer) | "
          "states missed / published | events missed / published | sessions failed | calibrated | reps |")
    print("|---:|---:|---:|---:|---:|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']} | {r['samples']} | {r['lost']} | {r['dropped']} | {r['bridge_dropped']} | "
              f"{r['states_missed']} / {r['states_published']} | {r['events_missed']} / {r['events_published']} | "
              f"{r['failed']} | {r['calibrated']} / {r['sessions']} | {r['reps']} |")
    print("\n| bridges | event-loop lag p50 / p99 / max ms: bridges | sessions | monitor |")
    print("|---:|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | " + " | ".join(" / ".join(ms(x) for x in (r[k][0], r[k][2], r[k][3]))
                                           for k in ("lag_bridges", "lag_sessions", "lag_monitor")) + " |")
    print(f"\n| bridges | CPU mosquitto % | CPU bridges % | CPU sessions % ({rows[0]['workers']} processes) | "
          f"CPU monitor % | total % (of {100 * cores}) | whole machine % (other processes included) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        c = r["cpu"]
        print(f"| {r['n']} | {c['mosquitto']:.0f} | {c['bridges']:.0f} | {c['sessions']:.0f} | {c['monitor']:.0f} | "
              f"{sum(c.values()):.0f} | {r['cpu_machine']:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bridges", type=int, default=20, help="bridges, and as many sessions (default 20)")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the bridges stream (default 60)")
    ap.add_argument("--workers", type=int, default=2, help="processes the sessions are spread over (default 2)")
    ap.add_argument("--stagger", type=float, default=10.0,
                    help="the people start one after another over this many seconds (default 10)")
    ap.add_argument("--store-dir", default=None,
                    help="where the sessions' stores go (default: the system's temporary folder, on disk here)")
    ap.add_argument("--sweep", default=None, help="several bridge counts, e.g. 10,20,30 (one run each)")
    ap.add_argument("--role", choices=["bridges", "sessions"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ids", help=argparse.SUPPRESS)
    ap.add_argument("--seeds", help=argparse.SUPPRESS)
    ap.add_argument("--offsets", help=argparse.SUPPRESS)
    ap.add_argument("--pairs", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "bridges":
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends the run
        asyncio.run(bridges_role(args.url, json.loads(args.ids), json.loads(args.seeds), json.loads(args.offsets),
                                 args.reps, Path(args.out)))
        return
    if args.role == "sessions":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        pairs = [(str(p[0]), str(p[1]), int(p[2]), float(p[3])) for p in json.loads(args.pairs)]
        asyncio.run(sessions_role(args.url, pairs, args.reps, Path(args.folder), Path(args.out)))
        return
    counts = [int(x) for x in args.sweep.split(",")] if args.sweep else [args.bridges]
    rows = []
    for n in counts:
        print(f"{n} bridges, {args.seconds:.0f} s ...", file=sys.stderr, flush=True)
        rows.append(asyncio.run(run_config(n, args.seconds, args.workers, args.store_dir, args.stagger)))
    print_tables(rows)


if __name__ == "__main__":
    main()
