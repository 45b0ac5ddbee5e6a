"""The reconnect policy's scheduling logic (firmware_bridge/ble/reconnect.py), with a fake sleep, clock and rng.

These are unit tests of `retry` and `classify_error` alone; the drivers' use of them is tested against
emulated boards in test_nano33_driver.py.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakCharacteristicNotFoundError,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from firmware_bridge.ble.emulation import run_in_virtual_time
from firmware_bridge.ble.reconnect import AttemptReport, ReconnectPolicy, Verdict, classify_error, retry
from firmware_bridge.errors import (
    BridgeError,
    PacketError,
    SensorFatalError,
    SensorUnreachableError,
    WrongSensorError,
)


class FakeTime:
    """A clock that only moves when `sleep` is awaited."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FixedRng(random.Random):
    """random() always returns `u`: 0 = no jitter (the nominal wait), close to 1 = the largest cut."""

    def __init__(self, u: float) -> None:
        super().__init__(0)
        self.u = u

    def random(self) -> float:
        return self.u


class Failing:
    """connect_once that raises the given errors in turn, then returns 'connected'."""

    def __init__(self, *errors: BaseException, forever: BaseException | None = None) -> None:
        self.errors = list(errors)
        self.forever = forever
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        if self.forever is not None:
            raise self.forever
        return "connected"


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- schedule
def test_defaults_and_nominal_backoff_sequence() -> None:
    p = ReconnectPolicy()
    assert (p.first_backoff_s, p.growth, p.max_backoff_s, p.jitter_fraction, p.episode_timeout_s,
            p.attempt_timeout_s, p.keep_reconnecting) == (0.25, 2.0, 5.0, 0.3, 60.0, 10.0, True)
    assert [p.nominal_backoff_s(k) for k in range(1, 10)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]
    assert p.nominal_backoff_s(10_000) == 5.0  # no overflow however long it has failed
    assert ReconnectPolicy(growth=1.0).nominal_backoff_s(50) == 0.25
    with pytest.raises(ValueError):
        p.nominal_backoff_s(0)


def test_jitter_is_equal_jitter_within_bounds() -> None:
    p = ReconnectPolicy()
    assert p.backoff_s(3, FixedRng(0.0)) == 1.0
    assert p.backoff_s(3, FixedRng(1.0)) == pytest.approx(0.7)
    rng = random.Random(42)
    for k in range(1, 9):
        nominal = p.nominal_backoff_s(k)
        draws = [p.backoff_s(k, rng) for _ in range(500)]
        assert all(0.7 * nominal <= d <= nominal for d in draws)
        assert min(draws) < 0.72 * nominal and max(draws) > 0.98 * nominal  # the whole band is used
    assert ReconnectPolicy(jitter_fraction=0.0).backoff_s(2, rng) == 0.5


@pytest.mark.parametrize("kwargs", [
    {"first_backoff_s": -1.0}, {"growth": 0.5}, {"max_backoff_s": 0.1}, {"jitter_fraction": 1.5},
    {"episode_timeout_s": 0.0}, {"attempt_timeout_s": -2.0},
])
def test_policy_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy(**kwargs)


# ---------------------------------------------------------------------------------- retry
def test_success_after_n_failures_with_the_backoff_sequence() -> None:
    fake = FakeTime()
    reports: list[AttemptReport] = []
    connect = Failing(BleakDeviceNotFoundError("C4:00:00:00:00:01"), TimeoutError("connect timed out"),
                      BleakError("disconnected"), OSError(16, "Device or resource busy"))
    result = run(retry(connect, ReconnectPolicy(), sleep=fake.sleep, clock=fake.clock, rng=FixedRng(0.0),
                       on_attempt=reports.append))
    assert result == "connected" and connect.calls == 5
    assert fake.sleeps == [0.25, 0.5, 1.0, 2.0]
    assert [r.attempt for r in reports] == [1, 2, 3, 4]
    assert [r.next_delay_s for r in reports] == [0.25, 0.5, 1.0, 2.0]
    assert [r.elapsed_s for r in reports] == [0.0, 0.25, 0.75, 1.75]
    assert all(r.classification.retryable for r in reports)
    assert "not found" in reports[0].classification.reason


