"""bleak client and scanner backends that run on bumble's in-process BLE stack.

How bleak 3.1 selects and builds backends (read from bleak 3.1.0's source)
---------------------------------------------------------------------------
* ``BleakClient(address_or_ble_device, disconnected_callback=None, services=None, *,
  timeout=30, pair=False, bluez={}, winrt={}, backend=None, **kwargs)``: with ``backend=None``
  it asks ``get_platform_client_backend_type()`` (BlueZ, CoreBluetooth, WinRT, Android, ...
  chosen from the OS); otherwise it uses the class given, and ``client.backend_id`` becomes
  ``backend.__name__``.  It instantiates ``backend(address_or_ble_device,
  disconnected_callback=partial(cb, client) | None, services=set of normalized UUIDs | None,
  timeout=..., bluez=..., winrt=..., **kwargs)`` and forwards every public call to it.
* The class must subclass ``bleak.backends.client.BaseBleakClient`` and implement the abstract
  ``connect(pair, **kw)``, ``disconnect()``, ``pair()``, ``unpair()``, ``is_connected``,
  ``mtu_size``, ``read_gatt_char(char, *, use_cached, **kw)``,
  ``read_gatt_descriptor(desc, *, use_cached, **kw)``, ``write_gatt_char(char, data,
  response)``, ``write_gatt_descriptor(desc, data)``, ``start_notify(char, callback, **kw)``
  (callback takes the ``bytearray``; ``BleakClient`` has already bound the characteristic and
  wrapped coroutine callbacks) and ``stop_notify(char)``; ``name`` is optional.  The base keeps
  ``address``, ``services`` (must be set by ``connect``; ``BleakClient.services`` raises
  ``BleakError`` while it is None), ``_timeout`` and ``_disconnected_callback``.  Every
  built-in backend calls the disconnected callback on any disconnect, including ``disconnect()``.
* Services: ``BleakGATTServiceCollection`` filled with ``add_service(BleakGATTService(obj,
  handle, uuid))``, ``add_characteristic(BleakGATTCharacteristic(obj, handle, uuid,
  properties, max_write_without_response_size: Callable[[], int], service))`` and
  ``add_descriptor(BleakGATTDescriptor(obj, handle, uuid, characteristic))``.  UUIDs are
  ``normalize_uuid_str`` strings (lower-case 128-bit), properties are bleak's names
  (``gatt_char_props_to_strs``), ``obj`` is the backend's native object (here bumble proxies).
* ``BleakScanner(detection_callback=None, service_uuids=None, scanning_mode="active", *,
  bluez={}, cb={}, backend=None, **kwargs)`` builds ``backend(detection_callback,
  service_uuids, scanning_mode, bluez=..., cb=..., **kwargs)``; ``discover()``,
  ``find_device_by_*()`` pass ``backend=`` through.  The class subclasses
  ``bleak.backends.scanner.BaseBleakScanner`` (constructor takes ``detection_callback,
  service_uuids``) and implements ``start()`` / ``stop()``.  For each advertisement it builds
  ``AdvertisementData(local_name, manufacturer_data, service_data, service_uuids, tx_power,
  rssi, platform_data)``, drops it unless ``is_allowed_uuid(service_uuids)``, gets a
  ``BLEDevice(address, name, details)`` from ``create_or_update_device(key, address, name,
  details, adv)`` (which maintains ``seen_devices``, cleared at each start) and calls
  ``call_detection_callbacks(device, adv)``.
* Errors: operations on a disconnected client raise ``BleakError`` (``BleakClient`` itself
  raises ``BleakError("Service Discovery has not been performed yet")`` once ``services`` is
  None, and ``start_notify`` raises ``BleakError("Not connected")``; the backends raise
  ``BleakError("Not connected")``); ATT error responses become ``BleakGATTProtocolError``;
  connect timeouts are ``TimeoutError``; an unknown address is ``BleakDeviceNotFoundError``.

bleak 3.1.0 ships no bumble backend (its source has no mention of bumble), hence this module.
(3.1 also added ``BleakAdapter.get(backend=...)`` / ``BaseBleakAdapter`` for already-connected
devices; not implemented here.)

This backend: connects with the world's bumble central, asks for ``world.central_mtu`` right
away (like CoreBluetooth/WinRT/Android; BlueZ reports 23 unless acquired), discovers services,
characteristics and descriptors over ATT, and maps bumble's errors as above.  A
characteristic's ``handle`` is its value handle.  ``pair()`` runs bumble's SMP (LE Secure
Connections, Just Works); ``unpair()`` only disconnects (the emulated central keeps no bonds).
A notification is delivered to the callback synchronously when the central's host parses it,
in order.

The world is bound to a backend by subclassing: :func:`bind_client_backend` /
:func:`bind_scanner_backend` return subclasses carrying ``world``; ``RadioWorld`` exposes them
as ``world.client_backend`` / ``world.scanner_backend``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import gatt_char_props_to_strs
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Peer
from bumble.gatt import GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR, Characteristic
from bumble.gatt_client import CharacteristicProxy

from firmware_bridge.ble.emulation.peripheral import from_bumble_uuid, normalize_uuid

if TYPE_CHECKING:
    from firmware_bridge.ble.emulation.world import RadioWorld

_T = AdvertisingData.Type
_UUID_LISTS = {
    _T.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2, _T.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    _T.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4, _T.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    _T.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16, _T.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
}
_SERVICE_DATA = {_T.SERVICE_DATA_16_BIT_UUID: 2, _T.SERVICE_DATA_32_BIT_UUID: 4, _T.SERVICE_DATA_128_BIT_UUID: 16}


def _uuid_from_le(raw: bytes) -> str:
    """UUID carried little-endian in an AD structure -> bleak's normalized string."""
    text = bytes(reversed(raw)).hex()
    if len(raw) == 16:
        text = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return normalize_uuid(text)


