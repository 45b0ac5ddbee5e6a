"""Optional magnetometer hard/soft-iron calibration from a sensor turned through many orientations.

A magnetometer strapped near ferrous or magnetised parts does not read the earth's field f but
m = S f + b: a constant offset b (hard iron: magnetised parts that turn with the sensor) and a linear
distortion S (soft iron: parts that bend the field, plus the sensor's own scale and cross-axis errors).
Turned through every direction in a steady field, m therefore traces an ellipsoid instead of a sphere
about the origin. Fitting that ellipsoid gives b and a symmetric matrix A with |A (m - b)| equal to the
field strength for every sample: the calibrated reading is A (m - b).

The fit is linear least squares on a general quadric, u' M u + 2 g' u = 1 (u: the samples centred on their
mean and scaled to unit spread, for conditioning), then the centre and shape follow from M and g. A is the
symmetric square root of the shape, scaled so that its determinant is 1 when no field strength is given
(the corrected magnitudes then average the ellipsoid's geometric mean radius: the raw scale is kept) or to
the given local field strength.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from calibration.errors import MagnetometerFitError

MAGNETOMETER_FORMAT = "hiptrack-magnetometer/1"

_TURN_ADVICE = ("Hold the sensor away from steel and magnets and turn it slowly through every direction: "
                "roll it, pitch it and turn it about the vertical, so that each side points up, down and "
                "to every side at some time.")


@dataclass(frozen=True, slots=True)
class MagnetometerFitParams:
    min_samples: int = 100
    """Fewest samples to fit from."""
    min_coverage: float = 0.25
    """Least coverage of directions: 3 x the smallest eigenvalue of the scatter matrix of the samples' unit
    directions from their mean (1 for samples spread evenly over the ellipsoid, 0 when they all lie in one
    plane, as when the sensor turns about one axis only). Simulated: 0.2 ~ a full turn about the vertical
    with +-30 deg of tilt (hard iron off by ~1.5 µT), 0.3 ~ +-45 deg (~0.8 µT)."""
    max_residual_fraction: float = 0.05
    """Largest RMS deviation of the corrected magnitudes from the field strength, as a share of it."""


@dataclass(frozen=True, slots=True)
class MagnetometerCalibration:
    """Hard/soft-iron correction of one magnetometer: m_corrected = soft_iron @ (m - hard_iron_ut)."""

    hard_iron_ut: np.ndarray
    """Offset b, µT, sensor axes."""
    soft_iron: np.ndarray
    """Symmetric 3x3 matrix A taking the offset-free reading onto a sphere of radius field_ut."""
    field_ut: float
    """Field strength the corrected readings have, µT (estimated, or the local field strength given)."""
    residual_ut: float
    """RMS deviation of the corrected fitting samples' magnitudes from field_ut, µT."""
    coverage: float
    """How the samples covered the directions, 0 (one plane) .. 1 (evenly); see MagnetometerFitParams."""

    def apply(self, m: np.ndarray) -> np.ndarray:
        """Correct (3,) or (N, 3) readings, µT."""
        out: np.ndarray = (np.asarray(m, dtype=float) - self.hard_iron_ut) @ self.soft_iron.T
        return out

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "format": MAGNETOMETER_FORMAT,
            "hard_iron_ut": [float(x) for x in self.hard_iron_ut],
            "soft_iron": [[float(x) for x in row] for row in self.soft_iron],
            "field_ut": self.field_ut,
            "residual_ut": self.residual_ut,
            "coverage": self.coverage,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict())

    @staticmethod
    def from_json_dict(d: dict[str, Any]) -> MagnetometerCalibration:
        if d.get("format") != MAGNETOMETER_FORMAT:
            raise MagnetometerFitError(f"not a magnetometer calibration (format {d.get('format')!r}, "
                                       f"expected {MAGNETOMETER_FORMAT!r}).",
                                       "Calibrate the magnetometer again.")
        return MagnetometerCalibration(
            hard_iron_ut=np.array(d["hard_iron_ut"], dtype=float).reshape(3),
            soft_iron=np.array(d["soft_iron"], dtype=float).reshape(3, 3),
            field_ut=float(d["field_ut"]),
            residual_ut=float(d["residual_ut"]),
            coverage=float(d["coverage"]),
        )

    @staticmethod
    def from_json(text: str) -> MagnetometerCalibration:
        return MagnetometerCalibration.from_json_dict(json.loads(text))


def direction_coverage(vectors: np.ndarray) -> float:
    """3 x the smallest eigenvalue of the scatter matrix of the vectors' unit directions, in [0, 1]."""
    v = np.asarray(vectors, dtype=float)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    d = v[norms[:, 0] > 0] / norms[norms[:, 0] > 0]
    if len(d) == 0:
        return 0.0
    scatter = d.T @ d / len(d)
    return float(np.clip(3.0 * np.linalg.eigvalsh(scatter)[0], 0.0, 1.0))


