"""Exceptions of imu_core. Every error carries what went wrong and what to do about it."""

from __future__ import annotations


class ImuCoreError(Exception):
    """Root of imu_core's errors."""

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice

    def __str__(self) -> str:
        return f"{self.message} {self.advice}".strip()


class InputShapeError(ImuCoreError):
    """Arrays given to a filter have the wrong shape, unit or values."""
