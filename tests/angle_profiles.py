"""Synthetic angle traces for the engine's tests: holds and minimum-jerk moves, whose every threshold
crossing time is known exactly."""

from __future__ import annotations

import numpy as np


def min_jerk(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    out: np.ndarray = 10 * u**3 - 15 * u**4 + 6 * u**5
    return out


def min_jerk_inverse(frac: float) -> float:
    """Fraction of a minimum-jerk move's duration at which it has covered `frac` of its distance."""
    u = np.linspace(0.0, 1.0, 200001)
    return float(np.interp(frac, min_jerk(u), u))


class Profile:
    """A piecewise angle profile: holds and minimum-jerk moves."""

    def __init__(self, start_deg: float = 0.0) -> None:
        self.start_deg = start_deg
        self.now = 0.0
        self.value = start_deg
        self.moves: list[tuple[float, float, float, float]] = []
        """(t0, duration, from, to)"""

    def hold(self, duration_s: float) -> Profile:
        self.now += duration_s
        return self

    def until(self, t: float) -> Profile:
        assert t >= self.now - 1e-9
        self.now = t
        return self

    def move(self, to_deg: float, duration_s: float) -> Profile:
        self.moves.append((self.now, duration_s, self.value, to_deg))
        self.now += duration_s
        self.value = to_deg
        return self

    def at(self, t: np.ndarray) -> np.ndarray:
        out = np.full(t.shape, self.start_deg)
        for t0, d, a, b in self.moves:
            out += (b - a) * min_jerk((t - t0) / d)
        return out

    def crossings(self, level: float) -> list[float]:
        """Every time the profile passes `level` (either way)."""
        out = []
        for t0, d, a, b in self.moves:
            if a != b and 0.0 < (level - a) / (b - a) < 1.0:
                out.append(t0 + d * min_jerk_inverse((level - a) / (b - a)))
        return out

    def crossing(self, level: float, after: float = 0.0) -> float:
        """First time after `after` the profile passes `level` (either way)."""
        for tc in self.crossings(level):
            if tc > after:
                return tc
        raise AssertionError(f"the profile never crosses {level} after {after}")
