"""Per-sample cost of the live path, and the memory of a 60-minute live session.

    .venv/bin/python benchmarks/latency.py [--seconds S] [--runs N] [--memory-minutes M]
                                           [--memory-mode batch|sample] [--tracemalloc]
                                           [--skip-memory] [--skip-latency] [--quick]

About 2 minutes on 2 cores; --quick (30 s sessions, one run, a 12-minute memory run) about 30 s.

The live path, as `hiptrack run` takes a Nano 33 BLE sample to the dashboard, every step the real code:

  decode   `SampleDecoder.feed` (firmware_bridge/nano33/protocol.py): CRC, unpacking, SI units, sequence
           and device clock (`DeviceClock`) to host time;
  merge    `LiveSource`'s sample callback and `_release` (firmware_bridge/ble/live_source.py): the sensors'
           samples shifted to session time, held in its heap and released up to the watermark (called
           directly, with a simulated clock, instead of through its asyncio loop);
  fusion, angles, reps   `SessionPipeline.feed` (VQF per sensor, calibration, joint angles, the exercise
           engine);
  live state   `tracker.session.apply_update`;
  UI message   `DashboardServer.update` (its `LiveFeed`: the trace and the page's events), and for one
           page taking frames (at most the dashboard's `frame_hz`, 60 a second of session time) the frame
           it would be sent: the snapshot built (`newest_snapshot`) and serialised to JSON, not sent.
Not included: the BLE stack and the driver's bookkeeping around the decoder, the session store's writes
(benchmarks/storage.py), the WebSocket and the page's drawing (benchmarks/dashboard_latency.py).

The data: a simulated seated-IR session (`simulate_session`, realistic sensor errors and lost samples),
`--seconds` long (default 60: about 12 s of calibration, then reps), with 2 sensors (thigh, shin) or 3
(and the sacrum) at 100 or 200 Hz. Each sensor's samples are turned into the firmware's packets
(`encode_packet` of the counts the firmware would send, device time and counter from the true sampling
instants, so lost samples are gaps in the counter) arriving 4 ms after their newest sample; the guide's
markers come at their times. Two ways of feeding it:

  sample   every packet carries one sample and every sample goes through the whole path on its own:
           decode, merge, `feed([sample])`, live state, UI message. The cost of one sample is the time of
           its own steps (the merge's release split among what it released). The target is about this.
  batch    as `hiptrack run` runs: the firmware's packets (about 25 a second per sensor: 4 samples at
           100 Hz, 8 at 200 Hz) decoded and merged as they arrive, and every 20 ms (`LiveSource`'s
           batch interval) what was released is fed at once, then one live-state update and one UI
           message. The cost per sample is each 20 ms tick's time over the samples it released.

Figures are over the samples after calibration (the steady state of a session: reps, holds, the online
alignment); the one step that calibrates (its marker fed, the pipeline calibrating and working out the
angles of everything before) is shown on its own. CPU is the whole session's time (every step, calibration
included) over the session's length. Each configuration runs once untimed on a separate 20-second session
(warm-up), then `--runs` times (default 2); the table gives the median over runs of each run's median,
p99 and CPU (time.perf_counter_ns around each step). The machine's load average is printed.

Memory: a child process (a clean heap) feeds a `--memory-minutes` (default 60) two-sensor 100 Hz session
through the same path (`--memory-mode`, default batch, as `hiptrack run` does), packets made on the fly
(their inputs made before the baseline and kept to the end), and reports its resident set size (VmRSS)
before the first sample and at every 10 minutes of session time, after a garbage collection, and its
peak since the baseline (VmHWM, reset through /proc/self/clear_refs; else the whole process's). Memory is
flat if the resident size grows by less than 5 MB from minute 10 to the end. `--tracemalloc` adds the
Python heap and the allocation sites that grew (many times slower; its own bookkeeping then shows in the
resident size).
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware_bridge.ble.emulation.nano33 import source_counts
from firmware_bridge.ble.live_source import LiveSource
from firmware_bridge.ble.sensor import LinkStats
from firmware_bridge.nano33.protocol import (
    AccRange,
    Board,
    DecodedPacket,
    GyroRange,
    RawSample,
    SampleDecoder,
    encode_packet,
)
from firmware_bridge.simulator import SimulatedSession, simulate_session
from imu_core.frames import Segment
from imu_core.types import ImuSample, Marker
from tracker.dashboard.server import DashboardServer
from tracker.exercises import get_exercise
from tracker.pipeline import SessionPipeline
from tracker.session import LiveState, apply_update

SEGMENTS = (Segment.THIGH, Segment.SHIN, Segment.PELVIS)
CONFIGS = ((2, 100), (2, 200), (3, 100), (3, 200))
"""(sensors, Hz) measured."""
ARRIVAL_DELAY_S = 0.004
"""A packet arrives this long after its newest sample was taken."""
TICK_S = 0.02
"""LiveSource's batch interval."""
BOARD, ACC, GYRO = Board.REV2, AccRange.G4, GyroRange.DPS2000
"""What the Nano driver asks for by default."""
TARGET_MEDIAN_US = 50.0
"""Per-sample cost of the whole live path, median, one sensor sample."""
TARGET_CPU_3X200 = 5.0
"""... so that three sensors at 200 Hz use under this % of one core."""
FLAT_MB = 5.0
"""Memory is flat if the resident size grows less than this from 10 to 60 minutes."""
SEED = 7


