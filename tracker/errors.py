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
