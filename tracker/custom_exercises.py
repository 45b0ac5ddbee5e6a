"""Custom exercises from small TOML files, so a professional can add one without writing code.

One file defines one exercise; docs/custom-exercises.md describes every key. Files are looked for in
the folders of `custom_exercise_dirs()`: those in $HIPTRACK_EXERCISES, then `exercises/` in hiptrack's
data folder. Every problem is an ExerciseFileError naming the file and, where there is one, the line.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from calibration.segments import (
    FLOOR_SITTING_KNEES_BENT,
    FLOOR_SITTING_LEG_STRAIGHT,
    KNEELING_ON_CHAIR,
    NINETY_NINETY_BACK,
    PRONE,
    SEATED,
    SIDE_LYING,
    SUPINE_FEET_ON_WALL,
    SUPINE_HOOK_LYING,
    StartPosture,
)
from tracker.errors import ExerciseFileError
from tracker.exercise_model import Check, Exercise, ExerciseKind, Measure, Prescription
from tracker.paths import user_data_dir

EXERCISES_ENV_VAR = "HIPTRACK_EXERCISES"
EXERCISES_DIR_NAME = "exercises"

POSTURES: dict[str, StartPosture] = {p.name: p for p in (
    SEATED, PRONE, SIDE_LYING, NINETY_NINETY_BACK, SUPINE_HOOK_LYING, SUPINE_FEET_ON_WALL,
    FLOOR_SITTING_KNEES_BENT, FLOOR_SITTING_LEG_STRAIGHT, KNEELING_ON_CHAIR)}
"""Start postures a file may name, by name."""

_TOP_KEYS = ("id", "name", "kind", "posture", "measure", "based_on", "prescription", "checks", "thresholds",
             "messages", "instructions", "equipment", "notes")
_PRESCRIPTION_KEYS = ("sets", "reps", "hold_s", "rest_s", "both_sides", "target_deg", "band_level")
_THRESHOLD_KEYS = ("thigh_drift_deg", "knee_flexion_change_deg", "pelvis_motion_deg", "min_duration_s",
                   "release_fraction", "min_rise_s")
_CHECK_NAMES = tuple(c.value for c in Check)
_ID_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_AT_LINE_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = "(at end of document)"

_POSITION_CHECKS = (Check.THIGH_DRIFT, Check.KNEE_FLEXION_CHANGE, Check.PELVIS_MOTION)
KIND_DEFAULTS: dict[ExerciseKind, tuple[Prescription, tuple[Check, ...]]] = {
    ExerciseKind.REPS: (Prescription(), (Check.THIGH_DRIFT, Check.KNEE_FLEXION_CHANGE, Check.TOO_FAST,
                                          Check.PELVIS_MOTION)),
    ExerciseKind.ROM_TEST: (Prescription(sets=1, reps=3, hold_s=(0.0, 2.0), rest_s=10.0), _POSITION_CHECKS),
    ExerciseKind.STRETCH: (Prescription(sets=2, reps=1, hold_s=(30.0, 60.0), rest_s=20.0), _POSITION_CHECKS),
    ExerciseKind.TRANSITIONS: (Prescription(sets=1, reps=12, hold_s=(0.0, 1.0), rest_s=30.0, both_sides=False),
                               (Check.TOO_FAST,)),
}
"""Prescription and checks of an exercise written from scratch (no based_on), by kind; as in the catalog."""

Key = tuple[str, ...]
"""Where a key is: ("id",) at the top of the file, ("prescription", "sets") inside a table."""
E = TypeVar("E", bound=StrEnum)
StrPath = str | os.PathLike[str]


def load_exercise_file(path: StrPath) -> Exercise:
    """The exercise one file defines; ExerciseFileError (with the line) for anything wrong in it."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise ExerciseFileError(name, None, f"cannot be read ({e.strerror or e}).",
                                "Check that the file exists and may be read.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ExerciseFileError(name, raw[:e.start].count(b"\n") + 1, "this is not UTF-8 text.",
                                "Save the file as plain text in UTF-8.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line, problem = _syntax_error(str(e), text)
        raise ExerciseFileError(name, line, f"this is not valid TOML: {problem}.",
                                "Check the quotes, brackets and '=' there; see docs/custom-exercises.md.") from None
    return _Reader(name, text).exercise(data)


