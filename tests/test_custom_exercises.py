"""Custom exercise files (real files in tmp_path): what they load into, and every kind of error with its line."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from calibration.segments import PRONE, SEATED
from tracker.custom_exercises import (
    custom_exercise_dirs,
    find_exercise,
    load_exercise_dir,
    load_exercise_file,
)
from tracker.errors import ExerciseFileError
from tracker.exercise_model import Check, CompensationParams, Exercise, ExerciseKind, Measure, Prescription
from tracker.exercises import CATALOG
from tracker.paths import user_data_dir

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "exercises"

FULL = """\
# every key there is
id = "prone-er-hold"
name = "Prone external rotation hold"
kind = "stretch"
posture = "prone"
measure = "hip_er_deg"
checks = ["pelvis_motion", "thigh_drift"]
instructions = [
    "Lie face down, knee bent.",
    "Let the foot fall inward and stay there.",
]
equipment = "a mat"
notes = "Held in external rotation."

[prescription]
sets = 4
reps = 2
hold_s = [20, 40.5]
rest_s = 15
both_sides = false
target_deg = 35
band_level = "red"

[thresholds]
thigh_drift_deg = 3
knee_flexion_change_deg = 6.5
pelvis_motion_deg = 5
min_duration_s = 0.5
release_fraction = 0.7
min_rise_s = 1.2

[messages]
pelvis_motion = "Keep both hips on the mat."
too_fast = "Take your time."
"""

MINIMAL = 'id = "mine"\nname = "Mine"\nkind = "reps"\nposture = "seated"\n'


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_full_file_round_trips(tmp_path: Path) -> None:
    exercise = load_exercise_file(write(tmp_path, "full.toml", FULL))
    assert exercise == Exercise(
        id="prone-er-hold", name="Prone external rotation hold", kind=ExerciseKind.STRETCH, posture=PRONE,
        measure=Measure.HIP_ER,
        prescription=Prescription(sets=4, reps=2, hold_s=(20.0, 40.5), rest_s=15.0, both_sides=False,
                                  target_deg=35.0, band_level="red"),
        checks=(Check.PELVIS_MOTION, Check.THIGH_DRIFT),
        compensation=CompensationParams(thigh_drift_deg=3.0, knee_flexion_change_deg=6.5, pelvis_motion_deg=5.0,
                                        min_duration_s=0.5, release_fraction=0.7, min_rise_s=1.2),
        messages={"pelvis_motion": "Keep both hips on the mat.", "too_fast": "Take your time."},
        instructions=("Lie face down, knee bent.", "Let the foot fall inward and stay there."),
        equipment="a mat", notes="Held in external rotation.",
    )
    assert exercise.target_deg == 35.0
    assert exercise.message(Check.TOO_FAST) == "Take your time."
    assert exercise.message(Check.KNEE_FLEXION_CHANGE) == "Keep the knee bent as it was."


def test_minimal_file_takes_the_defaults_of_its_kind(tmp_path: Path) -> None:
    reps = load_exercise_file(write(tmp_path, "reps.toml", MINIMAL))
    assert reps == Exercise(id="mine", name="Mine", kind=ExerciseKind.REPS, posture=SEATED,
                            prescription=Prescription())
    stretch = load_exercise_file(write(tmp_path, "stretch.toml", MINIMAL.replace('"reps"', '"stretch"')))
    assert stretch.prescription.reps == 1
    assert Check.TOO_FAST not in stretch.checks
    assert stretch.measure is Measure.HIP_IR


def test_based_on_overrides_only_what_is_given(tmp_path: Path) -> None:
    text = """\
id = "seated-ir-long"
name = "Seated IR, long holds"
based_on = "seated-ir"
prescription.hold_s = [8, 10]
thresholds = { thigh_drift_deg = 3 }

