"""The MetaWear protocol module against the byte sequences in /work/shared/docs/ble-protocols.md.

Sequences the notes mark [test] (checked there against the MbientLab C++ SDK's unit tests) are kept
apart from the ones derived from register layouts ([derived]): a real board can only contradict the
latter. The last section round-trips through the emulated board (firmware_bridge/ble/emulation/
metamotion.py), which decodes commands and encodes notifications with its own tables.
"""

from __future__ import annotations

import asyncio
import math
import struct

import pytest
from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic

from firmware_bridge.ble.emulation import RadioWorld, run_in_virtual_time
from firmware_bridge.ble.emulation.metamotion import (
    METAMOTION_R,
    METAMOTION_RL,
    METAMOTION_S,
    BoardProfile,
    EmulatedMetaMotion,
    SensorName,
)
from firmware_bridge.errors import PacketError
from firmware_bridge.metawear import protocol as mw
from firmware_bridge.metawear.protocol import AccImplementation as Acc
from firmware_bridge.metawear.protocol import GyroImplementation as Gyro


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# ------------------------------------------------------------------------------------ constants
def test_uuids_and_ids_as_in_the_notes() -> None:
    assert mw.SERVICE_UUID == "326a9000-85cb-9195-d9dd-464cfbbae75a"
    assert mw.COMMAND_UUID == "326a9001-85cb-9195-d9dd-464cfbbae75a"
    assert mw.NOTIFY_UUID == "326a9006-85cb-9195-d9dd-464cfbbae75a"
    assert mw.MODEL_NUMBER_UUID.startswith("00002a24") and mw.FIRMWARE_REVISION_UUID.startswith("00002a26")
    assert mw.METABOOT_SERVICE_UUID == "00001530-1212-efde-1523-785feabcd123"
    assert (mw.Module.ACCELEROMETER, mw.Module.SETTINGS, mw.Module.GYRO, mw.Module.MAGNETOMETER,
            mw.Module.SENSOR_FUSION, mw.Module.DEBUG) == (0x03, 0x11, 0x13, 0x15, 0x19, 0xFE)
    assert [m.value for m in mw.DISCOVERY_ORDER] == [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0F, 0x11, 0x12, 0x13, 0x14,
        0x15, 0x16, 0x19, 0xFE]
    assert [mw.model_name(n) for n in ("5", "6", "8", "9")] == [
        "MetaMotionR", "MetaMotionC", "MetaMotionS", "MetaWear (model 9)"]


# ------------------------------------------------------------------------ commands, [test]
def test_accelerometer_commands_test_vectors() -> None:
    # BMI160 conf byte per rate (test_accelerometer_bmi160.py): 0x25..0x2C at 12.5..1600 Hz, 0x81..0x84 below.
    rates = (12.5, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0)
    assert [mw.acc_config(Acc.BMI160, r, 8)[2] for r in rates] == list(range(0x25, 0x2D))
    assert [mw.acc_config(Acc.BMI160, r, 8)[2] for r in (0.78125, 1.5625, 3.125, 6.25)] == [0x81, 0x82, 0x83, 0x84]
    assert mw.acc_config(Acc.BMI160, 200.0, 8) == h("03 03 29 08")
    # BMI270: 0xA8 at 100 Hz, 0x21 at 0.78 Hz; 200 Hz ±8 g (test_accelerometer_bmi270.py).
    assert mw.acc_config(Acc.BMI270, 100.0, 8)[2] == 0xA8
    assert mw.acc_config(Acc.BMI270, 0.78125, 8)[2] == 0x21
    assert mw.acc_config(Acc.BMI270, 200.0, 8) == h("03 03 A9 02")
    # Subscribe / interrupt / stop / unsubscribe.
    assert mw.subscribe(mw.Module.ACCELEROMETER, mw.AccRegister.DATA) == h("03 04 01")
    assert mw.subscribe(mw.Module.ACCELEROMETER, mw.acc_packed_register(Acc.BMI160)) == h("03 1C 01")
    assert mw.subscribe(mw.Module.ACCELEROMETER, mw.acc_packed_register(Acc.BMI270)) == h("03 05 01")
    assert mw.subscribe(mw.Module.ACCELEROMETER, mw.AccRegister.DATA, False) == h("03 04 00")
    assert mw.subscribe(mw.Module.ACCELEROMETER, 0x1C, False) == h("03 1C 00")
    assert mw.subscribe(mw.Module.ACCELEROMETER, 0x05, False) == h("03 05 00")
    assert mw.data_interrupt(mw.Module.ACCELEROMETER, True) == h("03 02 01 00")
    assert mw.data_interrupt(mw.Module.ACCELEROMETER, False) == h("03 02 00 01")
    assert mw.power(mw.Module.ACCELEROMETER, False) == h("03 01 00")


