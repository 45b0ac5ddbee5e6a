"""`hiptrack run --source mqtt`: whole guided sessions on samples that come from a bridge through a real
broker (mosquitto). The bridge (`firmware_bridge.mqtt.bridge`, as `run_bridge` runs it) plays a simulated
person on its own clock (5000 s ahead of the host's, 20 ppm fast); `MqttSensorLink`s take the streams
from the broker, and the unchanged merge, guide, pipeline and store run on them.

Checked, with three sessions side by side (each on its own broker, since two of them stop theirs):

* A, a clean broker with a meddling client (malformed payloads and duplicated batches on the bridge's
  topics): the session's analysis is the local analysis of the same recording; the store holds exactly
  the samples the bridge got, on a timeline that follows the bridge's clock within 3 ms once the
  clock settled (in the first seconds, while the smallest delay is still being found: within a batch
  interval); the bad
  payloads are counted and change nothing.
* B, samples lost on the radio (a packet_loss gap reported by the bridge) and the broker stopped for
  1.5 s mid-rep: nothing held by the bridge is lost; the only gap is the radio's, passed on.
* C, the broker stopped for longer than the bridge's (shrunk) buffer: the bridge drops the oldest
  batches, and exactly those samples are marked as a 'broker' gap.

Real time is needed, so the file takes about 35 s.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mosquitto import Broker
from mqtt_helpers import (
    Meddler,
    SimulatedBridge,
    account,
    host_of_bridge,
    lag_spread,
    without,
)

from firmware_bridge.ble.reconnect import ReconnectPolicy
from firmware_bridge.errors import MqttConnectionError, SensorLinkError, SensorStartError
from firmware_bridge.mqtt.codec import HEADER, encode_batch
from firmware_bridge.mqtt.link import (
    BROKER_GAP,
    BridgeClock,
    MqttBridgeSubscription,
    MqttSensorLink,
    bridge_streams,
    mqtt_assignments,
    mqtt_link_factory,
)
from firmware_bridge.mqtt.settings import MqttSettings
from firmware_bridge.mqtt.topics import bridge_root, stream_data, stream_desc, stream_gap
from firmware_bridge.simulator import SimulatedSession, simulate_session
from imu_core.frames import Segment, Side
from imu_core.types import ImuSample, MarkerLabel
from tracker.analysis import AnalysisResult
from tracker.exercises import SEATED_IR
from tracker.guide import GuidePlan
from tracker.live_run import run_session_with_sensors
from tracker.offline import analyse_recording
from tracker.store import SessionStore

REPS = 2
THIGH, SHIN = Segment.THIGH, Segment.SHIN
P = "hiptrack/v1"


def plan_for(sim: SimulatedSession) -> GuidePlan:
    """The guide's phases as the simulated person performs them, from Start (tests/test_run_from_page.py)."""
    m = {mk.label: mk.t for mk in sim.recording.markers}
    return GuidePlan(lead_in_s=m[MarkerLabel.CALIBRATION_STATIC],
                     still_s=m[MarkerLabel.CALIBRATION_SWING] - m[MarkerLabel.CALIBRATION_STATIC],
                     swing_s=m[MarkerLabel.EXERCISE_START] - m[MarkerLabel.CALIBRATION_SWING],
                     settle_s=0.0, reps=REPS, max_exercise_s=60.0, after_last_rep_s=0.5)


@dataclass
class Outcome:
    store: SessionStore
    bridge: SimulatedBridge
    links: list[MqttSensorLink]
    sid: int = 0
    result: AnalysisResult | None = None
    person_ahead_s: float = 0.0
    """How long before the guide's Start the simulated person began (the links connecting meanwhile)."""
    latencies_s: list[float] = field(default_factory=list)
    """Per batch: from the bridge handing it to its MQTT client to the link handing its samples on."""
    seen: dict[str, Any] = field(default_factory=dict)


