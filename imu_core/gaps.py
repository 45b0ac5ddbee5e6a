"""Lost samples and a fixed-rate filter.

Orientation filters integrate the gyroscope at a fixed sample period, so a lost sample is lost
rotation. `GapBridgingFilter` feeds the filter stand-in samples, linearly interpolated across a gap,
and returns orientations for the real samples only: the stand-ins exist inside the integration and
nowhere else (nothing is stored or shown for them). Gaps longer than `max_bridge_s` are not bridged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_core.filters import OrientationFilter


@dataclass(frozen=True, slots=True)
class GapParams:
    gap_factor: float = 1.5
    """A step longer than this many nominal periods means samples were lost."""
    max_bridge_s: float = 0.5
    """Longer gaps are not bridged (the motion inside is unknown), s."""


def missing_counts(dt_s: np.ndarray, rate_hz: float, params: GapParams) -> np.ndarray:
    """Number of samples lost before each sample, from the step since the previous one."""
    steps = np.rint(np.asarray(dt_s) * rate_hz).astype(np.int64) - 1
    lost = (np.asarray(dt_s) * rate_hz > params.gap_factor) & (np.asarray(dt_s) <= params.max_bridge_s)
    return np.where(lost, np.maximum(steps, 0), 0)


class GapBridgingFilter:
    """Wraps an orientation filter for timestamped samples with occasional losses."""

    def __init__(self, inner: OrientationFilter, rate_hz: float, params: GapParams | None = None) -> None:
        self.inner = inner
        self.rate_hz = rate_hz
        self.params = params or GapParams()
        self.samples_bridged = 0
        """Stand-in samples fed to the filter so far."""
        self.gaps = 0
        """Gaps seen so far (bridged or not)."""
        self._last: tuple[float, np.ndarray, np.ndarray] | None = None

    def update(self, t: np.ndarray, gyr: np.ndarray, acc: np.ndarray) -> np.ndarray:
        """Orientation (N, 4) for each of the N real samples (time-ascending t, s)."""
        t = np.asarray(t, dtype=float)
        if t.shape[0] == 0:
            return np.zeros((0, 4))
        if self._last is None:
            prev_t = t[0] - 1.0 / self.rate_hz
            prev_g, prev_a = gyr[0], acc[0]
        else:
            prev_t, prev_g, prev_a = self._last
        dt = np.diff(np.concatenate([[prev_t], t]))
        self._last = (float(t[-1]), np.array(gyr[-1]), np.array(acc[-1]))
        late = dt * self.rate_hz > self.params.gap_factor
        if not late.any():
            return self.inner.update(gyr, acc)
        self.gaps += int(np.count_nonzero(late))
        missing = missing_counts(dt, self.rate_hz, self.params)
        if not missing.any():
            return self.inner.update(gyr, acc)
        # stand-ins: k lost before sample i are all[i] + j / (k + 1) * (all[i + 1] - all[i]), j = 1..k
        all_g = np.vstack([prev_g[None, :], gyr])
        all_a = np.vstack([prev_a[None, :], acc])
        n_real, n_lost = t.shape[0], int(missing.sum())
        real_index = np.arange(n_real) + np.cumsum(missing)
        before = np.repeat(np.arange(n_real), missing)
        j = np.arange(n_lost) - np.repeat(np.cumsum(missing) - missing, missing) + 1
        frac = (j / (missing[before] + 1))[:, None]
        filled_g = np.empty((n_real + n_lost, 3))
        filled_a = np.empty((n_real + n_lost, 3))
        stand_in = np.ones(n_real + n_lost, dtype=bool)
        stand_in[real_index] = False
        filled_g[real_index], filled_a[real_index] = gyr, acc
        filled_g[stand_in] = all_g[before] + frac * (all_g[before + 1] - all_g[before])
        filled_a[stand_in] = all_a[before] + frac * (all_a[before + 1] - all_a[before])
        self.samples_bridged += n_lost
        quat = self.inner.update(filled_g, filled_a)
        real: np.ndarray = quat[real_index]
        return real
