"""Streaming benchmark: several sensors at once through the real drivers, on emulated boards.

    .venv/bin/python benchmarks/streaming.py [--seconds S]

For each configuration (sensors x rate) the boards stream S seconds of a simulated session through
bleak's public API on bumble's in-process stack, in virtual time. Printed: samples delivered per
second per sensor (sustained rate), samples lost, and host CPU per sensor (process time per streamed
second). The CPU figure includes the emulated boards and both ends of the in-process Bluetooth stack,
so it is an upper bound of what the drivers cost with real radios.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware_bridge.ble.emulation import RadioWorld, run_in_virtual_time
from firmware_bridge.ble.emulation.metamotion import EmulatedMetaMotion
from firmware_bridge.ble.emulation.nano33 import EmulatedNano
from firmware_bridge.ble.sensor import SensorGap
from firmware_bridge.metawear.driver import MetaMotionSensor
from firmware_bridge.nano33.driver import NanoSensor
from firmware_bridge.simulator import simulate_session
from imu_core.frames import Segment
from imu_core.types import ImuSample

SEGMENTS = (Segment.THIGH, Segment.SHIN, Segment.PELVIS)


def run(n_sensors: int, rate_hz: int, seconds: float, family: str = "nano33") -> tuple[float, int, int, float]:
    sim = simulate_session(seed=5, reps=20, with_pelvis_sensor=True, rate_hz=float(rate_hz))
    delivered = {seg: 0 for seg in SEGMENTS[:n_sensors]}
    lost = {seg: 0 for seg in SEGMENTS[:n_sensors]}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with RadioWorld() as world:
            links = []
            for i, seg in enumerate(SEGMENTS[:n_sensors]):
                address = f"C0:FF:EE:00:00:{i + 1:02X}"
                stream = sim.recording.streams[seg]
                if family == "nano33":
                    await world.add(EmulatedNano(f"hiptrack-{i}", address, stream, seed=i))
                    links.append(NanoSensor(address, seg, client_backend=world.client_backend, clock=loop.time))
                else:
                    await world.add(EmulatedMetaMotion("MetaWear", address, stream, source_rate_hz=float(rate_hz)))
                    links.append(MetaMotionSensor(address, seg, client_backend=world.client_backend,
                                                  clock=loop.time))

            def counter(seg: Segment):  # type: ignore[no-untyped-def]
                def on_samples(samples: list[ImuSample]) -> None:
                    delivered[seg] += len(samples)

                def on_gap(gap: SensorGap) -> None:
                    lost[seg] += gap.samples_lost
                return on_samples, on_gap

            await asyncio.gather(*(link.start(rate_hz, *counter(link.segment)) for link in links))
            await asyncio.sleep(seconds)
            await asyncio.gather(*(link.stop() for link in links))

    cpu0 = time.process_time()
    run_in_virtual_time(main())
    cpu = time.process_time() - cpu0
    per_sensor_rate = sum(delivered.values()) / n_sensors / seconds
    return per_sensor_rate, sum(delivered.values()), sum(lost.values()), cpu / n_sensors / seconds * 1000.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0, help="streamed (virtual) seconds per configuration")
    args = ap.parse_args()
    print(f"{'sensor':<11} {'n':>2} {'rate':>6} {'sustained/sensor':>17} {'delivered':>10} {'lost':>5} "
          f"{'CPU per sensor':>15}")
    for family in ("nano33", "metamotion"):
        for n in (1, 2, 3):
            for rate in (100, 200):
                sustained, delivered, lost, cpu_ms = run(n, rate, args.seconds, family)
                print(f"{family:<11} {n:>2} {rate:>5}Hz {sustained:>14.1f} Hz {delivered:>10} {lost:>5} "
                      f"{cpu_ms:>9.1f} ms/s")
    print("CPU per sensor = host process time per streamed second per sensor, including the emulated boards and "
          "both ends of the in-process stack (an upper bound of the drivers' cost).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
