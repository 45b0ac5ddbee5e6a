"""Orientation filters behind one interface.

A filter turns one sensor's gyroscope, accelerometer and (optionally) magnetometer samples into the
sensor's orientation: a unit quaternion w, x, y, z rotating sensor coordinates into earth coordinates.
With a magnetometer the earth frame is ENU (x east, y north, z up); without one it is a frame with
z up and an arbitrary but fixed heading.

Filters are incremental: `update` takes the next block of samples (one or many) and returns one
orientation per sample, so a live stream fed in pieces gives exactly what one pass over the whole
recording gives. Their state can be saved and restored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from vqf import VQF

from imu_core.errors import InputShapeError


class OrientationFilter(Protocol):
    """What every orientation filter offers."""

    @property
    def uses_magnetometer(self) -> bool: ...

    def update(self, gyr: np.ndarray, acc: np.ndarray, mag: np.ndarray | None = None) -> np.ndarray:
        """Feed (N, 3) gyr rad/s, acc m/s², mag µT; return (N, 4) sensor-to-earth quaternions."""
        ...

    def set_gyro_bias(self, bias_rad_s: np.ndarray) -> None:
        """Seed the filter with a known gyroscope bias (rad/s), e.g. from a still phase."""
        ...

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class VqfParams:
    """VQF tuning. Defaults are the published ones (Laidig & Seel 2023)."""

    tau_acc_s: float = 3.0
    """Time constant of the accelerometer (inclination) correction, s."""
    tau_mag_s: float = 9.0
    """Time constant of the magnetometer (heading) correction, s."""
    rest_bias_estimation: bool = True
    motion_bias_estimation: bool = True
    mag_disturbance_rejection: bool = True


def _check_block(gyr: np.ndarray, acc: np.ndarray, mag: np.ndarray | None) -> tuple[np.ndarray, ...]:
    gyr = np.ascontiguousarray(gyr, dtype=float)
    acc = np.ascontiguousarray(acc, dtype=float)
    if gyr.ndim != 2 or gyr.shape[1] != 3 or acc.shape != gyr.shape:
        raise InputShapeError(
            f"gyr and acc must both be (N, 3) arrays, got {gyr.shape} and {acc.shape}.",
            "Pass one row per sample with x, y, z columns.",
        )
    if mag is None:
        return gyr, acc
    mag = np.ascontiguousarray(mag, dtype=float)
    if mag.shape != gyr.shape:
        raise InputShapeError(
            f"mag must match gyr's shape {gyr.shape}, got {mag.shape}.",
            "Pass None when the sensor has no magnetometer.",
        )
    return gyr, acc, mag


class VqfFilter:
    """VQF (Laidig & Seel), the default filter: 6D, or 9D when constructed with use_mag=True."""

    def __init__(self, rate_hz: float, use_mag: bool = False, params: VqfParams | None = None) -> None:
        if not rate_hz > 0:
            raise InputShapeError(f"rate_hz must be positive, got {rate_hz}.", "Give the sample rate in Hz.")
        self.rate_hz = float(rate_hz)
        self.params = params or VqfParams()
        self._use_mag = use_mag
        p = self.params
        self._vqf = VQF(
            1.0 / self.rate_hz,
            tauAcc=p.tau_acc_s,
            tauMag=p.tau_mag_s,
            restBiasEstEnabled=p.rest_bias_estimation,
            motionBiasEstEnabled=p.motion_bias_estimation,
            magDistRejectionEnabled=p.mag_disturbance_rejection,
        )

    @property
    def uses_magnetometer(self) -> bool:
        return self._use_mag

    def update(self, gyr: np.ndarray, acc: np.ndarray, mag: np.ndarray | None = None) -> np.ndarray:
        arrays = _check_block(gyr, acc, mag if self._use_mag else None)
        if arrays[0].shape[0] == 0:
            return np.zeros((0, 4))
        if self._use_mag:
            if mag is None:
                raise InputShapeError("this filter was set up for 9D fusion but got no magnetometer data.",
                                      "Construct it with use_mag=False for sensors without one.")
            out = self._vqf.updateBatch(*arrays)
            return np.asarray(out["quat9D"])
        out = self._vqf.updateBatch(*arrays)
        return np.asarray(out["quat6D"])

    def set_gyro_bias(self, bias_rad_s: np.ndarray) -> None:
        self._vqf.setBiasEstimate(np.asarray(bias_rad_s, dtype=float), -1.0)

    def get_state(self) -> dict[str, Any]:
        return {"kind": "vqf", "params": asdict(self.params), "rate_hz": self.rate_hz,
                "use_mag": self._use_mag, "vqf": {k: np.array(v, copy=True) for k, v in self._vqf.state.items()}}

    def set_state(self, state: dict[str, Any]) -> None:
        self._vqf.state = state["vqf"]


def estimate_orientation(
    gyr: np.ndarray, acc: np.ndarray, mag: np.ndarray | None, rate_hz: float
) -> np.ndarray:
    """Orientation of one sensor over a whole recording, with the project's default filter.

    gyr rad/s, acc m/s², mag µT or None, each (N, 3), sampled at rate_hz.
    Returns (N, 4) unit quaternions w, x, y, z of the sensor in an ENU earth frame (with mag None the
    heading is arbitrary but fixed).
    """
    filt = VqfFilter(rate_hz, use_mag=mag is not None)
    return filt.update(gyr, acc, mag)
