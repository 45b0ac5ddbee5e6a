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
from vqf import VQF, offlineVQF

from imu_core import quaternion as Q
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
    rest_threshold_gyr_deg_s: float = 2.0
    """Rest detection: angular rate threshold, deg/s."""
    rest_threshold_acc_m_s2: float = 0.5
    """Rest detection: specific-force threshold, m/s²."""
    rest_min_s: float = 1.5
    """Rest detection: shortest rest, s."""


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
            restThGyr=p.rest_threshold_gyr_deg_s,
            restThAcc=p.rest_threshold_acc_m_s2,
            restMinT=p.rest_min_s,
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

    def set_gyro_bias(self, bias_rad_s: np.ndarray, sigma_rad_s: float = -1.0) -> None:
        """Seed the bias estimate; sigma_rad_s is its uncertainty (negative: keep the filter's own)."""
        self._vqf.setBiasEstimate(np.asarray(bias_rad_s, dtype=float), sigma_rad_s)

    def get_state(self) -> dict[str, Any]:
        return {"kind": "vqf", "params": asdict(self.params), "rate_hz": self.rate_hz,
                "use_mag": self._use_mag, "vqf": {k: np.array(v, copy=True) for k, v in self._vqf.state.items()}}

    def set_state(self, state: dict[str, Any]) -> None:
        self._vqf.state = state["vqf"]


def estimate_orientation(
    gyr: np.ndarray, acc: np.ndarray, mag: np.ndarray | None, rate_hz: float, *, causal: bool = False
) -> np.ndarray:
    """Orientation of one sensor over a whole recording.

    gyr rad/s, acc m/s², mag µT or None, each (N, 3), sampled at rate_hz.
    Returns (N, 4) unit quaternions w, x, y, z of the sensor in an ENU earth frame (with mag None the
    heading is arbitrary but fixed).

    With the whole recording at hand, each instant's estimate uses what came after it as well (VQF's
    offline variant: bias and magnetic-disturbance estimates are smoothed forwards and backwards); on
    BROAD that is about 12 % more accurate than the online filter. `causal=True` gives the online
    filter instead, exactly what a live session computes sample by sample.
    """
    if causal:
        return VqfFilter(rate_hz, use_mag=mag is not None).update(gyr, acc, mag)
    if not rate_hz > 0:
        raise InputShapeError(f"rate_hz must be positive, got {rate_hz}.", "Give the sample rate in Hz.")
    arrays = _check_block(gyr, acc, mag)
    if arrays[0].shape[0] == 0:
        return np.zeros((0, 4))
    out = offlineVQF(arrays[0], arrays[1], arrays[2] if mag is not None else None, 1.0 / rate_hz)
    return np.asarray(out["quat9D" if mag is not None else "quat6D"])


NWU_TO_ENU = Q.about_z(np.pi / 2)
"""Rotation taking a north-west-up earth frame into east-north-up: q_enu = NWU_TO_ENU * q_nwu."""


class MadgwickFilter:
    """Madgwick's gradient-descent filter, as implemented by the `ahrs` package (a dev dependency).

    ahrs's Madgwick keeps a sensor-to-earth quaternion whose earth frame is north-west-up: gravity
    along +z, and its magnetometer step pulls +x onto the horizontal magnetic field. This class turns
    that into the interface's ENU output. Like ahrs's batch mode, the first sample only sets the start
    orientation (from gravity and, in 9D, the field) and later samples are filter updates. It is a
    pure-Python loop (tens of µs per sample), so it is a comparison, not the default.
    """

    DEFAULT_GAIN_IMU = 0.033
    """ahrs's default gain (beta) without a magnetometer, as in Madgwick's paper."""
    DEFAULT_GAIN_MARG = 0.041
    """ahrs's default gain (beta) with a magnetometer, as in Madgwick's paper."""

    def __init__(self, rate_hz: float, use_mag: bool = False, gain: float | None = None) -> None:
        if not rate_hz > 0:
            raise InputShapeError(f"rate_hz must be positive, got {rate_hz}.", "Give the sample rate in Hz.")
        from ahrs.filters import Madgwick  # imported here: ahrs is needed only when this filter is used

        self.rate_hz = float(rate_hz)
        self._use_mag = use_mag
        default_gain = self.DEFAULT_GAIN_MARG if use_mag else self.DEFAULT_GAIN_IMU
        self.gain = float(default_gain if gain is None else gain)
        self._madgwick = Madgwick(frequency=self.rate_hz, gain=self.gain)
        self._q_nwu: np.ndarray | None = None
        self._bias = np.zeros(3)

    @property
    def uses_magnetometer(self) -> bool:
        return self._use_mag

    def update(self, gyr: np.ndarray, acc: np.ndarray, mag: np.ndarray | None = None) -> np.ndarray:
        if self._use_mag and mag is None:
            raise InputShapeError("this filter was set up for 9D fusion but got no magnetometer data.",
                                  "Construct it with use_mag=False for sensors without one.")
        arrays = _check_block(gyr, acc, mag if self._use_mag else None)
        gyr, acc = arrays[0] - self._bias, arrays[1]
        mag_block = arrays[2] if self._use_mag else None
        out = np.empty((gyr.shape[0], 4))
        for i in range(gyr.shape[0]):
            if self._q_nwu is None:
                self._q_nwu = self._initial_nwu(acc[i], None if mag_block is None else mag_block[i])
            elif mag_block is None:
                self._q_nwu = np.asarray(self._madgwick.updateIMU(self._q_nwu, gyr[i], acc[i]), dtype=float)
            else:
                self._q_nwu = np.asarray(self._madgwick.updateMARG(self._q_nwu, gyr[i], acc[i], mag_block[i]),
                                         dtype=float)
            out[i] = self._q_nwu
        return Q.multiply(NWU_TO_ENU, out)

    @staticmethod
    def _initial_nwu(acc: np.ndarray, mag: np.ndarray | None) -> np.ndarray:
        """Start orientation from one sample: gravity gives up, the field's horizontal part north."""
        if not np.linalg.norm(acc) > 0:
            return Q.IDENTITY.copy()
        up = acc / np.linalg.norm(acc)
        horizontal = np.zeros(3) if mag is None else mag - np.dot(mag, up) * up
        if not np.linalg.norm(horizontal) > 1e-9:  # no field, or a vertical one: heading stays arbitrary
            return Q.rotation_between(up, np.array([0.0, 0.0, 1.0]))
        north = horizontal / np.linalg.norm(horizontal)
        west = np.cross(up, north)
        # rows: the earth axes (north, west, up) in sensor coordinates, i.e. the sensor-to-earth matrix
        return Q.from_matrix(np.stack([north, west, up]))

    def set_gyro_bias(self, bias_rad_s: np.ndarray) -> None:
        self._bias = np.array(bias_rad_s, dtype=float).reshape(3)

    def get_state(self) -> dict[str, Any]:
        return {"kind": "madgwick", "rate_hz": self.rate_hz, "use_mag": self._use_mag, "gain": self.gain,
                "q_nwu": None if self._q_nwu is None else self._q_nwu.copy(), "gyro_bias_rad_s": self._bias.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        q = state["q_nwu"]
        self._q_nwu = None if q is None else np.array(q, dtype=float)
        self._bias = np.array(state["gyro_bias_rad_s"], dtype=float)