async def run_session(broker: Broker, store_path: Path, sim: SimulatedSession, bridge_id: str, *,
                      streams: dict[Segment, Any] | None = None, bridge_options: dict[str, Any] | None = None,
                      during: Callable[[Outcome], Awaitable[None]] | None = None,
                      meddler: Meddler | None = None) -> Outcome:
    """Bridge -> broker -> links -> run_session_with_sensors. The session starts first (its links wait for
    the bridge's streams, as `hiptrack run` waits for sensors), then the bridge; the guide starts when
    the links stream, as when Start is pressed."""
    settings = MqttSettings.from_url(broker.url)
    loop = asyncio.get_running_loop()
    bridge = SimulatedBridge(settings, bridge_id, streams or dict(sim.recording.streams), bridge_options or {})
    link_for = mqtt_link_factory(settings, bridge_id)
    links = [link_for(a) for a in mqtt_assignments(bridge_id, Side.LEFT)]
    mlinks = [link for link in links if isinstance(link, MqttSensorLink)]
    assert len(mlinks) == 2 and mlinks[0].subscription is mlinks[1].subscription  # one connection per bridge
    out = Outcome(SessionStore.open(store_path), bridge, mlinks)
    for link in mlinks:
        _measure_latency(link, bridge, out.latencies_s)
    go, stop_bridge = asyncio.Event(), asyncio.Event()

    async def press_start() -> None:
        while not all(link.stats.connected for link in mlinks):
            await asyncio.sleep(0.005)
        go.set()
        assert bridge.group.at is not None
        out.person_ahead_s = time.monotonic() - float(host_of_bridge(bridge.group.at))
        if during is not None:
            await during(out)

    tasks = [loop.create_task(press_start(), name="press-start")]
    if meddler is not None:
        tasks.append(loop.create_task(meddler.run(go), name="meddler"))
    session = loop.create_task(run_session_with_sensors(links, SEATED_IR, Side.LEFT, out.store, plan_for(sim),
                                                        rate_hz=100.0, start=go), name=f"session-{bridge_id}")
    await asyncio.sleep(0.1)
    playing = loop.create_task(bridge.run(stop_bridge), name=f"bridge-{bridge_id}")
    try:
        out.sid, out.result = await session
        await tasks[0]
    finally:
        stop_bridge.set()
        for task in tasks:
            task.cancel()
        helpers = await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.wait_for(playing, 10)
    failed = [e for e in helpers if isinstance(e, Exception)]
    if failed:
        raise failed[0]
    return out


def _measure_latency(link: MqttSensorLink, bridge: SimulatedBridge, out: list[float]) -> None:
    """The bridge's publish call -> the link's on_samples (on_batch hands them on before it returns)."""
    inner = link.on_batch

    def on_batch(payload: bytes, host_t: float) -> None:
        inner(payload, host_t)
        if len(payload) >= HEADER.size:
            sent = bridge.publish_time.get((link.segment, HEADER.unpack_from(payload)[4]))
            if sent is not None:
                out.append(time.monotonic() - sent)

    link.on_batch = on_batch  # type: ignore[method-assign]


def nan_batch() -> bytes:
    payload = bytearray(encode_batch([ImuSample(1.0, THIGH, (0.0, 0.0, 9.81), (0.0, 0.0, 0.0))], 3))
    payload[24:28] = np.float32(np.nan).tobytes()  # acc x
    return bytes(payload)