def test_gyro_commands_test_vectors() -> None:
    assert mw.gyro_config(100.0, 2000) == h("13 03 28 00")
    assert mw.subscribe(mw.Module.GYRO, mw.gyro_data_register(Gyro.BMI160)) == h("13 05 01")
    assert mw.subscribe(mw.Module.GYRO, mw.gyro_packed_register(Gyro.BMI160)) == h("13 07 01")
    assert mw.data_interrupt(mw.Module.GYRO, True) == h("13 02 01 00")
    assert mw.power(mw.Module.GYRO, True) == h("13 01 01")
    assert mw.power(mw.Module.GYRO, False) == h("13 01 00")
    assert mw.data_interrupt(mw.Module.GYRO, False) == h("13 02 00 01")


def test_magnetometer_commands_test_vectors() -> None:
    # 25 Hz regular (what the SDK's fusion sends): mag rev 1 and rev >= 2 (stop first).
    assert mw.mag_configure(9, 15, 25.0, revision=1) == [h("15 04 04 0E"), h("15 03 06")]
    assert mw.mag_configure(9, 15, 25.0, revision=2) == [h("15 01 00"), h("15 04 04 0E"), h("15 03 06")]
    presets = {mw.MAG_LOW_POWER: ("15 04 01 02", "15 03 00"), mw.MAG_REGULAR: ("15 04 04 0E", "15 03 00"),
               mw.MAG_ENHANCED: ("15 04 07 1A", "15 03 00"), mw.MAG_HIGH_ACCURACY: ("15 04 17 52", "15 03 05")}
    for preset, (reps, rate) in presets.items():
        assert mw.mag_configure(preset.xy_repetitions, preset.z_repetitions, preset.odr_hz, revision=1) == [
            h(reps), h(rate)]
    assert mw.data_interrupt(mw.Module.MAGNETOMETER, True) == h("15 02 01 00")
    assert mw.power(mw.Module.MAGNETOMETER, True) == h("15 01 01")
    assert mw.power(mw.Module.MAGNETOMETER, False) == h("15 01 00")
    assert mw.data_interrupt(mw.Module.MAGNETOMETER, False) == h("15 02 00 01")


def test_settings_debug_fusion_test_vectors() -> None:
    assert mw.connection_parameters(750, 1000, 128, 16384) == h("11 09 58 02 20 03 80 00 66 06")
    assert mw.read_battery() == h("11 8C")
    assert mw.read_mac() == h("11 8B")
    assert mw.read_module_info(mw.Module.ACCELEROMETER) == h("03 80")
    assert mw.debug_reset() == h("FE 01")
    assert mw.debug_disconnect() == h("FE 06")
    assert mw.fusion_stop() == [h("19 01 00"), h("19 03 00 7F")]