[messages]
thigh_drift = "Thigh still."
"""
    base = CATALOG["seated-ir"]
    exercise = load_exercise_file(write(tmp_path, "long.toml", text))
    assert exercise == replace(
        base, id="seated-ir-long", name="Seated IR, long holds",
        prescription=replace(base.prescription, hold_s=(8.0, 10.0)),
        compensation=replace(base.compensation, thigh_drift_deg=3.0),
        messages={**base.messages, "thigh_drift": "Thigh still."},
    )
    assert exercise.default_target_deg == base.default_target_deg


def test_based_on_merges_messages_and_replaces_lists(tmp_path: Path) -> None:
    text = ('id = "side-x"\nname = "Side X"\nbased_on = "side-lying-ir"\nchecks = ["too_fast"]\n'
            'instructions = ["One line."]\n[messages]\ntoo_fast = "Slowly."\n')
    base = CATALOG["side-lying-ir"]
    exercise = load_exercise_file(write(tmp_path, "x.toml", text))
    assert exercise.checks == (Check.TOO_FAST,)
    assert exercise.instructions == ("One line.",)
    assert exercise.messages == {**base.messages, "too_fast": "Slowly."}
    assert exercise.posture == base.posture and exercise.prescription == base.prescription


def test_examples_load() -> None:
    files = sorted(EXAMPLES.glob("*.toml"))
    assert len(files) >= 2
    exercises = load_exercise_dir(EXAMPLES)
    assert sorted(exercises) == sorted(load_exercise_file(f).id for f in files)
    variant = exercises["seated-ir-long-hold"]
    assert variant.compensation.thigh_drift_deg < CATALOG["seated-ir"].compensation.thigh_drift_deg
    assert variant.prescription.hold_s[0] > CATALOG["seated-ir"].prescription.hold_s[1]
    assert exercises["prone-ir-hold"].kind is ExerciseKind.STRETCH


def test_the_documentation_examples_load(tmp_path: Path) -> None:
    doc = (EXAMPLES.parent.parent / "docs" / "custom-exercises.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", doc, re.S)
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        load_exercise_file(write(tmp_path, f"doc{i}.toml", block))


TOP = 'id = "mine"\nname = "Mine"\nkind = "reps"\nposture = "seated"\nnotes = "top"\n'
"""Five lines; keys after it start on line 6."""

ERRORS = [
    # (file text, line, words in the problem)
    pytest.param(TOP + 'equipment = "band\n', 6, "not valid TOML", id="syntax"),
    pytest.param(TOP + 'checks = [\n  "too_fast",\n', 7, "end of the file", id="syntax-at-end"),
    pytest.param(TOP + "\nsest = 3\n", 7, "unknown key 'sest'", id="unknown-top-level-key"),
    pytest.param(TOP + "[presciption]\nsets = 3\n", 6, "unknown key 'presciption'", id="unknown-table"),
    pytest.param(TOP + '[prescription]\nsets = 2\nnotes = "x"\n', 8, "unknown key 'notes' in [prescription]",
                 id="unknown-key-in-prescription-same-name-as-top-level"),
    pytest.param(TOP + "[thresholds]\n# strict\nthigh_drift = 3\n", 8, "unknown key 'thigh_drift' in [thresholds]",
                 id="unknown-key-in-thresholds"),
    pytest.param(TOP + '[messages]\ntoo_fast = "ok"\nwobble = "x"\n', 8, "unknown check 'wobble'",
                 id="unknown-message-check"),
    pytest.param(TOP + '[prescription]\nreps = 5\nsets = "3"\n', 8, "sets in [prescription] must be a whole number",
                 id="wrong-type"),
    pytest.param(TOP + "prescription = 3\n", 6, "prescription must be a table", id="table-wrong-type"),
    pytest.param(TOP + "instructions = [1]\n", 6, "must be text",
                 id="wrong-type-in-list"),
    pytest.param(TOP + "[prescription]\nsets = 0\n", 7, "at least 1", id="sets-below-one"),
    pytest.param(TOP + "[prescription]\nhold_s = [10, 5]\n", 7, "more than the maximum", id="hold-min-above-max"),
    pytest.param(TOP + "[prescription]\nhold_s = [-1, 5]\n", 7, "at least 0", id="negative-hold"),
    pytest.param(TOP + "[prescription]\nhold_s = [1, true]\n", 7, "[min, max]", id="hold-not-numbers"),
    pytest.param(TOP + "[prescription]\nrest_s = -5\n", 7, "at least 0", id="negative-rest"),
    pytest.param(TOP + "prescription.target_deg = nan\n", 6, "finite", id="nan-target-dotted-key"),
    pytest.param(TOP + "thresholds = { min_rise_s = 1, thigh_drift_deg = 0 }\n", 6, "more than 0",
                 id="threshold-zero-inline-table"),
    pytest.param(TOP + "[thresholds]\nrelease_fraction = 1.5\n", 7, "at most 1", id="release-fraction"),
    pytest.param(TOP.replace('"seated"', '"sitting"'), 4, "unknown posture 'sitting'", id="unknown-posture"),
    pytest.param(TOP.replace('"reps"', '"rep"'), 3, "unknown kind 'rep'", id="unknown-kind"),
    pytest.param(TOP + 'measure = "hip_ir"\n', 6, "unknown measure", id="unknown-measure"),
    pytest.param(TOP + 'checks = [\n  "too_fast",\n  "wobble",\n]\n', 8, "unknown check 'wobble'",
                 id="unknown-check-points-at-the-value"),
    pytest.param(TOP + 'checks = ["too_fast",\n  "too_fast"]\n', 7, "listed twice", id="duplicate-check"),
    pytest.param(TOP.replace('"mine"', '"seated-ir"'), 1, "belongs to a catalog exercise", id="catalog-id"),
    pytest.param(TOP.replace('"mine"', '"hip-shift-on-wall"'), 1, "catalog exercise", id="unmeasurable-id"),
    pytest.param(TOP.replace('"mine"', '"My Exercise"'), 1, "lowercase", id="id-not-hyphenated"),
    pytest.param(TOP + 'based_on = "seated-i"\n', 6, "no catalog exercise", id="unknown-based-on"),
    pytest.param('name = "Mine"\nkind = "reps"\nposture = "seated"\n', None, "'id' is missing", id="missing-id"),
]


@pytest.mark.parametrize(("text", "line", "words"), ERRORS)
def test_errors_name_the_file_and_line(tmp_path: Path, text: str, line: int | None, words: str) -> None:
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(ExerciseFileError) as caught:
        load_exercise_file(path)
    error = caught.value
    assert (error.line, error.path) == (line, str(path))
    assert words in error.problem
    where = f"{path}, line {line}:" if line is not None else f"{path}:"
    assert str(error).startswith(where)


def test_unknown_names_list_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ExerciseFileError) as caught:
        load_exercise_file(write(tmp_path, "p.toml", TOP.replace('"seated"', '"seatd"')))
    assert "prone" in caught.value.advice and "kneeling-on-chair" in caught.value.advice
    assert "Did you mean 'seated'?" in caught.value.advice
    with pytest.raises(ExerciseFileError) as caught:
        load_exercise_file(write(tmp_path, "c.toml", TOP + 'checks = ["wobble"]\n'))
    assert all(c.value in caught.value.advice for c in Check)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ExerciseFileError) as caught:
        load_exercise_file(tmp_path / "absent.toml")
    assert caught.value.line is None
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'id = "a"\nname = "Caf\xe9"\n')
    with pytest.raises(ExerciseFileError) as caught:
        load_exercise_file(path)
    assert caught.value.line == 2


def test_duplicate_id_across_files_names_both(tmp_path: Path) -> None:
    first = write(tmp_path, "a.toml", MINIMAL)
    second = write(tmp_path, "b.toml", '# same id again\n\n' + MINIMAL.replace('"Mine"', '"Other"'))
    with pytest.raises(ExerciseFileError) as caught:
        load_exercise_dir([tmp_path])
    error = caught.value
    assert (error.path, error.line) == (str(second), 3)
    assert str(first) in error.problem and "'mine'" in error.problem


def test_duplicate_id_across_folders(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    write(one, "x.toml", MINIMAL)
    write(two, "y.toml", MINIMAL)
    with pytest.raises(ExerciseFileError, match="already used by"):
        load_exercise_dir([one, two])
    # the same folder twice is not a duplicate
    assert list(load_exercise_dir([one, one])) == ["mine"]


def test_load_dir_skips_missing_folders_hidden_and_other_files(tmp_path: Path) -> None:
    write(tmp_path, "b.toml", MINIMAL.replace('"mine"', '"b-ex"'))
    write(tmp_path, "a.toml", MINIMAL.replace('"mine"', '"a-ex"'))
    write(tmp_path, ".hidden.toml", "not toml at all")
    write(tmp_path, "readme.txt", "not toml at all")
    assert list(load_exercise_dir([tmp_path / "absent", tmp_path])) == ["a-ex", "b-ex"]
    with pytest.raises(ExerciseFileError, match="not a folder"):
        load_exercise_dir([tmp_path / "readme.txt"])


def test_custom_exercise_dirs_from_the_environment(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "LOCALAPPDATA": str(tmp_path / "data")}
    user_dir = user_data_dir(environ=env) / "exercises"
    assert custom_exercise_dirs(env) == [user_dir]
    one, two = tmp_path / "one", tmp_path / "two"
    env["HIPTRACK_EXERCISES"] = os.pathsep.join([str(one), "", str(two)])
    assert custom_exercise_dirs(env) == [one, two, user_dir]


def test_find_exercise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    write(one, "mine.toml", MINIMAL)
    write(two, "other.toml", MINIMAL.replace('"mine"', '"other"'))
    dirs = [one, two]
    found = find_exercise("other", dirs)
    assert found is not None and found.id == "other"
    assert find_exercise("seated-ir", dirs) is None
    assert find_exercise("nothing", dirs) is None
    monkeypatch.setenv("HIPTRACK_EXERCISES", os.pathsep.join([str(one), str(two)]))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    mine = find_exercise("mine")
    assert mine is not None and mine.name == "Mine"
