"""Re-analysing stored sessions: `hiptrack reanalyze` on a store of many sessions, in this process and in
worker processes.

    .venv/bin/python benchmarks/reanalyze.py [--sessions N] [--minutes M] [--quick]

About 2 minutes on 2 cores (a third of it building the store); --quick (8 sessions of 5 minutes) about 20 s.

The store: `--sessions` simulated sessions (default 30; `simulate_session`, realistic sensor errors, seeds
100, 101, ...), `--minutes` long each (default 10), thigh and shin at 100 Hz, left and right legs in turn,
a third each of seated-ir, side-lying-ir and a custom exercise `bench-seated-ir` (a TOML file based on
seated-ir, in a temporary $HIPTRACK_EXERCISES folder). They are stored with `store_recording` as
imported sessions, without an analysis, in a temporary store removed at the end. Building it is not timed.

Then `hiptrack reanalyze` through the CLI's own `main` (its printed table swallowed), four times:

1. first analysis, --jobs 2: no session has an analysis yet, so every one is analysed and written;
2. settings unchanged, --jobs 1 (in process): every session analysed again, none written;
3. settings unchanged, --jobs 2 (2 worker processes);
4. the custom exercise's thresholds edited, --jobs 2: its third of the sessions changes and is written.

Seconds are the whole command (opening the store, choosing, loading, analysing, writing); x real time is
the sessions' length together over that. Load and analysis are the time the command reports for loading
from the store and for analysing, summed over the workers. Last, `SessionStore.load_recording` is timed
on every session against the plain `fetchall` reading it replaced (same numbers, checked). The machine's
load average is printed before and after: other work on the machine slows every figure alike.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware_bridge.simulator import simulate_session
from imu_core.frames import Segment, Side
from tracker.cli import main as hiptrack
from tracker.store import SessionStore

CUSTOM = "bench-seated-ir"
SETTINGS = f'id = "{CUSTOM}"\nname = "Seated IR (benchmark)"\nbased_on = "seated-ir"\n\n[thresholds]\n'
FIRST, EDITED = "thigh_drift_deg = 4\nmin_rise_s = 0.35\n", "thigh_drift_deg = 1\nmin_rise_s = 1.0\n"
EXERCISES = (("seated-ir", "seated-ir"), ("side-lying-ir", "side-lying-ir"), (CUSTOM, "seated-ir"))
"""(stored as, simulated as)"""
SEED = 100


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


def build_store(db: Path, sessions: int, minutes: float) -> float:
    """The simulated sessions, stored without analyses; their length together, s."""
    seconds = 60.0 * minutes
    total = 0.0
    with SessionStore.open(db) as store:
        for k in range(sessions):
            stored_as, simulated_as = EXERCISES[k % len(EXERCISES)]
            sim = simulate_session(seed=SEED + k, side=(Side.LEFT, Side.RIGHT)[k % 2], exercise=simulated_as,
                                   reps=int(seconds / 4) + 8, max_seconds=seconds, rate_hz=100.0)
            sid = store.store_recording(replace(sim.recording, exercise=stored_as), "import", person="bench")
            total += store.get_session(sid).duration_s
    return total


@dataclass(frozen=True, slots=True)
class Run:
    label: str
    jobs: int
    seconds: float
    sessions: int
    recorded_s: float
    changed: int
    load_s: float | None
    analysis_s: float | None


_SUMMARY = re.compile(r"^(\d+) sessions? \((\d+) h (\d+) min of recordings\) re-analysed in [\d.]+ s "
                      r"\([\d,]+ times real time\); (\d+) changed", re.MULTILINE)
_SPLIT = re.compile(r"loading from the store ([\d.]+) s, analysing ([\d.]+) s")


def run_reanalyze(db: Path, label: str, jobs: int, recorded_s: float) -> Run:
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = hiptrack(["--store", str(db), "reanalyze", "--jobs", str(jobs)])
    seconds = time.perf_counter() - t0
    text = out.getvalue()
    summary, split = _SUMMARY.search(text), _SPLIT.search(text)
    if code != 0 or summary is None:
        raise SystemExit(f"hiptrack reanalyze failed (exit code {code}):\n{text}")
    return Run(label, jobs, seconds, int(summary[1]), recorded_s, int(summary[4]),
               None if split is None else float(split[1]), None if split is None else float(split[2]))


def fetchall_load(conn: sqlite3.Connection, session_id: int) -> dict[Segment, np.ndarray]:
    """How load_recording read the samples before: fetchall per sensor, then np.array."""
    out = {}
    for seg in Segment:
        rows = conn.execute("SELECT t, ax, ay, az, gx, gy, gz, mx, my, mz FROM samples "
                            "WHERE session_id = ? AND sensor = ? ORDER BY t, rowid", (session_id, seg.value)).fetchall()
        if rows:
            out[seg] = np.array(rows, dtype=np.float64)
    return out


def time_loading(db: Path) -> tuple[list[float], list[float]]:
    """(load_recording, fetchall) seconds per session; checks they read the same numbers."""
    new: list[float] = []
    old: list[float] = []
    conn = sqlite3.connect(db)
    with SessionStore.open(db) as store:
        for info in store.list_sessions():
            t0 = time.perf_counter()
            rec = store.load_recording(info.id)
            new.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            rows = fetchall_load(conn, info.id)
            old.append(time.perf_counter() - t0)
            for seg, a in rows.items():
                s = rec.streams[seg]
                if not (np.array_equal(s.t, a[:, 0]) and np.array_equal(s.acc, a[:, 1:4])
                        and np.array_equal(s.gyr, a[:, 4:7])):
                    raise SystemExit(f"load_recording read other numbers than fetchall (session {info.id}, {seg})")
    conn.close()
    return new, old


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=30, help="stored sessions (default 30)")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of each, min (default 10)")
    ap.add_argument("--quick", action="store_true", help="8 sessions of 5 minutes")
    args = ap.parse_args(argv)
    if args.quick:
        args.sessions, args.minutes = 8, 5.0
    if args.sessions < 3 or args.minutes < 1.0:
        ap.error("--sessions must be at least 3 and --minutes at least 1")

    t_start = time.perf_counter()
    print(f"load before: {loadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hiptrack-reanalyze-") as tmp:
        exercises = Path(tmp) / "exercises"
        exercises.mkdir()
        custom = exercises / f"{CUSTOM}.toml"
        custom.write_text(SETTINGS + FIRST, encoding="utf-8")
        os.environ["HIPTRACK_EXERCISES"] = str(exercises)
        db = Path(tmp) / "store.sqlite3"
        t0 = time.perf_counter()
        recorded_s = build_store(db, args.sessions, args.minutes)
        size_mb = db.stat().st_size / 1e6
        print(f"store: {args.sessions} sessions of {args.minutes:g} min (2 sensors x 100 Hz), "
              f"{recorded_s / 3600:.2f} h together, {size_mb:.0f} MB; simulated and stored in "
              f"{time.perf_counter() - t0:.0f} s (not timed)",
              flush=True)
        runs = []
        for label, jobs in (("first analysis (all written)", 2), ("settings unchanged", 1),
                            ("settings unchanged", 2)):
            runs.append(run_reanalyze(db, label, jobs, recorded_s))
            print(f"  {label}, --jobs {jobs}: {runs[-1].seconds:.1f} s", flush=True)
        custom.write_text(SETTINGS + EDITED, encoding="utf-8")
        runs.append(run_reanalyze(db, f"{CUSTOM} edited", 2, recorded_s))
        print(f"  {runs[-1].label}, --jobs 2: {runs[-1].seconds:.1f} s", flush=True)
        new, old = time_loading(db)

    print(f"\n`hiptrack reanalyze` on {args.sessions} stored sessions of {args.minutes:g} min "
          f"({recorded_s / 3600:.2f} h of recordings, 2 sensors x 100 Hz).\n")
    print("| run | --jobs | sessions | changed (written) | h of recordings | seconds | x real time | "
          "load s | analysis s |")
    print("|---|---|---|---|---|---|---|---|---|")

    def opt(x: float | None) -> str:
        return "?" if x is None else f"{x:.1f}"

    for r in runs:
        print(f"| {r.label} | {r.jobs} | {r.sessions} | {r.changed} | {r.recorded_s / 3600:.2f} | {r.seconds:.1f} | "
              f"{r.recorded_s / r.seconds:,.0f}x | {opt(r.load_s)} | {opt(r.analysis_s)} |")
    print("\n(load s and analysis s: summed over the worker processes, as the command reports them)")
    per_min = 1.0 / args.minutes
    print(f"\nLoading one {args.minutes:g}-minute session from the store (median of {len(new)}): "
          f"load_recording {statistics.median(new):.3f} s ({statistics.median(new) * per_min:.3f} s per minute "
          f"recorded); the fetchall reading it replaced {statistics.median(old):.3f} s.")
    print(f"\nload after: {loadavg()}; whole benchmark {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
