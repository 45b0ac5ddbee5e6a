"""MbientLab MetaMotion boards (MetaWear firmware) over BLE, without MbientLab's SDK.

`protocol` is the wire format (UUIDs, module/register ids, command builders, notification parsers,
scale factors; pure), `clock` places timestamp-less streaming samples on the host clock and pairs
acc/gyro/mag into samples, `driver` is `MetaMotionSensor`, the `SensorLink` on bleak. The protocol
facts come from /work/shared/docs/ble-protocols.md; see protocol.py for which were checked against
the SDK's tests.
"""

from firmware_bridge.metawear.clock import GridTimeline, LowerEnvelope, SampleAssembler
from firmware_bridge.metawear.driver import SUPPORTED_RATES_HZ, MetaMotionSensor, choose_rate

__all__ = [
    "SUPPORTED_RATES_HZ",
    "GridTimeline",
    "LowerEnvelope",
    "MetaMotionSensor",
    "SampleAssembler",
    "choose_rate",
]