def test_sessions_through_a_broker_match_the_local_analysis_and_account_for_every_sample(tmp_path: Path) -> None:
    sim = simulate_session(seed=41, side=Side.LEFT, reps=REPS)
    local, _, _ = analyse_recording(sim.recording)
    valid = encode_batch([ImuSample(float(i), THIGH, (0.0, 0.0, 9.81), (0.0, 0.0, 0.0)) for i in range(3)], 7)
    bad = [(2.0, stream_data(P, "ht-a", THIGH), b"garbage"),
           (2.5, stream_data(P, "ht-a", SHIN), valid[:-5]),                       # wrong length
           (3.0, f"{bridge_root(P, 'ht-a')}/thigh/later-version", b"ignored"),     # not a topic we read
           (5.0, stream_gap(P, "ht-a", THIGH), b"{not json"),
           (5.5, stream_data(P, "ht-a", THIGH), b"XXXX" + valid[4:]),             # wrong magic
           (9.0, stream_data(P, "ht-a", SHIN), b""),
           (9.5, stream_desc(P, "ht-a", SHIN), b'{"format": "something-else/9"}'),
           (15.0, stream_gap(P, "ht-a", SHIN), b'{"t_start": 1, "t_end": 0, "samples_lost": 1, "reason": "x"}'),
           (16.0, stream_data(P, "ht-a", THIGH), nan_batch())]
    meddlers: list[Meddler] = []
    radio_loss = slice(1500, 1505)  # thigh samples at 15.00-15.04 s never reach the bridge
    streams_b = {THIGH: without(sim.recording.streams[THIGH], radio_loss), SHIN: sim.recording.streams[SHIN]}

    def outage(broker: Broker, at_s: float, down_s: float) -> Callable[[Outcome], Awaitable[None]]:
        async def during(out: Outcome) -> None:
            await asyncio.sleep(at_s)
            await asyncio.to_thread(broker.stop)  # SIGTERM: it keeps the sessions and their queues
            await asyncio.sleep(min(0.7, down_s))
            out.seen["connected_while_down"] = [link.stats.connected for link in out.links]
            await asyncio.sleep(max(0.0, down_s - 0.7))
            await asyncio.to_thread(broker.start)
        return during

    async def main() -> tuple[Outcome, Outcome, Outcome]:
        with Broker() as broker_a, Broker() as broker_b, Broker() as broker_c:
            meddler = Meddler(MqttSettings.from_url(broker_a.url), "ht-a", bad=bad,
                              repeat=[*range(500, 510), *range(1500, 1510)])
            meddlers.append(meddler)
            return await asyncio.gather(
                run_session(broker_a, tmp_path / "a.sqlite3", sim, "ht-a", meddler=meddler),
                run_session(broker_b, tmp_path / "b.sqlite3", sim, "ht-b", streams=streams_b,
                            during=outage(broker_b, 21.0, 1.5)),
                run_session(broker_c, tmp_path / "c.sqlite3", sim, "ht-c", bridge_options={"buffer_s": 0.5},
                            during=outage(broker_c, 18.2, 2.0)))

    a, b, c = asyncio.run(main())
    meddler = meddlers[0]
    assert a.result is not None and b.result is not None

    # --- A: the local analysis, every sample, the bad payloads counted and ignored
    with a.store:
        assert a.store.get_session(a.sid).status == "complete"
        assert a.store.load_gaps(a.sid) == []
        stored = a.store.load_recording(a.sid)
    spreads = {}
    for seg in (THIGH, SHIN):
        s = stored.streams[seg]
        missing, matched = account(a.bridge.taps[seg].samples, s.acc, s.gyr)
        assert missing == [] and matched[0] == 0, (seg, missing[:3])
        spreads[seg] = lag_spread(s.t, a.bridge.taps[seg].samples, matched)
    assert meddler.sent_bad == len(bad)
    assert {link.segment: link.stats.packets_corrupt for link in a.links} == {THIGH: 4, SHIN: 4}
    assert all(link.duplicates == meddler.repeated.get(link.segment, 0) > 0 for link in a.links), meddler.repeated
    assert all(link.stats.samples_lost == 0 and link.stats.reconnects == 0 for link in a.links)
    assert len(a.result.reps) == len(local.reps) == REPS
    diffs = [abs(r.peak_ir_deg - q.peak_ir_deg) for r, q in zip(a.result.reps, local.reps, strict=True)]
    assert max(diffs) < 0.5, diffs
    for rep, true in zip(a.result.reps, sim.truth_reps, strict=True):
        assert rep.peak_ir_deg == pytest.approx(true.peak_ir_deg, abs=1.5)
    offline, _, _ = analyse_recording(stored)  # the stored session analysed again gives the same
    assert [round(r.peak_ir_deg, 3) for r in offline.reps] == [round(r.peak_ir_deg, 3) for r in a.result.reps]
    assert max(whole for whole, _ in spreads.values()) < 0.050, spreads  # the first batches: a batch interval
    assert max(settled for _, settled in spreads.values()) < 0.003, spreads

    # --- B: the broker away for 1.5 s loses nothing the bridge holds; the radio's gap is passed on
    with b.store:
        assert b.store.get_session(b.sid).status == "complete"
        gaps = b.store.load_gaps(b.sid)
        stored = b.store.load_recording(b.sid)
    assert len(gaps) == 1 and gaps[0][0] == "thigh" and gaps[0][3:] == (5, "packet_loss"), gaps
    for seg in (THIGH, SHIN):
        s = stored.streams[seg]
        missing, matched = account(b.bridge.taps[seg].samples, s.acc, s.gyr)
        assert missing == [] and matched[0] == 0, (seg, missing[:3])
        assert lag_spread(s.t, b.bridge.taps[seg].samples, matched)[1] < 0.003
    # against the simulated person: the 5 samples lost on the radio, exactly where the gap is marked
    thigh = stored.streams[THIGH]
    rec_thigh = [ImuSample(float(t), THIGH, tuple(acc), tuple(gyr))  # type: ignore[arg-type]
                 for t, acc, gyr in zip(sim.recording.streams[THIGH].t, sim.recording.streams[THIGH].acc,
                                        sim.recording.streams[THIGH].gyr, strict=True)]
    missing, matched = account(rec_thigh, thigh.acc, thigh.gyr)
    assert missing == [(1500, 5)]
    before = int(np.nonzero(matched == 1499)[0][0])
    assert (thigh.t[before], thigh.t[before + 1]) == pytest.approx(gaps[0][1:3], abs=0.002)
    assert b.seen["connected_while_down"] == [False, False]
    assert all(link.stats.reconnects >= 1 and link.stats.connected is False for link in b.links)
    assert b.bridge.stats is not None and b.bridge.stats.dropped_samples == 0
    assert len(b.result.reps) == REPS

    # --- C: the broker away for longer than the bridge's buffer: the samples it dropped are a broker gap
    with c.store:
        assert c.store.get_session(c.sid).status == "complete"
        gaps = c.store.load_gaps(c.sid)
        stored = c.store.load_recording(c.sid)
    for seg in (THIGH, SHIN):
        s = stored.streams[seg]
        missing, matched = account(c.bridge.taps[seg].samples, s.acc, s.gyr)
        seg_gaps = [g for g in gaps if g[0] == seg.value]
        dropped = c.bridge.channel(seg).dropped_samples
        assert dropped > 0 and [n for _, n in missing] == [g[3] for g in seg_gaps] == [dropped], (seg, seg_gaps)
        assert all(g[4] == BROKER_GAP for g in seg_gaps)
        gap = seg_gaps[0]  # from the last sample before to the first after: lost + 1 sample periods
        assert gap[2] - gap[1] == pytest.approx((gap[3] + 1) / 100.0, abs=0.01)  # the samples jitter
        assert lag_spread(s.t, c.bridge.taps[seg].samples, matched)[1] < 0.003

    lat = sorted(a.latencies_s)
    print(f"\nbridge publish -> on_samples, {len(lat)} batches: median {1e3 * statistics.median(lat):.2f} ms, "
          f"p95 {1e3 * lat[int(0.95 * len(lat))]:.2f} ms, max {1e3 * lat[-1]:.2f} ms; "
          f"peaks vs local {[round(d, 4) for d in diffs]} deg; timeline spread (whole, after 10 s) "
          f"{[(round(w * 1e3, 2), round(s * 1e3, 2)) for w, s in spreads.values()]} ms; person ahead of "
          f"Start {[round(o.person_ahead_s * 1e3) for o in (a, b, c)]} ms; C dropped "
          f"{[c.bridge.channel(seg).dropped_samples for seg in (THIGH, SHIN)]}")
    assert statistics.median(lat) < 0.05


