"""Find supported sensors nearby: MetaMotion boards (stock MetaWear firmware) and Nano 33 BLE boards
running hiptrack's firmware, recognised by the service they advertise."""

from __future__ import annotations

from dataclasses import dataclass

from bleak import BleakScanner
from bleak.backends.scanner import BaseBleakScanner

from firmware_bridge.metawear.protocol import SERVICE_UUID as METAWEAR_SERVICE_UUID
from firmware_bridge.nano33.protocol import SERVICE_UUID as NANO33_SERVICE_UUID


@dataclass(frozen=True, slots=True)
class FoundSensor:
    address: str
    name: str
    family: str
    """'metamotion' | 'nano33'"""
    rssi_dbm: int


def family_of(service_uuids: list[str]) -> str | None:
    uuids = {u.lower() for u in service_uuids}
    if METAWEAR_SERVICE_UUID in uuids:
        return "metamotion"
    if NANO33_SERVICE_UUID in uuids:
        return "nano33"
    return None


async def scan(timeout_s: float = 5.0, *, scanner_backend: type[BaseBleakScanner] | None = None) -> list[FoundSensor]:
    """Supported sensors seen within timeout_s, strongest signal first (`scanner_backend`: bleak's
    `backend=`; None for the platform's)."""
    if scanner_backend is None:
        seen = await BleakScanner.discover(timeout=timeout_s, return_adv=True)
    else:
        seen = await BleakScanner.discover(timeout=timeout_s, return_adv=True, backend=scanner_backend)
    found = []
    for device, adv in seen.values():
        family = family_of(list(adv.service_uuids))
        if family is not None:
            found.append(FoundSensor(device.address, adv.local_name or device.name or "", family, int(adv.rssi)))
    return sorted(found, key=lambda f: -f.rssi_dbm)
