"""The reconnect policy: how often, how long and on which errors a BLE driver retries a connection.

Every driver connects through `retry(connect_once, policy)`, for the first connection of a session
and again after a link drops. One *episode* is a run of attempts that ends with a connection, a
fatal error or the episode's deadline.

Schedule (`ReconnectPolicy`, defaults in brackets)
---------------------------------------------------
* The first attempt starts at once. After the k-th failure (k = 1, 2, ...) the driver waits
  ``b_k = min(max_backoff_s, first_backoff_s * growth ** (k - 1))`` [0.25, 0.5, 1, 2, 4, 5, 5, ... s],
  shortened by jitter (below).
* Each attempt (connect + configure) may take at most ``attempt_timeout_s`` [10 s]; a slower one is
  cancelled and counts as a retryable failure.
* The episode ends after ``episode_timeout_s`` [60 s]: no attempt starts after the deadline (when the
  next wait would reach it the episode ends at once) and an attempt's timeout is clipped to the time
  left, so the error comes at or before the deadline, never later. The error is
  `SensorUnreachableError` naming the sensor, the number of attempts and the last error.
* The first connection of a session is one episode: an absent sensor is reported after 60 s. After a
  link drops mid-session, with ``keep_reconnecting`` [True] a driver starts a new episode
  ``max_backoff_s`` after one times out, until it is stopped (the person may come back into range
  minutes later; the live view shows the sensor as reconnecting and the gap is reported once it is
  back); a fatal error ends the reconnecting at once.

Jitter: *equal jitter* with fraction ``jitter_fraction`` [0.3]: the wait is uniform in
``[(1 - 0.3) * b_k, b_k]``. Why: both sensors of a session usually drop together (the person walks
out of range, the laptop's radio hiccups), and one adapter takes one pending LE connection at a time,
so attempts in lockstep collide; a ±-spread decorrelates them. Full jitter (uniform in [0, b_k])
was not chosen because it can retry almost immediately after a failure (hammering an adapter that
just said "busy", before the board has even restarted advertising) and halves the mean wait; equal
jitter keeps a floor of 70 % of the nominal wait and never exceeds it, so `max_backoff_s` stays a
true maximum and the schedule stays predictable for the live view.

Classification (`classify_error`)
----------------------------------
Retryable (transient; the next attempt may succeed):

* `BleakDeviceNotFoundError`: not advertising yet, or out of range;
* `TimeoutError` (a connect or an acknowledgement timed out, including the attempt timeout);
* `BleakError` in general: the link dropped mid-setup ("disconnected", "Not connected"), the OS stack
  is busy (BlueZ ``InProgress``, ``le-connection-abort-by-local``), service discovery lost;
* GATT errors that say "not now": insufficient resources (0x11), unlikely error (0x0E), procedure in
  progress (0xFE), database out of sync (0x12);
* `OSError` other than `PermissionError` (an adapter reset, a broken D-Bus or socket connection).

Fatal (stop at once; raised as `SensorFatalError` or a subclass, with what and what to do):

* our own `SensorFatalError`s (a driver's "wrong device", "start refused", ...) and any other
  `BridgeError` from configuring (e.g. an INFO it cannot parse);
* `BleakCharacteristicNotFoundError` and GATT errors invalid handle / read or write not permitted /
  request not supported / attribute not found: a different device or firmware;
* authentication: GATT insufficient authentication / authorization / encryption / key size, BlueZ
  ``AuthenticationFailed``/``Rejected``/``Canceled``/``NotAuthorized``/``NotPermitted``, messages
  about pairing or authentication;
* `BleakBluetoothNotAvailableError` (no adapter, adapter off, permission denied), BlueZ ``NotReady``,
  and `PermissionError`;
* any other GATT protocol error (the device understood and refused).

Anything else (a `TypeError`, a `KeyError`...) is a bug, not a radio problem: it propagates unchanged.
Cancellation always propagates.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakCharacteristicNotFoundError,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from firmware_bridge.errors import BridgeError, SensorFatalError, SensorUnreachableError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """See the module docstring for what each field means and why these defaults."""

    first_backoff_s: float = 0.25
    """Nominal wait after the first failed attempt, s."""
    growth: float = 2.0
    """Each further failure multiplies the nominal wait by this."""
    max_backoff_s: float = 5.0
    """Largest wait between attempts, s (jitter only shortens waits)."""
    jitter_fraction: float = 0.3
    """Equal jitter: a wait is uniform in [(1 - jitter_fraction) * nominal, nominal]."""
    episode_timeout_s: float = 60.0
    """Give up (SensorUnreachableError) when a connection has not been made within this, s."""
    attempt_timeout_s: float = 10.0
    """Longest one attempt (connect and configure) may take, s."""
    keep_reconnecting: bool = True
    """After a mid-session drop: when an episode times out, start another (after max_backoff_s) until the
    driver is stopped. False: give up after one episode."""

    def __post_init__(self) -> None:
        if not (self.first_backoff_s >= 0.0 and self.growth >= 1.0 and self.max_backoff_s >= self.first_backoff_s):
            raise ValueError("need first_backoff_s >= 0, growth >= 1 and max_backoff_s >= first_backoff_s")
        if not 0.0 <= self.jitter_fraction <= 1.0:
            raise ValueError("jitter_fraction must be within 0..1")
        if not (self.episode_timeout_s > 0.0 and self.attempt_timeout_s > 0.0):
            raise ValueError("episode_timeout_s and attempt_timeout_s must be positive")

    def nominal_backoff_s(self, failures: int) -> float:
        """Wait after the `failures`-th failed attempt (1-based), before jitter, s."""
        if failures < 1:
            raise ValueError("failures counts from 1")
        wait = self.first_backoff_s
        for _ in range(failures - 1):
            wait *= self.growth
            if wait >= self.max_backoff_s:
                break
        return min(self.max_backoff_s, wait)

    def backoff_s(self, failures: int, rng: random.Random) -> float:
        """The wait after the `failures`-th failure, jittered with one draw from `rng`, s."""
        return self.nominal_backoff_s(failures) * (1.0 - self.jitter_fraction * rng.random())


class Verdict(StrEnum):
    RETRYABLE = "retryable"
    FATAL = "fatal"
    UNEXPECTED = "unexpected"
    """Not a connection problem (a bug): propagated unchanged."""


@dataclass(frozen=True, slots=True)
class ErrorClass:
    verdict: Verdict
    reason: str
    """What went wrong, in words."""
    category: str = ""
    """Short tag for fatal errors: 'wrong_device', 'authentication', 'bluetooth_unavailable', 'refused'."""
    advice: str = ""
    """What to do about a fatal error."""

    @property
    def retryable(self) -> bool:
        return self.verdict is Verdict.RETRYABLE


_WRONG_DEVICE_ADVICE = ("Check that the address or name belongs to a hiptrack sensor and that it runs the firmware "
                        "this hiptrack version expects (firmware_bridge/nano33_firmware/README.md).")
_AUTH_ADVICE = ("The sensor asks for pairing or encryption it should not need: remove it from the system's "
                "Bluetooth settings (forget the device), power-cycle it and try again.")
_BT_ADVICE = "Turn Bluetooth on (and allow this program to use it), then start again."

_AUTH_CODES = {0x05, 0x08, 0x0C, 0x0F}
_WRONG_DEVICE_CODES = {0x01, 0x02, 0x03, 0x06, 0x0A}
_TRANSIENT_CODES = {0x0E, 0x11, 0x12, 0xFE}
_BLUEZ_AUTH = ("AuthenticationFailed", "AuthenticationRejected", "AuthenticationCanceled", "AuthenticationTimeout",
               "NotAuthorized", "NotPermitted")
_AUTH_WORDS = ("authenticat", "pairing", "encryption")


def classify_error(error: BaseException) -> ErrorClass:
    """Retryable, fatal or unexpected, with the reason in words (see the module docstring)."""
    if isinstance(error, SensorFatalError):
        advice = error.advice or (_WRONG_DEVICE_ADVICE if error.reason == "wrong_device" else
                                  "Check the sensor and its firmware, then start again.")
        return ErrorClass(Verdict.FATAL, error.message, error.reason, advice)
    if isinstance(error, BridgeError):
        return ErrorClass(Verdict.FATAL, error.message, "wrong_device", error.advice or _WRONG_DEVICE_ADVICE)
    if isinstance(error, BleakDeviceNotFoundError):
        return ErrorClass(Verdict.RETRYABLE, "device not found (not advertising yet, or out of range)")
    if isinstance(error, BleakCharacteristicNotFoundError):
        return ErrorClass(Verdict.FATAL, f"wrong device or firmware: {error}", "wrong_device", _WRONG_DEVICE_ADVICE)
    if isinstance(error, BleakBluetoothNotAvailableError):
        return ErrorClass(Verdict.FATAL, f"Bluetooth is not available ({error.reason.name.lower()})",
                          "bluetooth_unavailable", _BT_ADVICE)
    if isinstance(error, BleakGATTProtocolError):
        code = int(error.code)
        text = f"GATT error 0x{code:02X} ({error.args[1] if len(error.args) > 1 else error})"
        if code in _TRANSIENT_CODES:
            return ErrorClass(Verdict.RETRYABLE, f"{text}: the device is busy")
        if code in _AUTH_CODES:
            return ErrorClass(Verdict.FATAL, f"{text}: authentication or encryption required", "authentication",
                              _AUTH_ADVICE)
        if code in _WRONG_DEVICE_CODES:
            return ErrorClass(Verdict.FATAL, f"{text}: wrong device or firmware", "wrong_device", _WRONG_DEVICE_ADVICE)
        return ErrorClass(Verdict.FATAL, f"{text}: the device refused the request", "refused", _WRONG_DEVICE_ADVICE)
    if isinstance(error, BleakDBusError):
        name = error.dbus_error.rsplit(".", 1)[-1]
        if name in _BLUEZ_AUTH:
            return ErrorClass(Verdict.FATAL, f"BlueZ: {error.dbus_error}: authentication problem", "authentication",
                              _AUTH_ADVICE)
        if name == "NotReady":
            return ErrorClass(Verdict.FATAL, "BlueZ: the Bluetooth adapter is not ready (switched off?)",
                              "bluetooth_unavailable", _BT_ADVICE)
        return ErrorClass(Verdict.RETRYABLE, f"BlueZ: {error.dbus_error} {error.dbus_error_details or ''}".strip())
    if isinstance(error, BleakError):
        text = str(error) or type(error).__name__
        if any(word in text.lower() for word in _AUTH_WORDS):
            return ErrorClass(Verdict.FATAL, f"{text}: authentication problem", "authentication", _AUTH_ADVICE)
        return ErrorClass(Verdict.RETRYABLE, f"Bluetooth error: {text} (link dropped or the stack is busy)")
    if isinstance(error, TimeoutError):
        return ErrorClass(Verdict.RETRYABLE, f"timed out{': ' + str(error) if str(error) else ''}")
    if isinstance(error, PermissionError):
        return ErrorClass(Verdict.FATAL, f"no permission to use Bluetooth: {error}", "bluetooth_unavailable",
                          _BT_ADVICE)
    if isinstance(error, OSError):
        return ErrorClass(Verdict.RETRYABLE, f"operating-system error: {error}")
    return ErrorClass(Verdict.UNEXPECTED, f"{type(error).__name__}: {error}")


@dataclass(frozen=True, slots=True)
class AttemptReport:
    """What `retry` tells `on_attempt` after each failed attempt."""

    attempt: int
    """1-based number of the attempt that failed."""
    error: BaseException
    classification: ErrorClass
    elapsed_s: float
    """Since the episode started, s."""
    next_delay_s: float | None
    """Wait before the next attempt, s; None when the episode ends here."""


async def retry(
    connect_once: Callable[[], Awaitable[T]],
    policy: ReconnectPolicy,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    rng: random.Random | None = None,
    on_attempt: Callable[[AttemptReport], None] | None = None,
    clock: Callable[[], float] | None = None,
    sensor: str = "sensor",
    classify: Callable[[BaseException], ErrorClass] = classify_error,
) -> T:
    """Run `connect_once()` until it returns (its result is returned), fails fatally (`SensorFatalError`,
    the original as `__cause__`; a driver's own `SensorFatalError` is re-raised as it is) or the episode
    times out (`SensorUnreachableError`). Errors `classify` calls unexpected propagate unchanged.

    `sleep` and `clock` are injectable for tests: with a fake `sleep`, pass the fake's `clock` too (the
    default clock is the running loop's). `rng` draws the jitter (default: a fresh `random.Random()`).
    `sensor` names the sensor in errors.
    """
    rng = rng if rng is not None else random.Random()
    now = clock if clock is not None else asyncio.get_running_loop().time
    start = now()
    deadline = start + policy.episode_timeout_s
    attempt = 0
    while True:
        attempt += 1
        budget = min(policy.attempt_timeout_s, deadline - now())
        limit = asyncio.timeout(budget)
        try:
            async with limit:
                return await connect_once()
        except Exception as caught:
            error: Exception = caught
            if limit.expired():
                error = TimeoutError(f"attempt {attempt} took longer than {budget:.1f} s")
                error.__cause__ = caught
            verdict = classify(error)
            if verdict.verdict is Verdict.UNEXPECTED:
                raise
            elapsed = now() - start
            delay: float | None = None
            if verdict.verdict is Verdict.RETRYABLE:
                delay = policy.backoff_s(attempt, rng)
                if now() + delay >= deadline:
                    delay = None
            if on_attempt is not None:
                on_attempt(AttemptReport(attempt, error, verdict, elapsed, delay))
            if verdict.verdict is Verdict.FATAL:
                if isinstance(error, SensorFatalError):
                    raise
                raise SensorFatalError(f"{sensor}: {verdict.reason}", verdict.advice, sensor=sensor,
                                       reason=verdict.category or "fatal") from error
            if delay is None:
                raise SensorUnreachableError(sensor, attempt, elapsed, error) from error
        await sleep(delay)