def test_fusion_test_vectors() -> None:
    """Notes §2.5, NDoF + quaternion at ±8 g / ±2000 dps: every byte below is in the notes' table;
    the sequence is [test] (sensor_fusion.cpp / test_sensor_fusion.py)."""
    assert mw.fusion_mode_config(mw.FusionMode.NDOF, 8, 2000) == h("19 02 01 12")
    assert mw.fusion_output_enable(mw.FUSION_OUTPUT_QUATERNION) == h("19 03 08 00")
    assert mw.fusion_output_enable(mw.FUSION_OUTPUT_QUATERNION | 0x40) == h("19 03 48 00")
    assert mw.fusion_subscribe_quaternion() == h("19 07 01")
    assert mw.fusion_enable(True) == h("19 01 01")
    # MetaMotion S (BMI270, mag revision 2) and R (BMI160, mag revision 1).
    assert mw.fusion_configure_commands(MMS) == [h(x) for x in (
        "19 02 01 12", "03 03 A8 02", "13 03 28 00", "15 01 00", "15 04 04 0E", "15 03 06")]
    assert mw.fusion_configure_commands(MMR) == [h(x) for x in (
        "19 02 01 12", "03 03 28 08", "13 03 28 00", "15 04 04 0E", "15 03 06")]
    assert mw.fusion_start_commands(MMS) == mw.fusion_start_commands(MMR) == [h(x) for x in (
        "19 07 01", "03 02 01 00", "13 02 01 00", "15 02 01 00", "03 01 01", "13 01 01", "15 01 01",
        "19 03 08 00", "19 01 01")]
    assert mw.fusion_stop_commands(MMS) == [h(x) for x in (
        "19 01 00", "19 03 00 7F", "03 01 00", "13 01 00", "15 01 00", "03 02 00 01", "13 02 00 01",
        "15 02 00 01", "19 07 00")]
    # IMUPlus (no magnetometer): mode byte 02, every mag command omitted.
    no_mag = mw.BoardParts(Acc.BMI270, 0, Gyro.BMI270, 0, None, True, 10)
    assert mw.fusion_configure_commands(no_mag) == [h("19 02 02 12"), h("03 03 A8 02"), h("13 03 28 00")]
    assert mw.fusion_start_commands(no_mag) == [h(x) for x in (
        "19 07 01", "03 02 01 00", "13 02 01 00", "03 01 01", "13 01 01", "19 03 08 00", "19 01 01")]
    # The range byte (config_masks): acc range | (gyro enum + 1) << 4.
    assert mw.fusion_mode_config(mw.FusionMode.IMU_PLUS, 2, 250) == h("19 02 02 40")
    assert mw.fusion_mode_config(mw.FusionMode.NDOF, 16, 1000) == h("19 02 01 23")
    with pytest.raises(ValueError):
        mw.fusion_mode_config(mw.FusionMode.NDOF, 8, 125)


def test_quaternion_notification() -> None:
    # The notes quote the SDK's vector only as "19 07 1B 9B 70 3F ..." = (0.940, -0.050, -0.154,
    # -0.301): its first float is kept, x, y, z are packed here from the quoted (rounded) values.
    frame = h("19 07 1B 9B 70 3F") + struct.pack("<3f", -0.050, -0.154, -0.301)
    w, x, y, z = mw.parse_quaternion(frame)
    assert (w, x, y, z) == pytest.approx((0.940, -0.050, -0.154, -0.301), abs=5e-4)
    assert w == struct.unpack("<f", h("1B 9B 70 3F"))[0]
    with pytest.raises(PacketError, match="quaternion"):
        mw.parse_quaternion(frame[:17])
    with pytest.raises(PacketError, match="quaternion"):
        mw.parse_quaternion(h("19 08") + frame[2:])
    with pytest.raises(PacketError, match="non-finite"):
        mw.parse_quaternion(h("19 07") + struct.pack("<4f", math.nan, 0.0, 0.0, 0.0))


# --------------------------------------------------------------------- commands, [derived]
def test_derived_commands() -> None:
    """No SDK test behind these: from the register layouts in the notes."""
    assert mw.acc_config(Acc.BMI160, 100.0, 8) == h("03 03 28 08")
    assert mw.acc_config(Acc.BMI270, 100.0, 8) == h("03 03 A8 02")
    assert mw.acc_config(Acc.BMA255, 125.0, 8) == h("03 03 0B 08")
    # hiptrack's own configuration: ±16 g at 100 and 200 Hz.
    assert mw.acc_config(Acc.BMI160, 100.0, 16) == h("03 03 28 0C")
    assert mw.acc_config(Acc.BMI270, 100.0, 16) == h("03 03 A8 03")
    assert mw.acc_config(Acc.BMI160, 200.0, 16) == h("03 03 29 0C")
    assert mw.acc_config(Acc.BMI270, 200.0, 16) == h("03 03 A9 03")
    assert mw.gyro_config(200.0, 2000) == h("13 03 29 00")
    assert mw.subscribe(mw.Module.GYRO, mw.gyro_data_register(Gyro.BMI270)) == h("13 04 01")
    assert mw.subscribe(mw.Module.GYRO, mw.gyro_packed_register(Gyro.BMI270)) == h("13 05 01")
    assert mw.subscribe(mw.Module.MAGNETOMETER, mw.MagRegister.DATA) == h("15 05 01")
    assert mw.subscribe(mw.Module.MAGNETOMETER, mw.MagRegister.PACKED) == h("15 09 01")
    assert mw.acc_start(Acc.BMI160, 100.0) == h("03 01 01")
    assert mw.acc_start(Acc.BMI270, 100.0) == h("03 01 01")
    assert mw.acc_start(Acc.BMI270, 6.25) == h("03 01 02")
    assert mw.connection_parameters(7.5, 7.5, 0, 6000) == h("11 09 06 00 06 00 00 00 58 02")
    assert mw.connection_parameters(7.5, 15.0, 0, 6000) == h("11 09 06 00 0C 00 00 00 58 02")
    assert mw.read_logging_time() == h("0B 84")
    assert mw.read_acc_config() == h("03 83")


