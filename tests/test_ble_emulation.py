"""bleak's public API against emulated IMUs on bumble's in-process stack (no hardware, no
network).  Only ``backend=`` differs from what a real driver does.

Tests run on a virtual-clock event loop (``run_in_virtual_time``): seconds of advertising,
scanning and 200 Hz streaming cost milliseconds of real time; one test runs on the real clock.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError

from firmware_bridge.ble.emulation import (
    CONNECTION_TIMEOUT,
    REMOTE_USER_TERMINATED,
    AttError,
    BumbleBleakClient,
    CharacteristicSpec,
    EmulatedPeripheral,
    RadioWorld,
    ServiceSpec,
    WriteEvent,
    run_in_virtual_time,
)

SERVICE = "7d2a0001-5b1e-4c43-9a2e-4b9f3c1e0001"
DATA = "7d2a0002-5b1e-4c43-9a2e-4b9f3c1e0001"  # notify: sample packets
CONTROL = "7d2a0003-5b1e-4c43-9a2e-4b9f3c1e0001"  # write / write without response: commands
INFO = "7d2a0004-5b1e-4c43-9a2e-4b9f3c1e0001"  # read: firmware string
OTHER_SERVICE = "7d2a00ff-5b1e-4c43-9a2e-4b9f3c1e0001"
CCCD = "00002902-0000-1000-8000-00805f9b34fb"
LEFT, RIGHT = "C4:00:00:00:00:01", "C4:00:00:00:00:02"
COMPANY = 0x0059  # Nordic Semiconductor


class FakeImu(EmulatedPeripheral):
    SERVICES = (ServiceSpec(SERVICE, (
        CharacteristicSpec(DATA, ("notify",)),
        CharacteristicSpec(CONTROL, ("write", "write-without-response")),
        CharacteristicSpec(INFO, ("read",), b"hiptrack-imu fw 1.2.3"),
    )),)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subscriptions: list[tuple[str, bool]] = []

    def on_subscribe(self, uuid: str, enabled: bool) -> None:
        self.subscriptions.append((uuid, enabled))

    def on_write(self, uuid: str, data: bytes, with_response: bool) -> None:
        if data == b"\xee":
            raise AttError(0x80)  # application error, as a firmware rejecting a command
        super().on_write(uuid, data, with_response)


def emulated(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test on the virtual-clock loop (pytest-asyncio is not used here)."""
    @functools.wraps(test)
    def run() -> None:
        run_in_virtual_time(test())
    return run


@asynccontextmanager
async def two_imus(**left_kwargs: Any) -> AsyncIterator[tuple[RadioWorld, FakeImu, FakeImu]]:
    async with RadioWorld() as world:
        left = await world.add(FakeImu("IMU-L", LEFT, rssi=-42, manufacturer_data={COMPANY: b"\x01\x07"},
                                       tx_power=4, **left_kwargs))
        right = await world.add(FakeImu("IMU-R", RIGHT, rssi=-71, manufacturer_data={COMPANY: b"\x02\x07"}))
        yield world, left, right


async def find(world: RadioWorld, name: str) -> BLEDevice:
    device = await BleakScanner.find_device_by_name(name, timeout=2.0, backend=world.scanner_backend)
    assert device is not None, name
    return device


def packet(tag: int, seq: int, size: int = 20) -> bytes:
    head = bytes([tag]) + seq.to_bytes(4, "little")
    return head + bytes((seq + i) & 0xFF for i in range(size - len(head)))


