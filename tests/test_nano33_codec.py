"""The Nano 33 BLE wire format: the Python codec against the firmware's own C packing code.

The firmware packs with firmware_bridge/nano33_firmware/hiptrack_imu/hiptrack_packet.h. A small C
driver (tests/c/nano33_packet_driver.c) built here with the system compiler packs what Python asks
for, and Python must decode exactly those integers back.
"""

from __future__ import annotations

import itertools
import math
import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_bridge.errors import PacketError
from firmware_bridge.nano33 import protocol as P
from firmware_bridge.nano33.clock import DeviceClock
from imu_core.frames import Segment

ROOT = Path(__file__).resolve().parent.parent
HEADER_DIR = ROOT / "firmware_bridge" / "nano33_firmware" / "hiptrack_imu"
DRIVER_SRC = ROOT / "tests" / "c" / "nano33_packet_driver.c"
WARNINGS = ["-Wall", "-Wextra", "-Werror", "-pedantic"]

Driver = Callable[[list[str]], list[str]]


@pytest.fixture(scope="module")
def c_driver(tmp_path_factory: pytest.TempPathFactory) -> Driver:
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler ('cc') on PATH, so hiptrack_packet.h cannot be built and cross-checked")
    exe = tmp_path_factory.mktemp("nano33_c") / "nano33_packet_driver"
    build = subprocess.run(
        [cc, "-std=c99", *WARNINGS, "-Wconversion", f"-I{HEADER_DIR}", "-o", str(exe), str(DRIVER_SRC)],
        capture_output=True, text=True, timeout=60,
    )
    assert build.returncode == 0, f"C driver did not build:\n{build.stderr}"

    def run(lines: list[str]) -> list[str]:
        done = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True,
                              check=True, timeout=20)
        out = done.stdout.splitlines()
        assert len(out) == len(lines)
        return out

    return run


def _packet(seq: int, t0: int, period: int, board: P.Board, acc: int, gyr: int, has_mag: bool,
            samples: list[P.RawSample]) -> P.DecodedPacket:
    return P.DecodedPacket(seq, t0, period, board, P.AccRange(acc), P.GyroRange(gyr), has_mag, samples)


def _p_line(p: P.DecodedPacket) -> str:
    fresh = sum(1 << i for i, s in enumerate(p.samples) if s.mag_fresh)
    values = " ".join(str(v) for s in p.samples for v in (*s.acc, *s.gyr, *s.mag))
    return f"P {p.seq} {p.t0_us} {p.period_us} {int(p.board)} {p.config} {fresh} {len(p.samples)} {values}"


def _random_sample(rng: random.Random) -> P.RawSample:
    def v() -> int:
        return rng.choice([-32768, 32767, 0, -1, 1, rng.randint(-32768, 32767)])

    return P.RawSample((v(), v(), v()), (v(), v(), v()), (v(), v(), v()), rng.random() < 0.3)


def _cases() -> list[P.DecodedPacket]:
    rng = random.Random(20240611)
    limits = P.RawSample((32767, -32768, 0), (-32768, 32767, -1), (1, -2, 32767), True)
    cases = [
        _packet(0, 0, 10000, P.Board.REV1, 1, 3, True, [limits]),
        _packet(65535, 0xFFFFFFFF, 5000, P.Board.REV2, 3, 2, True, [limits, limits]),  # both counters at wrap
        _packet(65534, 0xFFFFF000, 20000, P.Board.REV1, 0, 0, False, [_random_sample(rng) for _ in range(12)]),
    ]
    for _ in range(30):
        board = rng.choice(list(P.Board))
        gyr = rng.choice([0, 1, 3] if board is P.Board.REV1 else [0, 1, 2, 3])
        cases.append(_packet(rng.randrange(65536), rng.randrange(1 << 32), rng.choice([5000, 10000, 20000]), board,
                             rng.randrange(4), gyr, rng.random() < 0.8,
                             [_random_sample(rng) for _ in range(rng.randint(1, P.MAX_SAMPLES))]))
    return cases


def test_crc_check_value(c_driver: Driver) -> None:
    assert P.crc16(b"123456789") == 0x29B1
    assert c_driver(["C " + b"123456789".hex()]) == ["29b1"]