def test_unsupported_rates_and_ranges_are_refused() -> None:
    with pytest.raises(ValueError, match="100 Hz"):
        mw.acc_config(Acc.BMA255, 100.0, 8)  # the BMA255 has no 100 Hz (125 is nearest)
    with pytest.raises(ValueError):
        mw.acc_config(Acc.BMI160, 100.0, 32)
    with pytest.raises(ValueError):
        mw.acc_config(Acc.MMA8452Q, 100.0, 8)
    with pytest.raises(ValueError):
        mw.gyro_config(150.0, 2000)
    with pytest.raises(ValueError):
        mw.gyro_config(100.0, 4000)
    with pytest.raises(ValueError):
        mw.mag_rate(50.0)
    with pytest.raises(ValueError):
        mw.mag_repetitions(8, 15)


MMS = mw.BoardParts(Acc.BMI270, 0, Gyro.BMI270, 0, 2, True, 10)
MMR = mw.BoardParts(Acc.BMI160, 1, Gyro.BMI160, 1, 1, True, 3)


def test_idle_configure_and_start_plans() -> None:
    """The SDK's stop order (§2.4 step 6) then every data register unsubscribed, fusion first."""
    assert mw.idle_commands(MMS) == [h(x) for x in (
        "19 01 00", "19 03 00 7F",
        "03 01 00", "03 02 00 01", "13 01 00", "13 02 00 01", "15 01 00", "15 02 00 01",
        "03 04 00", "03 05 00", "13 04 00", "13 05 00", "15 05 00", "15 09 00",
        "19 04 00", "19 05 00", "19 06 00", "19 07 00", "19 08 00", "19 09 00", "19 0A 00")]
    no_fusion_no_mag = mw.BoardParts(Acc.BMI160, 1, Gyro.BMI160, 1, None, False, None)
    assert mw.idle_commands(no_fusion_no_mag) == [h(x) for x in (
        "03 01 00", "03 02 00 01", "13 01 00", "13 02 00 01", "03 04 00", "03 1C 00", "13 05 00", "13 07 00")]
    plan = mw.StreamPlan(100.0, packed=False)
    assert mw.configure_commands(MMS, plan) == [h(x) for x in (
        "03 03 A8 03", "13 03 28 00", "15 01 00", "15 04 04 0E", "15 03 06")]
    assert mw.start_commands(MMS, plan) == [h(x) for x in (
        "03 04 01", "13 04 01", "15 05 01", "03 02 01 00", "13 02 01 00", "15 02 01 00", "03 01 01", "13 01 01",
        "15 01 01")]
    packed = mw.StreamPlan(200.0, packed=True, mag=None)
    assert mw.configure_commands(MMR, packed) == [h("03 03 29 0C"), h("13 03 29 00")]
    assert mw.start_commands(MMR, packed) == [h(x) for x in (
        "03 1C 01", "13 07 01", "03 02 01 00", "13 02 01 00", "03 01 01", "13 01 01")]


# ---------------------------------------------------------------------------- notifications
def test_raw_notifications_test_vectors() -> None:
    acc = mw.parse_vector(h("03 04 16 C4 94 A2 2A D0"))
    g = [v / mw.STANDARD_GRAVITY for v in mw.acc_to_si(acc, 4)]
    assert g == pytest.approx([-1.872, -2.919, -1.495], abs=5e-4)
    gyr = mw.parse_vector(h("13 05 3E 43 FF 7F 00 80"))
    dps = [math.degrees(v) for v in mw.gyro_to_si(gyr, 500)]
    assert dps == pytest.approx([262.409, 499.497, -499.512], abs=5e-4)
    mag = mw.mag_to_si(mw.parse_vector(h("15 05 4E F0 53 0A 75 04")))
    assert mag == (-251.125, 165.1875, 71.3125)


