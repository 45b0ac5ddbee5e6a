"""Throughput: the offline and live pipelines against VQF and ahrs's Madgwick, on the same recordings.

    .venv/bin/python benchmarks/throughput.py [--minutes M] [--sensors 2|3] [--rate HZ] [--runs N]
                                              [--budget S] [--skip-live] [--skip-madgwick] [--skip-process]
                                              [--quick]

About 1.5 minutes on 2 cores (most of it the live pipeline fed sample by sample); --quick (a 5-minute
recording, one run each) about 15 s.

The recording: one simulated seated-IR session (`simulate_session`, seed 11, realistic sensor errors:
noise, bias, clock drift, bursts of lost samples), `--minutes` long (default 20) with 2 sensors (thigh,
shin; `--sensors 3` adds the sacrum) at `--rate` Hz (default 100): calibration, then one long set of reps
to the end. It is simulated in full (no tiling: about 1.5 s per simulated 20 minutes) and written with
`write_recording` into a temporary folder, removed at the end. Every method below runs on that folder
or on the arrays read from it:

- analyze, file to JSON: `hiptrack analyze DIR --json OUT` through the CLI's own `main` in this process
  (argument parsing, `read_recording`, the analysis, writing the JSON; its one-line stdout is swallowed).
- analyze, new process: the same command as a new Python process (`python -m tracker.cli`), so including
  the interpreter's start and every import; shown for reference, not what the targets are about.
- read_recording: loading the folder alone.
- analysis in memory: `analyse_recording_in_detail` on the loaded recording (what analyze adds to loading).
- live pipeline, sample by sample: `SessionPipeline.feed([event])` for every sample and marker in time
  order (as `merged_events` gives them; building those objects is not timed, a live session gets them from
  the decoder), then `finish()`. The pipeline alone: latency.py times the whole live path.
- load + vqf alone: `read_recording`, then VQF on every sensor (the offline target's reference).
- vqf alone: `vqf.VQF(1 / rate).updateBatch(gyr, acc)` (6D, default parameters) on every sensor's arrays.
- madgwick alone: `ahrs.filters.Madgwick(gyr=..., acc=..., frequency=rate)` (6D, ahrs's batch mode, a
  Python loop) on every sensor's arrays.

Each method first runs once on a separate 1-minute recording (warm-up, not timed), then is timed
(`time.perf_counter`) `--runs` times (default 3) or as many as fit in `--budget` seconds (default 60, at
least one); the table gives the median and the range. Samples/s counts every sensor's samples; x real time
is the recording's length over the median time; "/ vqf" is the median time over vqf alone's. The machine's
load average is printed before and after: other work on the machine slows every figure alike.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ahrs.filters import Madgwick
from vqf import VQF

from firmware_bridge.recording import read_recording, write_recording
from firmware_bridge.replay import merged_events
from firmware_bridge.simulator import simulate_session
from imu_core.types import ImuSample, Marker, Recording
from tracker.cli import main as hiptrack
from tracker.exercises import get_exercise
from tracker.offline import analyse_recording_in_detail
from tracker.pipeline import SessionPipeline

ROOT = Path(__file__).resolve().parents[1]
SEED = 11
TARGET_OFFLINE_S = 1.0
"""A 20-minute two-sensor 100 Hz recording analysed, file to JSON, in under this (over 1000x real time)."""
STANDARD_SAMPLES = 20 * 60 * 2 * 100
"""Samples of that recording (the target is scaled by samples for other recordings)."""
TARGET_VS_LOAD_VQF = 4.0
"""... and within this many times loading the file and running VQF alone on its sensors."""


@dataclass(frozen=True, slots=True)
class Bench:
    folder: Path
    rec: Recording
    duration_s: float
    samples: int


def simulated_folder(folder: Path, minutes: float, sensors: int, rate_hz: float, seed: int) -> Bench:
    """Simulate a seated-IR session of `minutes` and write it as a recording folder."""
    seconds = 60.0 * minutes
    sim = simulate_session(seed=seed, reps=int(seconds / 4) + 8, max_seconds=seconds, rate_hz=rate_hz,
                           with_pelvis_sensor=sensors == 3)
    write_recording(sim.recording, folder)
    rec = read_recording(folder)
    t = np.concatenate([s.t for s in rec.streams.values()])
    return Bench(folder, rec, float(t.max() - t.min()), int(t.size))


# --- the methods: each takes a Bench and does the whole job once ------------------------------------------
def run_analyze(b: Bench) -> None:
    out = b.folder.parent / f"{b.folder.name}-analysis.json"
    with contextlib.redirect_stdout(io.StringIO()):
        code = hiptrack(["analyze", str(b.folder), "--json", str(out)])
    if code != 0 or json.loads(out.read_text(encoding="utf-8"))["format"] != "hiptrack-analysis/1":
        raise SystemExit(f"hiptrack analyze failed on {b.folder} (exit code {code})")


def run_analyze_process(b: Bench) -> None:
    out = b.folder.parent / f"{b.folder.name}-analysis-process.json"
    done = subprocess.run([sys.executable, "-m", "tracker.cli", "analyze", str(b.folder), "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"hiptrack analyze (new process) failed: {done.stderr.strip()}")


def run_read(b: Bench) -> None:
    read_recording(b.folder)


def run_analysis_in_memory(b: Bench) -> None:
    analyse_recording_in_detail(b.rec)


def run_live(b: Bench) -> None:
    # the events are built once per Bench, outside the timing (a live session gets them from its decoder)
    events = _events(b)
    pipe = SessionPipeline(get_exercise(b.rec.exercise), b.rec.side, b.rec.sample_rate_hz)
    for ev in events:
        pipe.feed((ev,))
    pipe.finish()


_EVENTS: dict[Path, list[ImuSample | Marker]] = {}


def _events(b: Bench) -> list[ImuSample | Marker]:
    if b.folder not in _EVENTS:
        _EVENTS[b.folder] = list(merged_events(b.rec))
    return _EVENTS[b.folder]


def _vqf_on(rec: Recording) -> None:
    for s in rec.streams.values():
        VQF(1.0 / rec.sample_rate_hz).updateBatch(np.ascontiguousarray(s.gyr), np.ascontiguousarray(s.acc))


def run_load_vqf(b: Bench) -> None:
    _vqf_on(read_recording(b.folder))


def run_vqf(b: Bench) -> None:
    _vqf_on(b.rec)


def run_madgwick(b: Bench) -> None:
    for s in b.rec.streams.values():
        Madgwick(gyr=s.gyr, acc=s.acc, frequency=b.rec.sample_rate_hz)


@dataclass(frozen=True, slots=True)
class Method:
    key: str
    label: str
    fn: Callable[[Bench], None]
    prepare: Callable[[Bench], object] | None = None
    """Untimed work before each timed run (building the live events)."""


@dataclass(frozen=True, slots=True)
class Timing:
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def measure(m: Method, warm: Bench, bench: Bench, runs: int, budget_s: float) -> Timing:
    for b in (warm, bench):
        if m.prepare is not None:
            m.prepare(b)
    m.fn(warm)
    times: list[float] = []
    spent = 0.0
    while len(times) < runs and (not times or spent + statistics.median(times) <= budget_s):
        t0 = time.perf_counter()
        m.fn(bench)
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
    return Timing(times)


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20.0, help="length of the recording (default 20)")
    ap.add_argument("--sensors", type=int, choices=(2, 3), default=2, help="2: thigh, shin; 3: and sacrum")
    ap.add_argument("--rate", type=float, default=100.0, help="sample rate, Hz (default 100)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per method (default 3)")
    ap.add_argument("--budget", type=float, default=60.0,
                    help="at most about this many seconds of timed runs per method (default 60; at least one run)")
    ap.add_argument("--skip-live", action="store_true", help="leave out the live pipeline fed sample by sample")
    ap.add_argument("--skip-madgwick", action="store_true", help="leave out ahrs's Madgwick")
    ap.add_argument("--skip-process", action="store_true", help="leave out analyze as a new process")
    ap.add_argument("--quick", action="store_true", help="a 5-minute recording, one timed run each")
    args = ap.parse_args(argv)
    if args.quick:
        args.minutes, args.runs = min(args.minutes, 5.0), 1
    if args.runs < 1 or args.minutes <= 1.0:
        ap.error("--runs must be at least 1 and --minutes more than 1")

    methods = [
        Method("analyze", "analyze, file to JSON (in process)", run_analyze),
        *([] if args.skip_process else [Method("process", "analyze, new process (incl. start, imports)",
                                               run_analyze_process)]),
        Method("read", "analyze's part: read_recording", run_read),
        Method("analysis", "analyze's part: analysis in memory", run_analysis_in_memory),
        *([] if args.skip_live else [Method("live", "live pipeline, sample by sample", run_live, _events)]),
        Method("load_vqf", "load + vqf alone", run_load_vqf),
        Method("vqf", "vqf alone (in memory)", run_vqf),
        *([] if args.skip_madgwick else [Method("madgwick", "ahrs Madgwick alone (in memory)", run_madgwick)]),
    ]

    t_start = time.perf_counter()
    print(f"load before: {loadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hiptrack-throughput-") as tmp:
        t0 = time.perf_counter()
        warm = simulated_folder(Path(tmp) / "warmup", 1.0, args.sensors, args.rate, SEED + 1)
        bench = simulated_folder(Path(tmp) / "recording", args.minutes, args.sensors, args.rate, SEED)
        size_mb = sum(f.stat().st_size for f in bench.folder.iterdir()) / 1e6
        print(f"recording: {bench.duration_s / 60:.1f} min, {args.sensors} sensors x {args.rate:g} Hz, "
              f"{bench.samples} samples, samples.csv etc. {size_mb:.1f} MB; simulated and written in "
              f"{time.perf_counter() - t0:.1f} s (not timed)", flush=True)
        results: dict[str, Timing] = {}
        for m in methods:
            results[m.key] = measure(m, warm, bench, args.runs, args.budget)
            print(f"  {m.label.strip()}: {', '.join(f'{s:.3f}' for s in results[m.key].seconds)} s", flush=True)

    vqf = results["vqf"].median
    print(f"\nThroughput on one {bench.duration_s / 60:.1f}-minute recording, {args.sensors} sensors x "
          f"{args.rate:g} Hz ({bench.samples} samples); median of the timed runs after a warm-up.\n")
    print("| method | runs | median s | range s | samples/s | x real time | / vqf alone |")
    print("|---|---|---|---|---|---|---|")
    for m in methods:
        r = results[m.key]
        med = r.median
        print(f"| {m.label} | {len(r.seconds)} | {med:.3f} | {min(r.seconds):.3f}-{max(r.seconds):.3f} | "
              f"{bench.samples / med:,.0f} | {bench.duration_s / med:,.0f}x | {med / vqf:,.1f} |")

    analyze = results["analyze"].median
    reference = results["load_vqf"].median
    standard = args.sensors == 2 and args.rate == 100.0 and abs(bench.duration_s / 60.0 - 20.0) < 0.5
    limit = TARGET_OFFLINE_S * (1.0 if standard else bench.samples / STANDARD_SAMPLES)
    print("\nTargets (offline: a 20-minute two-sensor 100 Hz recording, file to JSON):")
    if not standard:
        print(f"  (not that recording: the 1 s is scaled by its samples, {bench.samples} / {STANDARD_SAMPLES})")
    print(f"  under {limit:.2f} s (over 1000x real time): {'MET' if analyze < limit else 'MISSED'} "
          f"({analyze:.3f} s, {bench.duration_s / analyze:,.0f}x real time)")
    print(f"  within {TARGET_VS_LOAD_VQF:g}x of loading the file + vqf alone ({reference:.3f} s, so "
          f"{TARGET_VS_LOAD_VQF * reference:.3f} s): {'MET' if analyze <= TARGET_VS_LOAD_VQF * reference else 'MISSED'}"
          f" ({analyze / reference:.1f}x)")
    if "live" in results:
        live = results["live"].median
        print(f"  (live pipeline alone, sample by sample: {1e6 * live / bench.samples:.1f} us per sample on average; "
              "benchmarks/latency.py times the whole live path against its target)")
    print(f"\nload after: {loadavg()}; whole benchmark {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
