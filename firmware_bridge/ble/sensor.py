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

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

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

_RATE_WINDOW_S = 5.0
"""`LinkStats.rate_hz` is measured over this much of the newest samples' host time, s."""
_MAX_ERRORS = 10
"""`LinkStats.errors` keeps this many."""
_T = TypeVar("_T")


class LinkReport:
    """What a sensor link reports of what it receives: samples and gaps handed to the session's
    callbacks and counted in `stats` (with the measured rate), and problems noted in words.

    Nothing raises out of it: a failing callback is logged (with its traceback) and noted. Used by
    `NanoSensor` and `MqttSensorLink`, each giving it its own `stats` object and module logger.
    """

    def __init__(self, stats: LinkStats, logger: logging.Logger, name: str) -> None:
        self.stats = stats
        self._logger = logger
        self._name = name
        """Who is speaking, at the start of every log message, e.g. 'thigh sensor (AA:BB:...)'."""
        self._on_samples: SampleCallback | None = None
        self._on_gap: GapCallback | None = None
        self._rate_window: deque[tuple[float, int]] = deque()
        """(host time of a delivery's last sample, `stats.samples` after it)"""

    def restart(self, on_samples: SampleCallback, on_gap: GapCallback) -> None:
        """A new start of the link: these callbacks from now on, the rate measured afresh."""
        self._on_samples, self._on_gap = on_samples, on_gap
        self._rate_window.clear()

    def deliver(self, samples: list[ImuSample]) -> None:
        """Count samples (not empty, in time order), update the rate, hand them to the sample callback."""
        self.stats.samples += len(samples)
        self._update_rate(samples[-1].t)
        self._hand_on(self._on_samples, samples, "sample")

    def gap(self, gap: SensorGap) -> None:
        """Count the gap's samples in `stats.samples_lost` and hand it to the gap callback."""
        self.stats.samples_lost += gap.samples_lost
        self._hand_on(self._on_gap, gap, "gap")

    def note(self, text: str) -> None:
        """A problem, in words: logged (info) and kept among the last few in `stats.errors`."""
        self._logger.info("%s: %s", self._name, text)
        errors = self.stats.errors
        errors.append(text)
        del errors[:-_MAX_ERRORS]

    def _hand_on(self, callback: Callable[[_T], None] | None, value: _T, what: str) -> None:
        if callback is None:
            return
        try:
            callback(value)
        except Exception as error:
            self._logger.exception("%s: the %s callback failed", self._name, what)
            self.note(f"the {what} callback failed: {error!r}")

    def _update_rate(self, t: float) -> None:
        window = self._rate_window
        window.append((t, self.stats.samples))
        while window and window[0][0] < t - _RATE_WINDOW_S:
            window.popleft()
        if len(window) >= 2 and window[-1][0] > window[0][0]:
            self.stats.rate_hz = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])


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
