"""Exceptions of calibration. Each says what the person should do differently."""

from __future__ import annotations

from imu_core.errors import AdvisedError


class CalibrationError(AdvisedError):
    """Root of calibration's errors: the calibration phases could not give a usable calibration."""


class SensorMovedError(CalibrationError):
    """A sensor was not still during the still phase."""


class SwingTooSmallError(CalibrationError):
    """The knee swings were too small or too few to find the knee's axis."""


class SensorsSwappedError(CalibrationError):
    """The sensor assigned to the thigh swung with the lower leg and the shin sensor did not."""


class MissingPhaseError(CalibrationError):
    """The recording lacks a calibration phase or a sensor's data for it."""


class MagnetometerFitError(CalibrationError):
    """The magnetometer samples could not give a hard/soft-iron calibration."""
