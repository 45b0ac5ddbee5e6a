"""Finding the phase markers in the data when the caller gives none.

`detect_markers` looks for a still period of both sensors, the knee swings that follow it (the shin
swinging back and forth at least twice), then the exercise from the next movement on, to the end of the
data. Detected markers give one exercise phase: sets are not split (give the markers to split them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from firmware_bridge.metabase.errors import MarkerDetectionError
from firmware_bridge.metabase.markers import MARKER_OPTIONS_ADVICE
from imu_core.frames import Segment
from imu_core.types import Marker, MarkerLabel, SensorStream


@dataclass(frozen=True, slots=True)
class DetectionParams:
    """Thresholds of `detect_markers` (rates in deg/s, after removing the still phase's gyro bias)."""

    grid_hz: float = 50.0
    window_s: float = 0.5
    """Window of the stillness test."""
    still_gyro_spread_deg_s: float = 1.5
    """Still: angular-rate spread in every window below this (the calibration refuses 2.0 over the phase)."""
    still_acc_spread_m_s2: float = 0.15
    min_still_s: float = 2.0
    active_deg_s: float = 10.0
    """Moving: bias-free angular rate, smoothed over `smooth_s`, above this."""
    smooth_s: float = 0.2
    quiet_s: float = 1.0
    """The swings end when the shin has been below `active_deg_s` this long."""
    max_swing_delay_s: float = 3.0
    """The swings must begin this soon after the still period."""
    min_swings: int = 2
    """Back-and-forth swings (each a movement one way and back) needed."""
    min_lobe_deg_s: float = 20.0
    swing_lead_s: float = 0.2
    """calibration.swing is placed this long before the shin starts to move."""
    exercise_lead_s: float = 1.0
    """exercise.start is placed up to this long before the first movement after the swings..."""
    max_settle_s: float = 2.5
    """...and at most this long after the swings ended (a slow move into a stretch may not count as one)."""


def _moving_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving mean over n samples along axis 0 (shorter windows at the ends)."""
    n = max(1, n)
    pad = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0)], axis=0)
    idx = np.arange(x.shape[0])
    lo = np.clip(idx - n // 2, 0, x.shape[0])
    hi = np.clip(idx - n // 2 + n, 0, x.shape[0])
    width = (hi - lo).reshape(-1, *([1] * (x.ndim - 1)))
    out: np.ndarray = (pad[hi] - pad[lo]) / width
    return out


def _spread(x: np.ndarray, n: int) -> np.ndarray:
    """Norm of the per-axis standard deviation in a centred window of n samples."""
    m = _moving_mean(x, n)
    var = np.clip(_moving_mean(x * x, n) - m * m, 0.0, None)
    out: np.ndarray = np.sqrt(var.sum(axis=1))
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges where mask is True."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _lobes(p: np.ndarray, threshold: float) -> int:
    """Alternating excursions of p beyond +-threshold."""
    count, sign = 0, 0
    for v in p.tolist():
        if v > threshold and sign != 1:
            count, sign = count + 1, 1
        elif v < -threshold and sign != -1:
            count, sign = count + 1, -1
    return count


def detect_markers(streams: Mapping[Segment, SensorStream], params: DetectionParams | None = None) -> list[Marker]:
    """Find the still phase, the knee swings and the exercise in thigh and shin data (module docstring).

    Returns calibration.static, calibration.swing, exercise.start and exercise.end (at the end of the data).
    Raises `MarkerDetectionError` saying what was not found and which markers to give instead.
    """
    p = params or DetectionParams()
    for seg in (Segment.THIGH, Segment.SHIN):
        if seg not in streams or len(streams[seg]) < 2:
            raise MarkerDetectionError(f"no {seg.value} data to find the calibration phases in.", MARKER_OPTIONS_ADVICE)
    thigh, shin = streams[Segment.THIGH], streams[Segment.SHIN]
    t0 = max(float(thigh.t[0]), float(shin.t[0]))
    t1 = min(float(thigh.t[-1]), float(shin.t[-1]))
    grid = np.arange(t0, t1, 1.0 / p.grid_hz)
    n_win = max(2, round(p.window_s * p.grid_hz))
    if grid.shape[0] < round(p.min_still_s * p.grid_hz) + n_win:
        raise MarkerDetectionError(f"the thigh and shin data overlap for only {max(t1 - t0, 0.0):.1f} s.",
                                   MARKER_OPTIONS_ADVICE)

    def on_grid(s: SensorStream, x: np.ndarray) -> np.ndarray:
        return np.column_stack([np.interp(grid, s.t, x[:, k]) for k in range(3)])

    gyr = {seg: np.degrees(on_grid(s, s.gyr)) for seg, s in ((Segment.THIGH, thigh), (Segment.SHIN, shin))}
    acc = {seg: on_grid(s, s.acc) for seg, s in ((Segment.THIGH, thigh), (Segment.SHIN, shin))}
    still = np.ones(grid.shape[0], dtype=bool)
    for seg in (Segment.THIGH, Segment.SHIN):
        still &= _spread(gyr[seg], n_win) < p.still_gyro_spread_deg_s
        still &= _spread(acc[seg], n_win) < p.still_acc_spread_m_s2
    half = p.window_s / 2.0
    dt = 1.0 / p.grid_hz
    n_smooth = max(1, round(p.smooth_s * p.grid_hz))
    n_quiet = max(1, round(p.quiet_s * p.grid_hz))
    reasons: list[str] = []
    candidates = [(a, b) for a, b in _runs(still) if (b - a) * dt + p.window_s >= p.min_still_s]
    for a, b in candidates:
        still_start, still_end = max(t0, grid[a] - half), min(t1, grid[b - 1] + half)
        where = f"the still period {still_start:.1f}-{still_end:.1f} s"
        bias = {seg: gyr[seg][a:b].mean(axis=0) for seg in gyr}
        shin_rel = gyr[Segment.SHIN] - bias[Segment.SHIN]
        act_shin = _moving_mean(np.linalg.norm(shin_rel, axis=1), n_smooth)
        act_thigh = _moving_mean(np.linalg.norm(gyr[Segment.THIGH] - bias[Segment.THIGH], axis=1), n_smooth)
        moving = np.flatnonzero(act_shin[b:] > p.active_deg_s)
        if moving.size == 0:
            reasons.append(f"after {where} the shin does not move")
            continue
        onset = b + int(moving[0])
        if grid[onset] - still_end > p.max_swing_delay_s:
            reasons.append(f"after {where} the shin starts moving only {grid[onset] - still_end:.1f} s later")
            continue
        quiet = act_shin[onset:] <= p.active_deg_s
        rest = [(c, d) for c, d in _runs(quiet) if d - c >= n_quiet]
        if not rest:
            reasons.append(f"the shin moves from {grid[onset]:.1f} s on without resting {p.quiet_s:g} s")
            continue
        burst_end = onset + rest[0][0]
        burst = shin_rel[onset:burst_end]
        _, vecs = np.linalg.eigh(burst.T @ burst)
        proj = _moving_mean((burst @ vecs[:, -1]).reshape(-1, 1), max(1, round(0.1 * p.grid_hz)))[:, 0]
        threshold = max(p.min_lobe_deg_s, 0.25 * float(np.abs(proj).max()))
        lobes = _lobes(proj, threshold)
        if lobes < 2 * p.min_swings:
            reasons.append(f"the shin movement at {grid[onset]:.1f}-{grid[burst_end]:.1f} s is not {p.min_swings} "
                           f"or more back-and-forth knee swings ({lobes // 2} found)")
            continue
        t_quiet = float(grid[burst_end])
        later = np.flatnonzero((act_shin[burst_end:] > p.active_deg_s) | (act_thigh[burst_end:] > p.active_deg_s))
        gap = float(grid[burst_end + int(later[0])]) - t_quiet if later.size else t1 - t_quiet
        exercise_at = t_quiet + min(max(gap - p.exercise_lead_s, gap / 2.0), p.max_settle_s)
        if exercise_at >= t1 - 1.0:
            reasons.append(f"the data ends right after the knee swings ({grid[burst_end]:.1f} s): no exercise")
            continue
        swing_at = max(still_start + dt, min(still_end, float(grid[onset])) - p.swing_lead_s)
        return [Marker(still_start, MarkerLabel.CALIBRATION_STATIC.value),
                Marker(swing_at, MarkerLabel.CALIBRATION_SWING.value),
                Marker(exercise_at, MarkerLabel.EXERCISE_START.value),
                Marker(t1, MarkerLabel.EXERCISE_END.value)]
    if not candidates:
        raise MarkerDetectionError(
            f"no still period of {p.min_still_s:g} s or more with both sensors still was found, so the "
            "calibration phases cannot be told apart.", MARKER_OPTIONS_ADVICE)
    shown = "; ".join(reasons[:3]) + ("; ..." if len(reasons) > 3 else "")
    raise MarkerDetectionError(f"no knee swings were found after a still period: {shown}.", MARKER_OPTIONS_ADVICE)