# ------------------------------------------------------------------------------ starting (quick)
QUICK = ReconnectPolicy(first_backoff_s=0.05, max_backoff_s=0.2, episode_timeout_s=1.0, attempt_timeout_s=1.0)


def test_a_stream_at_another_rate_or_missing_or_no_broker_is_refused_with_a_clear_error() -> None:
    sim = simulate_session(seed=3, reps=1)

    async def main() -> None:
        with Broker() as broker:
            settings = MqttSettings.from_url(broker.url)
            bridge = SimulatedBridge(settings, "ht-rate", {THIGH: sim.recording.streams[THIGH]})
            stop = asyncio.Event()
            playing = asyncio.get_running_loop().create_task(bridge.run(stop))
            sub = MqttBridgeSubscription(settings, "ht-rate", policy=QUICK)
            with pytest.raises(SensorStartError, match=r"streams at 100 Hz, but this session runs at 50 Hz"):
                await sub.link(THIGH).start(50.0, lambda s: None, lambda g: None)
            with pytest.raises(SensorLinkError, match=r"publishes no shin stream.*streams described: thigh"):
                await sub.link(SHIN).start(100.0, lambda s: None, lambda g: None)
            descriptions, status = await bridge_streams(settings, "ht-rate")
            assert list(descriptions) == [THIGH] and descriptions[THIGH]["rate_hz"] == 100.0
            assert status is not None and status["state"] == "online"
            got: list[ImuSample] = []
            await sub.link(THIGH).start(100.0, got.extend, lambda g: None)
            await asyncio.sleep(0.3)
            assert got and sub.link(THIGH).model == "simulated" and sub.link(THIGH).stats.battery_percent is None
            await sub.link(THIGH).stop()
            stop.set()
            await playing
            assert not sub.connected
            broker.stop()
            with pytest.raises(MqttConnectionError, match="could not be reached"):
                await sub.link(THIGH).start(100.0, lambda s: None, lambda g: None)

    asyncio.run(main())