def test_c_packets_decode_to_exactly_what_was_packed(c_driver: Driver) -> None:
    cases = _cases()
    hexes = c_driver([_p_line(p) for p in cases])
    scales = {b: [float(x) for x in line.split()] for b, line in zip(P.Board, c_driver([f"K {int(b)}" for b in
                                                                                           P.Board]), strict=True)}
    for p, h in zip(cases, hexes, strict=True):
        data = bytes.fromhex(h)
        assert len(data) == P.packet_size(len(p.samples))
        assert P.encode_packet(p) == data  # the Python encoder (emulated sensors) makes the same bytes
        got = P.decode_packet(data)
        assert (got.seq, got.t0_us, got.period_us, got.board) == (p.seq, p.t0_us, p.period_us, p.board)
        assert (got.acc_range, got.gyro_range, got.has_mag) == (p.acc_range, p.gyro_range, p.has_mag)
        assert got.samples == p.samples  # every int16, every mag_fresh bit
        # SI values: from C's own scale table, within one LSB (in fact to rounding error).
        acc_lsb = scales[p.board][p.acc_range] * P.STANDARD_GRAVITY
        gyr_lsb = math.radians(scales[p.board][4 + p.gyro_range])
        mag_lsb = scales[p.board][8]
        sign = P.MAG_TO_IMU_AXES[p.board]
        for s in got.samples:
            acc, gyr, mag = P.to_si(got, s)
            for k in range(3):
                assert abs(acc[k] - s.acc[k] * acc_lsb) <= 1e-9 * acc_lsb * 32768
                assert abs(acc[k] - s.acc[k] * acc_lsb) < acc_lsb
                assert abs(gyr[k] - s.gyr[k] * gyr_lsb) < gyr_lsb * 1e-6
                if p.has_mag:
                    assert mag is not None
                    assert abs(mag[k] - sign[k] * s.mag[k] * mag_lsb) < mag_lsb * 1e-6
            if not p.has_mag:
                assert mag is None


def test_scale_tables_match_c(c_driver: Driver) -> None:
    for board, line in zip(P.Board, c_driver([f"K {int(b)}" for b in P.Board]), strict=True):
        c = [float(x) for x in line.split()]
        py = [*P.ACC_G_PER_LSB[board], *P.GYRO_DPS_PER_LSB[board], P.MAG_UT_PER_LSB[board]]
        assert c == pytest.approx(py, rel=1e-15, abs=0.0)
    # Datasheet values, spelled out: LSM9DS1 ±2000 dps is 70 mdps/LSB (not 2000/32768), BMI270 16.4 LSB/dps.
    assert P.GYRO_DPS_PER_LSB[P.Board.REV1][P.GyroRange.DPS2000] == 0.070
    assert 1 / P.GYRO_DPS_PER_LSB[P.Board.REV2][P.GyroRange.DPS2000] == pytest.approx(16.4)
    assert P.ACC_G_PER_LSB[P.Board.REV1][P.AccRange.G16] == 0.732e-3


def test_unpackable_packets_are_refused_by_c(c_driver: Driver) -> None:
    s = P.RawSample((0, 0, 0), (0, 0, 0), (0, 0, 0), False)
    assert c_driver(["P 0 0 10000 1 0 0 0", "P 0 0 10000 1 0 0 13 " + " ".join(["0"] * 9 * 13)]) == ["ERR", "ERR"]
    with pytest.raises(ValueError):
        P.encode_packet(_packet(0, 0, 10000, P.Board.REV1, 0, 0, True, [s] * 13))


def test_every_flipped_bit_is_caught(c_driver: Driver) -> None:
    p = _cases()[2]
    data = bytes.fromhex(c_driver([_p_line(p)])[0])
    for bit in range(len(data) * 8):
        bad = bytearray(data)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(PacketError):
            P.decode_packet(bytes(bad))
    bad = bytearray(data)
    bad[P.HEADER_SIZE + 5] ^= 0x10
    with pytest.raises(PacketError, match="CRC"):
        P.decode_packet(bytes(bad))


