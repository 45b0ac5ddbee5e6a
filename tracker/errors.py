"""Exceptions of the tracker application. Each says what went wrong and what to do."""

from __future__ import annotations

from imu_core.errors import AdvisedError


class TrackerError(AdvisedError):
    """Root of tracker's errors."""


class UnknownSessionError(TrackerError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"no session {session_id!r} in the store.",
                         "Run 'hiptrack sessions' to list the sessions it holds.")
        self.session_id = session_id


class UnknownExerciseError(TrackerError):
    def __init__(self, exercise: str, known: list[str]) -> None:
        super().__init__(f"unknown exercise {exercise!r}.", f"Known exercises: {', '.join(known)}.")
        self.exercise = exercise


class StoreError(TrackerError):
    """The session store cannot be opened, read or written."""


class UnmeasurableExerciseError(TrackerError):
    """A known exercise that two leg sensors cannot measure honestly."""

    def __init__(self, exercise: object) -> None:
        name = getattr(exercise, "name", "")
        reason = getattr(exercise, "reason", "")
        super().__init__(f"'{name}' cannot be measured with thigh and shin sensors: {reason}",
                         "Do it without the sensors, or pick a measurable exercise ('hiptrack exercises').")
        self.exercise = exercise


class ExerciseFileError(TrackerError):
    """A custom exercise file is not valid; `line` is where the problem is (1-based), if known."""

    def __init__(self, path: str, line: int | None, problem: str, advice: str = "") -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}", advice or "Fix the file and try again; "
                         "see docs/custom-exercises.md for every key.")
        self.path = path
        self.line = line
        self.problem = problem
