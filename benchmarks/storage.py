"""How fast the session store takes samples, and how much room a session takes.

A session's samples are written the way a live session writes them: batches of 20 ms of every sensor
(`SessionStore.add_samples`), a commit once a second of session time, markers and gaps left out. The
writes go as fast as the store takes them, so the rate is the store's ceiling, to be compared with what
a session needs (sensors x rate). Size is the file after a WAL checkpoint, per minute of session.
A last run writes while another connection lists the sessions and loads the recording over and over,
as reports opened during a session would (WAL lets them read while the session writes).

    .venv/bin/python benchmarks/storage.py [--minutes M]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from imu_core.frames import Segment, Side
from imu_core.types import ImuSample
from tracker.store import BYTES_PER_SAMPLE, SessionStore


def batches(sensors: int, rate_hz: float, minutes: float, seed: int = 0) -> list[list[ImuSample]]:
    rng = np.random.default_rng(seed)
    segments = [Segment.THIGH, Segment.SHIN, Segment.PELVIS][:sensors]
    per_batch = round(0.02 * rate_hz)
    n = int(minutes * 60 * rate_hz)
    out = []
    for start in range(0, n, per_batch):
        batch = []
        for seg in segments:
            for i in range(start, min(start + per_batch, n)):
                acc = (rng.normal(0, 0.3, 3) + np.array([0.0, 0.0, 9.81])).tolist()
                gyr = rng.normal(0, 0.5, 3).tolist()
                mag = rng.normal(20, 5, 3).tolist()
                batch.append(ImuSample(i / rate_hz, seg, tuple(acc), tuple(gyr), tuple(mag)))  # type: ignore[arg-type]
        out.append(batch)
    return out


def write_session(path: Path, sensors: int, rate_hz: float, minutes: float, with_reader: bool) -> dict[str, float]:
    data = batches(sensors, rate_hz, minutes)
    per_commit = round(1.0 / 0.02)
    stop = threading.Event()
    reads = [0]

    def reader() -> None:
        with SessionStore.open(path) as store:
            while not stop.is_set():
                for s in store.list_sessions():
                    store.load_recording(s.id)
                reads[0] += 1

    with SessionStore.open(path) as store:
        sid = store.create_session("seated-ir", Side.LEFT, "live", rate_hz, {})
        thread = threading.Thread(target=reader, daemon=True) if with_reader else None
        if thread is not None:
            thread.start()
        t0 = time.perf_counter()
        worst_commit = 0.0
        for i, batch in enumerate(data, start=1):
            store.add_samples(sid, batch)
            if i % per_commit == 0:
                c0 = time.perf_counter()
                store.commit()
                worst_commit = max(worst_commit, time.perf_counter() - c0)
        store.commit()
        elapsed = time.perf_counter() - t0
        stop.set()
        if thread is not None:
            thread.join()
        store.finish_session(sid)
        n = store.get_session(sid).n_samples
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = path.stat().st_size
    return {"samples": n, "rate": n / elapsed, "need": sensors * rate_hz, "worst_commit_ms": 1e3 * worst_commit,
            "bytes_per_min": size / minutes, "bytes_per_sample": size / n, "reads": reads[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    rows = []
    for sensors, rate_hz, reader in ((2, 100.0, False), (3, 100.0, False), (3, 200.0, False), (2, 100.0, True)):
        with tempfile.TemporaryDirectory() as tmp:
            r = write_session(Path(tmp) / "bench.sqlite3", sensors, rate_hz, args.minutes, reader)
        rows.append((sensors, rate_hz, reader, r))
    print(f"Session store, {args.minutes:g}-minute sessions written as a live session writes them "
          "(20 ms batches, a commit per second of data), as fast as the store takes them.\n")
    print("| sensors x rate | reader | samples | sustained samples/s | needed | headroom | worst commit | "
          "MB per session-minute | bytes per sample |")
    print("|---|---|---|---|---|---|---|---|---|")
    for sensors, rate_hz, reader, r in rows:
        print(f"| {sensors} x {rate_hz:.0f} Hz | {'yes, ' + str(r['reads']) + ' loads' if reader else 'no'} | "
              f"{r['samples']:.0f} | {r['rate']:,.0f} | {r['need']:.0f} | {r['rate'] / r['need']:.0f}x | "
              f"{r['worst_commit_ms']:.1f} ms | {r['bytes_per_min'] / 1e6:.2f} | {r['bytes_per_sample']:.0f} |")
    print(f"\nThe store's room check assumes {BYTES_PER_SAMPLE} bytes per sample (tracker/store.py BYTES_PER_SAMPLE).")


if __name__ == "__main__":
    main()
