"""Magnetometer hard/soft-iron fit: recovers a known distortion, refuses samples that cannot give one."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.errors import CalibrationError, MagnetometerFitError
from calibration.magnetometer import MagnetometerCalibration, direction_coverage, fit_magnetometer
from imu_core import quaternion as Q

EARTH_FIELD_ENU = np.array([0.0, 19.0, -45.0])  # µT, roughly central Europe: north and steeply down
HARD_IRON = np.array([12.0, -7.5, 25.0])
SOFT_IRON = np.array([[1.10, 0.06, -0.03], [0.06, 0.92, 0.04], [-0.03, 0.04, 1.03]])


def _readings(orientations: np.ndarray, noise_ut: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """True field in sensor axes for each sensor-to-earth orientation, and what a distorted sensor reads."""
    true = Q.rotate(Q.conjugate(orientations), EARTH_FIELD_ENU)
    noise = np.random.default_rng(seed).normal(scale=noise_ut, size=true.shape)
    return true, true @ SOFT_IRON.T + HARD_IRON + noise


def _random_orientations(n: int, seed: int = 1) -> np.ndarray:
    return Q.normalize(np.random.default_rng(seed).normal(size=(n, 4)))


def test_fit_recovers_hard_and_soft_iron() -> None:
    true, raw = _readings(_random_orientations(600))
    raw_mag = np.linalg.norm(raw - HARD_IRON, axis=1)
    assert raw_mag.std() > 3.0  # the distortion is large enough to matter

    cal = fit_magnetometer(raw)
    assert np.linalg.norm(cal.hard_iron_ut - HARD_IRON) < 0.5
    corrected = np.linalg.norm(cal.apply(raw), axis=1)
    assert corrected.std() < 0.5
    assert corrected.mean() == pytest.approx(cal.field_ut, rel=0.01)
    assert cal.residual_ut < 0.5
    assert cal.coverage > 0.8
    assert np.linalg.det(cal.soft_iron) == pytest.approx(1.0, rel=1e-6)  # the raw scale is kept
    np.testing.assert_allclose(cal.soft_iron, cal.soft_iron.T, atol=1e-12)

    # told the true field strength, the symmetric correction is the inverse of the (symmetric) distortion
    scaled = fit_magnetometer(raw, field_ut=float(np.linalg.norm(EARTH_FIELD_ENU)))
    np.testing.assert_allclose(scaled.soft_iron, np.linalg.inv(SOFT_IRON), atol=0.01)
    assert np.max(np.linalg.norm(scaled.apply(raw) - true, axis=1)) < 2.0


def test_rotations_about_one_axis_only_are_refused() -> None:
    angles = np.random.default_rng(2).uniform(0, 2 * np.pi, 500)
    _, raw = _readings(Q.about_z(angles))  # turned about the vertical only, like on a swivel chair
    with pytest.raises(MagnetometerFitError) as info:
        fit_magnetometer(raw)
    assert isinstance(info.value, CalibrationError)
    assert "cover too few directions" in info.value.message
    assert "turn it slowly through every direction" in info.value.advice

    rng = np.random.default_rng(3)
    for wobble_deg, accepted in ((10.0, False), (60.0, True)):  # the same turns, tilted +- wobble about x
        tilt = Q.from_axis_angle(np.array([1.0, 0.0, 0.0]), np.radians(rng.uniform(-wobble_deg, wobble_deg, 500)))
        _, raw = _readings(Q.multiply(Q.about_z(angles), tilt))
        if accepted:
            assert np.linalg.norm(fit_magnetometer(raw).hard_iron_ut - HARD_IRON) < 1.0
        else:
            with pytest.raises(MagnetometerFitError, match="cover too few directions"):
                fit_magnetometer(raw)


def test_too_few_samples_and_a_changing_field_are_refused() -> None:
    _, raw = _readings(_random_orientations(50))
    with pytest.raises(MagnetometerFitError, match="too few magnetometer samples"):
        fit_magnetometer(raw)
    _, raw = _readings(_random_orientations(600), noise_ut=6.0)  # e.g. carried past a steel cabinet
    with pytest.raises(MagnetometerFitError, match="stray"):
        fit_magnetometer(raw)


def test_apply_and_json_round_trip() -> None:
    _, raw = _readings(_random_orientations(400))
    cal = fit_magnetometer(raw)
    back = MagnetometerCalibration.from_json(cal.to_json())
    np.testing.assert_allclose(back.hard_iron_ut, cal.hard_iron_ut)
    np.testing.assert_allclose(back.soft_iron, cal.soft_iron)
    assert (back.field_ut, back.residual_ut, back.coverage) == (cal.field_ut, cal.residual_ut, cal.coverage)
    np.testing.assert_allclose(back.apply(raw[0]), cal.apply(raw)[0])
    with pytest.raises(MagnetometerFitError):
        MagnetometerCalibration.from_json('{"format": "something-else/1"}')


def test_direction_coverage_extremes() -> None:
    sphere = _random_orientations(2000)[:, 1:]
    assert direction_coverage(sphere) > 0.9
    plane = sphere * np.array([1.0, 1.0, 0.0])
    assert direction_coverage(plane) < 1e-9
