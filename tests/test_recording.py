"""Recording folders (docs/recording-format.md, version 1): round trip, file layout, malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.errors import RecordingFormatError
from firmware_bridge.recording import (
    FORMAT_ID,
    MARKERS_FILE,
    META_FILE,
    SAMPLES_FILE,
    read_recording,
    write_recording,
)
from imu_core.frames import Segment, Side
from imu_core.types import Marker, MarkerLabel, Recording, SensorStream

HEADER = "t,sensor,ax,ay,az,gx,gy,gz,mx,my,mz"


def make_recording(n: int = 200, seed: int = 1) -> Recording:
    """Thigh with a magnetometer at 100 Hz, shin without one at 50 Hz and offset instants."""
    rng = np.random.default_rng(seed)
    t_thigh = 10.0 + np.arange(n) / 100.0 + rng.uniform(0, 1e-4, n)
    t_shin = 10.0 + np.arange(n // 2) / 50.0 + 0.0031234567
    thigh = SensorStream(t_thigh, rng.normal(0, 3, (n, 3)), rng.normal(0, 1, (n, 3)),
                         rng.normal(0, 40, (n, 3)))
    shin = SensorStream(t_shin, rng.normal(0, 3, (n // 2, 3)), rng.normal(0, 1, (n // 2, 3)), None)
    markers = [Marker(10.0, MarkerLabel.CALIBRATION_STATIC.value), Marker(11.5, "calibration.swing"),
               Marker(12.25, "note, with a comma"), Marker(13.0, "exercise.start")]
    return Recording(
        side=Side.RIGHT, exercise="seated-ir", streams={Segment.THIGH: thigh, Segment.SHIN: shin},
        markers=markers, sample_rate_hz=100.0,
        sensors_info={"thigh": {"model": "MetaMotionS", "placement": "lateral thigh"},
                      "shin": {"model": "simulated"}},
        extra_meta={"operator": "Ana", "notes": {"room": 3, "tags": ["a", "b"]}})


def assert_recordings_equal(a: Recording, b: Recording) -> None:
    assert a.side == b.side and a.exercise == b.exercise
    assert a.sample_rate_hz == b.sample_rate_hz
    assert a.sensors_info == b.sensors_info and a.extra_meta == b.extra_meta
    assert a.markers == b.markers
    assert set(a.streams) == set(b.streams)
    for seg, sa in a.streams.items():
        sb = b.streams[seg]
        np.testing.assert_array_equal(sa.t, sb.t)
        np.testing.assert_array_equal(sa.acc, sb.acc)
        np.testing.assert_array_equal(sa.gyr, sb.gyr)
        assert (sa.mag is None) == (sb.mag is None)
        if sa.mag is not None and sb.mag is not None:
            np.testing.assert_array_equal(sa.mag, sb.mag)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "rec"
    write_recording(make_recording(), out)
    return out


# ------------------------------------------------------------------------------------------ round trip


def test_round_trip_is_exact(folder: Path) -> None:
    back = read_recording(folder)
    assert_recordings_equal(make_recording(), back)
    assert isinstance(back.side, Side)
    assert list(back.streams) == [Segment.THIGH, Segment.SHIN]


def test_written_files_follow_the_spec(folder: Path) -> None:
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    assert meta["format"] == FORMAT_ID == "hiptrack-recording/1"
    assert meta["side"] == "right" and meta["exercise"] == "seated-ir"
    assert meta["sample_rate_hz"] == 100
    assert set(meta["sensors"]) == {"thigh", "shin"}
    assert meta["operator"] == "Ana"

    lines = (folder / SAMPLES_FILE).read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER
    rows = [ln.split(",") for ln in lines[1:]]
    assert len(rows) == 300 and all(len(r) == 11 for r in rows)
    times = [float(r[0]) for r in rows]
    assert times == sorted(times)
    assert all(r[8:] == ["", "", ""] for r in rows if r[1] == "shin")
    assert all("" not in r[8:] for r in rows if r[1] == "thigh")
    assert {r[1] for r in rows} == {"thigh", "shin"}

    markers = (folder / MARKERS_FILE).read_text(encoding="utf-8").splitlines()
    assert markers[0] == "t,label"
    assert markers[1] == "10.0,calibration.static"
    assert markers[3] == '12.25,"note, with a comma"'


def test_unknown_meta_keys_and_marker_labels_survive(folder: Path, tmp_path: Path) -> None:
    rec = read_recording(folder)
    assert rec.extra_meta == {"operator": "Ana", "notes": {"room": 3, "tags": ["a", "b"]}}
    assert "note, with a comma" in [m.label for m in rec.markers]
    again = tmp_path / "again"
    write_recording(rec, again)
    meta = json.loads((again / META_FILE).read_text(encoding="utf-8"))
    assert meta["notes"] == {"room": 3, "tags": ["a", "b"]}


def test_reads_files_from_other_tools(folder: Path) -> None:
    """CRLF line ends, a trailing blank line, spaces in the header, quoted fields, integer values."""
    (folder / SAMPLES_FILE).write_bytes(
        b"t, sensor,ax,ay,az,gx,gy,gz,mx,my,mz\r\n"
        b'0,"thigh",0,0,9.81,0,0,0,,,\r\n'
        b"0,shin,1e-3,0,9.81,0,0,0,1,2,3\r\n"
        b"0.01,thigh,0,0,9.81,0,0,0,,,\r\n"
        b"0.02,shin,0,0,9.81,0,0,0,4,5,6\r\n\r\n")
    (folder / MARKERS_FILE).write_text("t,label\n0,calibration.static\n0.5,my.own.label\n", encoding="utf-8")
    rec = read_recording(folder)
    np.testing.assert_array_equal(rec.streams[Segment.THIGH].t, [0.0, 0.01])
    assert rec.streams[Segment.THIGH].mag is None
    np.testing.assert_array_equal(rec.streams[Segment.SHIN].mag, [[1, 2, 3], [4, 5, 6]])
    assert rec.streams[Segment.SHIN].acc[0, 0] == 1e-3
    assert rec.markers == [Marker(0.0, "calibration.static"), Marker(0.5, "my.own.label")]


def test_equal_times_across_sensors_are_allowed(folder: Path) -> None:
    write_samples(folder, ["1.0,thigh,0,0,9.8,0,0,0,,,", "1.0,shin,0,0,9.8,0,0,0,,,",
                           "1.0,pelvis,0,0,9.8,0,0,0,,,"])
    rec = read_recording(folder)
    assert set(rec.streams) == {Segment.THIGH, Segment.SHIN, Segment.PELVIS}


def test_large_file_reads_quickly(tmp_path: Path) -> None:
    import time

    rec = make_recording(n=40_000)
    write_recording(rec, tmp_path / "big")
    t0 = time.perf_counter()
    back = read_recording(tmp_path / "big")
    assert time.perf_counter() - t0 < 2.0  # ~0.15 s here; 240k rows take under a second
    assert_recordings_equal(rec, back)


def test_write_refuses_what_the_format_cannot_hold(tmp_path: Path) -> None:
    rec = make_recording()
    del rec.streams[Segment.SHIN]
    with pytest.raises(RecordingFormatError, match="shin"):
        write_recording(rec, tmp_path / "x")
    rec = make_recording()
    rec.streams[Segment.SHIN].acc[3, 1] = np.nan
    with pytest.raises(RecordingFormatError, match="nan"):
        write_recording(rec, tmp_path / "y")


# ----------------------------------------------------------------------------------- malformed input

GOOD_ROWS = [
    "0.00,thigh,0,0,9.81,0,0,0,10,20,30",
    "0.00,shin,0,0,9.81,0,0,0,,,",
    "0.01,thigh,0,0,9.81,0,0,0,10,20,30",
    "0.01,shin,0,0,9.81,0,0,0,,,",
]


def write_samples(folder: Path, rows: list[str], header: str = HEADER) -> None:
    (folder / SAMPLES_FILE).write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def edit_meta(folder: Path, **changes: object) -> None:
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    for k, v in changes.items():
        if v is None:
            del meta[k]
        else:
            meta[k] = v
    (folder / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")


def key_line(folder: Path, key: str) -> int:
    """1-based line of meta.json where "key" appears."""
    lines = (folder / META_FILE).read_text(encoding="utf-8").splitlines()
    return next(i for i, text in enumerate(lines, start=1) if f'"{key}"' in text)


def expect_error(folder: Path, file: str | None, line: int | None, match: str = "") -> RecordingFormatError:
    with pytest.raises(RecordingFormatError, match=match) as info:
        read_recording(folder)
    err = info.value
    if file is not None:
        assert Path(err.path).name == file
    assert err.line == line
    assert err.advice
    return err


def test_good_rows_are_good(folder: Path) -> None:
    write_samples(folder, GOOD_ROWS)
    rec = read_recording(folder)
    assert rec.streams[Segment.THIGH].mag is not None and rec.streams[Segment.SHIN].mag is None


def test_missing_folder(tmp_path: Path) -> None:
    err = expect_error(tmp_path / "nope", None, None, "no such recording folder")
    assert err.path.endswith("nope")


@pytest.mark.parametrize("name", [META_FILE, SAMPLES_FILE, MARKERS_FILE])
def test_missing_file(folder: Path, name: str) -> None:
    (folder / name).unlink()
    expect_error(folder, name, None, "missing")


def test_wrong_format_string(folder: Path) -> None:
    edit_meta(folder, format="hiptrack-recording/2")
    assert key_line(folder, "format") == 2
    expect_error(folder, META_FILE, 2, "hiptrack-recording/1")


def test_missing_meta_key(folder: Path) -> None:
    edit_meta(folder, sensors=None)
    expect_error(folder, META_FILE, None, "sensors")


def test_meta_not_json(folder: Path) -> None:
    (folder / META_FILE).write_text('{\n  "format": "hiptrack-recording/1",\n  "side": left\n}\n',
                                    encoding="utf-8")
    expect_error(folder, META_FILE, 3, "not valid JSON")


def test_meta_not_an_object(folder: Path) -> None:
    (folder / META_FILE).write_text("[1, 2]\n", encoding="utf-8")
    expect_error(folder, META_FILE, 1, "object")


def test_unknown_side(folder: Path) -> None:
    edit_meta(folder, side="both")
    expect_error(folder, META_FILE, key_line(folder, "side"), "side")


def test_bad_sample_rate(folder: Path) -> None:
    edit_meta(folder, sample_rate_hz="fast")
    expect_error(folder, META_FILE, key_line(folder, "sample_rate_hz"), "sample_rate_hz")


def test_unknown_segment_in_meta(folder: Path) -> None:
    edit_meta(folder, sensors={"thigh": {}, "ankle": {}})
    expect_error(folder, META_FILE, key_line(folder, "ankle"), "ankle")


@pytest.mark.parametrize("header", ["t,sensor,ax,ay,az,gx,gy,gz",
                                    "time,sensor,ax,ay,az,gx,gy,gz,mx,my,mz", ""])
def test_bad_samples_header(folder: Path, header: str) -> None:
    write_samples(folder, GOOD_ROWS, header=header)
    expect_error(folder, SAMPLES_FILE, 1, "header")


def test_empty_samples_file(folder: Path) -> None:
    (folder / SAMPLES_FILE).write_text("", encoding="utf-8")
    expect_error(folder, SAMPLES_FILE, 1, "header")


def test_bad_markers_header(folder: Path) -> None:
    (folder / MARKERS_FILE).write_text("time,label\n1.0,exercise.start\n", encoding="utf-8")
    expect_error(folder, MARKERS_FILE, 1, "header")


# Each case replaces row 3 of GOOD_ROWS (line 4 of the file, after the header).
@pytest.mark.parametrize(("row", "match"), [
    ("0.01,thigh,0,0,9.81,0,0,0,10,20", "10 fields"),
    ("0.01,thigh,0,0,9.81,0,0,0,10,20,30,40", "12 fields"),
    ("0.01,thigh,0,zero,9.81,0,0,0,10,20,30", "ay = 'zero' is not a number"),
    ("0.01,thigh,0,0,9.81,,0,0,10,20,30", "gx = '' is not a number"),
    ("0.01,thigh,0,0,nan,0,0,0,10,20,30", "not a finite number"),
    ("0.01,thigh,0,0,9.81,0,0,0,10,20,inf", "not a finite number"),
    ("soon,thigh,0,0,9.81,0,0,0,10,20,30", "t = 'soon' is not a number"),
    ("0.01,ankle,0,0,9.81,0,0,0,10,20,30", "unknown sensor 'ankle'"),
    ("0.01,Thigh,0,0,9.81,0,0,0,10,20,30", "unknown sensor"),
    ("-0.5,thigh,0,0,9.81,0,0,0,10,20,30", "earlier than the row before"),
    ("0.01,thigh,0,0,9.81,0,0,0,,,", "some rows and not on others"),
    ("0.01,thigh,0,0,9.81,0,0,0,10,,30", "all three filled or all three empty"),
    ('0.01,thigh,0,0,9.81,0,0,0,10,20,"30', "fields|unreadable|not a number"),
])
def test_malformed_sample_row(folder: Path, row: str, match: str) -> None:
    rows = list(GOOD_ROWS)
    rows[2] = row
    write_samples(folder, rows)
    expect_error(folder, SAMPLES_FILE, 4, match)


def test_line_numbers_count_blank_lines(folder: Path) -> None:
    write_samples(folder, [GOOD_ROWS[0], "", GOOD_ROWS[1], "0.01,ankle,0,0,0,0,0,0,,,"])
    expect_error(folder, SAMPLES_FILE, 5, "ankle")


def test_mag_appearing_later_is_reported_where_it_changes(folder: Path) -> None:
    write_samples(folder, ["0.00,shin,0,0,9.81,0,0,0,,,", "0.00,thigh,0,0,9.81,0,0,0,,,",
                           "0.01,shin,0,0,9.81,0,0,0,,,", "0.02,thigh,0,0,9.81,0,0,0,1,2,3"])
    expect_error(folder, SAMPLES_FILE, 5, "thigh sensor has magnetometer")


@pytest.mark.parametrize("missing", ["thigh", "shin"])
def test_missing_sensor(folder: Path, missing: str) -> None:
    write_samples(folder, [r for r in GOOD_ROWS if f",{missing}," not in r])
    expect_error(folder, SAMPLES_FILE, None, f"no samples from the {missing} sensor")


def test_header_only_samples(folder: Path) -> None:
    write_samples(folder, [])
    expect_error(folder, SAMPLES_FILE, None, "no samples from the thigh")


@pytest.mark.parametrize(("row", "match"), [
    ("later,exercise.start", "not a number"),
    ("1.0", "1 fields"),
    ("1.0,exercise.start,extra", "3 fields"),
    ("1.0,  ", "label is empty"),
])
def test_malformed_marker_row(folder: Path, row: str, match: str) -> None:
    (folder / MARKERS_FILE).write_text(f"t,label\n0.5,calibration.static\n{row}\n", encoding="utf-8")
    expect_error(folder, MARKERS_FILE, 3, match)


def test_not_utf8(folder: Path) -> None:
    (folder / MARKERS_FILE).write_bytes(b"t,label\n1.0,\xff\xfe\n")
    expect_error(folder, MARKERS_FILE, None, "UTF-8")


def assert_parsers_agree(data: bytes, path: Path) -> None:
    """The fast path accepts `data` (a whole samples.csv) and reads it bit for bit as the checked path does."""
    from firmware_bridge import recording as mod

    start = data.index(b"\n") + 1
    fast = mod._parse_samples_fast(data, start)
    checked = mod._parse_samples_checked(data[start:].decode("ascii"), path)
    assert fast is not None
    for name in ("t", "sensor", "imu", "mag", "lines"):
        a, b = getattr(fast, name), getattr(checked, name)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), name


def test_fast_and_checked_parsers_agree(folder: Path) -> None:
    """The fast path must accept what write_recording writes and read it as the checked path does."""
    assert_parsers_agree((folder / SAMPLES_FILE).read_bytes(), folder / SAMPLES_FILE)


def test_fast_and_checked_parsers_agree_on_awkward_numbers(tmp_path: Path) -> None:
    """Numbers as other tools write them: every magnitude, few or many digits, exponents, integers."""
    rng = np.random.default_rng(7)
    n = 5000
    values = rng.normal(0, 1, (n, 9)) * 10.0 ** rng.integers(-325, 300, (n, 9))
    digits = rng.integers(1, 30, (n, 9))
    extra = ["0", "-0", "+1.5", ".5", "5.", "1E5", "007", "9007199254740993", "123456789012345678901234567890",
             "2.2250738585072011e-308", "4.9406564584124654e-324", "1.7976931348623157e308",
             "0.1000000000000000055511151231257827021181583404541015625"]
    rows = []
    for i in range(n):
        cells = [f"{v:.{d}g}" if i % 3 else repr(float(v)) for v, d in zip(values[i], digits[i], strict=True)]
        cells[i % 9] = extra[i % len(extra)]
        mag = cells[6:] if i % 2 else ["", "", ""]
        rows.append(",".join([f"{i / 100:.2f}", "thigh" if i % 2 else "shin", *cells[:6], *mag]))
    data = "\n".join([HEADER, *rows]).encode()
    assert_parsers_agree(data, tmp_path / SAMPLES_FILE)


def test_bom_and_crlf_take_the_fast_path(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from firmware_bridge import recording as mod

    plain = read_recording(folder)
    data = (folder / SAMPLES_FILE).read_bytes()
    (folder / SAMPLES_FILE).write_bytes(b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"))

    def refuse(body: str, path: Path) -> None:
        raise AssertionError("the checked parser was used")

    monkeypatch.setattr(mod, "_parse_samples_checked", refuse)
    assert_recordings_equal(plain, read_recording(folder))


def test_non_ascii_header_and_non_utf8_samples(folder: Path) -> None:
    """Text other than ASCII is read as UTF-8 (a no-break space is stripped from a header name like a space)."""
    plain = read_recording(folder)
    data = (folder / SAMPLES_FILE).read_bytes()
    (folder / SAMPLES_FILE).write_bytes(data.replace(b"t,sensor,", "t,\u00a0sensor,".encode(), 1))
    assert_recordings_equal(plain, read_recording(folder))
    (folder / SAMPLES_FILE).write_bytes(data + b"0.5,thigh,0,0,9.81,0,0,0,1,2,3\xe9\n")
    expect_error(folder, SAMPLES_FILE, None, "not UTF-8")


def test_extra_field_in_the_first_row_is_not_taken_as_an_index(folder: Path) -> None:
    """pandas would read a first row with one field too many as an index column and shift every row."""
    write_samples(folder, ["0,0.00,thigh,0,0,9.81,0,0,0,,,", "1,0.00,shin,0,0,9.81,0,0,0,,,",
                           "2,0.01,shin,0,0,9.81,0,0,0"])
    expect_error(folder, SAMPLES_FILE, 2, "12 fields")
