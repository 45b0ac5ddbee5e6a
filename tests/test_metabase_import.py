"""Import of MetaBase CSV exports (firmware_bridge.metabase): simulated sessions written as MetaBase
files (names, headers, units, 3-decimal values, integer epoch milliseconds, acc and gyro stamped
separately, magnetometer at 25 Hz), read back, analysed and compared with the simulation's truth."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from metabase_files import (
    ACC_HEADER,
    EPOCH0_MS,
    MAPPING,
    PELVIS_MAC,
    SHIN_MAC,
    THIGH_MAC,
    MetabaseFiles,
    clock_offset,
    edit_lines,
    shifted_markers,
    sim_session,
    write_metabase,
)

from calibration.errors import CalibrationError
from firmware_bridge.errors import BridgeError
from firmware_bridge.metabase import (
    MarkerDetectionError,
    MetabaseBoardError,
    MetabaseError,
    MetabaseFileError,
    MetabaseMarkerError,
    MetabaseRateError,
    MetabaseUnitError,
    detect_markers,
    import_notes,
    normalise_mac,
    parse_file_name,
    parse_marker,
    read_metabase,
    recorded_at,
)
from firmware_bridge.simulator import ImuErrorModel, SimulatedSession
from imu_core.frames import Segment, Side
from imu_core.types import Marker, MarkerLabel, Recording
from tracker.analysis import AnalysisResult
from tracker.offline import analyse_recording
from tracker.store import SessionStore

MARKER_TOLERANCE_S = {MarkerLabel.CALIBRATION_STATIC: 1.0, MarkerLabel.CALIBRATION_SWING: 1.0,
                      MarkerLabel.EXERCISE_START: 1.5, MarkerLabel.EXERCISE_END: 2.5}
"""How far a detected marker may be from where the simulated person changed phase, s (the static marker
goes to the start of the still data, the end marker to the end of the data)."""


# ------------------------------------------------------------------------------------------ helpers


def true_marker(rec: Recording, label: MarkerLabel) -> float:
    t = rec.marker_time(label.value)
    assert t is not None
    return t - clock_offset(rec)


def marker(rec: Recording, label: MarkerLabel) -> float:
    t = rec.marker_time(label.value)
    assert t is not None
    return t


def peaks(result: AnalysisResult) -> np.ndarray:
    return np.array([r.peak_ir_deg for r in result.reps])


Session = tuple[SimulatedSession, Path, MetabaseFiles]


@pytest.fixture
def session_dir(tmp_path: Path) -> Session:
    sim = sim_session()
    folder = tmp_path / "metabase"
    return sim, folder, write_metabase(sim.recording, folder)


# ------------------------------------------------------------------------------------------ names


def test_file_names_are_parsed_from_the_right() -> None:
    f = parse_file_name("MetaWear_2021-03-04T10.11.12.345_C4A3E9E2E5F3_Accelerometer_100.000Hz_1.6.0.csv")
    assert f is not None
    assert (f.device_name, f.started, f.mac, f.signal, f.rate_hz, f.firmware) == (
        "MetaWear", "2021-03-04T10.11.12.345", "C4A3E9E2E5F3", "Accelerometer", 100.0, "1.6.0")
    labelled = parse_file_name("Left Swipe_MetaWear_2024-05-04T14.33.38.146_C10F6B5AC415_Gyroscope_25.000Hz_1.7.3.csv")
    assert labelled is not None and labelled.device_name == "Left Swipe_MetaWear" and labelled.rate_hz == 25.0
    old = parse_file_name("MetaWear_2018-01-14T18.39.29.561_d1f4cfb8f6e0_Magnetometer.csv")
    assert old is not None and old.mac == "D1F4CFB8F6E0" and old.rate_hz is None and old.firmware is None
    assert parse_file_name("thigh_accelerometer.csv") is None
    assert normalise_mac("c4:a3:e9:e2:e5:f3") == normalise_mac("C4-A3-E9-E2-E5-F3") == "C4A3E9E2E5F3"
    with pytest.raises(MetabaseBoardError, match="not a board address"):
        normalise_mac("C4:A3:E9")


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("side", [Side.LEFT, Side.RIGHT])
def test_detected_markers_and_analysis_match_the_truth(tmp_path: Path, side: Side) -> None:
    sim = sim_session(seed=21, side=side)
    rec = sim.recording
    write_metabase(rec, tmp_path)
    imported = read_metabase(tmp_path, MAPPING, side, "seated-ir")

    # data: every gyro sample (the time base) kept but the first/last, values to MetaBase's 3 decimals
    assert imported.sample_rate_hz == 100.0 and set(imported.streams) == {Segment.THIGH, Segment.SHIN}
    off = clock_offset(rec)
    first_ms = min(round(EPOCH0_MS + float(s.t[0]) * 1000.0) for s in rec.streams.values())
    for seg in (Segment.THIGH, Segment.SHIN):
        orig, got = rec.streams[seg], imported.streams[seg]
        assert len(orig) - 2 <= len(got) <= len(orig)
        stamped = (np.round(EPOCH0_MS + orig.t * 1000.0) - first_ms) / 1000.0  # the gyro file's epoc column
        idx = np.searchsorted(stamped, got.t - 1e-9)
        np.testing.assert_allclose(stamped[idx], got.t, atol=1e-9)
        assert np.degrees(np.abs(orig.gyr[idx] - got.gyr)).max() <= 0.0005 + 1e-9
        still = got.t < 3.0
        assert np.abs(orig.acc[idx][still] - got.acc[still]).max() < 0.02
        assert got.mag is not None and 20.0 < float(np.median(np.linalg.norm(got.mag, axis=1))) < 70.0
        assert imported.sensors_info[seg.value]["magnetometer_used"] is True
    assert imported.extra_meta["metabase"]["markers"] == "detected"
    assert imported.sensors_info["thigh"]["mac"] == "C4:A3:E9:E2:E5:F3"
    assert import_notes(imported) == []  # a clean export leaves nothing to say

    # markers: close to the ones the simulated person followed
    for label, tol in MARKER_TOLERANCE_S.items():
        assert abs(marker(imported, label) - true_marker(rec, label)) < tol, label

    # analysis: the same reps as the original recording, peaks within 1.5 deg of the truth
    original, _, _ = analyse_recording(rec)
    result, angles, _ = analyse_recording(imported)
    truth = np.array([r.peak_ir_deg for r in sim.truth_reps])
    assert len(result.reps) == len(original.reps) == len(truth) == 8
    assert np.abs(peaks(result) - truth).max() < 1.5
    assert np.abs(peaks(result) - peaks(original)).max() < 0.5
    t_peak = np.array([r.peak for r in result.reps])
    assert np.abs(t_peak - (np.array([r.peak for r in original.reps]) - off)).max() < 0.3
    assert np.abs([r.hold_s - o.hold_s for r, o in zip(result.reps, original.reps, strict=True)]).max() < 0.3
    assert len(angles) > 0


def test_given_markers_reproduce_the_original_analysis(tmp_path: Path) -> None:
    sim = sim_session(seed=22, side=Side.RIGHT)
    write_metabase(sim.recording, tmp_path)
    imported = read_metabase(tmp_path, MAPPING, "right", "seated-ir", markers=shifted_markers(sim.recording))
    assert imported.extra_meta["metabase"]["markers"] == "given"
    assert [m.label for m in imported.markers] == [m.label for m in sim.recording.markers]
    original, _, _ = analyse_recording(sim.recording)
    result, _, _ = analyse_recording(imported)
    assert len(result.reps) == len(original.reps)
    assert np.abs(peaks(result) - peaks(original)).max() < 0.2


@pytest.mark.parametrize(("exercise", "side"), [
    ("prone-ir-test", Side.LEFT),
    ("side-lying-ir", Side.RIGHT),
    ("straight-leg-roll", Side.LEFT),  # heel slides: the thigh moves during the swings too
    ("ninety-ninety-stretch", Side.RIGHT),  # the move into the stretch is slow
])
def test_detection_in_other_exercises(tmp_path: Path, exercise: str, side: Side) -> None:
    sim = sim_session(seed=5, side=side, exercise=exercise)
    rec = sim.recording
    write_metabase(rec, tmp_path)
    imported = read_metabase(tmp_path, MAPPING, side, exercise)
    for label, tol in MARKER_TOLERANCE_S.items():
        assert abs(marker(imported, label) - true_marker(rec, label)) < tol, label
    original, _, _ = analyse_recording(rec)
    result, _, _ = analyse_recording(imported)
    assert len(result.reps) == len(original.reps) == len(sim.truth_reps)


def test_detect_markers_on_a_simulated_recording() -> None:
    rec = sim_session(seed=23, side=Side.LEFT).recording
    found = {m.label: m.t for m in detect_markers(rec.streams)}
    assert list(found) == [m.value for m in MarkerLabel]
    for label, tol in MARKER_TOLERANCE_S.items():
        assert abs(found[label.value] - marker(rec, label)) < tol, label


def test_accelerometer_at_half_the_gyro_rate_is_interpolated(tmp_path: Path) -> None:
    sim = sim_session(seed=24, side=Side.RIGHT)
    write_metabase(sim.recording, tmp_path, acc_every=2)
    imported = read_metabase(tmp_path, MAPPING, Side.RIGHT, "seated-ir")
    assert imported.sample_rate_hz == 100.0
    assert imported.sensors_info["shin"]["acc_rate_hz"] == 50.0
    assert abs(len(imported.streams[Segment.SHIN]) - len(sim.recording.streams[Segment.SHIN])) <= 3
    result, _, _ = analyse_recording(imported)
    truth = np.array([r.peak_ir_deg for r in sim.truth_reps])
    assert len(result.reps) == len(truth)
    assert np.abs(peaks(result) - truth).max() < 1.5


def test_rows_sharing_a_time_stamp_are_spread(tmp_path: Path) -> None:
    sim = sim_session()
    write_metabase(sim.recording, tmp_path, shared_stamps=2, acc_offset_ms=0.0)
    imported = read_metabase(tmp_path, MAPPING, Side.LEFT, "seated-ir", markers=shifted_markers(sim.recording))
    assert any("shared a time stamp" in n and "Accelerometer" in n for n in import_notes(imported))
    orig, got = sim.recording.streams[Segment.THIGH], imported.streams[Segment.THIGH]
    assert bool(np.all(np.diff(got.t) > 0))
    # an acc row stamped one period early is moved back by spreading; the interpolated acc stays close
    idx = np.searchsorted(orig.t - clock_offset(sim.recording), got.t - 0.0006)
    assert np.abs(orig.acc[idx] - got.acc)[got.t < 3.0].max() < 0.05


def test_pelvis_board_and_magnetometer_are_optional(tmp_path: Path) -> None:
    sim = sim_session(seed=25, side=Side.LEFT, with_pelvis_sensor=True, with_magnetometer=False)
    write_metabase(sim.recording, tmp_path)
    mapping = {**MAPPING, PELVIS_MAC: "pelvis"}
    imported = read_metabase(tmp_path, mapping, Side.LEFT, "seated-ir", markers=shifted_markers(sim.recording))
    assert set(imported.streams) == {Segment.THIGH, Segment.SHIN, Segment.PELVIS}
    assert all(s.mag is None for s in imported.streams.values())
    assert "mag_rate_hz" not in imported.sensors_info["pelvis"]


def test_lost_packets_are_left_out_not_invented(tmp_path: Path) -> None:
    sim = sim_session(seed=26, side=Side.LEFT, errors=ImuErrorModel(packet_loss_probability=0.02))
    write_metabase(sim.recording, tmp_path)
    imported = read_metabase(tmp_path, MAPPING, Side.LEFT, "seated-ir")
    for seg in (Segment.THIGH, Segment.SHIN):
        gaps = np.diff(imported.streams[seg].t)
        assert gaps.max() > 0.025  # the losses stay gaps
        assert len(imported.streams[seg]) <= len(sim.recording.streams[seg])
    assert any("fell in gaps of the accelerometer data" in n for n in import_notes(imported))
    result, _, _ = analyse_recording(imported)
    assert len(result.reps) == len(sim.truth_reps)


def test_magnetometer_with_a_gap_is_left_out(session_dir: Session) -> None:
    sim, folder, files = session_dir
    edit_lines(files[(Segment.SHIN, "Magnetometer")], lambda lines: [*lines[:500], *lines[540:]])  # 1.6 s gap
    imported = read_metabase(folder, MAPPING, Side.LEFT, "seated-ir", markers=shifted_markers(sim.recording))
    assert imported.streams[Segment.SHIN].mag is None and imported.streams[Segment.THIGH].mag is not None
    assert imported.sensors_info["shin"]["magnetometer_used"] is False
    assert any("shin board: magnetometer readings are up to" in n for n in import_notes(imported))


def test_old_file_names_without_rate_use_the_measured_rate(session_dir: Session) -> None:
    sim, folder, files = session_dir
    for path in files.values():
        path.rename(path.with_name(path.name.split("Hz_")[0].rsplit("_", 1)[0] + ".csv"))
    parsed = [parse_file_name(p) for p in folder.iterdir()]
    assert all(f is not None and f.rate_hz is None for f in parsed)
    imported = read_metabase(folder, MAPPING, Side.LEFT, "seated-ir", markers=shifted_markers(sim.recording))
    assert imported.sample_rate_hz == pytest.approx(100.0, rel=0.01)
    assert imported.sensors_info["thigh"]["firmware"] is None


# ------------------------------------------------------------------------------------------ malformed files


def test_wrong_column_names_file_and_column(session_dir: Session) -> None:
    _, folder, files = session_dir
    acc = files[(Segment.SHIN, "Accelerometer")]
    edit_lines(acc, lambda lines: [lines[0].replace("z-axis (g)", "w (number)"), *lines[1:]])
    with pytest.raises(MetabaseFileError) as e:
        read_metabase(folder, MAPPING, Side.LEFT, "seated-ir")
    assert e.value.path == str(acc) and e.value.line == 1 and e.value.column == "w (number)"
    assert "z-axis (g)" in str(e.value) and acc.name in str(e.value)
    assert not isinstance(e.value, MetabaseUnitError)


@pytest.mark.parametrize(("signal", "old", "new"), [
    ("Accelerometer", "(g)", "(m/s^2)"),  # converted by someone: refused, not guessed
    ("Gyroscope", "(deg/s)", "(rad/s)"),
    ("Magnetometer", "(T)", "(uT)"),
    ("Gyroscope", "(deg/s)", "(g)"),  # a gyroscope file with an accelerometer header
])
def test_wrong_units_are_refused(session_dir: Session, signal: str, old: str, new: str) -> None:
    _, folder, files = session_dir
    path = files[(Segment.THIGH, signal)]
    edit_lines(path, lambda lines: [lines[0].replace(old, new), *lines[1:]])
    with pytest.raises(MetabaseUnitError) as e:
        read_metabase(folder, MAPPING, Side.LEFT, "seated-ir")
    assert e.value.path == str(path) and e.value.column == f"x-axis {new}"
    assert new.strip("()") in e.value.message and signal in e.value.message


def test_cut_last_line_is_skipped_with_a_note(session_dir: Session) -> None:
    sim, folder, files = session_dir
    acc = files[(Segment.THIGH, "Accelerometer")]
    n_lines = len(acc.read_text(encoding="utf-8").split("\n"))
    edit_lines(acc, lambda lines: [*lines[:-1], lines[-1][:30]])  # the export stopped mid-row
    imported = read_metabase(folder, MAPPING, Side.LEFT, "seated-ir", markers=shifted_markers(sim.recording))
    notes = import_notes(imported)
    assert any(acc.name in n and f"line {n_lines}" in n and "cut off" in n for n in notes)
    assert len(imported.streams[Segment.THIGH]) >= len(sim.recording.streams[Segment.THIGH]) - 3


def test_last_value_cut_short_is_skipped_too(session_dir: Session) -> None:
    sim, folder, files = session_dir
    gyr = files[(Segment.SHIN, "Gyroscope")]
    edit_lines(gyr, lambda lines: [*lines[:-1], lines[-1][:-2]])  # "-12.345" -> "-12.3"
    imported = read_metabase(folder, MAPPING, Side.LEFT, "seated-ir", markers=shifted_markers(sim.recording))
    assert any(gyr.name in n and "fewer decimals" in n for n in import_notes(imported))
    assert len(imported.streams[Segment.SHIN]) == len(sim.recording.streams[Segment.SHIN]) - 2


def test_incomplete_row_inside_the_file_is_an_error(session_dir: Session) -> None:
    _, folder, files = session_dir
    gyr = files[(Segment.THIGH, "Gyroscope")]
    edit_lines(gyr, lambda lines: [*lines[:100], lines[100].rsplit(",", 1)[0], *lines[101:]])
    with pytest.raises(MetabaseFileError, match=r"line 101.*5 of 6 fields") as e:
        read_metabase(folder, MAPPING, Side.LEFT, "seated-ir")
    assert e.value.line == 101 and e.value.column == "z-axis (deg/s)"


def test_bad_number_is_an_error(session_dir: Session) -> None:
    _, folder, files = session_dir
    acc = files[(Segment.SHIN, "Accelerometer")]

    def corrupt(lines: list[str]) -> list[str]:
        fields = lines[50].split(",")
        fields[4] = "1.2.3"
        lines[50] = ",".join(fields)
        return lines

    edit_lines(acc, corrupt)
    with pytest.raises(MetabaseFileError, match=r"'1\.2\.3' is not a number") as e:
        read_metabase(folder, MAPPING, Side.LEFT, "seated-ir")
    assert e.value.line == 51 and e.value.column == "y-axis (g)"


def test_time_going_backwards_is_an_error(session_dir: Session) -> None:
    _, folder, files = session_dir
    gyr = files[(Segment.SHIN, "Gyroscope")]

    def swap(lines: list[str]) -> list[str]:
        lines[200], lines[201] = lines[201], lines[200]
        return lines

    edit_lines(gyr, swap)
    with pytest.raises(MetabaseFileError, match="time goes backwards") as e:
        read_metabase(folder, MAPPING, Side.LEFT, "seated-ir")
    assert e.value.line == 202 and e.value.column == "epoc (ms)"


@pytest.mark.parametrize(("content", "message"), [("", "empty"), (ACC_HEADER, "no samples"),
                                                  (ACC_HEADER + "\n\n", "no samples")])
def test_empty_files_are_errors(session_dir: Session, content: str, message: str) -> None:
    _, folder, files = session_dir
    files[(Segment.THIGH, "Accelerometer")].write_text(content, encoding="utf-8")
    with pytest.raises(MetabaseFileError, match=message):
        read_metabase(folder, MAPPING, Side.LEFT, "seated-ir")


def test_missing_gyro_file_is_an_error(session_dir: Session) -> None:
    _, folder, files = session_dir
    files[(Segment.SHIN, "Gyroscope")].unlink()
    with pytest.raises(MetabaseBoardError, match=r"shin board D1:F4:CF:B8:F6:E0 has no Gyroscope file") as e:
        read_metabase(folder, MAPPING, Side.LEFT, "seated-ir")
    assert "Record Accelerometer and Gyroscope" in e.value.advice


def test_unknown_or_missing_boards_list_the_macs_found(session_dir: Session) -> None:
    _, folder, _ = session_dir
    wrong = {"C4:A3:E9:E2:E5:F3": "thigh", "AA:BB:CC:DD:EE:FF": "shin"}
    with pytest.raises(MetabaseBoardError) as e:
        read_metabase(folder, wrong, Side.LEFT, "seated-ir")
    assert "D1:F4:CF:B8:F6:E0" in e.value.message and "C4:A3:E9:E2:E5:F3" in e.value.message
    assert "not assigned" in e.value.message and "--thigh" in e.value.advice
    assert "no files of the shin board AA:BB:CC:DD:EE:FF" in e.value.message
    assert e.value.macs_found == [THIGH_MAC, SHIN_MAC]
    with pytest.raises(MetabaseBoardError, match="not assigned"):
        read_metabase(folder, {SHIN_MAC: "shin"}, Side.LEFT, "seated-ir")
    with pytest.raises(MetabaseBoardError, match=r"no files of the pelvis board E6:63:28:91:E3:6F"):
        read_metabase(folder, {**MAPPING, PELVIS_MAC: "pelvis"}, Side.LEFT, "seated-ir")
    with pytest.raises(MetabaseBoardError, match="two boards are given for the shin"):
        read_metabase(folder, {THIGH_MAC: "shin", SHIN_MAC: "shin"}, Side.LEFT, "seated-ir")


def test_file_name_rate_contradicting_the_time_stamps(session_dir: Session) -> None:
    _, folder, files = session_dir
    gyr = files[(Segment.THIGH, "Gyroscope")]
    edit_lines(gyr, lambda lines: [lines[0], *lines[1::2]])  # 50 Hz of data in a "100.000Hz" file
    with pytest.raises(MetabaseRateError, match=r"says 100 Hz but its time stamps are 20\.0 ms apart"):
        read_metabase(folder, MAPPING, Side.LEFT, "seated-ir")


def test_boards_at_different_rates(tmp_path: Path) -> None:
    rec = sim_session().recording
    write_metabase(rec, tmp_path, segments=(Segment.THIGH,))
    write_metabase(rec, tmp_path, segments=(Segment.SHIN,), acc_every=2, gyro_every=2)
    with pytest.raises(MetabaseRateError, match="thigh board samples at 100 Hz, the shin board at 50 Hz"):
        read_metabase(tmp_path, MAPPING, Side.LEFT, "seated-ir")


def test_accelerometer_and_gyro_rates_too_far_apart(tmp_path: Path) -> None:
    write_metabase(sim_session().recording, tmp_path, acc_every=5)
    with pytest.raises(MetabaseRateError, match="accelerometer at 20 Hz and the gyroscope at 100 Hz"):
        read_metabase(tmp_path, MAPPING, Side.LEFT, "seated-ir")


def test_two_sessions_in_one_folder(session_dir: Session) -> None:
    _, folder, files = session_dir
    acc = files[(Segment.THIGH, "Accelerometer")]
    shutil.copy(acc, folder / acc.name.replace("2021-03-04T10.11.12.345", "2021-03-05T08.00.00.000"))
    with pytest.raises(MetabaseBoardError, match="two Accelerometer files of the thigh board"):
        read_metabase(folder, MAPPING, Side.LEFT, "seated-ir")


def test_boards_from_different_sessions(tmp_path: Path) -> None:
    rec = sim_session().recording
    write_metabase(rec, tmp_path, segments=(Segment.THIGH,))
    write_metabase(rec, tmp_path, segments=(Segment.SHIN,), epoch0_ms=EPOCH0_MS + 3_600_000)
    with pytest.raises(MetabaseBoardError, match="hardly overlap in time"):
        read_metabase(tmp_path, MAPPING, Side.LEFT, "seated-ir")


def test_other_files_and_signals_are_skipped_with_notes(session_dir: Session) -> None:
    sim, folder, _ = session_dir
    (folder / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (folder / f"MetaWear_2021-03-04T10.11.12.345_{THIGH_MAC}_Temperature_1.000Hz_1.6.0.csv").write_text(
        "epoc (ms),timestamp (+0100),elapsed (s),temperature (C)\n1614849072345,x,0.000,31.0", encoding="utf-8")
    imported = read_metabase(folder, MAPPING, Side.LEFT, "seated-ir", markers=shifted_markers(sim.recording))
    notes = import_notes(imported)
    assert any("notes.csv" in n and "not a MetaBase file name" in n for n in notes)
    assert any("'Temperature' is not used" in n for n in notes)
    with pytest.raises(MetabaseFileError, match="does not follow MetaBase's pattern"):
        read_metabase([folder / "notes.csv"], MAPPING, Side.LEFT, "seated-ir")


def test_the_files_can_be_given_one_by_one(session_dir: Session) -> None:
    sim, _, files = session_dir
    imported = read_metabase(list(files.values()), MAPPING, Side.LEFT, "seated-ir",
                             markers=shifted_markers(sim.recording))
    assert set(imported.streams) == {Segment.THIGH, Segment.SHIN}
    first_ms = min(round(EPOCH0_MS + float(s.t[0]) * 1000.0) for s in sim.recording.streams.values())
    meta = imported.extra_meta["metabase"]
    assert meta["session_start_epoch_ms"] == first_ms
    assert meta["session_start_utc"] == f"2021-03-04T09:11:12.{first_ms % 1000:03d}+00:00"
    assert recorded_at(imported) == datetime(2021, 3, 4, 9, 11, 12, (first_ms % 1000) * 1000, tzinfo=UTC)
    assert recorded_at(sim.recording) is None


# ------------------------------------------------------------------------------------------ markers


def test_detection_failure_says_which_options_to_pass(tmp_path: Path) -> None:
    sim = sim_session()
    rec = sim.recording
    start = marker(rec, MarkerLabel.EXERCISE_START)
    cut = Recording(rec.side, rec.exercise, {seg: s.slice_time(start, 1e9) for seg, s in rec.streams.items()},
                    [], rec.sample_rate_hz)
    write_metabase(cut, tmp_path)
    with pytest.raises(MarkerDetectionError) as e:
        read_metabase(tmp_path, MAPPING, Side.LEFT, "seated-ir")
    assert "no knee swings" in e.value.message
    assert "--marker calibration.static=SECONDS" in e.value.advice and "exercise.start=SECONDS" in e.value.advice


def test_detection_needs_a_still_period(tmp_path: Path) -> None:
    rec = sim_session().recording
    swing = marker(rec, MarkerLabel.CALIBRATION_SWING) + 0.6
    cut = Recording(rec.side, rec.exercise, {seg: s.slice_time(swing, 1e9) for seg, s in rec.streams.items()},
                    [], rec.sample_rate_hz)
    with pytest.raises(MarkerDetectionError, match=r"no knee swings|no still period"):
        detect_markers(cut.streams)


def test_given_markers_are_checked(session_dir: Session) -> None:
    _, folder, _ = session_dir
    with pytest.raises(MetabaseMarkerError, match=r"lack calibration\.swing"):
        read_metabase(folder, MAPPING, Side.LEFT, "seated-ir",
                      markers=[parse_marker("static=0.5"), parse_marker("exercise.start=12")])
    with pytest.raises(MetabaseMarkerError, match="after the end of the data"):
        read_metabase(folder, MAPPING, Side.LEFT, "seated-ir",
                      markers=[parse_marker(x) for x in ("static=0.5", "swing=3.5", "start=900")])
    with pytest.raises(MetabaseMarkerError, match="out of order"):
        read_metabase(folder, MAPPING, Side.LEFT, "seated-ir",
                      markers=[parse_marker(x) for x in ("static=5", "swing=3.5", "start=12")])


def test_parse_marker() -> None:
    assert parse_marker("calibration.swing=6.5") == Marker(6.5, "calibration.swing")
    assert parse_marker(" start = 12 ") == Marker(12.0, "exercise.start")
    assert parse_marker("END=80.25") == Marker(80.25, "exercise.end")
    for bad in ("swing", "wobble=3", "swing=abc", "swing=-1", "swing=nan"):
        with pytest.raises(MetabaseMarkerError):
            parse_marker(bad)


# ------------------------------------------------------------------------------------------ the import flow


def import_metabase(store: SessionStore, folder: Path, markers: list[Marker] | None = None) -> int:
    """What `hiptrack import --metabase` does: read and validate everything, analyse, and only then store."""
    rec = read_metabase(folder, MAPPING, Side.LEFT, "seated-ir", markers)
    result, _, _ = analyse_recording(rec)
    sid = store.store_recording(rec, source="import", created_at=recorded_at(rec))
    store.save_analysis(sid, result)
    return sid


def test_nothing_is_stored_when_the_import_fails(session_dir: Session, tmp_path: Path) -> None:
    sim, folder, files = session_dir
    with SessionStore.open(tmp_path / "store.sqlite3") as store:
        good = files[(Segment.SHIN, "Gyroscope")].read_text(encoding="utf-8")
        edit_lines(files[(Segment.SHIN, "Gyroscope")], lambda lines: [*lines[:300], "1,2", *lines[300:]])
        with pytest.raises(MetabaseFileError):
            import_metabase(store, folder)
        files[(Segment.SHIN, "Gyroscope")].write_text(good, encoding="utf-8")
        with pytest.raises(CalibrationError):  # calibration phases placed in the exercise
            import_metabase(store, folder, [parse_marker(x) for x in ("static=20", "swing=25", "start=40")])
        assert store.list_sessions() == []
        sid = import_metabase(store, folder)
        assert [s.id for s in store.list_sessions()] == [sid]
        assert store.get_session(sid).created_at.date().isoformat() == "2021-03-04"
        stored = store.load_recording(sid)
        assert stored.extra_meta["metabase"]["markers"] == "detected"
        assert stored.sensors_info["shin"]["mac"] == "D1:F4:CF:B8:F6:E0"
        analysis = store.load_analysis(sid)
        assert analysis is not None and len(analysis.reps) == len(sim.truth_reps)


def test_every_error_is_a_bridge_error() -> None:
    for cls in (MetabaseFileError, MetabaseUnitError, MetabaseBoardError, MetabaseRateError, MetabaseMarkerError,
                MarkerDetectionError):
        assert issubclass(cls, MetabaseError) and issubclass(cls, BridgeError)