def test_truncated_and_malformed_packets_raise() -> None:
    s = P.RawSample((1, 2, 3), (4, 5, 6), (7, 8, 9), True)
    data = P.encode_packet(_packet(7, 1000, 10000, P.Board.REV2, 1, 3, True, [s] * 4))
    for cut in range(len(data)):
        with pytest.raises(PacketError) as err:
            P.decode_packet(data[:cut])
        assert err.value.length == cut
    with pytest.raises(PacketError, match="truncated"):
        P.decode_packet(data[:-18])
    with pytest.raises(PacketError, match="version"):
        P.decode_packet(bytes([2]) + data[1:])
    with pytest.raises(PacketError):
        P.decode_packet(data + b"\x00")
    no_1000_on_rev1 = P.encode_packet(_packet(7, 1000, 10000, P.Board.REV1, 1, 2, True, [s]))
    with pytest.raises(PacketError, match="gyro range"):
        P.decode_packet(no_1000_on_rev1)
    assert "firmware" in str(PacketError("x", 3))  # carries advice


def test_samples_per_packet_matches_c(c_driver: Driver) -> None:
    payloads = [*range(300), 512, 65535]
    c = c_driver([f"F {m}" for m in payloads])
    assert [int(x) for x in c] == [P.samples_per_packet(m) for m in payloads]
    assert P.samples_per_packet(20) == 0  # default ATT MTU 23: not even one sample
    assert P.samples_per_packet(244) == 12 and P.MAX_PACKET_SIZE == 232  # Nano's max MTU 247


def test_start_command_parsed_by_c(c_driver: Driver) -> None:
    cases = [
        (1, P.encode_control_start(100, P.AccRange.G4, P.GyroRange.DPS2000, 244)),
        (2, P.encode_control_start(200, P.AccRange.G16, P.GyroRange.DPS1000, 244)),
        (1, P.encode_control_start(50, P.AccRange.G2, P.GyroRange.DPS250, 61, samples=5)),
        (2, P.encode_control_start(200, P.AccRange.G8, P.GyroRange.DPS500, 100, samples=12)),
    ]
    out = [[int(x) for x in line.split()] for line in c_driver([f"S {b} {d.hex()}" for b, d in cases])]
    assert out[0] == [P.Result.OK, 100, 1, 3, 244, 4]  # firmware's choice: ~25 notifications/s
    assert out[1] == [P.Result.OK, 200, 3, 2, 244, 8]
    assert out[2] == [P.Result.OK, 50, 0, 0, 61, 2]  # 5 asked, 2 fit in 61 bytes
    assert out[3] == [P.Result.OK, 200, 2, 1, 100, 4]
    bad = [
        (1, P.encode_control_start(100, P.AccRange.G4, P.GyroRange.DPS1000, 244), P.Result.BAD_GYRO_RANGE),
        (1, P.encode_control_start(100, P.AccRange.G4, P.GyroRange.DPS2000, 20), P.Result.PAYLOAD_TOO_SMALL),
        (1, bytes([1, 99, 0, 1, 3, 244, 0, 0]), P.Result.BAD_RATE),
        (2, bytes([1, 100, 0, 4, 3, 244, 0, 0]), P.Result.BAD_ACC_RANGE),
        (2, P.encode_control_start(100, P.AccRange.G4, P.GyroRange.DPS2000, 244)[:-1], P.Result.BAD_LENGTH),
    ]
    out = [[int(x) for x in line.split()] for line in c_driver([f"S {b} {d.hex()}" for b, d, _ in bad])]
    assert [o[0] for o in out] == [r for _, _, r in bad]
    assert P.encode_control_stop() == b"\x02"
    assert P.encode_control_identify(3) == b"\x03\x03"
    with pytest.raises(ValueError):
        P.encode_control_start(120, P.AccRange.G4, P.GyroRange.DPS2000, 244)


