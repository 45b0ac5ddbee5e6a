"""End-to-end latency of the dashboard: from a sample's arrival on the host to the page drawing it.

A simulated seated-IR session with two sensors at 100 Hz is replayed in real time (each batch arrives
when its last sample is due) through the live pipeline, the store and the dashboard server, to the page
in headless Chromium. Arrival: the wall-clock time each batch is handed to the session. Drawn: the page
records the wall-clock time it finished drawing each snapshot (window.hiptrackDrawn). Each drawn
snapshot's latency is drawn minus the arrival of the newest sample in it; snapshots never drawn (the
page drops frames rather than falling behind) are counted.

    .venv/bin/python benchmarks/dashboard_latency.py [--seconds S] [--reps N]

Needs Debian's chromium and the playwright package (dev dependencies; CI installs the browser).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from firmware_bridge.replay import replay
from firmware_bridge.simulator import simulate_session
from imu_core.frames import Side
from imu_core.types import ImuSample, Marker
from tracker.dashboard.server import DashboardServer
from tracker.exercises import get_exercise
from tracker.pipeline import SessionPipeline
from tracker.session import LiveState, run_live_session
from tracker.store import SessionStore


async def measure(seconds: float, reps: int) -> dict[str, float]:
    from playwright.async_api import async_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs chromium (Debian: apt-get install chromium)")
    exercise = get_exercise("seated-ir")
    sim = simulate_session(seed=3, side=Side.LEFT, reps=reps, max_seconds=seconds)
    arrival: dict[float, float] = {}

    async def stamped() -> AsyncIterator[list[ImuSample | Marker]]:
        async for batch in replay(sim.recording, speed=1.0):
            arrival[max(e.t for e in batch if isinstance(e, ImuSample))] = time.time()
            yield batch

    with tempfile.TemporaryDirectory() as tmp, SessionStore.open(Path(tmp) / "s.sqlite3") as store:
        sid = store.create_session(exercise.id, sim.side, "demo", 100.0, sim.recording.sensors_info)
        pipe = SessionPipeline(exercise, sim.side, 100.0)
        state = LiveState(exercise.name, sim.side.value, reps, exercise.prescription.hold_s)
        async with DashboardServer(exercise) as dash, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, headless=True,
                                               args=["--no-sandbox", "--disable-gpu"])
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            await page.goto(dash.url)
            await page.wait_for_selector("#dial")
            sent_before = dash.snapshots
            await run_live_session(stamped(), pipe, store, sid, state, lambda st, news: dash.update(st, news))
            await asyncio.sleep(0.5)
            drawn = await page.evaluate("window.hiptrackDrawn")
            snapshots = dash.snapshots - sent_before
            await browser.close()
    times = np.array(sorted(arrival))
    lat = []
    for t, wall, _seq in drawn:
        i = int(np.searchsorted(times, t + 1e-9)) - 1  # the newest batch at or before the snapshot's time
        if i >= 0:
            lat.append(wall - arrival[float(times[i])])
    ms = np.array(lat) * 1000.0
    return {"samples": float(sum(len(s) for s in sim.recording.streams.values())),
            "seconds": float(sim.recording.streams[next(iter(sim.recording.streams))].t[-1]),
            "snapshots": float(snapshots), "drawn": float(len(drawn)),
            "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "max": float(ms.max())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=40.0, help="length of the replayed session, s")
    ap.add_argument("--reps", type=int, default=4)
    args = ap.parse_args(argv)
    r = asyncio.run(measure(args.seconds, args.reps))
    print("| sensors | rate | session | snapshots sent | drawn | latency p50 | p95 | p99 | max | target p95 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| 2 | 100 Hz | {r['seconds']:.0f} s | {r['snapshots']:.0f} | {r['drawn']:.0f} | {r['p50']:.1f} ms | "
          f"{r['p95']:.1f} ms | {r['p99']:.1f} ms | {r['max']:.1f} ms | < 50 ms "
          f"({'met' if r['p95'] < 50 else 'MISSED'}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
