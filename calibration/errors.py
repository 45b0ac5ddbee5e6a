"""Exceptions of calibration. Each says what the person should do differently."""

from __future__ import annotations


class CalibrationError(Exception):
    """Root of calibration's errors: the calibration phases could not give a usable calibration."""

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice

    def __str__(self) -> str:
        return f"{self.message} {self.advice}".strip()


class SensorMovedError(CalibrationError):
    """A sensor was not still during the still phase."""


class SwingTooSmallError(CalibrationError):
    """The knee swings were too small or too few to find the knee's axis."""


class MissingPhaseError(CalibrationError):
    """The recording lacks a calibration phase or a sensor's data for it."""