def custom_exercise_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Folders of custom exercise files: each of $HIPTRACK_EXERCISES (os.pathsep-separated), then
    `exercises/` in hiptrack's data folder (tracker.paths.user_data_dir). Not checked nor created here."""
    env = os.environ if environ is None else environ
    dirs = [Path(p.strip()).expanduser() for p in env.get(EXERCISES_ENV_VAR, "").split(os.pathsep) if p.strip()]
    dirs.append(user_data_dir(environ=env) / EXERCISES_DIR_NAME)
    return list(dict.fromkeys(dirs))


def load_exercise_dir(dirs: StrPath | Iterable[StrPath]) -> dict[str, Exercise]:
    """Every exercise of the *.toml files in these folders (each folder's files in name order; hidden
    files and missing folders skipped), by id. An id defined by two files is an error naming both."""
    folders = [dirs] if isinstance(dirs, str | os.PathLike) else list(dirs)
    loaded: dict[str, tuple[Exercise, Path]] = {}
    seen: set[Path] = set()
    for folder in map(Path, folders):
        if not folder.is_dir():
            if folder.exists():
                raise ExerciseFileError(str(folder), None, "is not a folder.",
                                        f"List folders of exercise files in ${EXERCISES_ENV_VAR}.")
            continue
        for file in sorted(folder.glob("*.toml")):
            if file.name.startswith(".") or not file.is_file() or file.resolve() in seen:
                continue
            seen.add(file.resolve())
            exercise = load_exercise_file(file)
            if exercise.id in loaded:
                other = loaded[exercise.id][1]
                line = _line_of(file.read_text(encoding="utf-8-sig"), ("id",))
                raise ExerciseFileError(str(file), line, f"the id {exercise.id!r} is already used by {other}.",
                                        "Give one of the two exercises another id, or remove one of the files.")
            loaded[exercise.id] = (exercise, file)
    return {exercise_id: exercise for exercise_id, (exercise, _) in loaded.items()}


def find_exercise(exercise_id: str, dirs: StrPath | Iterable[StrPath] | None = None) -> Exercise | None:
    """The custom exercise with this id, or None. All files are read, so any broken file is an error.
    dirs: default custom_exercise_dirs()."""
    return load_exercise_dir(custom_exercise_dirs() if dirs is None else dirs).get(exercise_id)


def _catalog() -> tuple[Mapping[str, Exercise], Mapping[str, object]]:
    # imported here so that tracker.exercises may import this module
    from tracker.exercises import CATALOG, UNMEASURABLE
    return CATALOG, UNMEASURABLE


def _syntax_error(message: str, text: str) -> tuple[int, str]:
    """(line, problem) from a tomllib error message."""
    if (m := _AT_LINE_RE.search(message)) is not None:
        return int(m[1]), f"{message[:m.start()]} (column {m[2]})"
    problem = message.removesuffix(_AT_END).strip()
    return max(1, len(text.rstrip("\n").split("\n"))), f"{problem} at the end of the file"


def _has(data: object, key: Key) -> bool:
    for part in key:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _line_of(text: str, key: Key, value: str | None = None, nth: int = 1) -> int | None:
    """1-based line where `key` is written (a [table]'s header for a table), or where the nth quoted
    `value` is inside it. Found by parsing ever longer prefixes of the file: the statement that defines
    the key is the first one after the last prefix without it, which copes with every way TOML can write
    a key (tables, dotted keys, inline tables, quoted keys, multi-line strings and arrays)."""
    lines = text.split("\n")
    last_without = 0
    for n in range(1, len(lines) + 1):
        try:
            prefix = tomllib.loads("\n".join(lines[:n]))
        except tomllib.TOMLDecodeError:
            continue
        if not _has(prefix, key):
            last_without = n
            continue
        statement = [i for i in range(last_without + 1, n + 1) if lines[i - 1].strip()[:1] not in ("", "#")]
        start = statement[0] if statement else n
        if value is not None:
            found = 0
            for i in range(start, n + 1):
                found += lines[i - 1].count(f'"{value}"') + lines[i - 1].count(f"'{value}'")
                if found >= nth:
                    return i
        return start
    return None


def _label(key: Key) -> str:
    return key[-1] if len(key) == 1 else f"{key[-1]} in [{'.'.join(key[:-1])}]"


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return f"the whole number {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    return "a table" if isinstance(value, dict) else "a date or time"


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


