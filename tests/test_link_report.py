"""`LinkReport`: what `NanoSensor` and `MqttSensorLink` do with the samples and gaps they receive."""

from __future__ import annotations

import logging

import pytest

from firmware_bridge.ble.sensor import LinkReport, LinkStats, SensorGap
from imu_core.frames import Segment
from imu_core.types import ImuSample

_LOGGER = logging.getLogger("tests.link_report")


def _samples(t0: float, n: int, period: float = 0.01) -> list[ImuSample]:
    return [ImuSample(t0 + i * period, Segment.THIGH, (0.0, 0.0, 9.81), (0.0, 0.0, 0.0)) for i in range(n)]


def test_delivered_samples_are_counted_measured_and_handed_on() -> None:
    stats = LinkStats()
    report = LinkReport(stats, _LOGGER, "thigh")
    got: list[list[ImuSample]] = []
    report.restart(got.append, lambda gap: None)
    report.deliver(_samples(0.0, 10))
    assert stats.samples == 10 and stats.rate_hz == 0.0  # one point: no rate yet
    report.deliver(_samples(0.1, 10))
    assert stats.samples == 20
    assert stats.rate_hz == pytest.approx(10 / 0.1)
    assert [len(batch) for batch in got] == [10, 10]


def test_the_rate_is_measured_over_the_last_five_seconds_and_afresh_after_a_restart() -> None:
    stats = LinkStats()
    report = LinkReport(stats, _LOGGER, "thigh")
    report.restart(lambda samples: None, lambda gap: None)
    report.deliver(_samples(0.0, 1))
    report.deliver(_samples(1.0, 1000, period=0.001))  # fast for a while ...
    report.deliver(_samples(7.0, 1))  # ... then 1 sample in 5 s: the fast part is out of the window
    report.deliver(_samples(12.0, 1))
    assert stats.rate_hz == pytest.approx(1 / 5.0)
    report.restart(lambda samples: None, lambda gap: None)
    report.deliver(_samples(100.0, 1))
    assert stats.rate_hz == pytest.approx(1 / 5.0)  # kept until two points of the new start
    report.deliver(_samples(100.5, 1))
    assert stats.rate_hz == pytest.approx(1 / 0.5)


def test_gaps_are_counted_then_handed_on_and_count_without_a_callback() -> None:
    stats = LinkStats()
    report = LinkReport(stats, _LOGGER, "thigh")
    report.gap(SensorGap(Segment.THIGH, 0.0, 1.0, 3, "packet_loss"))
    assert stats.samples_lost == 3
    seen: list[int] = []
    report.restart(lambda samples: None, lambda gap: seen.append(stats.samples_lost))
    report.gap(SensorGap(Segment.THIGH, 1.0, 2.0, 4, "disconnect"))
    assert stats.samples_lost == 7 and seen == [7]


def test_failing_callbacks_are_logged_and_noted(caplog: pytest.LogCaptureFixture) -> None:
    stats = LinkStats()
    report = LinkReport(stats, _LOGGER, "thigh sensor")

    def fail(_: object) -> None:
        raise ValueError("boom")

    report.restart(fail, fail)
    with caplog.at_level(logging.INFO, logger=_LOGGER.name):
        report.deliver(_samples(0.0, 2))
        report.gap(SensorGap(Segment.THIGH, 0.0, 1.0, 1, "packet_loss"))
    assert stats.samples == 2 and stats.samples_lost == 1
    assert stats.errors == ["the sample callback failed: ValueError('boom')",
                            "the gap callback failed: ValueError('boom')"]
    messages = [r.getMessage() for r in caplog.records]
    assert "thigh sensor: the sample callback failed" in messages
    assert "thigh sensor: the gap callback failed" in messages
    assert "thigh sensor: the sample callback failed: ValueError('boom')" in messages


def test_notes_keep_the_last_ten() -> None:
    stats = LinkStats()
    report = LinkReport(stats, _LOGGER, "thigh")
    for i in range(15):
        report.note(f"problem {i}")
    assert stats.errors == [f"problem {i}" for i in range(5, 15)]
