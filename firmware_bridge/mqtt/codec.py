"""Payloads of docs/mqtt.md: the binary sample batch `hiptrack-imu-batch/1`, the stream description, gaps
and the bridge's status.

A batch is a 16-byte header and `count` fixed-size little-endian records, read and written with numpy
structured dtypes (one `np.frombuffer`, no per-byte Python work): the bridge encodes one per sensor
every 50 ms, and a consumer of 20 bridges decodes 40 per 50 ms.

Everything that parses raises `PayloadError` (a `ValueError`) saying what is wrong; a batch raises
its subclass `BatchError`. Consumers count those and carry on (docs/mqtt.md, 'Robustness').
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from firmware_bridge.ble.sensor import SensorGap
from imu_core.frames import Segment
from imu_core.types import ImuSample

FORMAT = "hiptrack-imu-batch/1"
MAGIC = b"HTB1"
FLAG_MAG = 0x01
HEADER = struct.Struct("<4sBBHI4s")
HEADER_SIZE = HEADER.size  # 16
RECORD = np.dtype([("t", "<f8"), ("acc", "<f4", (3,)), ("gyr", "<f4", (3,))])
RECORD_MAG = np.dtype([("t", "<f8"), ("acc", "<f4", (3,)), ("gyr", "<f4", (3,)), ("mag", "<f4", (3,))])
MAX_COUNT = 0xFFFF
INDEX_MODULUS = 1 << 32
"""first_index is a uint32."""
UNITS = {"t": "s", "acc": "m/s^2", "gyr": "rad/s", "mag": "uT"}
GAP_REASONS = ("packet_loss", "disconnect", "broker")
"""A bridge publishes the first two; a consumer adds 'broker' for batches it never got."""
STATUS_STATES = ("online", "offline")

assert HEADER_SIZE == 16 and RECORD.itemsize == 32 and RECORD_MAG.itemsize == 44


class PayloadError(ValueError):
    """A payload on one of our topics does not parse: the message says what is wrong."""


class BatchError(PayloadError):
    """A `hiptrack-imu-batch/1` payload is malformed (short, wrong magic, flags, count or length, bad values)."""


# ------------------------------------------------------------------------------------------ batches
@dataclass(frozen=True)
class BatchArrays:
    """A decoded batch as arrays (float64), for consumers that work on arrays."""

    first_index: int
    t: np.ndarray
    """(N,) s, the bridge's monotonic clock"""
    acc: np.ndarray
    """(N, 3) m/s²"""
    gyr: np.ndarray
    """(N, 3) rad/s"""
    mag: np.ndarray | None
    """(N, 3) µT, or None"""

    def __len__(self) -> int:
        return int(self.t.shape[0])


@dataclass(frozen=True)
class DecodedBatch:
    first_index: int
    """Running sample number of samples[0] in its stream."""
    samples: list[ImuSample]

    @property
    def next_index(self) -> int:
        """first_index of the batch that follows this one without a gap."""
        return self.first_index + len(self.samples)


def encode_arrays(t: np.ndarray, acc: np.ndarray, gyr: np.ndarray, mag: np.ndarray | None, first_index: int) -> bytes:
    """A batch from arrays: t (N,), acc, gyr and mag (N, 3) (mag None: no magnetometer values)."""
    n = int(np.shape(t)[0])
    if not 1 <= n <= MAX_COUNT:
        raise BatchError(f"a batch holds 1 to {MAX_COUNT} samples, not {n}")
    if not 0 <= first_index < INDEX_MODULUS:
        raise BatchError(f"first_index {first_index} does not fit a uint32")
    records = np.empty(n, RECORD if mag is None else RECORD_MAG)
    records["t"] = t
    records["acc"] = acc
    records["gyr"] = gyr
    if mag is not None:
        records["mag"] = mag
    header = HEADER.pack(MAGIC, 0 if mag is None else FLAG_MAG, 0, n, first_index, b"\0\0\0\0")
    return header + records.tobytes()


def encode_batch(samples: Sequence[ImuSample], first_index: int) -> bytes:
    """One batch of one sensor's samples (time ascending). Magnetometer values are sent when every
    sample has them. acc, gyr and mag are float32 on the wire, t float64."""
    if not samples:
        raise BatchError("a batch holds at least one sample")
    has_mag = all(s.mag is not None for s in samples)
    return encode_arrays(
        np.fromiter((s.t for s in samples), np.float64, len(samples)),
        np.array([s.acc for s in samples], np.float32),
        np.array([s.gyr for s in samples], np.float32),
        np.array([s.mag for s in samples], np.float32) if has_mag else None,
        first_index,
    )


