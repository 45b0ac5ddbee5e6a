"""A whole live session with emulated sensors: the unchanged drivers (through bleak's backend hook, on
bumble's in-process stack), the time-ordered merge, the session guide, the pipeline and the store.
The emulated boards play a ground-truth simulated person; what the session stored is checked against
what that person did, and against an offline analysis of the session's export."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.ble.emulation import RadioWorld, run_in_virtual_time
from firmware_bridge.ble.emulation.metamotion import EmulatedMetaMotion
from firmware_bridge.ble.emulation.nano33 import EmulatedNano
from firmware_bridge.ble.sensor import SensorLink
from firmware_bridge.metawear.driver import MetaMotionSensor
from firmware_bridge.nano33.driver import NanoSensor
from firmware_bridge.simulator import simulate_session
from imu_core.frames import Segment, Side
from imu_core.types import MarkerLabel
from tracker.exercises import SEATED_IR
from tracker.guide import GuidePlan
from tracker.live_run import run_session_with_sensors
from tracker.offline import analyse_recording
from tracker.store import SessionStore

ADDRESSES = {Segment.THIGH: "C0:FF:EE:00:00:01", Segment.SHIN: "C0:FF:EE:00:00:02"}


def plan_for(rec_markers: dict[str, float], reps: int, connect_s: float) -> GuidePlan:
    """Guide timing matching the simulated person's script (the boards start at our START)."""
    static, swing, start = (rec_markers[MarkerLabel.CALIBRATION_STATIC], rec_markers[MarkerLabel.CALIBRATION_SWING],
                            rec_markers[MarkerLabel.EXERCISE_START])
    return GuidePlan(lead_in_s=static + connect_s, still_s=swing - static, swing_s=start - swing, settle_s=0.0,
                     reps=reps, max_exercise_s=120.0, after_last_rep_s=0.5)


def run_case(tmp_path: Path, *, lose_link_at_s: float | None = None,
             thigh_metamotion: bool = False) -> tuple[SessionStore, int, object]:
    sim = simulate_session(seed=41, side=Side.LEFT, reps=3)
    markers = {m.label: m.t for m in sim.recording.markers}
    store = SessionStore.open(tmp_path / "live.sqlite3")

    async def main() -> tuple[int, object]:
        loop = asyncio.get_running_loop()
        async with RadioWorld() as world:
            # one simulated person: every board plays its stream on the world's clock from now
            epoch = loop.time()
            boards: dict[Segment, EmulatedNano | EmulatedMetaMotion] = {}
            links: list[SensorLink] = []
            for i, seg in enumerate((Segment.THIGH, Segment.SHIN)):
                stream = sim.recording.streams[seg]
                if seg is Segment.THIGH and thigh_metamotion:
                    boards[seg] = await world.add(EmulatedMetaMotion("MetaWear", ADDRESSES[seg], stream))
                    links.append(MetaMotionSensor(ADDRESSES[seg], seg, client_backend=world.client_backend,
                                                  clock=loop.time))
                else:
                    boards[seg] = await world.add(EmulatedNano(
                        f"hiptrack-{seg.value}", ADDRESSES[seg], stream, clock_offset_s=100.0 * (i + 1),
                        clock_drift_ppm=(40.0, -25.0)[i], notify_jitter_s=0.002, seed=i, source_epoch=epoch))
                    links.append(NanoSensor(ADDRESSES[seg], seg, client_backend=world.client_backend,
                                            clock=loop.time))
            async def drop() -> None:
                if lose_link_at_s is not None:
                    await asyncio.sleep(lose_link_at_s)
                    await world.lose_link(boards[Segment.THIGH])

            dropper = loop.create_task(drop(), name="lose-link")
            sid, result = await run_session_with_sensors(
                links, SEATED_IR, Side.LEFT, store, plan_for(markers, 3, connect_s=0.0), rate_hz=100.0,
                source_kwargs={"clock": loop.time})
            await dropper
            # nothing left streaming
            assert not any(b.is_streaming if isinstance(b, EmulatedMetaMotion) else b.streaming
                           for b in boards.values())
            return sid, result

    sid, result = run_in_virtual_time(main())
    return store, sid, (sim, result)


def test_live_session_with_emulated_sensors_matches_truth_and_offline(tmp_path: Path) -> None:
    store, sid, (sim, result) = run_case(tmp_path)
    with store:
        info = store.get_session(sid)
        assert info.status == "complete" and info.source == "live"
        assert store.load_gaps(sid) == []
        rec = store.load_recording(sid)
    assert len(result.reps) == 3
    for rep, true in zip(result.reps, sim.truth_reps, strict=True):
        assert rep.peak_ir_deg == pytest.approx(true.peak_ir_deg, abs=1.5)
    offline, _, _ = analyse_recording(rec)
    assert [round(r.peak_ir_deg, 3) for r in offline.reps] == [round(r.peak_ir_deg, 3) for r in result.reps]
    assert np.all(np.diff([m.t for m in rec.markers]) > 0)


def test_a_dropped_sensor_reconnects_and_the_gap_is_marked(tmp_path: Path) -> None:
    first_rep_end = simulate_session(seed=41, side=Side.LEFT, reps=3).truth_reps[0].end
    store, sid, (_sim, result) = run_case(tmp_path, lose_link_at_s=first_rep_end + 0.5)  # resting after rep 1
    with store:
        gaps = store.load_gaps(sid)
    assert gaps and gaps[0][0] == "thigh" and gaps[0][4] == "disconnect" and gaps[0][3] > 0
    assert len(result.reps) == 3


def test_a_metamotion_and_a_nano_in_one_session(tmp_path: Path) -> None:
    store, sid, (sim, result) = run_case(tmp_path, thigh_metamotion=True)
    with store:
        info = store.get_session(sid)
        rec = store.load_recording(sid)
    assert info.status == "complete"
    assert len(result.reps) == 3
    for rep, true in zip(result.reps, sim.truth_reps, strict=True):
        assert rep.peak_ir_deg == pytest.approx(true.peak_ir_deg, abs=1.5)
    assert len(rec.streams[Segment.THIGH]) > 0 and len(rec.streams[Segment.SHIN]) > 0


def test_scan_finds_supported_sensors_and_ignores_others() -> None:
    from firmware_bridge.ble.emulation import CharacteristicSpec, EmulatedPeripheral, ServiceSpec
    from firmware_bridge.ble.scan import scan

    stream = simulate_session(seed=3, reps=1).recording.streams[Segment.SHIN]

    async def main() -> list[tuple[str, str]]:
        async with RadioWorld() as world:
            await world.add(EmulatedNano("hiptrack-0001", ADDRESSES[Segment.THIGH], stream))
            await world.add(EmulatedMetaMotion("MetaWear", ADDRESSES[Segment.SHIN], stream))
            await world.add(EmulatedPeripheral("heart-rate", "C0:FF:EE:00:00:09", services=(ServiceSpec(
                "0000180d-0000-1000-8000-00805f9b34fb", (CharacteristicSpec(
                    "00002a37-0000-1000-8000-00805f9b34fb", ("notify",)),)),)))
            found = await scan(2.0, scanner_backend=world.scanner_backend)
            return sorted((f.address, f.family) for f in found)

    expected = [(ADDRESSES[Segment.THIGH], "nano33"), (ADDRESSES[Segment.SHIN], "metamotion")]
    assert run_in_virtual_time(main()) == expected