def test_status_and_info_from_c(c_driver: Driver) -> None:
    status_hex, info1_hex, info2_hex, none_hex = c_driver([
        "T 1 0 1 4 100 22 4294967295",
        "I 1 7 1 1 255",
        "I 2 7 2 2 255",
        "I 0 0 0 0 255",
    ])
    st = P.parse_status(bytes.fromhex(status_hex))
    assert st.streaming and st.result is P.Result.OK and st.opcode == P.Opcode.START
    assert (st.samples_per_packet, st.rate_hz, st.acc_range, st.gyro_range, st.has_mag, st.dropped) == (
        4, 100, P.AccRange.G8, P.GyroRange.DPS500, True, 0xFFFFFFFF)
    i1 = P.parse_device_info(bytes.fromhex(info1_hex))
    assert i1.board is P.Board.REV1 and i1.imu_part is P.ImuPart.LSM9DS1 and i1.mag_part is P.MagPart.LSM9DS1
    assert i1.has_acc and i1.has_gyro and i1.has_mag and i1.battery_percent is None
    assert i1.rates_hz == (50, 100, 200) and i1.max_samples == P.MAX_SAMPLES and i1.packet_version == 1
    assert P.GyroRange.DPS1000 not in i1.gyro_ranges and len(i1.acc_ranges) == 4
    i2 = P.parse_device_info(bytes.fromhex(info2_hex))
    assert i2.board is P.Board.REV2 and i2.mag_part is P.MagPart.BMM150 and len(i2.gyro_ranges) == 4
    assert i2.firmware_version[0] >= 1 and "REV2" in i2.description
    assert P.parse_device_info(bytes.fromhex(none_hex)).board is None
    with pytest.raises(PacketError):
        P.parse_device_info(bytes.fromhex(info1_hex)[:-1])


# ---- Stateful decoding ---------------------------------------------------------------------------
def _sample(i: int) -> P.RawSample:
    return P.RawSample((i % 1000, -(i % 1000), 4096), (i % 7, 0, -(i % 5)), (100, 200, -300), i % 4 == 0)


def _stream(first_seq: int, first_t: int, period: int, n_packets: int, per: int) -> list[tuple[int, bytes]]:
    """(samples since the first, packet bytes) of a steady stream, counters taken modulo their widths."""
    out = []
    for k in range(n_packets):
        i = k * per
        p = _packet((first_seq + i) % 65536, (first_t + i * period) % (1 << 32), period, P.Board.REV2, 1, 3, True,
                    [_sample(i + j) for j in range(per)])
        out.append((i, P.encode_packet(p)))
    return out


def _feed(dec: P.SampleDecoder, stream: list[tuple[int, bytes]], period: int, latency: float = 0.004) -> list[float]:
    times = []
    for i, data in stream:
        n = (len(data) - P.HEADER_SIZE - P.CRC_SIZE) // P.SAMPLE_SIZE
        host = 1000.0 + (i + n - 1) * period * 1e-6 + latency
        times += [s.t for s in dec.feed(data, host)]
    return times


def test_gaps_counted_across_sequence_wraparound() -> None:
    period = 5000
    stream = _stream(65520, 123, period, 10, 4)  # counters 65520 .. 65559 -> wraps at packet 4
    kept = [pkt for k, pkt in enumerate(stream) if k not in (3, 4, 7)]  # packet 4 straddles 65535 -> 0
    dec = P.SampleDecoder(Segment.SHIN)
    times = _feed(dec, kept, period)
    assert dec.stats.lost_samples == 12 and dec.stats.gaps == 2 and dec.stats.samples == 28
    gaps = dec.pop_gaps()
    assert [(g.first_missing, g.lost) for g in gaps] == [(65520 + 12, 8), (65520 + 28, 4)]
    assert gaps[0].device_time == pytest.approx(12 * period * 1e-6)
    assert dec.pop_gaps() == []
    steps = [round((b - a) / (period * 1e-6)) for a, b in itertools.pairwise(times)]
    assert sorted(set(steps)) == [1, 5, 9]  # missing samples show as longer steps in time


def test_gap_longer_than_the_sequence_counter_wrap() -> None:
    period = 5000
    before = _stream(100, 0, period, 2, 4)
    skip = 70_000  # more than 65536 samples: the 16-bit counter alone would say 70000 - 65536
    after = [(i + skip, d) for i, d in _stream(100 + skip, skip * period, period, 2, 4)]
    dec = P.SampleDecoder(Segment.THIGH)
    _feed(dec, before + after, period)
    assert dec.stats.lost_samples == skip - 8 and dec.stats.gaps == 1


def test_device_time_unwraps() -> None:
    period = 10000
    start = (1 << 32) - 3 * 4 * period - 777  # micros() wraps during the fourth packet
    stream = _stream(0, start, period, 8, 4)
    dec = P.SampleDecoder(Segment.THIGH)
    times = _feed(dec, stream, period)
    assert len(times) == 32 and dec.stats.lost_samples == 0
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert max(steps) == pytest.approx(0.01, abs=1e-6) and min(steps) == pytest.approx(0.01, abs=1e-6)
    assert dec.device_time == pytest.approx(31 * 0.01)