def test_the_bridge_clock_ignores_delays_and_backlogs_and_follows_drift_and_steps() -> None:
    clock = BridgeClock()
    rng = np.random.default_rng(1)
    offset, drift = 123.4, 50e-6
    for k in range(2000):  # 100 s of batches, 20 per second, 0.5 ms + 0-20 ms late
        bridge_t = 0.05 * k
        clock.update(bridge_t, bridge_t * (1 + drift) + offset + 0.0005 + rng.exponential(0.004))
        if k == 1000:  # then a 30 s backlog in one burst, 2 s late and more
            for j in range(600):
                clock.update(bridge_t - 30 + 0.05 * j, bridge_t * (1 + drift) + offset + 2.0 + 0.0001 * j)
            assert clock.to_host(bridge_t) == pytest.approx(bridge_t * (1 + drift) + offset + 0.0005, abs=0.002)
    last = 0.05 * 1999
    assert clock.to_host(last) == pytest.approx(last * (1 + drift) + offset + 0.0005, abs=0.002)
    # the bridge's clock steps (its machine restarted): after 10 s of it on both clocks, the fit follows
    for k in range(2000, 2300):
        bridge_t = 0.05 * k - 1000.0
        clock.update(bridge_t, 0.05 * k * (1 + drift) + offset + 0.0005)
    assert clock.steps == 1
    assert clock.to_host(0.05 * 2299 - 1000.0) == pytest.approx(0.05 * 2299 * (1 + drift) + offset + 0.0005,
                                                                abs=0.002)
