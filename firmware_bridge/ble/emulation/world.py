"""A small radio world: bumble's in-process link, the laptop's central, emulated peripherals.

:class:`RadioWorld` owns a :class:`bumble.link.LocalLink`, the central (a bumble ``Controller``
+ ``Host`` + ``Device``, i.e. a real host stack) and the registered
:class:`~firmware_bridge.ble.emulation.peripheral.EmulatedPeripheral` objects (each with its own
controller/host/device, advertising data and GATT server).  Code under test talks to it only
through bleak, with ``backend=world.scanner_backend`` / ``backend=world.client_backend``::

    async with RadioWorld() as world:
        left = await world.add(FakeImu("IMU-L", "C4:00:00:00:00:01", rssi=-48))
        device = await BleakScanner.find_device_by_name("IMU-L", backend=world.scanner_backend)
        async with BleakClient(device, backend=world.client_backend) as client:
            await client.start_notify(DATA_UUID, on_sample)
            await left.stream(DATA_UUID, packets, rate_hz=200)
        await world.disconnect(left)            # peripheral-initiated
        await world.lose_link(left)             # supervision timeout, no terminate exchange
        await world.stop_advertising(left)      # gone ... and back:
        await world.start_advertising(left)
        await world.inject_notification(left, DATA_UUID, b"\\x00\\xff")

Time.  bumble's link has no radio timing: a PDU is handed to the other controller with
``loop.call_soon``.  Only the things that are timers in bumble move with the clock:
advertising (one advertisement per ``advertising_interval_ms``; a connection is made at the
peripheral's next advertisement), GATT/HCI timeouts, and whatever the test paces with
``asyncio.sleep`` (:meth:`EmulatedPeripheral.stream`).  Run the test under
:func:`run_in_virtual_time` and that clock is virtual: when every task is waiting on a timer,
the loop jumps to the next one, so "3 s of 200 Hz notifications" or a 5 s
``BleakScanner.discover`` take milliseconds, deterministically.  With a plain
``asyncio.run`` everything works as well, in real time.  Because nothing on the link takes
time, a write command or a notification is delivered a few loop turns later, not "at once":
wait for its effect with :meth:`RadioWorld.wait_until`.  (Virtual time is only sound for code
that waits on the loop's timers; a thread in an executor does not hold the virtual clock back.)

bumble is used as installed, with one repair: its emulated controller (0.0.236) ignores
LE Create Connection Cancel, so a timed-out connect would hang; the central's controller here
implements it (see :class:`_CentralController`).
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from bumble import core, hci
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from firmware_bridge.ble.emulation.backend import bind_client_backend, bind_scanner_backend
from firmware_bridge.ble.emulation.peripheral import (
    CONNECTION_TIMEOUT,
    REMOTE_USER_TERMINATED,
    EmulatedPeripheral,
)

if TYPE_CHECKING:
    from firmware_bridge.ble.emulation.backend import BumbleBleakClient, BumbleBleakScanner

_T = TypeVar("_T")
_P = TypeVar("_P", bound=EmulatedPeripheral)


# ------------------------------------------------------------------------------ virtual time
class _VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0


class _VirtualTimeSelector(selectors.DefaultSelector):
    """Polls real file descriptors without blocking; where the loop would block until its next
    timer, advances the virtual clock to that timer instead.  Blocks for real only when no
    timer is pending (e.g. waiting for an executor thread)."""

    def __init__(self, clock: _VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:
            return super().select(None)
        self._clock.now += timeout
        return []


class VirtualClockEventLoop(asyncio.SelectorEventLoop):
    """Event loop whose ``time()`` is virtual (starts at 0, moves only when everything sleeps)."""

    def __init__(self) -> None:
        self._virtual_clock = _VirtualClock()
        super().__init__(selector=_VirtualTimeSelector(self._virtual_clock))

    def time(self) -> float:
        return self._virtual_clock.now


def run_in_virtual_time(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)`` on a :class:`VirtualClockEventLoop`."""
    with asyncio.Runner(loop_factory=VirtualClockEventLoop) as runner:
        return runner.run(main)


# ------------------------------------------------------------------------------ the central
class _CentralController(Controller):
    """bumble 0.0.236's emulated controller answers LE Create Connection Cancel with success but
    keeps the connection request armed, so ``Device.connect_le(timeout=...)`` never returns
    (and the central would connect later, to nobody's request).  Do what the spec says (Vol 4,
    Part E, 7.8.13): drop the request, then report LE Connection Complete with status
    Unknown Connection Identifier."""

    def on_hci_le_create_connection_cancel_command(
            self, _command: hci.HCI_LE_Create_Connection_Cancel_Command) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        failed = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR, connection_handle=0,
            role=hci.Role.CENTRAL, peer_address_type=pending.peer_address_type,
            peer_address=pending.peer_address, connection_interval=0, peripheral_latency=0,
            supervision_timeout=0, central_clock_accuracy=0)
        # After the Command Complete that the caller sends for this return value.
        asyncio.get_running_loop().call_soon(self.send_hci_packet, failed)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)