# --- the input: packets and markers in arrival order ----------------------------------------------------------
def simulated(seconds: float, sensors: int, rate_hz: float, seed: int = SEED) -> SimulatedSession:
    return simulate_session(seed=seed, reps=int(seconds / 4) + 8, max_seconds=seconds, rate_hz=float(rate_hz),
                            with_pelvis_sensor=sensors == 3)


_INPUTS: list[object] = []


def sensor_packets(sim: SimulatedSession, seg: Segment, per_packet: int) -> Iterator[tuple[float, int, object]]:
    """(arrival time, 1, (segment, packet bytes)) of one sensor: the counts, counters and packet boundaries
    are worked out at once (so a memory measurement's baseline holds them), the packets made lazily."""
    stream = sim.recording.streams[seg]
    t_true = sim.true_sample_t[seg]
    rate_hz = sim.recording.sample_rate_hz
    seq = np.rint((t_true - t_true[0]) / float(np.min(np.diff(t_true)))).astype(np.int64)
    period_us = round(1e6 / rate_hz)
    has_mag = stream.mag is not None
    counts = source_counts(stream, BOARD, ACC, GYRO)
    # a packet holds up to per_packet consecutive samples and ends before a lost one
    starts = [0]
    for k in [*np.flatnonzero(np.diff(seq) != 1).tolist(), len(seq) - 1]:
        while k + 1 - starts[-1] > per_packet:
            starts.append(starts[-1] + per_packet)
        starts.append(k + 1)
    arrive = (t_true[np.asarray(starts[1:]) - 1] + ARRIVAL_DELAY_S).tolist()
    packet_rows = list(zip(starts[:-1], starts[1:], arrive, strict=True))
    _INPUTS.append((counts, seq, packet_rows))  # kept to the end: their release is not the live path shrinking

    def packets() -> Iterator[tuple[float, int, object]]:
        for i, j, t in packet_rows:
            samples = [RawSample((c[0], c[1], c[2]), (c[3], c[4], c[5]), (c[6], c[7], c[8]), has_mag)
                       for c in counts[i:j].tolist()]
            first = int(seq[i])
            data = encode_packet(DecodedPacket(first & 0xFFFF, (first * period_us) & 0xFFFFFFFF, period_us, BOARD,
                                               ACC, GYRO, has_mag, samples))
            yield t, 1, (seg, data)

    return packets()


def arrivals(sim: SimulatedSession, per_packet: int) -> Iterator[tuple[float, int, object]]:
    """Every sensor's packets and the guide's markers (kind 0, the label), in arrival order."""
    markers = [(m.t, 0, m.label) for m in sim.recording.markers]
    streams = [sensor_packets(sim, seg, per_packet) for seg in sim.recording.streams]
    return heapq.merge(markers, *streams, key=lambda a: (a[0], a[1]))


# --- the live path -----------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Link:
    """What LiveSource and the live state need of a sensor link."""

    segment: Segment
    model: str = "Nano 33 BLE Rev2"
    stats: LinkStats = field(default_factory=lambda: LinkStats(connected=True))