class _Reader:
    """Turns one parsed file into an Exercise; every check raises with the line of the key at fault."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, key: Key, problem: str, advice: str = "", value: str | None = None,
             nth: int = 1) -> ExerciseFileError:
        return ExerciseFileError(self.path, _line_of(self.text, key, value, nth), problem, advice)

    def wrong_type(self, key: Key, value: object, expected: str, example: str) -> ExerciseFileError:
        return self.fail(key, f"{_label(key)} must be {expected}, not {_type_name(value)}.",
                         f"For example: {key[-1]} = {example}")

    def known_keys(self, where: Key, table: Mapping[str, object], allowed: tuple[str, ...], what: str) -> None:
        for name in table:
            if name not in allowed:
                place = f" in [{'.'.join(where)}]" if where else ""
                raise self.fail((*where, name), f"unknown {what} {name!r}{place}.",
                                f"Valid here: {', '.join(allowed)}.{_did_you_mean(name, allowed)}")

    def table(self, key: Key, value: object, allowed: tuple[str, ...], what: str = "key") -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"{_label(key)} must be a table, not {_type_name(value)}.",
                            f"Write [{key[-1]}] on a line of its own, then its keys on the lines below it.")
        self.known_keys(key, value, allowed, what)
        return value

    def text_value(self, key: Key, value: object, *, empty_ok: bool = False) -> str:
        if not isinstance(value, str):
            raise self.wrong_type(key, value, "text in quotes", '"..."')
        if not empty_ok and not value.strip():
            raise self.fail(key, f"{_label(key)} must not be empty.")
        return value

    def text_list(self, key: Key, value: object) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.wrong_type(key, value, "a list of texts", '["...", "..."]')
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise self.fail(key, f"each item of {_label(key)} must be text in quotes, not "
                                     f"{_type_name(item) if item != '' else 'empty text'}.",
                                f'For example: {key[-1]} = ["...", "..."]')
        return tuple(value)

    def choice(self, key: Key, value: object, options: type[E], what: str) -> E:
        text = self.text_value(key, value)
        names = [o.value for o in options]
        if text not in names:
            raise self.fail(key, f"unknown {what} {text!r}.",
                            f"Valid {what}s: {', '.join(names)}.{_did_you_mean(text, names)}", value=text)
        return options(text)

    def number(self, key: Key, value: object, *, minimum: float | None = None, above: float | None = None,
               maximum: float | None = None, unit: str = "") -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.wrong_type(key, value, f"a number{unit and f' ({unit})'}", "10")
        number = float(value)
        if not math.isfinite(number):
            raise self.fail(key, f"{_label(key)} must be a finite number.")
        if ((minimum is not None and number < minimum) or (above is not None and number <= above)
                or (maximum is not None and number > maximum)):
            bounds = [f"at least {minimum:g}" if minimum is not None else "",
                      f"more than {above:g}" if above is not None else "",
                      f"at most {maximum:g}" if maximum is not None else ""]
            raise self.fail(key, f"{_label(key)} is {value}; it must be {' and '.join(filter(None, bounds))}"
                                 f"{unit and f' {unit}'}.")
        return number

    def whole(self, key: Key, value: object, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.wrong_type(key, value, "a whole number", "3")
        if value < minimum:
            raise self.fail(key, f"{_label(key)} is {value}; it must be at least {minimum}.")
        return value

    def prescription_value(self, name: str, value: object) -> object:
        key = ("prescription", name)
        if name in ("sets", "reps"):
            return self.whole(key, value, 1)
        if name == "hold_s":
            if not isinstance(value, list) or len(value) != 2 or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in value):
                raise self.wrong_type(key, value, "[min, max] in seconds (write [30, 30] for a fixed hold)",
                                      "[30, 60]")
            low, high = (self.number(key, v, minimum=0.0, unit="s") for v in value)
            if low > high:
                raise self.fail(key, f"{_label(key)}: the minimum ({low:g} s) is more than the maximum ({high:g} s).",
                                "Write hold_s = [min, max] with min no more than max.")
            return (low, high)
        if name == "rest_s":
            return self.number(key, value, minimum=0.0, unit="s")
        if name == "both_sides":
            if not isinstance(value, bool):
                raise self.wrong_type(key, value, "true or false", "true")
            return value
        if name == "target_deg":
            return self.number(key, value, minimum=-180.0, maximum=180.0, unit="deg")
        return self.text_value(key, value)  # band_level

    def exercise(self, data: dict[str, Any]) -> Exercise:
        self.known_keys((), data, _TOP_KEYS, "key")
        catalog, unmeasurable = _catalog()
        base: Exercise | None = None
        if "based_on" in data:
            base_id = self.text_value(("based_on",), data["based_on"])
            if base_id not in catalog:
                why = "an exercise the sensors cannot measure" if base_id in unmeasurable else "no catalog exercise"
                raise self.fail(("based_on",), f"based_on names {why}: {base_id!r}.",
                                f"Catalog exercises: {', '.join(catalog)}.{_did_you_mean(base_id, catalog)}")
            base = catalog[base_id]
        for required in ("id", "name") if base else ("id", "name", "kind", "posture"):
            if required not in data:
                raise ExerciseFileError(self.path, None, f"the key {required!r} is missing.",
                                        "Every file needs id and name; kind and posture too unless it has based_on.")
        exercise_id = self.text_value(("id",), data["id"])
        if not _ID_RE.fullmatch(exercise_id):
            raise self.fail(("id",), f"the id {exercise_id!r} must be lowercase letters and digits joined by "
                                     "hyphens.", "For example: id = \"seated-ir-long-hold\"")
        if exercise_id in catalog:
            raise self.fail(("id",), f"the id {exercise_id!r} belongs to a catalog exercise.",
                            f"Choose an id of your own; to start from that exercise write "
                            f"based_on = \"{exercise_id}\".")
        if exercise_id in unmeasurable:
            raise self.fail(("id",), f"the id {exercise_id!r} belongs to a catalog exercise (one the sensors "
                                     "cannot measure).", "Choose an id of your own.")
        name = self.text_value(("name",), data["name"])
        start = base or Exercise(exercise_id, name, ExerciseKind.REPS, SEATED, Prescription())
        kind = self.choice(("kind",), data["kind"], ExerciseKind, "kind") if "kind" in data else start.kind
        posture = start.posture
        if "posture" in data:
            posture_name = self.text_value(("posture",), data["posture"])
            if posture_name not in POSTURES:
                raise self.fail(("posture",), f"unknown posture {posture_name!r}.",
                                f"Valid postures: {', '.join(POSTURES)}.{_did_you_mean(posture_name, POSTURES)}")
            posture = POSTURES[posture_name]
        measure = self.choice(("measure",), data["measure"], Measure, "measure") if "measure" in data else start.measure
        prescription, checks = (start.prescription, start.checks) if base else KIND_DEFAULTS[kind]

        if "prescription" in data:
            table = self.table(("prescription",), data["prescription"], _PRESCRIPTION_KEYS)
            changes = {k: self.prescription_value(k, v) for k, v in table.items()}
            try:
                prescription = prescription.with_overrides(**changes)
            except ValueError as e:
                raise self.fail(("prescription",), f"the prescription is not valid: {e}.") from None
        compensation = start.compensation
        if "thresholds" in data:
            table = self.table(("thresholds",), data["thresholds"], _THRESHOLD_KEYS)
            limits: dict[str, Any] = {}
            for k, v in table.items():
                unit = "deg" if k.endswith("_deg") else "s" if k.endswith("_s") else ""
                limits[k] = self.number(("thresholds", k), v, above=0.0,
                                        maximum=1.0 if k == "release_fraction" else None, unit=unit)
            compensation = replace(compensation, **limits)
        if "checks" in data:
            names = self.text_list(("checks",), data["checks"])
            checks = tuple(self.choice(("checks",), n, Check, "check") for n in names)
            for i, check in enumerate(checks):
                if check in checks[:i]:
                    raise self.fail(("checks",), f"the check {check.value!r} is listed twice.", value=check.value,
                                    nth=2)
        messages = dict(start.messages)
        if "messages" in data:
            table = self.table(("messages",), data["messages"], _CHECK_NAMES, "check")
            messages.update({k: self.text_value(("messages", k), v) for k, v in table.items()})
        return replace(
            start, id=exercise_id, name=name, kind=kind, posture=posture, measure=measure,
            prescription=prescription, checks=checks, compensation=compensation, messages=messages,
            instructions=(self.text_list(("instructions",), data["instructions"]) if "instructions" in data
                          else start.instructions),
            equipment=(self.text_value(("equipment",), data["equipment"], empty_ok=True) if "equipment" in data
                       else start.equipment),
            notes=self.text_value(("notes",), data["notes"], empty_ok=True) if "notes" in data else start.notes,
        )