class RadioWorld:
    """See the module docstring.  ``central_mtu`` is the ATT MTU the central asks for right
    after connecting (as CoreBluetooth/WinRT/Android do); the result is
    ``min(central_mtu, peripheral.max_mtu)``."""

    def __init__(self, *, central_address: str = "F0:00:00:00:00:01", central_mtu: int = 247) -> None:
        self.central_address = central_address
        self.central_mtu = central_mtu
        self.client_backend: type[BumbleBleakClient] = bind_client_backend(self)
        """Pass as ``BleakClient(..., backend=world.client_backend)``."""
        self.scanner_backend: type[BumbleBleakScanner] = bind_scanner_backend(self)
        """Pass as ``BleakScanner(..., backend=world.scanner_backend)`` (and to its classmethods)."""
        self._peripherals: list[EmulatedPeripheral] = []
        self._link: LocalLink | None = None
        self._controller: _CentralController | None = None
        self._central: Device | None = None
        self._scan_users = 0
        self._connect_lock = asyncio.Lock()

    # ----------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def start(self) -> None:
        if self._central is not None:
            return
        link = LocalLink()  # type: ignore[no-untyped-call]  # bumble leaves __init__ unannotated
        controller = _CentralController("central", link=link)
        central = Device(name="hiptrack-central", address=hci.Address(self.central_address),
                         host=Host(controller, AsyncPipeSink(controller)))
        await central.power_on()
        self._link, self._controller, self._central = link, controller, central
        for peripheral in self._peripherals:
            await peripheral.attach(link)

    async def close(self) -> None:
        central = self._central
        if central is None:
            return
        for connection in list(central.connections.values()):
            with contextlib.suppress(core.BaseBumbleError):
                await connection.disconnect()
        if central.is_scanning:
            await central.stop_scanning()
        for peripheral in self._peripherals:
            await peripheral.detach()
        await central.power_off()
        self._central = self._link = self._controller = None
        self._scan_users = 0

    # ---------------------------------------------------------------- population
    async def add(self, peripheral: _P) -> _P:
        """Register a peripheral; it powers on and advertises now (or at :meth:`start`)."""
        if any(p.address == peripheral.address for p in self._peripherals):
            raise ValueError(f"address {peripheral.address} is already in use")
        self._peripherals.append(peripheral)
        if self._link is not None:
            await peripheral.attach(self._link)
        return peripheral

    async def remove(self, peripheral: EmulatedPeripheral) -> None:
        """Take a peripheral off the air (its link, if any, is lost)."""
        await peripheral.lose_link()
        await peripheral.detach()
        self._peripherals.remove(peripheral)

    @property
    def peripherals(self) -> tuple[EmulatedPeripheral, ...]:
        return tuple(self._peripherals)

    def peripheral(self, name_or_address: str) -> EmulatedPeripheral:
        for p in self._peripherals:
            if name_or_address in (p.name, p.address):
                return p
        raise KeyError(name_or_address)

    # ----------------------------------------------------------- test controls
    async def disconnect(self, peripheral: EmulatedPeripheral, reason: int = REMOTE_USER_TERMINATED) -> None:
        """Peripheral-initiated disconnect with HCI ``reason`` (0x13 remote user terminated).
        Returns once the central has processed it (bleak's disconnected callback has run)."""
        await peripheral.disconnect(reason)
        await self._central_forgets(peripheral)

    async def lose_link(self, peripheral: EmulatedPeripheral, reason: int = CONNECTION_TIMEOUT) -> None:
        """Drop the link silently on both sides (0x08 connection timeout by default).
        Returns once the central has processed it."""
        await peripheral.lose_link(reason)
        await self._central_forgets(peripheral)

    async def _central_forgets(self, peripheral: EmulatedPeripheral) -> None:
        address = hci.Address(peripheral.address)
        await self.wait_until(lambda: self.central.find_connection_by_bd_addr(address) is None)

    async def stop_advertising(self, peripheral: EmulatedPeripheral) -> None:
        await peripheral.stop_advertising()

    async def start_advertising(self, peripheral: EmulatedPeripheral) -> None:
        await peripheral.start_advertising()

    async def inject_notification(self, peripheral: EmulatedPeripheral, uuid: str, data: bytes) -> None:
        """Send raw notification bytes on ``uuid``'s value handle, subscribed or not."""
        await peripheral.notify(uuid, data, force=True)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 1.0) -> None:
        """Let the stacks run until ``predicate()`` holds (a write command or notification
        needs several loop turns to cross the link); TimeoutError after ``timeout`` seconds
        (virtual or real, whichever clock the loop has)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.001)

    # ------------------------------------------------- used by the bleak backend
    @property
    def central(self) -> Device:
        if self._central is None:
            raise RuntimeError("the radio world is not started (use 'async with RadioWorld() as world')")
        return self._central

    @property
    def connect_lock(self) -> asyncio.Lock:
        """bumble's host allows one pending LE connection at a time."""
        return self._connect_lock

    async def abort_connecting(self, address: hci.Address) -> None:
        """Undo a connection attempt whose caller was cancelled (bumble leaves the controller's
        request armed): cancel it, or drop the link if it completed in the meantime."""
        if self._controller is not None and self._controller.pending_le_connection is not None:
            with contextlib.suppress(core.BaseBumbleError):
                await self.central.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())
        for _ in range(3):  # let a Connection Complete that was already on its way arrive
            await asyncio.sleep(0)
        orphan = self.central.find_connection_by_bd_addr(address)
        if orphan is not None:
            with contextlib.suppress(core.BaseBumbleError):
                await orphan.disconnect()

    def observed_rssi(self, address: str) -> int | None:
        """RSSI to report for an advertiser (bumble's controller always says -50)."""
        for p in self._peripherals:
            if p.address == address:
                return p.rssi
        return None

    def name_of(self, address: str) -> str | None:
        for p in self._peripherals:
            if p.address == address:
                return p.name
        return None

    async def acquire_scanning(self, active: bool) -> None:
        self._scan_users += 1
        if self._scan_users == 1 and not self.central.is_scanning:
            await self.central.start_scanning(active=active, filter_duplicates=False)

    async def release_scanning(self) -> None:
        self._scan_users = max(0, self._scan_users - 1)
        if self._scan_users == 0 and self._central is not None and self._central.is_scanning:
            await self._central.stop_scanning()
