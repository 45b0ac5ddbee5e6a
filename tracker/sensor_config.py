"""Which sensor is strapped where: the remembered assignments (`hiptrack sensors assign`).

Kept as `sensors.json` beside the session store, so a store and its sensors travel together. The file is
validated on load: an unknown key, segment, side or family is an error that names it, never ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imu_core.frames import Segment, Side
from tracker.errors import TrackerError

CONFIG_FORMAT = "hiptrack-sensors/1"
FAMILIES = ("metamotion", "nano33")
"""Driver families: MbientLab MetaMotion (stock firmware), Arduino Nano 33 BLE (our firmware)."""
_ENTRY_KEYS = {"address", "segment", "side", "family", "name"}


class SensorConfigError(TrackerError):
    """The sensor assignment file is unreadable or invalid."""


@dataclass(frozen=True, slots=True)
class SensorAssignment:
    address: str
    """Bluetooth address (or the platform's device id)."""
    segment: Segment
    side: Side
    family: str
    """One of FAMILIES."""
    name: str = ""
    """The name the device advertised."""


def config_path(store_path: Path) -> Path:
    return Path(store_path).parent / "sensors.json"


def load_assignments(path: Path) -> list[SensorAssignment]:
    """The remembered assignments (empty if there is no file yet)."""
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SensorConfigError(f"cannot read {path}: {exc}.", "Fix or delete the file, then assign the sensors "
                                "again with 'hiptrack sensors assign'.") from None
    if not isinstance(data, dict) or data.get("format") != CONFIG_FORMAT:
        raise SensorConfigError(f"{path} is not a hiptrack sensor file (format {CONFIG_FORMAT}).",
                                "Delete it and assign the sensors again.")
    unknown = set(data) - {"format", "sensors"}
    if unknown:
        raise SensorConfigError(f"{path}: unknown key(s) {sorted(unknown)}.", "Remove them; only 'format' and "
                                "'sensors' are allowed.")
    return [_entry(path, i, e) for i, e in enumerate(data.get("sensors", []))]


def _entry(path: Path, i: int, e: Any) -> SensorAssignment:
    where = f"{path}, sensors[{i}]"
    if not isinstance(e, dict):
        raise SensorConfigError(f"{where} is not an object.", "Each sensor is an object with address, segment, "
                                "side and family.")
    unknown = set(e) - _ENTRY_KEYS
    if unknown:
        raise SensorConfigError(f"{where}: unknown key(s) {sorted(unknown)}.",
                                f"Allowed keys: {', '.join(sorted(_ENTRY_KEYS))}.")
    try:
        family = str(e["family"])
        if family not in FAMILIES:
            raise ValueError(f"family {family!r}")
        return SensorAssignment(str(e["address"]), Segment(e["segment"]), Side(e["side"]), family,
                                str(e.get("name", "")))
    except (KeyError, ValueError) as exc:
        advice = f"segment: thigh|shin|pelvis, side: left|right, family: {'|'.join(FAMILIES)}."
        raise SensorConfigError(f"{where}: missing or invalid {exc}.", advice) from None


def save_assignments(path: Path, assignments: list[SensorAssignment]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": CONFIG_FORMAT, "sensors": [
        {"address": a.address, "segment": a.segment.value, "side": a.side.value, "family": a.family, "name": a.name}
        for a in assignments]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def assign(assignments: list[SensorAssignment], new: SensorAssignment) -> list[SensorAssignment]:
    """Put `new` in place: one sensor per (side, segment) and one place per sensor."""
    kept = [a for a in assignments if a.address != new.address and (a.segment, a.side) != (new.segment, new.side)]
    return [*kept, new]