def test_packed_notifications() -> None:
    # The notes quote the SDK's packed vector only as "03 1C 62 B7 53 0D ..." (±8 g): its first two
    # values are kept, the rest of this 20-byte frame is hand-built.
    frame = h("03 1C 62 B7 53 0D 10 00") + h("01 00 02 00 03 00") + h("FF 7F 00 80 00 00")
    samples = mw.parse_packed(frame)
    assert samples == [(-18590, 3411, 16), (1, 2, 3), (32767, -32768, 0)]
    assert mw.acc_to_si(samples[0], 8)[0] / mw.STANDARD_GRAVITY == pytest.approx(-4.5386, abs=1e-4)
    with pytest.raises(PacketError, match="20 bytes"):
        mw.parse_packed(frame[:19])
    with pytest.raises(PacketError, match="8 bytes"):
        mw.parse_vector(h("03 04 16 C4 94"))


def test_replies() -> None:
    assert mw.parse_battery(h("11 8C 63 34 10")) == mw.Battery(99, 4148)
    with pytest.raises(PacketError):
        mw.parse_battery(h("11 8C 63 34"))
    assert mw.parse_mac(h("11 8B 01 07 7B 52 8F C9 E8")) == "E8:C9:8F:52:7B:07"
    assert mw.parse_mac(h("11 8B 07 7B 52 8F C9 E8")) == "E8:C9:8F:52:7B:07"  # older firmware: no type byte
    clock = mw.parse_logging_time(h("0B 84 15 04 00 00 05"))
    assert (clock.tick, clock.reset_uid) == (1045, 5)
    assert clock.seconds * 1000 == pytest.approx(1530.8, abs=0.05)
    assert mw.parse_module_info(h("03 80 01 01")) == mw.ModuleInfo(3, True, 1, 1)
    assert mw.parse_module_info(h("15 80")) == mw.ModuleInfo(0x15, False)
    assert mw.parse_module_info(h("11 80 00 0A 07 00")) == mw.ModuleInfo(0x11, True, 0, 10, h("07 00"))
    assert mw.parse_module_info(h("19 80 00 00 03 00 06 00 02 00 01 00")).extra == h("03 00 06 00 02 00 01 00")
    with pytest.raises(PacketError):
        mw.parse_module_info(h("03 80 01"))
    assert mw.parse_firmware_version("1.7.2") == (1, 7, 2) and mw.parse_firmware_version("beta") is None


def test_board_parts_from_the_fixtures() -> None:
    def info(text: str) -> mw.ModuleInfo:
        return mw.parse_module_info(h(text))

    mms = mw.board_parts(info("03 80 04 00"), info("13 80 01 00"), info("15 80 00 02"), info("19 80 00 03"),
                         info("11 80 00 0A 07 00"))
    assert mms == MMS
    mmr = mw.board_parts(info("03 80 01 01"), info("13 80 00 01"), info("15 80 00 01"),
                         info("19 80 00 00 03 00 06 00 02 00 01 00"), info("11 80 00 03"))
    assert mmr == mw.BoardParts(Acc.BMI160, 1, Gyro.BMI160, 1, 1, True, 3)
    assert mms.packed_available((1, 7, 2)) and mmr.packed_available((1, 5, 0)) and mmr.battery_available
    assert not mmr.packed_available((1, 2, 2))  # packed modes need firmware 1.2.3
    old_bmi160 = mw.BoardParts(Acc.BMI160, 0, Gyro.BMI160, 0, 1, False, 2)
    assert not old_bmi160.packed_available((1, 7, 0)) and not old_bmi160.battery_available
    with pytest.raises(ValueError, match="accelerometer"):
        mw.board_parts(info("03 80 03 00"), info("13 80 00 01"), info("15 80"), info("19 80"), info("11 80 00 03"))
    with pytest.raises(ValueError, match="gyro"):
        mw.board_parts(info("03 80 01 01"), info("13 80"), info("15 80"), info("19 80"), info("11 80 00 03"))


def test_scale_factors() -> None:
    assert mw.ACC_LSB_PER_G == {2: 16384.0, 4: 8192.0, 8: 4096.0, 16: 2048.0}
    assert mw.GYRO_LSB_PER_DPS == {2000: 16.4, 1000: 32.8, 500: 65.6, 250: 131.2, 125: 262.4}
    assert mw.MAG_LSB_PER_UT == 16.0
    assert mw.acc_to_si((2048, -2048, 0), 16) == pytest.approx((9.80665, -9.80665, 0.0))
    assert mw.gyro_to_si((164, 0, -164), 2000) == pytest.approx((math.radians(10), 0.0, -math.radians(10)))
    assert mw.mag_to_si((16, -8, 1)) == (1.0, -0.5, 0.0625)
    assert mw.TICK_S * 1000 == 1.46484375