def test_samples_in_si_units_and_bad_packets_counted() -> None:
    dec = P.SampleDecoder(Segment.SHIN)
    s = P.RawSample((0, 0, 8192), (-164, 0, 1640), (16, -32, 48), True)
    good = P.encode_packet(_packet(1, 50, 10000, P.Board.REV2, 1, 3, True, [s]))
    out = dec.feed(good, 10.0)
    assert out[0].sensor is Segment.SHIN
    assert out[0].acc == pytest.approx((0.0, 0.0, 9.80665))
    assert out[0].gyr == pytest.approx((math.radians(-10.0), 0.0, math.radians(100.0)))
    assert out[0].mag == pytest.approx((1.0, -2.0, 3.0))
    assert dec.feed(good[:-1], 10.1) == [] and dec.stats.corrupt_packets == 1
    assert dec.last_error is not None and "truncated" in dec.last_error.reason
    assert dec.feed(good, 10.2) == [] and dec.stats.stale_samples == 1  # the same packet again
    rev1 = P.encode_packet(_packet(2, 10050, 10000, P.Board.REV1, 1, 3, True, [s]))
    assert dec.feed(rev1, 10.3)[0].mag == pytest.approx((-16 * 0.014, -32 * 0.014, 48 * 0.014))  # mag x flipped
    no_mag = P.encode_packet(_packet(3, 20050, 10000, P.Board.REV1, 1, 3, False, [s]))
    assert dec.feed(no_mag, 10.4)[0].mag is None


def test_decoder_samples_are_decode_packet_and_to_si_of_each_packet() -> None:
    """`SampleDecoder.feed` checks and converts on its own (the fast path): the same samples and SI values as
    `decode_packet` and `to_si`, and the same refusals, on random packets (some corrupted)."""
    rng = random.Random(11)
    dec = P.SampleDecoder(Segment.THIGH)
    seq = t0 = 0
    refused = 0
    for k, p in enumerate(_cases() * 6):
        n = len(p.samples)
        p = _packet(seq, t0, p.period_us, p.board, p.acc_range, p.gyro_range, p.has_mag, p.samples)
        seq, t0 = seq + n + rng.choice([0, 0, 0, 2]), t0 + (n + 1) * p.period_us  # some lost samples
        data = P.encode_packet(p)
        if rng.random() < 0.3:  # a flipped bit, a cut, or a wrong board / config / period (CRC made right)
            bad = bytearray(data)
            how = rng.randrange(3)
            if how == 0:
                bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
            elif how == 1:
                bad = bad[:rng.randrange(len(bad))]
            else:
                field = rng.choice([slice(8, 10), slice(10, 11), slice(11, 12)])  # period, board, config
                bad[field] = bytes([rng.choice([0, 1, 2, 3, 0x0B, 0x2D, 0xFF])]) * (field.stop - field.start)
                bad[-2:] = P.crc16(bytes(bad[:-2])).to_bytes(2, "little")
            data = bytes(bad)
        try:
            want = P.decode_packet(data)
        except PacketError as e:
            refused += 1
            assert dec.feed(data, 10.0 + k) == [] and dec.last_error is not None
            assert (dec.last_error.reason, dec.stats.corrupt_packets) == (e.reason, refused)
            continue
        got = dec.feed(data, 10.0 + k)
        assert [(s.acc, s.gyr, s.mag) for s in got] == [P.to_si(want, s) for s in want.samples][n - len(got):]
        assert all(s.sensor is Segment.THIGH for s in got)
    assert 20 < refused < 100 and dec.stats.packets == 6 * len(_cases()) - refused


# ---- Clock ---------------------------------------------------------------------------------------
def test_clock_recovers_offset_and_drift_from_jittered_arrivals() -> None:
    rng = random.Random(7)
    offset, drift = 12345.678, 42e-6  # host = device * (1 + drift) + offset (+ delay >= 0)
    clock = DeviceClock()
    for k in range(25 * 180):  # 3 minutes of 25 notifications/s
        d = k / 25.0 + rng.uniform(0.0, 0.002)
        delay = rng.expovariate(1 / 0.008) + (0.2 if rng.random() < 0.02 else 0.0)  # BLE: only ever late
        clock.update(d, d * (1 + drift) + offset + delay)
    for d in (120.0, 150.0, 179.0, 180.5):
        assert abs(clock.to_host(d) - (d * (1 + drift) + offset)) < 1e-3
    assert clock.drift == pytest.approx(drift, abs=10e-6)


