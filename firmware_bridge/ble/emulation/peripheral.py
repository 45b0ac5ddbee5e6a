"""Emulated BLE peripherals: a real bumble GATT server behind each one.

An :class:`EmulatedPeripheral` owns one bumble ``Controller`` + ``Host`` + ``Device`` on the
world's :class:`bumble.link.LocalLink`.  Its services are declared with plain data
(:class:`ServiceSpec`, :class:`CharacteristicSpec`, bleak-style property names) and turned into
a bumble GATT server, so the central talks real ATT to it: MTU exchange, discovery, reads,
write requests and write commands, CCCD writes, notifications.

Subclass and override the hooks (:meth:`~EmulatedPeripheral.on_connect`,
:meth:`~EmulatedPeripheral.on_disconnect`, :meth:`~EmulatedPeripheral.on_write`,
:meth:`~EmulatedPeripheral.on_read`, :meth:`~EmulatedPeripheral.on_subscribe`); drive it with
:meth:`~EmulatedPeripheral.notify`, :meth:`~EmulatedPeripheral.stream`,
:meth:`~EmulatedPeripheral.disconnect`, :meth:`~EmulatedPeripheral.lose_link`,
:meth:`~EmulatedPeripheral.stop_advertising` / :meth:`~EmulatedPeripheral.start_advertising`.

What bumble's in-process link does *not* model (so neither does this): radio timing (a PDU
reaches the other controller on the next event-loop turn, there are no connection events or
intervals), packet loss, the 31-byte legacy advertising limit and separate scan-response data
(bumble's emulated controller sends the advertising data only and echoes it as the scan
response, so everything is put in one advertising payload), and RSSI (always -50 in bumble; the
world substitutes :attr:`EmulatedPeripheral.rssi`).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from bumble import att, hci
from bumble import data_types as dt
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

logger = logging.getLogger(__name__)

PropertyName = Literal["read", "write", "write-without-response", "notify", "indicate"]

_PROPERTY_FLAGS: dict[str, Characteristic.Properties] = {
    "read": Characteristic.Properties.READ,
    "write": Characteristic.Properties.WRITE,
    "write-without-response": Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
    "notify": Characteristic.Properties.NOTIFY,
    "indicate": Characteristic.Properties.INDICATE,
}

_SIG_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"

# HCI reasons a test will want (Core spec Vol 1, Part F).
REMOTE_USER_TERMINATED = 0x13
CONNECTION_TIMEOUT = 0x08
REMOTE_POWER_OFF = 0x15


def normalize_uuid(uuid: str) -> str:
    """Lower-case 128-bit form, the way bleak reports UUIDs (16/32-bit ones get the SIG base)."""
    text = uuid.strip().lower()
    if len(text) == 4:
        return f"0000{text}{_SIG_BASE_SUFFIX}"
    if len(text) == 8:
        return f"{text}{_SIG_BASE_SUFFIX}"
    if len(text) == 36:
        return text
    raise ValueError(f"not a Bluetooth UUID: {uuid!r}")


def to_bumble_uuid(uuid: str) -> UUID:
    """bumble UUID; SIG-base UUIDs become their 16/32-bit short forms (as on the air)."""
    text = normalize_uuid(uuid)
    if text.endswith(_SIG_BASE_SUFFIX):
        short = text[:8]
        return UUID(short[4:] if short.startswith("0000") else short)
    return UUID(text)


def from_bumble_uuid(uuid: UUID) -> str:
    return normalize_uuid(uuid.to_hex_str("-"))


class AttError(Exception):
    """Raise from :meth:`EmulatedPeripheral.on_read` / ``on_write`` to answer with an ATT error."""

    def __init__(self, code: int) -> None:
        super().__init__(f"ATT error 0x{code:02X}")
        self.code = code


@dataclass(frozen=True)
class CharacteristicSpec:
    uuid: str
    properties: tuple[PropertyName, ...]
    value: bytes = b""
    """Initial value served to reads (change it with :meth:`EmulatedPeripheral.set_value`)."""


@dataclass(frozen=True)
class ServiceSpec:
    uuid: str
    characteristics: tuple[CharacteristicSpec, ...]


@dataclass(frozen=True)
class WriteEvent:
    uuid: str
    data: bytes
    with_response: bool


@dataclass
class _Char:
    uuid: str
    attribute: Characteristic[bytes]
    value: bytes
    properties: frozenset[str]


class _PeripheralDevice(Device):
    """A bumble Device that notes, per value handle, whether each incoming write was a
    Write Request (with response) or a Write Command, before the GATT server handles it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.write_kinds: dict[int, collections.deque[bool]] = collections.defaultdict(collections.deque)
        super().__init__(*args, **kwargs)

    def on_gatt_pdu(self, connection: Connection, pdu: bytes) -> None:
        if len(pdu) >= 3 and pdu[0] in (att.Opcode.ATT_WRITE_REQUEST, att.Opcode.ATT_WRITE_COMMAND):
            handle = int.from_bytes(pdu[1:3], "little")
            self.write_kinds[handle].append(pdu[0] == att.Opcode.ATT_WRITE_REQUEST)
        super().on_gatt_pdu(connection, pdu)


