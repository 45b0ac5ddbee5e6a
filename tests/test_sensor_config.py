"""Sensor assignments: remembered, validated, one sensor per place."""

import json
from pathlib import Path

import pytest

from imu_core.frames import Segment, Side
from tracker.sensor_config import (
    SensorAssignment,
    SensorConfigError,
    assign,
    load_assignments,
    save_assignments,
)


def test_round_trip_and_reassignment(tmp_path: Path) -> None:
    path = tmp_path / "sensors.json"
    assert load_assignments(path) == []
    a = SensorAssignment("AA:01", Segment.THIGH, Side.LEFT, "nano33", "hiptrack-0001")
    b = SensorAssignment("AA:02", Segment.SHIN, Side.LEFT, "metamotion", "MetaWear")
    cfg = assign(assign([], a), b)
    # the same place gets a new sensor; the old one is dropped
    c = SensorAssignment("AA:03", Segment.THIGH, Side.LEFT, "nano33")
    cfg = assign(cfg, c)
    save_assignments(path, cfg)
    assert load_assignments(path) == [b, c]


@pytest.mark.parametrize(("content", "needle"), [
    ({"format": "hiptrack-sensors/1", "sensors": [], "colour": "red"}, "unknown key(s) ['colour']"),
    ({"format": "hiptrack-sensors/1", "sensors": [{"address": "x", "segment": "knee", "side": "left",
                                                   "family": "nano33"}]}, "'knee'"),
    ({"format": "hiptrack-sensors/1", "sensors": [{"address": "x", "segment": "thigh", "side": "left",
                                                   "family": "nano33", "rate": 5}]}, "unknown key(s) ['rate']"),
    ({"format": "hiptrack-sensors/1", "sensors": [{"address": "x", "segment": "thigh", "side": "left",
                                                   "family": "fitbit"}]}, "fitbit"),
    ({"format": "something-else"}, "not a hiptrack sensor file"),
])
def test_invalid_files_name_the_problem(tmp_path: Path, content: dict[str, object], needle: str) -> None:
    path = tmp_path / "sensors.json"
    path.write_text(json.dumps(content))
    with pytest.raises(SensorConfigError) as info:
        load_assignments(path)
    assert needle in str(info.value)