def test_jittered_waits_come_from_the_injected_rng() -> None:
    fake = FakeTime()
    connect = Failing(*(BleakError("busy") for _ in range(6)))
    run(retry(connect, ReconnectPolicy(), sleep=fake.sleep, clock=fake.clock, rng=FixedRng(0.5)))
    assert fake.sleeps == pytest.approx([0.85 * b for b in (0.25, 0.5, 1.0, 2.0, 4.0, 5.0)])


def test_fatal_error_stops_at_once() -> None:
    fake = FakeTime()
    reports: list[AttemptReport] = []
    auth = BleakGATTProtocolError(0x05)
    connect = Failing(auth)
    with pytest.raises(SensorFatalError) as caught:
        run(retry(connect, ReconnectPolicy(), sleep=fake.sleep, clock=fake.clock, rng=FixedRng(0.0),
                  on_attempt=reports.append, sensor="thigh sensor (C4:00:00:00:00:01)"))
    error = caught.value
    assert isinstance(error, BridgeError)
    assert connect.calls == 1 and fake.sleeps == []
    assert error.reason == "authentication" and error.__cause__ is auth
    assert "thigh sensor" in str(error) and "forget the device" in error.advice
    assert reports[0].next_delay_s is None and not reports[0].classification.retryable


def test_a_drivers_own_fatal_error_is_raised_as_it_is() -> None:
    fake = FakeTime()
    wrong = WrongSensorError("no hiptrack service", "flash the firmware")
    with pytest.raises(WrongSensorError) as caught:
        run(retry(Failing(BleakError("busy"), wrong), ReconnectPolicy(), sleep=fake.sleep, clock=fake.clock,
                  rng=FixedRng(0.0)))
    assert caught.value is wrong and fake.sleeps == [0.25]


def test_unexpected_errors_propagate_unchanged() -> None:
    fake = FakeTime()
    bug = KeyError("oops")
    connect = Failing(bug)
    with pytest.raises(KeyError):
        run(retry(connect, ReconnectPolicy(), sleep=fake.sleep, clock=fake.clock))
    assert connect.calls == 1 and fake.sleeps == []


def test_gives_up_when_the_next_wait_would_pass_the_deadline() -> None:
    fake = FakeTime()
    reports: list[AttemptReport] = []
    connect = Failing(forever=BleakDeviceNotFoundError("C4:00:00:00:00:09"))
    with pytest.raises(SensorUnreachableError) as caught:
        run(retry(connect, ReconnectPolicy(), sleep=fake.sleep, clock=fake.clock, rng=FixedRng(0.0),
                  on_attempt=reports.append, sensor="shin sensor (C4:00:00:00:00:09)"))
    # waits 0.25 + 0.5 + 1 + 2 + 4 + 10 * 5 = 57.75 s; the next 5 s wait would end after 60 s
    assert fake.sleeps == [0.25, 0.5, 1.0, 2.0, 4.0] + [5.0] * 10
    assert fake.now == pytest.approx(57.75)
    error = caught.value
    assert error.attempts == connect.calls == 16
    assert error.elapsed_s == pytest.approx(57.75)
    assert isinstance(error.last_error, BleakDeviceNotFoundError)
    assert "shin sensor" in str(error) and "16 attempts" in str(error) and "switched on" in error.advice
    assert reports[-1].next_delay_s is None and len(reports) == 16