def advertisement_to_bleak(adv: Advertisement, rssi: int) -> AdvertisementData:
    """Parse the AD structures of a bumble advertisement the way bleak's backends report them."""
    local_name: str | None = None
    short_name: str | None = None
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    uuids: list[str] = []
    tx_power: int | None = None
    for ad_type, payload in adv.data.ad_structures:
        if ad_type == _T.COMPLETE_LOCAL_NAME:
            local_name = payload.decode("utf-8", "replace")
        elif ad_type == _T.SHORTENED_LOCAL_NAME:
            short_name = payload.decode("utf-8", "replace")
        elif ad_type == _T.MANUFACTURER_SPECIFIC_DATA and len(payload) >= 2:
            manufacturer[int.from_bytes(payload[:2], "little")] = bytes(payload[2:])
        elif ad_type in _UUID_LISTS:
            size = _UUID_LISTS[ad_type]
            for i in range(0, len(payload) - size + 1, size):
                uuid = _uuid_from_le(payload[i:i + size])
                if uuid not in uuids:
                    uuids.append(uuid)
        elif ad_type in _SERVICE_DATA and len(payload) >= _SERVICE_DATA[ad_type]:
            size = _SERVICE_DATA[ad_type]
            service_data[_uuid_from_le(payload[:size])] = bytes(payload[size:])
        elif ad_type == _T.TX_POWER_LEVEL and len(payload) == 1:
            tx_power = int.from_bytes(payload, "little", signed=True)
    return AdvertisementData(local_name=local_name or short_name, manufacturer_data=manufacturer,
                             service_data=service_data, service_uuids=uuids, tx_power=tx_power,
                             rssi=rssi, platform_data=(adv,))


def _world_of(cls: type[Any]) -> RadioWorld:
    world: RadioWorld | None = getattr(cls, "world", None)
    if world is None:
        raise BleakError(f"{cls.__name__} is not bound to a radio world: use world.client_backend / "
                         "world.scanner_backend")
    return world