def _fit_ellipsoid(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Least-squares ellipsoid through points u (N, 3): centre c and the eigenvalues and eigenvectors of W
    with (u - c)' W (u - c) = 1. None when the best quadric is not an ellipsoid."""
    x, y, z = u.T
    design = np.column_stack([x * x, y * y, z * z, 2 * x * y, 2 * x * z, 2 * y * z, 2 * x, 2 * y, 2 * z])
    v, *_ = np.linalg.lstsq(design, np.ones(len(u)), rcond=None)
    quad = np.array([[v[0], v[3], v[4]], [v[3], v[1], v[5]], [v[4], v[5], v[2]]])
    if not abs(np.linalg.det(quad)) > 1e-12:
        return None
    # u' quad u + 2 g' u = 1  <=>  (u - c)' quad (u - c) = k  with  c = -quad^-1 g,  k = 1 + c' quad c
    centre = -np.linalg.solve(quad, v[6:9])
    k = 1.0 + float(centre @ quad @ centre)
    if not k > 0:
        return None
    eigval, eigvec = np.linalg.eigh(quad / k)
    if not np.all(eigval > 0):
        return None
    return centre, eigval, eigvec


def fit_magnetometer(mag_ut: np.ndarray, field_ut: float | None = None,
                     params: MagnetometerFitParams | None = None) -> MagnetometerCalibration:
    """Fit hard iron and soft iron to (N, 3) magnetometer samples (µT) taken while the sensor turned.

    field_ut: the local earth field strength (µT) to scale the result to; None keeps the samples' own scale.
    Raises MagnetometerFitError when there are too few samples, they cover too few directions, they do not
    lie on an ellipsoid, or they stray too far from the fitted one.
    """
    p = params or MagnetometerFitParams()
    m = np.asarray(mag_ut, dtype=float)
    if m.ndim != 2 or m.shape[1] != 3:
        raise MagnetometerFitError(f"magnetometer samples must be an (N, 3) array, got shape {m.shape}.",
                                   "Pass one row per sample with x, y, z columns in µT.")
    m = m[np.all(np.isfinite(m), axis=1)]
    if len(m) < p.min_samples:
        raise MagnetometerFitError(f"too few magnetometer samples to calibrate ({len(m)}, at least "
                                   f"{p.min_samples} needed).", _TURN_ADVICE + " Keep turning for 30 seconds.")
    if field_ut is not None and not field_ut > 0:
        raise MagnetometerFitError(f"the field strength must be positive, got {field_ut}.",
                                   "Give the local earth field strength in µT, or None to estimate it.")

    mean = m.mean(axis=0)
    coverage = direction_coverage(m - mean)  # about the mean, not the fitted centre: a fit to too few
    if coverage < p.min_coverage:           # directions is wrong, and looks well covered about its centre
        raise MagnetometerFitError(
            f"the magnetometer samples cover too few directions (coverage {coverage:.2f}, "
            f"at least {p.min_coverage:.2f} needed).",
            _TURN_ADVICE,
        )
    scale = float(np.sqrt(np.mean(np.sum((m - mean) ** 2, axis=1))))
    fit = _fit_ellipsoid((m - mean) / scale)
    if fit is None:
        raise MagnetometerFitError("the magnetometer samples do not lie on an ellipsoid.", _TURN_ADVICE)
    centre, eigval, eigvec = fit
    eigval = eigval / scale**2  # shape in µT: (m - b)' W (m - b) = 1

    hard_iron = mean + scale * centre
    radii = 1.0 / np.sqrt(eigval)
    field = float(np.prod(radii) ** (1.0 / 3.0)) if field_ut is None else float(field_ut)
    soft_iron = field * (eigvec * np.sqrt(eigval)) @ eigvec.T
    corrected = (m - hard_iron) @ soft_iron.T
    residual = float(np.sqrt(np.mean((np.linalg.norm(corrected, axis=1) - field) ** 2)))
    if residual > p.max_residual_fraction * field:
        raise MagnetometerFitError(
            f"the magnetometer samples stray {residual:.1f} µT (RMS) from the fitted ellipsoid, more than "
            f"{100 * p.max_residual_fraction:.0f}% of the {field:.1f} µT field.",
            "The field changed while the sensor turned: stay in one place, away from steel furniture, "
            "magnets and electronics, keep the sensor's strap and case as they will be used, and turn it again.",
        )
    return MagnetometerCalibration(hard_iron_ut=hard_iron, soft_iron=soft_iron, field_ut=field,
                                   residual_ut=residual, coverage=coverage)