class LivePath:
    def __init__(self, sim: SimulatedSession) -> None:
        rec = sim.recording
        exercise = get_exercise(rec.exercise)
        segments = list(rec.streams)
        links = [_Link(seg) for seg in segments]
        self.now = 0.0
        self.decoders = {seg: SampleDecoder(seg) for seg in segments}
        self.source = LiveSource(links, rec.sample_rate_hz, clock=lambda: self.now)
        self.source.t0 = 0.0  # what its __aenter__ sets: the session starts at t = 0
        self.push = {seg: self.source._samples_of(seg) for seg in segments}
        self.pipe = SessionPipeline(exercise, rec.side, rec.sample_rate_hz)
        self.state = LiveState(exercise.name, rec.side.value, exercise.prescription.reps,
                               exercise.prescription.hold_s, sensor_links=list(links))
        self.dash = DashboardServer(exercise)
        self._next_frame_s = 0.0

    def arrive(self, t: float, kind: int, what: object) -> list[ImuSample]:
        """A packet (decoded and merged) or a marker (added by the guide) arrives at time t."""
        self.now = t
        if kind == 0:
            assert isinstance(what, str)
            self.source.add_marker(what)
            return []
        seg, data = what  # type: ignore[misc]
        samples = self.decoders[seg].feed(data, t)
        self.push[seg](samples)
        return samples

    def process(self, batch: list[ImuSample | Marker], stages: list[int] | None = None) -> bool:
        """Fusion, angles, reps, live state, UI message; True if this step calibrated. `stages`: adds the
        time (ns) of the pipeline, the live state and the UI message to its items 1, 2, 3."""
        clock = time.perf_counter_ns
        a = clock()
        update = self.pipe.feed(batch)
        b = clock()
        news = apply_update(self.state, self.pipe, update)
        c = clock()
        self.dash.update(self.state, news)
        if self.now >= self._next_frame_s:  # a page takes a frame
            snapshot = self.dash.newest_snapshot()
            if snapshot is not None:
                json.dumps({**snapshot, "events": []})
            self._next_frame_s = self.now + self.dash.frame_interval_s
        if stages is not None:
            d = clock()
            stages[1] += b - a
            stages[2] += c - b
            stages[3] += d - c
        return update.calibration is not None


@dataclass(slots=True)
class RunCosts:
    per_sample_ns: list[int]
    """Steady state (after calibration), one value per sample (sample mode) or per tick (batch mode)."""
    total_ns: int
    session_s: float
    samples: int
    calibration_ns: int
    ticks_ms: list[float] = field(default_factory=list)
    """Batch mode: each tick's whole time after calibration, ms."""
    stages_ns: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    """After calibration, summed: decode and merge, pipeline, live state, UI message."""
    sensors: list[Segment] = field(default_factory=list)
    """Sample mode: the sensor of each of per_sample_ns."""

    def median_by_sensor_us(self) -> dict[Segment, float]:
        by: dict[Segment, list[int]] = {}
        for seg, ns in zip(self.sensors, self.per_sample_ns, strict=True):
            by.setdefault(seg, []).append(ns)
        return {seg: float(np.median(v)) / 1e3 for seg, v in by.items()}

    def median_us(self) -> float:
        return float(np.median(self.per_sample_ns)) / 1e3

    def p99_us(self) -> float:
        return float(np.percentile(self.per_sample_ns, 99)) / 1e3

    def cpu_percent(self) -> float:
        return 100.0 * self.total_ns / 1e9 / self.session_s


def run_sample_mode(sim: SimulatedSession) -> RunCosts:
    _INPUTS.clear()
    path = LivePath(sim)
    clock = time.perf_counter_ns
    arrival_ns: dict[tuple[Segment, float], int] = {}
    steady: list[int] = []
    sensors: list[Segment] = []
    stages = [0, 0, 0, 0]
    total = calibration = 0
    for t, kind, what in arrivals(sim, 1):
        t0 = clock()
        got = path.arrive(t, kind, what)
        t1 = clock()
        total += t1 - t0
        if got:
            arrival_ns[(got[0].sensor, got[0].t)] = t1 - t0
        released = path.source._release()
        t2 = clock()
        total += t2 - t1
        share = (t2 - t1) // max(1, len(released))
        for ev in released:
            measuring = isinstance(ev, ImuSample) and path.pipe.calibration is not None
            a = clock()
            calibrated = path.process([ev], stages if measuring else None)
            cost = clock() - a
            total += cost
            arrived = arrival_ns.pop((ev.sensor, ev.t), 0) if isinstance(ev, ImuSample) else 0
            if calibrated:
                calibration = cost + share
            elif measuring:
                assert isinstance(ev, ImuSample)
                steady.append(cost + share + arrived)
                sensors.append(ev.sensor)
                stages[0] += share + arrived
    path.now = float("inf")
    path.source.close()
    rest = path.source._release()
    if rest:
        path.process(rest)
    return RunCosts(steady, total, _session_s(sim), path.pipe.samples_seen, calibration, stages_ns=stages,
                    sensors=sensors)