class BumbleBleakScanner(BaseBleakScanner):
    """Scans with the world's central.  Use a bound subclass (``world.scanner_backend``)."""

    world: ClassVar[RadioWorld | None] = None

    def __init__(self, detection_callback: AdvertisementDataCallback | None, service_uuids: list[str] | None,
                 scanning_mode: str = "active", **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._world = _world_of(type(self))
        self._active = scanning_mode != "passive"
        self._scanning = False

    async def start(self) -> None:
        if self._scanning:
            return
        self.seen_devices = {}
        self._world.central.on(self._world.central.EVENT_ADVERTISEMENT, self._on_advertisement)
        self._scanning = True
        await self._world.acquire_scanning(self._active)

    async def stop(self) -> None:
        if not self._scanning:
            return
        self._scanning = False
        self._world.central.remove_listener(self._world.central.EVENT_ADVERTISEMENT, self._on_advertisement)
        await self._world.release_scanning()

    def _on_advertisement(self, adv: Advertisement) -> None:
        address = adv.address.to_string(with_type_qualifier=False)
        rssi = self._world.observed_rssi(address)
        data = advertisement_to_bleak(adv, adv.rssi if rssi is None else rssi)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        device = self.create_or_update_device(address, address, data.local_name, adv.address, data)
        self.call_detection_callbacks(device, data)


class BumbleBleakClient(BaseBleakClient):
    """GATT client on the world's central.  Use a bound subclass (``world.client_backend``)."""

    world: ClassVar[RadioWorld | None] = None

    def __init__(self, address_or_ble_device: BLEDevice | str, *,
                 disconnected_callback: Callable[[], None] | None = None, timeout: float = 30.0,
                 services: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self._world = _world_of(type(self))
        self._peer_address: hci.Address | None = None
        self._device_name: str | None = None
        if isinstance(address_or_ble_device, BLEDevice):
            self._device_name = address_or_ble_device.name
            if isinstance(address_or_ble_device.details, hci.Address):
                self._peer_address = address_or_ble_device.details
        self._service_filter = services
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._notify_callbacks: dict[int, Callable[[bytes], None]] = {}
        self.disconnect_reason: int | None = None
        """HCI reason of the last disconnect (0x13 remote terminated, 0x08 timeout, ...)."""

    # ------------------------------------------------------------- connection
    @property
    def name(self) -> str:
        return self._device_name or self._world.name_of(self.address) or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._peer is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connection is not None:
            raise BleakError("Client is already connected")
        timeout = float(kwargs.get("timeout", self._timeout))
        address = self._peer_address or await self._find(timeout)
        central = self._world.central
        if central.find_connection_by_bd_addr(address) is not None:
            raise BleakError(f"{self.address} is already connected (by another BleakClient)")
        try:
            async with self._world.connect_lock:
                try:
                    connection = await central.connect_le(address, timeout=timeout)
                except asyncio.CancelledError:  # e.g. the caller's own asyncio.timeout()
                    await self._world.abort_connecting(address)
                    raise
        except core.TimeoutError as error:
            raise TimeoutError(f"connecting to {self.address} timed out after {timeout} s") from error
        except core.BaseBumbleError as error:
            raise BleakError(f"connecting to {self.address} failed: {error}") from error
        self._connection = connection
        self.disconnect_reason = None
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            with self._translate_errors():
                if pair:
                    await connection.pair()
                peer = Peer(connection)
                await peer.request_mtu(self._world.central_mtu)
                self.services = await self._discover(peer)
            self._peer = peer
        except BaseException:
            if self._connection is not None:
                with contextlib.suppress(core.BaseBumbleError):
                    await self._connection.disconnect()
            raise

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        with contextlib.suppress(core.BaseBumbleError):
            await connection.disconnect()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """LE Secure Connections 'Just Works' pairing through bumble's SMP (no key store)."""
        connection = self._require_connection()
        with self._translate_errors():
            await connection.pair()

    async def unpair(self) -> None:
        """The emulated central keeps no bond, so there is nothing to forget but the link."""
        await self.disconnect()

    # --------------------------------------------------------------------- I/O
    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False,
                             **kwargs: Any) -> bytearray:
        peer = self._require_peer()
        if use_cached and (cached := peer.gatt_client.cached_values.get(characteristic.handle)):
            return bytearray(cached[1])
        with self._translate_errors():
            return bytearray(await peer.read_value(characteristic.obj))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False,
                                   **kwargs: Any) -> bytearray:
        peer = self._require_peer()
        if use_cached and (cached := peer.gatt_client.cached_values.get(descriptor.handle)):
            return bytearray(cached[1])
        with self._translate_errors():
            return bytearray(await peer.read_value(descriptor.obj))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: SizedBuffer,
                              response: bool) -> None:
        peer = self._require_peer()
        payload = bytes(memoryview(data))
        limit = characteristic.max_write_without_response_size
        if not response and len(payload) > limit:
            raise BleakError(f"{len(payload)} bytes exceed max_write_without_response_size ({limit})")
        with self._translate_errors():
            await peer.write_value(characteristic.obj, payload, with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        peer = self._require_peer()
        with self._translate_errors():
            await peer.write_value(descriptor.obj, bytes(memoryview(data)), with_response=True)

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback,
                           **kwargs: Any) -> None:
        peer = self._require_peer()
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        if not proxy.properties & (Characteristic.Properties.NOTIFY | Characteristic.Properties.INDICATE):
            raise BleakError(f"characteristic {characteristic.uuid} does not support notify or indicate")
        if proxy.get_descriptor(GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR) is None:
            raise BleakError(f"characteristic {characteristic.uuid} has no CCCD")
        if characteristic.handle in self._notify_callbacks:
            await self.stop_notify(characteristic)

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        self._notify_callbacks[characteristic.handle] = deliver
        with self._translate_errors():
            await peer.subscribe(proxy, deliver)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        deliver = self._notify_callbacks.pop(characteristic.handle, None)
        if deliver is None:
            return
        with self._translate_errors():
            await peer.unsubscribe(characteristic.obj, deliver)

    # -------------------------------------------------------------- internals
    async def _find(self, timeout: float) -> hci.Address:
        from bleak import BleakScanner  # the public scanner, on this world's scanner backend

        device = await BleakScanner.find_device_by_address(
            self.address, timeout=timeout, backend=self._world.scanner_backend)
        if device is None:
            raise BleakDeviceNotFoundError(self.address, f"Device with address {self.address} was not found.")
        self._device_name = self._device_name or device.name
        details: hci.Address = device.details
        return details

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for service in await peer.discover_services():
            uuid = from_bumble_uuid(service.uuid)
            if self._service_filter is not None and uuid not in self._service_filter:
                continue
            bleak_service = BleakGATTService(service, service.handle, uuid)
            collection.add_service(bleak_service)
            for char in await peer.discover_characteristics(service=service):
                bleak_char = BleakGATTCharacteristic(
                    char, char.handle, from_bumble_uuid(char.uuid), sorted(gatt_char_props_to_strs(char.properties)),
                    lambda: self.mtu_size - 3, bleak_service)
                collection.add_characteristic(bleak_char)
                for desc in await peer.discover_descriptors(char):
                    collection.add_descriptor(
                        BleakGATTDescriptor(desc, desc.handle, from_bumble_uuid(desc.type), bleak_char))
        return collection

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise BleakError("Not connected")
        return self._connection

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    def _on_disconnection(self, reason: int) -> None:
        self.disconnect_reason = reason
        self._connection = self._peer = None
        self.services = None
        self._notify_callbacks.clear()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    @contextlib.contextmanager
    def _translate_errors(self) -> Iterator[None]:
        """bumble's exceptions -> what bleak raises on a real platform.  An ATT request that is
        in flight when the link drops is cancelled inside bumble: that becomes
        ``BleakError("disconnected")`` (as on CoreBluetooth), unless our own task is being
        cancelled."""
        try:
            yield
        except att.ATT_Error as error:
            raise BleakGATTProtocolError(error.error_code) from error
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if (task is not None and task.cancelling()) or self._connection is not None:
                raise
            raise BleakError("disconnected") from None
        except core.TimeoutError as error:
            raise TimeoutError(str(error) or "GATT operation timed out") from error
        except core.BaseBumbleError as error:
            raise BleakError(str(error)) from error


def bind_client_backend(world: RadioWorld) -> type[BumbleBleakClient]:
    """A :class:`BumbleBleakClient` subclass that talks through ``world``."""
    return type("BumbleBleakClient", (BumbleBleakClient,), {"world": world, "__module__": __name__})


def bind_scanner_backend(world: RadioWorld) -> type[BumbleBleakScanner]:
    """A :class:`BumbleBleakScanner` subclass that scans in ``world``."""
    return type("BumbleBleakScanner", (BumbleBleakScanner,), {"world": world, "__module__": __name__})