# --------------------------------------------- round trips through the emulated board
CLIENT_ADDRESS = "C4:00:00:00:00:0A"


class Notifications:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def __call__(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self.frames.append(bytes(data))


async def _session(profile: BoardProfile, packed: bool) -> tuple[EmulatedMetaMotion, list[bytes]]:
    async with RadioWorld() as world:
        board = await world.add(EmulatedMetaMotion("MetaWear", CLIENT_ADDRESS, profile=profile))
        async with BleakClient(CLIENT_ADDRESS, backend=world.client_backend, timeout=2.0) as client:
            inbox = Notifications()
            await client.start_notify(mw.NOTIFY_UUID, inbox)
            replies = []
            for module in (mw.Module.ACCELEROMETER, mw.Module.GYRO, mw.Module.MAGNETOMETER, mw.Module.SENSOR_FUSION,
                           mw.Module.SETTINGS):
                await client.write_gatt_char(mw.COMMAND_UUID, mw.read_module_info(module), response=False)
                await world.wait_until(lambda: len(inbox.frames) == len(replies) + 1)
                replies.append(mw.parse_module_info(inbox.frames[-1]))
            parts = mw.board_parts(*replies)
            plan = mw.StreamPlan(200.0 if packed else 100.0, packed)
            for command in mw.configure_commands(parts, plan) + mw.start_commands(parts, plan):
                await client.write_gatt_char(mw.COMMAND_UUID, command, response=False)
            await asyncio.sleep(0.5)
            for command in mw.idle_commands(parts):
                await client.write_gatt_char(mw.COMMAND_UUID, command, response=False)
            await client.write_gatt_char(mw.COMMAND_UUID, h("11 CC"), response=False)  # silent: no reply
            await client.write_gatt_char(mw.COMMAND_UUID, mw.read_battery(), response=False)
            await world.wait_until(lambda: inbox.frames[-1][:2] == h("11 8C"))
            assert mw.parse_battery(inbox.frames[-1]) == mw.Battery(99, 4148)
            assert not board.is_streaming and not board.sensors_running
            assert board.unknown_commands == [] and board.protocol_violations == []
        return board, inbox.frames[len(replies):-1]


@pytest.mark.parametrize(("profile", "packed"), [(METAMOTION_S, False), (METAMOTION_R, True),
                                                 (METAMOTION_RL, False), (METAMOTION_S, True)])
def test_round_trip_through_the_emulated_board(profile: BoardProfile, packed: bool) -> None:
    board, frames = run_in_virtual_time(_session(profile, packed))
    # The board decoded our configuration (with its own tables) as meant.
    assert (board.acc_odr_hz, board.acc_range_g) == ((200.0 if packed else 100.0), 16)
    assert (board.gyro_odr_hz, board.gyro_range_dps, board.mag_odr_hz) == ((200.0 if packed else 100.0), 2000, 25.0)
    assert (board.mag_xy, board.mag_z) == (0x04, 0x0E)
    # And we parse what it encoded, sample for sample.
    bmi270 = profile.bmi270
    acc_header = (0x03, (0x05 if bmi270 else 0x1C) if packed else 0x04)
    gyro_header = (0x13, (0x05 if bmi270 else 0x07) if packed else (0x04 if bmi270 else 0x05))
    parsed: dict[str, list[tuple[int, int, int]]] = {"acc": [], "gyro": [], "mag": []}
    for frame in frames:
        kind = {acc_header: "acc", gyro_header: "gyro", (0x15, 0x05): "mag"}[(frame[0], frame[1])]
        parsed[kind] += mw.parse_packed(frame) if packed and kind != "mag" else [mw.parse_vector(frame)]
    kinds: tuple[SensorName, ...] = ("acc", "gyro", "mag")
    for kind in kinds:
        sent = [r.counts for r in board.sent(kind)]
        assert parsed[kind] == sent and len(sent) > 10
    assert len(parsed["acc"]) == len(parsed["gyro"]) == pytest.approx(4 * len(parsed["mag"]) * (2 if packed else 1),
                                                                       abs=6)