class Inbox:
    """A bleak notification callback that records (loop time, bytes)."""

    def __init__(self) -> None:
        self.items: list[tuple[float, bytes]] = []

    def __call__(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self.items.append((asyncio.get_running_loop().time(), bytes(data)))

    @property
    def data(self) -> list[bytes]:
        return [d for _, d in self.items]

    async def expect(self, world: RadioWorld, count: int) -> None:
        await world.wait_until(lambda: len(self.items) >= count)
        assert len(self.items) == count


# --------------------------------------------------------------------------- scanning
@emulated
async def test_discover_reports_names_services_rssi_and_manufacturer_data() -> None:
    async with two_imus() as (world, _left, _right):
        seen: list[str] = []
        async with BleakScanner(lambda d, ad: seen.append(d.address), backend=world.scanner_backend) as scanner:
            await asyncio.sleep(1.0)
        found = scanner.discovered_devices_and_advertisement_data
        assert set(found) == {LEFT, RIGHT}
        device, adv = found[LEFT]
        assert (device.name, adv.local_name, adv.service_uuids, adv.rssi) == ("IMU-L", "IMU-L", [SERVICE], -42)
        assert adv.manufacturer_data == {COMPANY: b"\x01\x07"} and adv.tx_power == 4
        device, adv = found[RIGHT]
        assert (device.name, adv.service_uuids, adv.rssi, adv.tx_power) == ("IMU-R", [SERVICE], -71, None)
        # 20 ms advertising interval: about 50 advertising events per peripheral in 1 s
        assert seen.count(LEFT) >= 40 and seen.count(RIGHT) >= 40

        strongest = await BleakScanner.find_device_by_filter(
            lambda d, ad: SERVICE in ad.service_uuids and ad.rssi > -60, timeout=1.0,
            backend=world.scanner_backend)
        assert strongest is not None and strongest.address == LEFT
        nothing = await BleakScanner.discover(timeout=0.5, service_uuids=[OTHER_SERVICE],
                                              backend=world.scanner_backend)
        assert nothing == []


@emulated
async def test_peripheral_stops_advertising_and_comes_back() -> None:
    async with two_imus() as (world, _left, right):
        await world.stop_advertising(right)
        assert await BleakScanner.find_device_by_name("IMU-R", timeout=2.0, backend=world.scanner_backend) is None
        right.rssi = -88  # walked away, now back at the edge of range
        await world.start_advertising(right)
        found = await BleakScanner.discover(timeout=0.5, return_adv=True, backend=world.scanner_backend)
        assert found[RIGHT][1].rssi == -88


# ----------------------------------------------------------------------- GATT basics
@emulated
async def test_services_read_and_both_kinds_of_write() -> None:
    async with two_imus() as (world, left, _right), \
            BleakClient(await find(world, "IMU-L"), backend=world.client_backend) as client:
            assert client.is_connected and client.name == "IMU-L"
            assert client.backend_id == "BumbleBleakClient"
            service = client.services.get_service(SERVICE)
            assert service is not None
            props = {c.uuid: sorted(c.properties) for c in service.characteristics}
            assert props == {DATA: ["notify"], CONTROL: ["write", "write-without-response"], INFO: ["read"]}
            data_char = service.get_characteristic(DATA)
            assert data_char is not None and [d.uuid for d in data_char.descriptors] == [CCCD]

            assert await client.read_gatt_char(INFO) == bytearray(b"hiptrack-imu fw 1.2.3")
            await client.write_gatt_char(CONTROL, b"\x01\x00\xc8", response=True)
            assert left.writes == [WriteEvent(CONTROL, b"\x01\x00\xc8", True)]  # handled before the response
            await client.write_gatt_char(CONTROL, bytearray(b"\x02\xff"), response=False)
            await world.wait_until(lambda: len(left.writes) == 2)
            assert left.writes[1] == WriteEvent(CONTROL, b"\x02\xff", False)
            long_command = bytes(range(200))  # > MTU-3 with response: bumble uses a long write
            await client.write_gatt_char(CONTROL, long_command, response=True)
            assert left.writes[2] == WriteEvent(CONTROL, long_command, True)

            with pytest.raises(BleakGATTProtocolError) as rejected:
                await client.write_gatt_char(CONTROL, b"\xee", response=True)
            assert rejected.value.code == 0x80
            with pytest.raises(BleakGATTProtocolError) as not_writable:
                await client.write_gatt_char(INFO, b"x", response=True)
            assert not_writable.value.code == 0x03
            with pytest.raises(BleakGATTProtocolError) as not_readable:
                await client.read_gatt_char(CONTROL)
            assert not_readable.value.code == 0x02
            with pytest.raises(BleakError, match="max_write_without_response_size"):
                await client.write_gatt_char(CONTROL, bytes(245), response=False)
            await client.pair()  # LE Secure Connections, Just Works, through bumble's SMP
            assert await client.read_gatt_char(INFO) == bytearray(b"hiptrack-imu fw 1.2.3")


@emulated
async def test_notifications_arrive_in_order_and_byte_exact() -> None:
    async with two_imus() as (world, left, _right), \
            BleakClient(await find(world, "IMU-L"), backend=world.client_backend) as client:
            inbox = Inbox()
            await client.start_notify(DATA, inbox)
            assert left.subscriptions == [(DATA, True)] and left.is_subscribed(DATA)
            sent = [packet(1, k, size=1 + (k * 37) % 244) for k in range(60)]
            for payload in sent:
                assert await left.notify(DATA, payload)
            await inbox.expect(world, len(sent))
            assert inbox.data == sent

            await world.inject_notification(left, DATA, b"\x00\xff\x00")  # raw bytes
            await inbox.expect(world, len(sent) + 1)
            assert inbox.data[-1] == b"\x00\xff\x00"

            await client.stop_notify(DATA)
            await world.wait_until(lambda: not left.is_subscribed(DATA))
            assert left.subscriptions[-1] == (DATA, False)
            assert not await left.notify(DATA, b"dropped")  # CCCD off: the firmware sends nothing
            await asyncio.sleep(0.1)
            assert len(inbox.items) == len(sent) + 1


@emulated
async def test_200_hz_and_100_hz_streams_for_three_seconds_are_lossless_and_paced() -> None:
    async with two_imus() as (world, left, _right), \
            BleakClient(await find(world, "IMU-L"), backend=world.client_backend) as client:
            for rate in (200.0, 100.0):
                inbox = Inbox()
                await client.start_notify(DATA, inbox)
                count = int(3 * rate)
                sent = [packet(2, k) for k in range(count)]
                assert await left.stream(DATA, sent, rate_hz=rate) == count
                await inbox.expect(world, count)
                assert inbox.data == sent
                arrivals = [t for t, _ in inbox.items]
                gaps = [b - a for a, b in itertools.pairwise(arrivals)]
                assert min(gaps) == pytest.approx(1 / rate, abs=1e-6)
                assert max(gaps) == pytest.approx(1 / rate, abs=1e-6)
                assert arrivals[-1] - arrivals[0] == pytest.approx((count - 1) / rate)
                await client.stop_notify(DATA)


@emulated
async def test_mtu_exchange_and_notification_sizes() -> None:
    async with two_imus() as (world, left, _right), \
            BleakClient(await find(world, "IMU-L"), backend=world.client_backend) as client:
            assert client.mtu_size == 247 and left.mtu == 247
            data_char = client.services.get_characteristic(DATA)
            assert data_char is not None and data_char.max_write_without_response_size == 244
            inbox = Inbox()
            await client.start_notify(DATA, inbox)
            small, large = packet(3, 1, size=20), packet(3, 2, size=244)
            await left.notify(DATA, small)
            await left.notify(DATA, large)
            await inbox.expect(world, 2)
            assert inbox.data == [small, large]

    async with RadioWorld(central_mtu=247) as world:
        old = await world.add(FakeImu("IMU-OLD", LEFT, max_mtu=23))  # firmware without MTU exchange
        mid = await world.add(FakeImu("IMU-MID", RIGHT, max_mtu=185))
        async with BleakClient(await find(world, "IMU-OLD"), backend=world.client_backend) as client:
            assert client.mtu_size == 23
            inbox = Inbox()
            await client.start_notify(DATA, inbox)
            await old.notify(DATA, packet(4, 1, size=20))
            with pytest.raises(ValueError, match="exceeds ATT_MTU-3"):
                await old.notify(DATA, packet(4, 2, size=21))
            await inbox.expect(world, 1)
            assert inbox.data == [packet(4, 1, size=20)]
        async with BleakClient(await find(world, "IMU-MID"), backend=world.client_backend) as client:
            assert client.mtu_size == 185 == mid.mtu


# ------------------------------------------------------------------------ disconnects
@emulated
async def test_peripheral_disconnect_fires_callback_then_reconnect_resumes_notifications() -> None:
    async with two_imus() as (world, left, _right):
        dropped: list[BleakClient] = []
        client = BleakClient(await find(world, "IMU-L"), dropped.append, backend=world.client_backend)
        await client.connect()
        inbox = Inbox()
        await client.start_notify(DATA, inbox)

        await world.disconnect(left)
        assert dropped == [client] and not client.is_connected
        assert left.disconnect_reasons == [REMOTE_USER_TERMINATED]
        for call in (lambda: client.read_gatt_char(INFO),
                     lambda: client.write_gatt_char(CONTROL, b"\x01", response=True),
                     lambda: client.start_notify(DATA, inbox)):
            with pytest.raises(BleakError):
                await call()
        with pytest.raises(BleakError):
            _ = client.services

        await world.wait_until(lambda: left.is_advertising)  # the firmware advertises again
        await client.connect()
        assert client.is_connected and left.connection_count == 2
        await client.start_notify(DATA, inbox)  # subscriptions do not survive a disconnect
        await left.stream(DATA, [packet(5, k) for k in range(50)], rate_hz=200)
        await inbox.expect(world, 50)
        assert inbox.data == [packet(5, k) for k in range(50)]
        await client.disconnect()
        assert dropped == [client, client] and not client.is_connected
        await client.disconnect()  # idempotent, as in bleak


@emulated
async def test_link_loss_and_out_of_range_peripheral() -> None:
    async with two_imus() as (world, left, _right):
        dropped: list[BleakClient] = []
        device = await find(world, "IMU-L")
        client = BleakClient(device, dropped.append, backend=world.client_backend)
        await client.connect()
        await world.stop_advertising(left)  # battery pulled: no terminate, no advertising
        await world.lose_link(left)
        assert dropped == [client] and not client.is_connected
        assert left.disconnect_reasons == [CONNECTION_TIMEOUT]

        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await BleakClient(device, backend=world.client_backend, timeout=2.0).connect()
        assert loop.time() - start == pytest.approx(2.0, abs=0.1)
        with pytest.raises(TimeoutError):  # the caller's own timeout, around bleak's 30 s default
            await asyncio.wait_for(BleakClient(device, backend=world.client_backend).connect(), 0.5)

        await world.start_advertising(left)
        await client.connect()  # the central is usable again after the cancelled connection
        assert client.is_connected and await client.read_gatt_char(INFO)
        await client.disconnect()


class SlowImu(FakeImu):
    """Its INFO read never completes (a firmware stuck in a flash read)."""

    def on_read(self, uuid: str) -> Any:
        return asyncio.Event().wait()


@emulated
async def test_request_in_flight_when_the_link_drops_raises_bleak_error() -> None:
    async with RadioWorld() as world:
        imu = await world.add(SlowImu("IMU-S", LEFT))
        client = BleakClient(await find(world, "IMU-S"), backend=world.client_backend)
        await client.connect()
        read = asyncio.get_running_loop().create_task(client.read_gatt_char(INFO))
        await asyncio.sleep(0.5)
        assert not read.done()
        await world.lose_link(imu)
        with pytest.raises(BleakError, match="disconnected"):
            await read


@emulated
async def test_connect_by_address_string_and_unknown_address() -> None:
    async with two_imus() as (world, _left, _right):
        async with BleakClient(RIGHT, backend=world.client_backend, timeout=2.0) as client:
            assert client.name == "IMU-R" and await client.read_gatt_char(INFO)
        with pytest.raises(BleakDeviceNotFoundError):
            await BleakClient("C4:00:00:00:00:99", backend=world.client_backend, timeout=1.0).connect()
        with pytest.raises(BleakError, match="not bound to a radio world"):
            BleakClient(RIGHT, backend=BumbleBleakClient)


# ----------------------------------------------------------------- two at once
@emulated
async def test_two_peripherals_stream_concurrently_and_separately() -> None:
    async with two_imus() as (world, left, right):
        left_dev, right_dev = await find(world, "IMU-L"), await find(world, "IMU-R")
        lc = BleakClient(left_dev, backend=world.client_backend)
        rc = BleakClient(right_dev, backend=world.client_backend)
        await asyncio.gather(lc.connect(), rc.connect())
        try:
            l_in, r_in = Inbox(), Inbox()
            await asyncio.gather(lc.start_notify(DATA, l_in), rc.start_notify(DATA, r_in))
            l_sent = [packet(0x4C, k) for k in range(400)]  # 2 s at 200 Hz
            r_sent = [packet(0x52, k, size=40) for k in range(300)]  # 2 s at 150 Hz
            counts = await asyncio.gather(left.stream(DATA, l_sent, rate_hz=200),
                                          right.stream(DATA, r_sent, rate_hz=150))
            assert list(counts) == [400, 300]
            await world.wait_until(lambda: (len(l_in.items), len(r_in.items)) == (400, 300))
            assert l_in.data == l_sent and r_in.data == r_sent
            # interleaved in time, not one after the other
            assert l_in.items[0][0] < r_in.items[-1][0] and r_in.items[0][0] < l_in.items[-1][0]
            await lc.write_gatt_char(CONTROL, b"L", response=True)
            await rc.write_gatt_char(CONTROL, b"R", response=True)
            assert [w.data for w in left.writes] == [b"L"] and [w.data for w in right.writes] == [b"R"]
        finally:
            await asyncio.gather(lc.disconnect(), rc.disconnect())


# ------------------------------------------------------------------- real clock
def test_same_stack_on_the_real_clock() -> None:
    async def scenario() -> None:
        async with two_imus() as (world, left, _right):
            found = await BleakScanner.discover(timeout=0.2, backend=world.scanner_backend)
            assert {d.address for d in found} == {LEFT, RIGHT}
            device = next(d for d in found if d.address == LEFT)
            async with BleakClient(device, backend=world.client_backend, timeout=2.0) as client:
                inbox = Inbox()
                await client.start_notify(DATA, inbox)
                await left.stream(DATA, [packet(6, k) for k in range(40)], rate_hz=200)
                await inbox.expect(world, 40)
                assert inbox.data == [packet(6, k) for k in range(40)]

    start = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - start < 3.0
