"""What every BLE sensor driver offers the session, whatever the device.

A driver owns one device: it connects (through bleak, with the `backend=` it was given, so tests can
pass an emulated one), configures the board, streams, and delivers `ImuSample`s on the host time base
through a callback, plus a `SensorGap` whenever samples were lost (never interpolated). It reconnects
by the written-down policy in `firmware_bridge.ble.reconnect` and, after a reconnect, configures the
board again and resumes the stream; the samples lost meanwhile are reported as a gap.

Callbacks run in the event loop (from bleak's notification handler): they must be quick and must not
block; the session's bounded queue (`firmware_bridge.stream_queue`) sits behind them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from imu_core.frames import Segment
from imu_core.types import ImuSample


@dataclass(frozen=True, slots=True)
class SensorGap:
    """Samples a sensor did not deliver: lost packets, or a disconnect."""

    sensor: Segment
    t_start: float
    """Host time of the last sample before the gap, s."""
    t_end: float
    """Host time of the first sample after it, s."""
    samples_lost: int
    reason: str
    """'packet_loss' | 'disconnect'"""


@dataclass(slots=True)
class LinkStats:
    """Running counters of one sensor link, for the live view and `hiptrack stream`."""

    samples: int = 0
    samples_lost: int = 0
    packets_corrupt: int = 0
    reconnects: int = 0
    rate_hz: float = 0.0
    """Measured sample rate over the last few seconds."""
    battery_percent: int | None = None
    connected: bool = False
    errors: list[str] = field(default_factory=list)
    """The last few problems, in words."""


SampleCallback = Callable[[list[ImuSample]], None]
GapCallback = Callable[[SensorGap], None]


class SensorLink(Protocol):
    """One sensor, connected and streaming for a session."""

    segment: Segment
    address: str
    model: str
    """e.g. 'MetaMotionS', 'Nano 33 BLE Rev2'."""
    stats: LinkStats

    async def start(self, rate_hz: float, on_samples: SampleCallback, on_gap: GapCallback) -> None:
        """Connect (with retries), configure, subscribe and start streaming at rate_hz."""
        ...

    async def stop(self) -> None:
        """Stop streaming and disconnect, leaving the board idle (never streaming on its own)."""
        ...
