"""MetaBase file names and board addresses (MACs).

MetaBase names its files ``<name>_<start>_<MAC>_<Signal>[_<rate>Hz[_<firmware>]].csv``, e.g.
``MetaWear_2021-03-04T10.11.12.345_C4A3E9E2E5F3_Accelerometer_100.000Hz_1.6.0.csv``. ``<name>`` is the
board's name (users often put a session label in front of it: ``thigh1_MetaWear_...``), ``<start>`` the
session start in local time, ``<MAC>`` the board's address without colons, ``<Signal>`` the sensor name
without spaces. Older versions leave out the rate and firmware. The name is read from the right, so a
label in front of the board's name stays part of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.metabase.errors import MetabaseBoardError

_NAME_RE = re.compile(
    r"^(?P<device>.*)_(?P<start>\d{4}-\d{2}-\d{2}T\d{2}[.:-]\d{2}[.:-]\d{2}(?:\.\d{1,6})?)"
    r"_(?P<mac>[0-9A-Fa-f]{12})_(?P<signal>[A-Za-z][A-Za-z0-9]*)"
    r"(?:_(?P<rate>\d+(?:\.\d+)?)Hz)?(?:_(?P<firmware>\d+(?:\.\d+)*))?\.csv$")


@dataclass(frozen=True, slots=True)
class MetabaseFile:
    """What a MetaBase file name says."""

    path: Path
    device_name: str
    started: str
    """Session start as written in the name (local time, e.g. 2021-03-04T10.11.12.345)."""
    mac: str
    """12 upper-case hex digits, no separators."""
    signal: str
    rate_hz: float | None
    firmware: str | None


def parse_file_name(path: Path | str) -> MetabaseFile | None:
    """The parts of a MetaBase file name, or None if the name does not follow MetaBase's pattern."""
    p = Path(path)
    m = _NAME_RE.match(p.name)
    if m is None:
        return None
    rate = m.group("rate")
    return MetabaseFile(p, m.group("device"), m.group("start"), m.group("mac").upper(), m.group("signal"),
                        None if rate is None else float(rate), m.group("firmware"))


def normalise_mac(text: str) -> str:
    """'c4:a3:e9:e2:e5:f3', 'C4-A3-...' or 'C4A3E9E2E5F3' -> 'C4A3E9E2E5F3'."""
    mac = re.sub(r"[\s:.-]", "", str(text)).upper()
    if not re.fullmatch(r"[0-9A-F]{12}", mac):
        raise MetabaseBoardError(f"{text!r} is not a board address (MAC).",
                                 "Give it as in the MetaBase file names (C4A3E9E2E5F3) or as C4:A3:E9:E2:E5:F3.",
                                 [])
    return mac


def format_mac(mac: str) -> str:
    return ":".join(mac[i:i + 2] for i in range(0, 12, 2))
