"""Bluetooth LE transport of the IMUs.

Drivers here use bleak's public API only (``BleakScanner``, ``BleakClient``).  They accept the
backend classes to use (bleak's ``backend=`` hook) so that tests can run them, unchanged,
against emulated peripherals on bumble's in-process stack: see
:mod:`firmware_bridge.ble.emulation` (needs the ``dev`` extra, which brings bumble; nothing in
this package imports it).
"""
