"""Every catalog exercise through `hiptrack analyze`, the CLI's catalog listing, and the exercises that
cannot be measured saying so."""

import json
from pathlib import Path

import pytest

from firmware_bridge.recording import write_recording
from firmware_bridge.simulator import simulate_session
from firmware_bridge.simulator.truth_measures import time_at_or_beyond_s
from imu_core.frames import Side
from tracker.cli import main
from tracker.exercise_model import ExerciseKind
from tracker.exercises import CATALOG, UNMEASURABLE, get_exercise


@pytest.mark.parametrize("exercise_id", sorted(CATALOG))
def test_analyze_runs_every_exercise_against_the_truth(exercise_id: str, tmp_path: Path) -> None:
    ex = get_exercise(exercise_id)
    stretch = ex.kind is ExerciseKind.STRETCH
    sim = simulate_session(seed=41, side=Side.RIGHT, reps=1 if stretch else 3, exercise=exercise_id)
    write_recording(sim.recording, tmp_path / "rec")
    code = main(["analyze", str(tmp_path / "rec"), "--json", str(tmp_path / "a.json"),
                 "--details", str(tmp_path / "d.json")])
    assert code == 0
    result = json.loads((tmp_path / "a.json").read_text())
    details = json.loads((tmp_path / "d.json").read_text())
    assert result["format"] == "hiptrack-analysis/1" and result["exercise"] == exercise_id
    assert set(result) == {"format", "exercise", "side", "max_ir_deg", "reps", "holds", "compensations"}
    assert len(result["reps"]) == len(sim.truth_reps)
    for rep, true in zip(result["reps"], sim.truth_reps, strict=True):
        # peaks in the exercise's direction (negative IR for external-rotation stretches and transitions);
        # the transitions' front position reads as the femur's twist, larger than the joint angle
        tol = 40.0 if ex.kind is ExerciseKind.TRANSITIONS else 5.0
        assert rep["peak_ir_deg"] == pytest.approx(true.peak_ir_deg, abs=tol)
        assert abs(rep["start"] - true.start) < 1.5
    assert details["kind"] == ex.kind.value and len(details["sets"]) == 1
    if stretch:
        s = details["sets"][0]
        sign = -1.0 if ex.measure.value == "hip_er_deg" else 1.0
        truth = time_at_or_beyond_s(sim.script, s["start"], s["end"], abs(ex.target_deg), sign)
        assert details["stretch"]["time_at_target_s"] == pytest.approx(truth, abs=3.0)
    if ex.kind is ExerciseKind.ROM_TEST:
        assert details["rom_test"]["max_ir_deg"] == pytest.approx(max(r.peak_ir_deg for r in sim.truth_reps), abs=2.0)
    if ex.kind is ExerciseKind.TRANSITIONS:
        assert details["transitions"]["count"] == 2 * len(sim.truth_reps)


def test_catalog_listing_and_unmeasurable_exercises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exercises"]) == 0
    out = capsys.readouterr().out
    for exercise_id in [*CATALOG, *UNMEASURABLE]:
        assert exercise_id in out
    store = str(tmp_path / "s.sqlite3")
    assert main(["--store", store, "demo", "--exercise", "hip-shift-on-wall"]) == 1
    err = capsys.readouterr().err
    assert "cannot be measured" in err and "pelvis" in err
    assert main(["--store", store, "demo", "--exercise", "no-such-exercise"]) == 1
    assert "unknown exercise" in capsys.readouterr().err


def test_demo_of_a_stretch_with_an_injected_compensation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "s.sqlite3")
    code = main(["--store", store, "demo", "--exercise", "supine-ir-stretch", "--speed", "1000", "--seed", "3",
                 "--sets", "2", "--compensate", "pelvis_motion:2", "--pelvis"])
    assert code == 0
    out = capsys.readouterr().out
    assert "Time at or beyond the target" in out
    assert "Keep your hips still." in out


def test_custom_exercise_in_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    examples = Path(__file__).resolve().parent.parent / "examples" / "exercises"
    monkeypatch.setenv("HIPTRACK_EXERCISES", str(examples))
    store = str(tmp_path / "s.sqlite3")
    assert main(["--store", store, "demo", "--exercise", "seated-ir-long-hold", "--speed", "1000", "--reps", "2",
                 "--seed", "8"]) == 0
    out = capsys.readouterr().out
    assert "moving as in seated-ir" in out and "Reps: 2" in out
    # a custom exercise the simulator has no motion for says so
    assert main(["--store", store, "demo", "--exercise", "prone-ir-hold"]) == 1
    assert "no motion like" in capsys.readouterr().err


def test_band_level_is_recorded_with_the_session(tmp_path: Path) -> None:
    from tracker.store import SessionStore

    store = tmp_path / "s.sqlite3"
    assert main(["--store", str(store), "demo", "--exercise", "seated-ir-band", "--speed", "1000", "--reps", "1",
                 "--seed", "2", "--band", "red"]) == 0
    with SessionStore.open(store) as st:
        (info,) = st.list_sessions()
        assert st.load_recording(info.id).extra_meta["band_level"] == "red"
        details = st.load_details(info.id)
    assert details is not None and details["prescription"]["band_level"] == "red"
