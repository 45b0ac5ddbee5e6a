"""Arduino Nano 33 BLE / BLE Sense (Rev1 and Rev2) running hiptrack's own firmware.

The firmware lives in firmware_bridge/nano33_firmware/; `protocol` is its wire format (GATT UUIDs,
data packets, control commands, status and device info) and `clock` maps the device clock to the
host's.
"""

from firmware_bridge.nano33.clock import DeviceClock
from firmware_bridge.nano33.protocol import (
    CONTROL_UUID,
    DATA_UUID,
    INFO_UUID,
    SERVICE_UUID,
    STATUS_UUID,
    AccRange,
    Board,
    DecodedPacket,
    DeviceInfo,
    GyroRange,
    RawSample,
    SampleDecoder,
    SampleGap,
    StreamStatus,
    decode_packet,
    encode_control_identify,
    encode_control_start,
    encode_control_stop,
    encode_packet,
    parse_device_info,
    parse_status,
    samples_per_packet,
)

__all__ = [
    "CONTROL_UUID",
    "DATA_UUID",
    "INFO_UUID",
    "SERVICE_UUID",
    "STATUS_UUID",
    "AccRange",
    "Board",
    "DecodedPacket",
    "DeviceClock",
    "DeviceInfo",
    "GyroRange",
    "RawSample",
    "SampleDecoder",
    "SampleGap",
    "StreamStatus",
    "decode_packet",
    "encode_control_identify",
    "encode_control_start",
    "encode_control_stop",
    "encode_packet",
    "parse_device_info",
    "parse_status",
    "samples_per_packet",
]
