"""Emulated BLE peripherals reachable through bleak's ``backend=`` hook, on bumble's stack.

* :class:`RadioWorld` (world.py): bumble ``LocalLink`` + central + peripherals; gives
  ``world.scanner_backend`` / ``world.client_backend`` for ``BleakScanner`` / ``BleakClient``.
* :class:`EmulatedPeripheral` (peripheral.py): declare services, handle writes and reads,
  notify, disconnect, lose the link, stop/resume advertising.
* backend.py: the bleak backend classes and notes on how bleak 3.1 builds backends.
* :func:`run_in_virtual_time`: run a coroutine on an event loop whose clock is virtual.

Requires bumble (``pip install -e '.[dev]'``).
"""

from firmware_bridge.ble.emulation.backend import BumbleBleakClient, BumbleBleakScanner
from firmware_bridge.ble.emulation.peripheral import (
    CONNECTION_TIMEOUT,
    REMOTE_POWER_OFF,
    REMOTE_USER_TERMINATED,
    AttError,
    CharacteristicSpec,
    EmulatedPeripheral,
    ServiceSpec,
    WriteEvent,
    normalize_uuid,
)
from firmware_bridge.ble.emulation.world import RadioWorld, VirtualClockEventLoop, run_in_virtual_time

__all__ = [
    "CONNECTION_TIMEOUT",
    "REMOTE_POWER_OFF",
    "REMOTE_USER_TERMINATED",
    "AttError",
    "BumbleBleakClient",
    "BumbleBleakScanner",
    "CharacteristicSpec",
    "EmulatedPeripheral",
    "RadioWorld",
    "ServiceSpec",
    "VirtualClockEventLoop",
    "WriteEvent",
    "normalize_uuid",
    "run_in_virtual_time",
]