def run_batch_mode(sim: SimulatedSession) -> RunCosts:
    _INPUTS.clear()
    path = LivePath(sim)
    clock = time.perf_counter_ns
    per_packet = (round(sim.recording.sample_rate_hz) + 24) // 25  # the firmware's choice
    steady: list[int] = []
    ticks_ms: list[float] = []
    stages = [0, 0, 0, 0]
    total = calibration = carried = 0
    next_tick = TICK_S
    pending = list(arrivals(sim, per_packet))  # made before timing: making the packets is the sensors' work
    i = 0
    while i < len(pending):
        while i < len(pending) and pending[i][0] <= next_tick:
            t, kind, what = pending[i]
            a = clock()
            path.arrive(t, kind, what)
            carried += clock() - a
            i += 1
        path.now = next_tick
        measuring = path.pipe.calibration is not None
        a = clock()
        batch = path.source._release()
        b = clock()
        calibrated = path.process(batch, stages if measuring else None) if batch else False
        cost = clock() - a + carried
        n = sum(isinstance(e, ImuSample) for e in batch)
        if calibrated:
            calibration = cost
        elif n and measuring:
            steady.extend([cost // n] * n)  # each sample of the tick costs its share
            ticks_ms.append(cost / 1e6)
            stages[0] += carried + b - a
        if n or calibrated:
            total += cost
            carried = 0
        else:
            carried = cost  # nothing released yet: counted with the next tick that releases samples
        next_tick += TICK_S
    path.now = float("inf")
    path.source.close()
    rest = path.source._release()
    if rest:
        path.process(rest)
    return RunCosts(steady, total + carried, _session_s(sim), path.pipe.samples_seen, calibration, ticks_ms,
                    stages)


def _session_s(sim: SimulatedSession) -> float:
    return float(max(s.t[-1] for s in sim.recording.streams.values()))


# --- memory (child process) -----------------------------------------------------------------------------------
def _rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process, MB."""
    got = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                got[line.split(":")[0]] = int(line.split()[1]) / 1024.0
    return got["VmRSS"], got["VmHWM"]


def _reset_peak() -> bool:
    """Start the peak (VmHWM) afresh, so it is the live path's, not the simulation's (Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def memory_child(minutes: float, mode: str, with_tracemalloc: bool) -> None:
    import tracemalloc

    sim = simulated(60.0 * minutes, 2, 100)
    per_packet = 1 if mode == "sample" else 4
    path = LivePath(sim)
    feed = arrivals(sim, per_packet)  # the input's arrays are made here, before the baseline
    gc.collect()
    if with_tracemalloc:
        tracemalloc.start(1)
    peak_reset = _reset_peak()
    rss0, _ = _rss_mb()
    out: list[dict[str, float]] = [{"minute": 0.0, "rss_mb": rss0, "traced_mb": 0.0}]
    snapshots: dict[int, tracemalloc.Snapshot] = {}
    next_mark = 600.0
    next_tick = TICK_S
    t0 = time.perf_counter()

    def mark(minute: float) -> None:
        gc.collect()
        rss, _ = _rss_mb()
        traced = tracemalloc.get_traced_memory()[0] / 1e6 if with_tracemalloc else float("nan")
        out.append({"minute": minute, "rss_mb": rss, "traced_mb": traced, "wall_s": time.perf_counter() - t0})
        print(json.dumps(out[-1]), file=sys.stderr, flush=True)
        if with_tracemalloc:  # the first one (minute 10) and the latest
            snapshots.setdefault(0, tracemalloc.take_snapshot())
            snapshots[1] = tracemalloc.take_snapshot()

    for t, kind, what in feed:
        if mode == "batch":
            while t > next_tick:
                path.now = next_tick
                batch = path.source._release()
                if batch:
                    path.process(batch)
                next_tick += TICK_S
        path.arrive(t, kind, what)
        if mode == "sample":
            for ev in path.source._release():
                path.process([ev])
        if t >= next_mark:
            mark(next_mark / 60.0)
            next_mark += 600.0
    path.now = float("inf")
    path.source.close()
    rest = path.source._release()
    if rest:
        path.process(rest)
    if not out or out[-1]["minute"] < minutes - 1e-6:
        mark(minutes)
    growth: list[str] = []
    if len(snapshots) == 2:
        for stat in snapshots[1].compare_to(snapshots[0], "lineno")[:8]:
            frame = stat.traceback[0]
            growth.append(f"{Path(frame.filename).name}:{frame.lineno} {stat.size_diff / 1e3:+.1f} kB "
                          f"({stat.count_diff:+d} blocks)")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hwm = _rss_mb()
    print(json.dumps({"marks": out, "peak_rss_mb": hwm, "peak_reset": peak_reset,
                      "ru_maxrss_mb": usage.ru_maxrss / 1024.0,
                      "samples": path.pipe.samples_seen, "reps": len(path.state.reps), "growth": growth,
                      "wall_s": time.perf_counter() - t0}))


def run_memory(minutes: float, mode: str, with_tracemalloc: bool) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--memory-child", str(minutes), "--memory-mode", mode]
    if with_tracemalloc:
        cmd.append("--tracemalloc")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the memory run failed:\n{done.stderr}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- main -----------------------------------------------------------------------------------------------------
def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each measured session (default 60)")
    ap.add_argument("--runs", type=int, default=2, help="timed runs per configuration and mode (default 2)")
    ap.add_argument("--memory-minutes", type=float, default=60.0, help="length of the memory run (default 60)")
    ap.add_argument("--memory-mode", choices=("batch", "sample"), default="batch",
                    help="how the memory run feeds the path (default batch, as hiptrack run)")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="memory run: also trace the Python heap (many times slower: use a short --memory-minutes)")
    ap.add_argument("--skip-memory", action="store_true", help="leave out the memory run")
    ap.add_argument("--skip-latency", action="store_true", help="only the memory run")
    ap.add_argument("--quick", action="store_true", help="30 s sessions, one run, a 12-minute memory run")
    ap.add_argument("--memory-child", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child is not None:
        memory_child(args.memory_child, args.memory_mode, args.tracemalloc)
        return 0
    if args.quick:
        args.seconds, args.runs, args.memory_minutes = min(args.seconds, 30.0), 1, min(args.memory_minutes, 12.0)
    if args.runs < 1 or args.seconds < 20.0:
        ap.error("--runs must be at least 1 and --seconds at least 20 (calibration takes about 12 s)")

    t_start = time.perf_counter()
    print(f"load before: {loadavg()}", flush=True)
    rows: list[tuple[int, int, str, list[RunCosts]]] = []
    for sensors, rate in [] if args.skip_latency else CONFIGS:
        warm = simulated(20.0, sensors, rate, SEED + 100)
        sim = simulated(args.seconds, sensors, rate)
        for mode, fn in (("sample", run_sample_mode), ("batch", run_batch_mode)):
            fn(warm)
            runs = [fn(sim) for _ in range(args.runs)]
            rows.append((sensors, rate, mode, runs))
            print(f"  {sensors} x {rate} Hz, {mode}: median " + ", ".join(f"{r.median_us():.1f}" for r in runs)
                  + " us/sample", flush=True)

    if rows:
        def med(runs: list[RunCosts], what: str) -> float:
            return statistics.median(getattr(r, what)() for r in runs)

        print(f"\nLive path per sample (decode -> merge -> fusion, angles, reps -> live state -> UI message), "
              f"{args.seconds:g}-second simulated sessions, median over {args.runs} run(s) after a warm-up.\n")
        print("| sensors x rate | mode | samples | median us/sample | p99 us/sample | mean us/sample | "
              "mean: decode+merge / pipeline / live state / UI message | calibrating step ms | CPU % of one core | "
              "tick p99 ms |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for sensors, rate, mode, runs in rows:
            mean_us = statistics.median(float(np.mean(r.per_sample_ns)) / 1e3 for r in runs)
            tick = statistics.median(float(np.percentile(r.ticks_ms, 99)) for r in runs) if mode == "batch" else None
            split = " / ".join(f"{statistics.median(r.stages_ns[k] / len(r.per_sample_ns) for r in runs) / 1e3:.1f}"
                               for k in range(4))
            print(f"| {sensors} x {rate} Hz | {mode} | {runs[0].samples} | {med(runs, 'median_us'):.1f} | "
                  f"{med(runs, 'p99_us'):.1f} | {mean_us:.1f} | {split} | "
                  f"{statistics.median(r.calibration_ns for r in runs) / 1e6:.1f} | {med(runs, 'cpu_percent'):.2f} | "
                  f"{'-' if tick is None else f'{tick:.2f}'} |")
        for sensors, rate, mode, runs in rows:
            if mode == "sample":
                by = {seg: statistics.median(r.median_by_sensor_us()[seg] for r in runs)
                      for seg in runs[0].median_by_sensor_us()}
                print(f"  sample mode, {sensors} x {rate} Hz, median by sensor: "
                      + ", ".join(f"{seg.value} {us:.1f} us" for seg, us in by.items()))
        print("\nsample: each sample through the whole path on its own; batch: as hiptrack run, 20 ms ticks "
              "(cost per sample = tick / samples; tick p99 = the 99th percentile of a tick's whole time). "
              "Median, p99, mean: after calibration; CPU: the whole session, calibration included.")

        print("\nTargets (live):")
        sample_rows = [(s, r, runs) for s, r, mode, runs in rows if mode == "sample"]
        for sensors, rate, runs in sample_rows:
            m = med(runs, "median_us")
            print(f"  {sensors} x {rate} Hz, one sample at a time: median {m:.1f} us, under {TARGET_MEDIAN_US:g} us: "
                  f"{'MET' if m < TARGET_MEDIAN_US else 'MISSED'}")
        for sensors, rate, mode, runs in rows:
            if mode == "batch":
                m = med(runs, "median_us")
                print(f"  ({sensors} x {rate} Hz in 20 ms batches as hiptrack run feeds it: median {m:.1f} us per "
                      f"sample, {'under' if m < TARGET_MEDIAN_US else 'over'} {TARGET_MEDIAN_US:g} us)")
        for sensors, rate, mode, runs in rows:
            if (sensors, rate) == (3, 200):
                c = med(runs, "cpu_percent")
                print(f"  3 x 200 Hz, {mode}: {c:.2f} % of one core, under {TARGET_CPU_3X200:g} %: "
                      f"{'MET' if c < TARGET_CPU_3X200 else 'MISSED'}")

    if not args.skip_memory:
        print(f"\nMemory: a {args.memory_minutes:g}-minute session, 2 sensors x 100 Hz, {args.memory_mode} mode, "
              "in a child process ...", flush=True)
        mem = run_memory(args.memory_minutes, args.memory_mode, args.tracemalloc)
        marks = mem["marks"]
        assert isinstance(marks, list)
        print("\n| session minute | resident MB | Python heap MB (tracemalloc) |")
        print("|---|---|---|")
        for m in marks:
            traced = "-" if m["traced_mb"] != m["traced_mb"] else f"{m['traced_mb']:.1f}"
            print(f"| {m['minute']:g} | {m['rss_mb']:.1f} | {traced} |")
        since = "since the baseline" if mem["peak_reset"] else "of the whole process, the simulation included"
        print(f"\npeak resident {since}: {mem['peak_rss_mb']:.1f} MB (baseline {marks[0]['rss_mb']:.1f} MB); "
              f"{mem['samples']} samples, {mem['reps']} reps, {mem['wall_s']:.0f} s")
        by_minute = {round(m["minute"]): m["rss_mb"] for m in marks}
        first = min((k for k in by_minute if k >= 10), default=None)
        last = max(by_minute)
        if first is not None and last > first:
            growth = by_minute[last] - by_minute[first]
            print(f"  memory flat (resident growth from minute {first} to {last} under {FLAT_MB:g} MB): "
                  f"{'MET' if growth < FLAT_MB else 'MISSED'} ({growth:+.1f} MB, "
                  f"{growth / (last - first) * 60:+.1f} MB per hour)")
        growth_sites = mem.get("growth")
        if isinstance(growth_sites, list) and growth_sites:
            print(f"  grew most from minute 10 to {last} (tracemalloc): " + "; ".join(growth_sites[:5]))
    print(f"\nload after: {loadavg()}; whole benchmark {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