def test_clock_before_and_after_a_reset() -> None:
    clock = DeviceClock()
    assert clock.to_host(5.0) == 5.0 and not clock.ready
    clock.update(10.0, 110.0)
    assert clock.to_host(11.0) == pytest.approx(111.0)
    clock.update(2.0, 300.0)  # device clock went backwards: a new stream
    assert clock.to_host(3.0) == pytest.approx(301.0)
    with pytest.raises(ValueError):
        DeviceClock(window_s=0.5, bin_s=1.0)


def _clock_from_scratch(pairs: list[tuple[float, float]], window_s: float = 60.0, bin_s: float = 1.0,
                        max_drift: float = 500e-6) -> tuple[float, float, float]:
    """(reference, offset, drift) of DeviceClock after `pairs`, worked out directly: each bin's lowest
    point over the last window, and the least-squares line through them."""
    bins: dict[int, tuple[float, float]] = {}
    last = None
    for d, h in pairs:
        if not (math.isfinite(d) and math.isfinite(h)):
            continue
        index = math.floor(d / bin_s)
        if last is not None and index < last:
            bins.clear()
        last = index
        if index not in bins or h - d < bins[index][1]:
            bins[index] = (d, h - d)
        bins = {i: b for i, b in bins.items() if i > index - math.ceil(window_s / bin_s)}
    ds = [b[0] for b in bins.values()]
    rs = [b[1] for b in bins.values()]
    mean_d, mean_r = sum(ds) / len(ds), sum(rs) / len(rs)
    sxx = sum((d - mean_d) ** 2 for d in ds)
    drift = sum((d - mean_d) * (r - mean_r) for d, r in zip(ds, rs, strict=True)) / sxx if sxx > 0 else 0.0
    return mean_d, mean_r, min(max_drift, max(-max_drift, drift))


@pytest.mark.parametrize("seed", range(4))
def test_clock_running_fit_equals_the_fit_from_scratch(seed: int) -> None:
    """DeviceClock refits in O(1) when a bin gets a new lowest point: the same line as fitting its bins from
    scratch after every pair, to float rounding (drift up or down, jitter, late arrivals, a reset)."""
    rng = random.Random(seed)
    clock = DeviceClock()
    pairs: list[tuple[float, float]] = []
    offset = rng.uniform(-1e5, 1e5)
    drift = rng.choice([-1, 1]) * rng.uniform(1e-6, 400e-6)
    d = rng.uniform(0.0, 5000.0)
    for k in range(3000):
        d += rng.choice([0.005, 0.01, 0.04])
        if k == 2000:
            d = rng.uniform(0.0, 10.0)  # the device restarted its clock
        delay = rng.choice([0.0, 0.0, rng.expovariate(1 / 0.004), 0.2])
        host = d * (1 + drift) + offset + delay
        if k % 500 == 7:
            host = math.nan  # ignored
        pairs.append((d, host))
        clock.update(d, host)
        if k % 7 == 0 or k > 2990:
            ref, off, dr = _clock_from_scratch(pairs)
            # to float rounding: a nanosecond (the residuals are host times of 1e5 s, good to about 1e-11 s)
            assert clock.reference == pytest.approx(ref, rel=0.0, abs=1e-9)
            assert clock.offset == pytest.approx(off, rel=0.0, abs=1e-9)
            assert clock.drift == pytest.approx(dr, rel=0.0, abs=1e-9)
            assert clock.to_host(d) == pytest.approx(ref + off + (d - ref) * (1 + dr), rel=0.0, abs=1e-9)


def test_header_compiles_as_cpp_for_the_sketch(tmp_path: Path) -> None:
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        pytest.skip("no C++ compiler on PATH: cannot check that the sketch (C++) can include the header")
    src = tmp_path / "include_check.cpp"
    src.write_text('#include "hiptrack_packet.h"\nint main() { return (int)hiptrack_crc16(0, 0) - 0xFFFF; }\n')
    done = subprocess.run([cxx, "-std=c++11", *WARNINGS, f"-I{HEADER_DIR}", "-o",
                           str(tmp_path / "a.out"), str(src)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