class EmulatedPeripheral:
    """Base class of an emulated peripheral.  Declare ``SERVICES`` on a subclass or pass
    ``services=``; add it to a :class:`~firmware_bridge.ble.emulation.world.RadioWorld`."""

    SERVICES: ClassVar[Sequence[ServiceSpec]] = ()

    def __init__(
        self,
        name: str,
        address: str,
        *,
        services: Sequence[ServiceSpec] | None = None,
        rssi: int = -60,
        advertised_service_uuids: Sequence[str] | None = None,
        manufacturer_data: Mapping[int, bytes] | None = None,
        tx_power: int | None = None,
        max_mtu: int = 517,
        advertising_interval_ms: float = 20.0,
    ) -> None:
        self.name = name
        self.address = hci.Address(address).to_string(with_type_qualifier=False)
        self.rssi = rssi
        """RSSI the central reports for this peripheral's advertisements (mutable)."""
        self.services: tuple[ServiceSpec, ...] = tuple(services if services is not None else self.SERVICES)
        declared = [s.uuid for s in self.services]
        self.advertised_service_uuids = tuple(
            normalize_uuid(u) for u in (declared if advertised_service_uuids is None else advertised_service_uuids))
        self.manufacturer_data = dict(manufacturer_data or {})
        self.tx_power = tx_power
        self.max_mtu = max_mtu
        self.advertising_interval_ms = advertising_interval_ms
        self.writes: list[WriteEvent] = []
        """Every write received (by the default :meth:`on_write`), in arrival order."""
        self.disconnect_reasons: list[int] = []
        self.connection_count = 0
        self._chars: dict[str, _Char] = {}
        self._device: _PeripheralDevice | None = None
        self._controller: Controller | None = None
        self._connection: Connection | None = None
        self._want_advertising = True
        self._advertising_lock = asyncio.Lock()
        self._readvertise: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ hooks
    def on_connect(self) -> None:
        """Called when a central connects."""

    def on_disconnect(self, reason: int) -> None:
        """Called when the connection ends (``reason`` is the HCI reason code)."""

    def on_write(self, uuid: str, data: bytes, with_response: bool) -> None:
        """Called for every write.  Default: record it in :attr:`writes` (and store it as the
        value if the characteristic is readable).  Raise :class:`AttError` to reject it."""
        self.writes.append(WriteEvent(uuid, data, with_response))
        char = self._chars[uuid]
        if "read" in char.properties:
            char.value = data

    def on_read(self, uuid: str) -> bytes | Awaitable[bytes]:
        """Value for a read (may be a coroutine).  Default: the stored value."""
        return self._chars[uuid].value

    def on_subscribe(self, uuid: str, enabled: bool) -> None:
        """Called when the central writes the CCCD of ``uuid``."""

    # ---------------------------------------------------------------- queries
    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    @property
    def is_advertising(self) -> bool:
        return self._device is not None and bool(self._device.is_advertising)

    @property
    def mtu(self) -> int:
        """ATT MTU of the current connection (23 until the central exchanges MTU)."""
        return self._connection.att_mtu if self._connection is not None else att.ATT_DEFAULT_MTU

    def is_subscribed(self, uuid: str) -> bool:
        if self._device is None or self._connection is None:
            return False
        cccds = self._device.gatt_server.subscribers.get(self._connection, {})
        value = cccds.get(self._chars[normalize_uuid(uuid)].attribute.handle, b"\x00\x00")
        return len(value) == 2 and value[0] & 0x03 != 0

    def set_value(self, uuid: str, value: bytes) -> None:
        self._chars[normalize_uuid(uuid)].value = bytes(value)

    def advertising_data(self) -> bytes:
        """The advertising payload: flags, complete name, service UUID lists, TX power and
        manufacturer data (one AD structure per company)."""
        structures: list[Any] = [dt.Flags(AdvertisingData.Flags.LE_GENERAL_DISCOVERABLE_MODE
                                          | AdvertisingData.Flags.BR_EDR_NOT_SUPPORTED),
                                 dt.CompleteLocalName(self.name)]
        uuids = [to_bumble_uuid(u) for u in self.advertised_service_uuids]
        short = [u for u in uuids if len(u.to_bytes()) == 2]
        mid = [u for u in uuids if len(u.to_bytes()) == 4]
        long = [u for u in uuids if len(u.to_bytes()) == 16]
        if short:
            structures.append(dt.CompleteListOf16BitServiceUUIDs(short))
        if mid:
            structures.append(dt.CompleteListOf32BitServiceUUIDs(mid))
        if long:
            structures.append(dt.CompleteListOf128BitServiceUUIDs(long))
        if self.tx_power is not None:
            structures.append(dt.TxPowerLevel(self.tx_power))
        for company, payload in self.manufacturer_data.items():
            structures.append(dt.ManufacturerSpecificData(company, bytes(payload)))
        return bytes(AdvertisingData(structures))

    # ---------------------------------------------------------------- actions
    async def notify(self, uuid: str, data: bytes, *, force: bool = False) -> bool:
        """Send one notification with exactly ``data``.  Returns False (nothing sent) when the
        central has not subscribed, unless ``force`` (then it is sent regardless of the CCCD,
        like a misbehaving firmware).  Raises ValueError if ``data`` exceeds ATT_MTU - 3
        (bumble would silently truncate it) and RuntimeError when not connected."""
        char = self._chars[normalize_uuid(uuid)]
        if self._device is None or self._connection is None:
            raise RuntimeError(f"{self.name}: not connected")
        if len(data) > self.mtu - 3:
            raise ValueError(f"{self.name}: {len(data)}-byte notification exceeds ATT_MTU-3 = {self.mtu - 3}")
        if not force and not self.is_subscribed(char.uuid):
            return False
        await self._device.notify_subscriber(self._connection, char.attribute, bytes(data), force=force)
        return True

    async def stream(self, uuid: str, payloads: Iterable[bytes], rate_hz: float) -> int:
        """Notify ``payloads`` paced at ``rate_hz`` on the event loop's clock (drift-free: the
        k-th goes out at start + k/rate).  Under the world's virtual clock this costs no real
        time.  Stops early if the link drops; returns how many were sent."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        for k, payload in enumerate(payloads):
            delay = start + k / rate_hz - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if not self.is_connected:
                break
            if await self.notify(uuid, payload):
                sent += 1
        return sent

    async def disconnect(self, reason: int = REMOTE_USER_TERMINATED) -> None:
        """Peripheral-initiated disconnect (LL_TERMINATE_IND carrying ``reason``)."""
        if self._connection is not None:
            await self._connection.disconnect(reason)

    async def lose_link(self, reason: int = CONNECTION_TIMEOUT) -> None:
        """The link drops without a terminate exchange (out of range, battery pulled): both
        controllers report ``reason`` (supervision timeout by default) to their hosts."""
        connection, controller = self._connection, self._controller
        if connection is None or controller is None:
            return
        central_address = connection.peer_address
        ours = controller.le_connections.get(central_address)
        peer = controller.link.find_le_controller(central_address)
        theirs = peer.le_connections.get(connection.self_address) if peer is not None else None
        if ours is not None:
            controller.on_le_disconnected(ours, reason)
        if peer is not None and theirs is not None:
            peer.on_le_disconnected(theirs, reason)
        for _ in range(3):  # let both hosts process the Disconnection Complete events
            await asyncio.sleep(0)

    async def stop_advertising(self) -> None:
        """Stop advertising and stay silent after a disconnect until :meth:`start_advertising`."""
        self._want_advertising = False
        await self._set_advertising(False)

    async def start_advertising(self) -> None:
        """Advertise (again); also after every disconnect from now on."""
        self._want_advertising = True
        await self._set_advertising(True)

    async def _set_advertising(self, on: bool) -> None:
        async with self._advertising_lock:  # bumble's advertising set calls must not interleave
            device = self._device
            if device is None:
                return
            if on and self._want_advertising and self._connection is None and not device.is_advertising:
                await device.start_advertising(
                    advertising_data=self.advertising_data(),
                    advertising_interval_min=self.advertising_interval_ms,
                    advertising_interval_max=self.advertising_interval_ms)
            elif not on and device.is_advertising:
                await device.stop_advertising()

    # ------------------------------------------------------- world interface
    async def attach(self, link: LocalLink) -> None:
        """Create the controller/host/device on ``link``, power on, start advertising."""
        if self._device is not None:
            raise RuntimeError(f"{self.name} is already attached to a radio world")
        controller = Controller(f"periph-{self.name}", link=link)
        device = _PeripheralDevice(name=self.name, address=hci.Address(self.address),
                                   host=Host(controller, AsyncPipeSink(controller)))
        device.gatt_server.max_mtu = self.max_mtu
        device.add_services(self._build_services(device))
        device.on(device.EVENT_CONNECTION, self._on_connection)
        device.on("characteristic_subscription", self._on_subscription)
        self._controller, self._device = controller, device
        await device.power_on()
        if self._want_advertising:
            await self.start_advertising()

    async def detach(self) -> None:
        """Power off and leave the link (advertising wishes are kept for a later attach)."""
        if self._device is None:
            return
        if self._readvertise is not None:
            task, self._readvertise = self._readvertise, None
            await task
        await self._set_advertising(False)
        await self._device.power_off()
        if self._controller is not None:
            self._controller.link.remove_controller(self._controller)
        self._device = self._controller = None

    # -------------------------------------------------------------- internals
    def _build_services(self, device: _PeripheralDevice) -> list[Service]:
        services = []
        for service in self.services:
            attributes = []
            for spec in service.characteristics:
                uuid = normalize_uuid(spec.uuid)
                if uuid in self._chars:
                    raise ValueError(f"{self.name}: characteristic {uuid} declared twice")
                unknown = set(spec.properties) - set(_PROPERTY_FLAGS)
                if unknown:
                    raise ValueError(f"{self.name}: unknown properties {sorted(unknown)} on {uuid}")
                flags = Characteristic.Properties(0)
                for name in spec.properties:
                    flags |= _PROPERTY_FLAGS[name]
                permissions = Characteristic.Permissions(0)
                if "read" in spec.properties:
                    permissions |= Characteristic.Permissions.READABLE
                if {"write", "write-without-response"} & set(spec.properties):
                    permissions |= Characteristic.Permissions.WRITEABLE
                value: CharacteristicValue[bytes] = CharacteristicValue(
                    read=self._reader(uuid), write=self._writer(uuid, device))
                attribute: Characteristic[bytes] = Characteristic(to_bumble_uuid(uuid), flags, permissions, value)
                self._chars[uuid] = _Char(uuid, attribute, bytes(spec.value), frozenset(spec.properties))
                attributes.append(attribute)
            services.append(Service(to_bumble_uuid(service.uuid), attributes))
        return services

    def _reader(self, uuid: str) -> Any:
        async def read(_connection: Connection) -> bytes:
            if "read" not in self._chars[uuid].properties:
                raise att.ATT_Error(att.ATT_READ_NOT_PERMITTED_ERROR)
            try:
                result = self.on_read(uuid)
                return bytes(await result) if inspect.isawaitable(result) else bytes(result)
            except AttError as error:
                raise att.ATT_Error(error.code) from error
        return read

    def _writer(self, uuid: str, device: _PeripheralDevice) -> Any:
        def write(_connection: Connection, value: bytes) -> None:
            char = self._chars[uuid]
            kinds = device.write_kinds.get(char.attribute.handle)
            with_response = kinds.popleft() if kinds else True  # empty: prepared (long) write
            allowed = "write" if with_response else "write-without-response"
            if allowed not in char.properties:
                raise att.ATT_Error(att.ATT_WRITE_NOT_PERMITTED_ERROR)
            try:
                self.on_write(uuid, bytes(value), with_response)
            except AttError as error:
                raise att.ATT_Error(error.code) from error
        return write

    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        self.connection_count += 1
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        self.on_connect()

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        if self._device is not None:
            self._device.write_kinds.clear()
        self.disconnect_reasons.append(reason)
        self.on_disconnect(reason)
        if self._want_advertising and self._device is not None:
            self._readvertise = asyncio.get_running_loop().create_task(self._set_advertising(True))

    def _on_subscription(self, _connection: Connection, characteristic: Characteristic[bytes],
                         notify_enabled: bool, indicate_enabled: bool) -> None:
        for uuid, char in self._chars.items():
            if char.attribute is characteristic:
                self.on_subscribe(uuid, notify_enabled or indicate_enabled)