def test_slow_attempts_are_cut_and_the_episode_ends_at_its_deadline() -> None:
    """On the (virtual) loop clock: each attempt hangs, is cut at attempt_timeout_s (clipped to the time
    left), and the error comes exactly at the episode's deadline, not one attempt later."""
    policy = ReconnectPolicy()

    async def scenario() -> tuple[SensorUnreachableError, float, list[float]]:
        loop = asyncio.get_running_loop()
        starts: list[float] = []

        async def hang() -> None:
            starts.append(loop.time())
            await asyncio.sleep(3600)

        with pytest.raises(SensorUnreachableError) as caught:
            await retry(hang, policy, rng=FixedRng(0.0))
        return caught.value, loop.time(), starts

    error, end, starts = run_in_virtual_time(scenario())
    # attempts of 10 s, waits 0.25, 0.5, 1, 2, 4: the sixth attempt starts at 57.75 s and gets 2.25 s
    assert starts == pytest.approx([0.0, 10.25, 20.75, 31.75, 43.75, 57.75])
    assert end == pytest.approx(60.0)
    assert error.attempts == 6 and isinstance(error.last_error, TimeoutError)
    assert "2.2 s" in str(error.last_error)


def test_cancellation_propagates() -> None:
    async def scenario() -> None:
        task = asyncio.get_running_loop().create_task(
            retry(Failing(forever=BleakError("busy")), ReconnectPolicy(), rng=FixedRng(0.0)))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_in_virtual_time(scenario())


# ------------------------------------------------------------------------- classification
@pytest.mark.parametrize(("error", "verdict", "category"), [
    (BleakDeviceNotFoundError("C4:00:00:00:00:01"), Verdict.RETRYABLE, ""),
    (TimeoutError(), Verdict.RETRYABLE, ""),
    (BleakError("disconnected"), Verdict.RETRYABLE, ""),
    (BleakError("Not connected"), Verdict.RETRYABLE, ""),
    (BleakDBusError("org.bluez.Error.InProgress", ["In Progress"]), Verdict.RETRYABLE, ""),
    (BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-local"]), Verdict.RETRYABLE, ""),
    (BleakGATTProtocolError(0x11), Verdict.RETRYABLE, ""),
    (BleakGATTProtocolError(0x0E), Verdict.RETRYABLE, ""),
    (ConnectionResetError(104, "Connection reset by peer"), Verdict.RETRYABLE, ""),
    (OSError(16, "Device or resource busy"), Verdict.RETRYABLE, ""),
    (BleakCharacteristicNotFoundError("5dfea604-02b3-4e26-abc8-2ffe8e34f80f"), Verdict.FATAL, "wrong_device"),
    (BleakGATTProtocolError(0x0A), Verdict.FATAL, "wrong_device"),
    (BleakGATTProtocolError(0x03), Verdict.FATAL, "wrong_device"),
    (BleakGATTProtocolError(0x05), Verdict.FATAL, "authentication"),
    (BleakGATTProtocolError(0x0F), Verdict.FATAL, "authentication"),
    (BleakGATTProtocolError(0x80), Verdict.FATAL, "refused"),
    (BleakDBusError("org.bluez.Error.AuthenticationFailed", []), Verdict.FATAL, "authentication"),
    (BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]), Verdict.FATAL, "bluetooth_unavailable"),
    (BleakError("Peer removed pairing information"), Verdict.FATAL, "authentication"),
    (BleakBluetoothNotAvailableError("off", BleakBluetoothNotAvailableReason.POWERED_OFF), Verdict.FATAL,
     "bluetooth_unavailable"),
    (PermissionError(13, "Permission denied"), Verdict.FATAL, "bluetooth_unavailable"),
    (WrongSensorError("no hiptrack service"), Verdict.FATAL, "wrong_device"),
    (PacketError("device info needs 16 bytes", 3), Verdict.FATAL, "wrong_device"),
    (ValueError("a bug"), Verdict.UNEXPECTED, ""),
])
def test_classification(error: BaseException, verdict: Verdict, category: str) -> None:
    c = classify_error(error)
    assert c.verdict is verdict
    assert c.reason
    if verdict is Verdict.FATAL:
        assert c.category == category and c.advice