def decode_arrays(payload: bytes) -> BatchArrays:
    """Check and decode a batch into arrays (BatchError saying what is wrong)."""
    size = len(payload)
    if size < HEADER_SIZE:
        raise BatchError(f"batch too short: {size} bytes, the header alone is {HEADER_SIZE}")
    magic, flags, reserved, count, first_index, reserved2 = HEADER.unpack_from(payload)
    if magic != MAGIC:
        raise BatchError(f"wrong magic {magic!r}: not a {FORMAT} batch (expected {MAGIC!r})")
    if flags & ~FLAG_MAG:
        raise BatchError(f"unknown flags 0x{flags:02x} (only bit 0, magnetometer, is defined in {FORMAT})")
    if reserved != 0 or reserved2 != b"\0\0\0\0":
        raise BatchError(f"reserved header bytes are not 0 (not a {FORMAT} batch)")
    if count == 0:
        raise BatchError("count is 0: a batch holds at least one sample")
    record = RECORD_MAG if flags & FLAG_MAG else RECORD
    expected = HEADER_SIZE + count * record.itemsize
    if size != expected:
        raise BatchError(f"length {size} bytes does not match count {count} of {record.itemsize}-byte records "
                         f"({'with' if flags & FLAG_MAG else 'without'} magnetometer): expected {expected}")
    records = np.frombuffer(payload, record, count, HEADER_SIZE)
    t = records["t"].astype(np.float64)
    acc = records["acc"].astype(np.float64)
    gyr = records["gyr"].astype(np.float64)
    mag = records["mag"].astype(np.float64) if flags & FLAG_MAG else None
    finite = np.isfinite(t) & np.isfinite(acc).all(axis=1) & np.isfinite(gyr).all(axis=1)
    if mag is not None:
        finite &= np.isfinite(mag).all(axis=1)
    if not finite.all():
        raise BatchError(f"record {int(np.argmin(finite))} holds a value that is not finite (NaN or infinity)")
    if count > 1 and (np.diff(t) < 0.0).any():
        raise BatchError(f"times go backwards at record {int(np.argmax(np.diff(t) < 0.0)) + 1}")
    return BatchArrays(int(first_index), t, acc, gyr, mag)


def decode_batch(payload: bytes, segment: Segment) -> DecodedBatch:
    """Check and decode a batch into `ImuSample`s of `segment` (BatchError saying what is wrong)."""
    arrays = decode_arrays(payload)
    ts: list[float] = arrays.t.tolist()
    accs: list[list[float]] = arrays.acc.tolist()
    gyrs: list[list[float]] = arrays.gyr.tolist()
    if arrays.mag is None:
        samples = [ImuSample(t, segment, (a[0], a[1], a[2]), (g[0], g[1], g[2]))
                   for t, a, g in zip(ts, accs, gyrs, strict=True)]
    else:
        mags: list[list[float]] = arrays.mag.tolist()
        samples = [ImuSample(t, segment, (a[0], a[1], a[2]), (g[0], g[1], g[2]), (m[0], m[1], m[2]))
                   for t, a, g, m in zip(ts, accs, gyrs, mags, strict=True)]
    return DecodedBatch(arrays.first_index, samples)


