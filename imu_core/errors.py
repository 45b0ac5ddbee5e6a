"""Exceptions of imu_core, and the base every hiptrack package's error root is built on."""

from __future__ import annotations


class AdvisedError(Exception):
    """An error that says what went wrong (`message`) and what to do about it (`advice`).

    Each package has its own root derived from this, so callers can catch one package's errors.
    """

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice

    def __str__(self) -> str:
        return f"{self.message} {self.advice}".strip()


class ImuCoreError(AdvisedError):
    """Root of imu_core's errors."""


class InputShapeError(ImuCoreError):
    """Arrays given to a filter have the wrong shape, unit or values."""