# ------------------------------------------------------------------------------------------ JSON
def to_json(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def _json_object(payload: bytes | str, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise PayloadError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise PayloadError(f"{what} is not a JSON object but {type(obj).__name__}")
    return obj


def _number(obj: Mapping[str, Any], key: str, what: str, *, positive: bool = False) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PayloadError(f"{what}: {key!r} must be a finite number, not {value!r}")
    if positive and value <= 0:
        raise PayloadError(f"{what}: {key!r} must be positive, not {value!r}")
    return float(value)


def _segment(obj: Mapping[str, Any], what: str) -> Segment:
    try:
        return Segment(str(obj.get("segment")))
    except ValueError:
        raise PayloadError(f"{what}: unknown segment {obj.get('segment')!r}") from None


def stream_description(segment: Segment, model: str, rate_hz: float, has_mag: bool) -> dict[str, Any]:
    """The retained `desc` of a sensor's stream."""
    return {"format": FORMAT, "segment": Segment(segment).value, "model": model, "rate_hz": float(rate_hz),
            "has_mag": bool(has_mag), "clock": "bridge", "units": dict(UNITS)}


def parse_description(payload: bytes | str) -> dict[str, Any]:
    """Check a `desc` payload; the dict as sent, with `segment` a `Segment` (PayloadError otherwise).
    Keys this version does not know are kept."""
    what = "stream description"
    desc = _json_object(payload, what)
    if desc.get("format") != FORMAT:
        raise PayloadError(f"{what}: unknown format {desc.get('format')!r} (this version reads {FORMAT})")
    desc["segment"] = _segment(desc, what)
    if not isinstance(desc.get("model"), str):
        raise PayloadError(f"{what}: 'model' must be a string, not {desc.get('model')!r}")
    desc["rate_hz"] = _number(desc, "rate_hz", what, positive=True)
    if not isinstance(desc.get("has_mag"), bool):
        raise PayloadError(f"{what}: 'has_mag' must be true or false, not {desc.get('has_mag')!r}")
    if desc.get("clock", "bridge") != "bridge":
        raise PayloadError(f"{what}: unknown clock {desc.get('clock')!r} (expected 'bridge')")
    units = desc.get("units", UNITS)
    if not isinstance(units, dict) or any(units.get(k, v) != v for k, v in UNITS.items()):
        raise PayloadError(f"{what}: units {units!r} differ from {UNITS!r}")
    return desc


def encode_gap(gap: SensorGap) -> bytes:
    """The JSON of a `gap` message (the sensor is named by the topic)."""
    return to_json({"t_start": gap.t_start, "t_end": gap.t_end, "samples_lost": int(gap.samples_lost),
                    "reason": gap.reason})


def parse_gap(payload: bytes | str, segment: Segment) -> SensorGap:
    """Check a `gap` payload (PayloadError otherwise)."""
    what = "gap"
    obj = _json_object(payload, what)
    t_start = _number(obj, "t_start", what)
    t_end = _number(obj, "t_end", what)
    if t_end < t_start:
        raise PayloadError(f"{what}: t_end {t_end} is before t_start {t_start}")
    lost = obj.get("samples_lost")
    if isinstance(lost, bool) or not isinstance(lost, int) or lost < 0:
        raise PayloadError(f"{what}: 'samples_lost' must be a whole number >= 0, not {lost!r}")
    reason = obj.get("reason")
    if reason not in GAP_REASONS:
        raise PayloadError(f"{what}: unknown reason {reason!r} (expected one of {', '.join(GAP_REASONS)})")
    return SensorGap(Segment(segment), t_start, t_end, lost, str(reason))


# ------------------------------------------------------------------------------------------ status
WILL_STATUS: dict[str, Any] = {"state": "offline", "reason": "connection lost"}
"""The bridge's last will, published by the broker when the bridge vanishes."""


def iso_utc(when: datetime | None = None) -> str:
    """ISO 8601 UTC with a Z, to the second (now if not given)."""
    when = datetime.now(UTC) if when is None else when.astimezone(UTC)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sensor_status(segment: Segment, model: str, connected: bool, rate_hz: float, samples: int, lost: int,
                  battery_percent: int | None) -> dict[str, Any]:
    """One entry of status.sensors."""
    return {"segment": Segment(segment).value, "model": model, "connected": bool(connected),
            "rate_hz": round(float(rate_hz), 2), "samples": int(samples), "lost": int(lost),
            "battery_percent": battery_percent}


def bridge_status(state: str, since: str, sensors: Sequence[Mapping[str, Any]], buffered_samples: int,
                  dropped_samples: int, **extra: Any) -> dict[str, Any]:
    """The retained `status` of a bridge (`extra` keys are added, e.g. 'reason' on a clean shutdown)."""
    if state not in STATUS_STATES:
        raise ValueError(f"state must be one of {STATUS_STATES}, not {state!r}")
    return {"state": state, "since": since, "sensors": [dict(s) for s in sensors],
            "buffered_samples": int(buffered_samples), "dropped_samples": int(dropped_samples), **extra}


def parse_status(payload: bytes | str) -> dict[str, Any]:
    """Check a bridge's `status` payload (PayloadError otherwise). The last will carries only `state`
    and `reason`; the missing fields are filled in (no sensors, zero counts, `since` None)."""
    what = "bridge status"
    obj = _json_object(payload, what)
    if obj.get("state") not in STATUS_STATES:
        raise PayloadError(f"{what}: unknown state {obj.get('state')!r} (expected online or offline)")
    since = obj.get("since")
    if since is not None and not isinstance(since, str):
        raise PayloadError(f"{what}: 'since' must be an ISO 8601 string, not {since!r}")
    obj.setdefault("since", None)
    sensors = obj.setdefault("sensors", [])
    if not isinstance(sensors, list):
        raise PayloadError(f"{what}: 'sensors' must be a list")
    for entry in sensors:
        if not isinstance(entry, dict):
            raise PayloadError(f"{what}: a sensor entry is not an object: {entry!r}")
        entry["segment"] = _segment(entry, what)
    for key in ("buffered_samples", "dropped_samples"):
        value = obj.setdefault(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PayloadError(f"{what}: {key!r} must be a whole number >= 0, not {value!r}")
    return obj
