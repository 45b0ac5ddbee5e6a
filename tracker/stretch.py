"""Stretch holds: time at or beyond a target angle, the angle held, and fidgets.

Time counts while the measure is at or beyond `target_deg`, with a tolerance below it so that tremor at
the edge neither stops nor restarts the clock: once the target is reached, the hold goes on while the
measure stays above `target_deg - tolerance_deg`; a dip under that ends the hold only if it lasts longer
than `grace_s` (the dip's time is not counted either way). A compensation pauses the clock.

A fidget is a movement back out of the stretch, below the held level by more than `fidget_deg`, that
returns: shifting, adjusting, a short relief. The held level follows the angle quickly when the person
goes deeper and slowly when they ease off, so settling into a stretch is not a fidget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracker.analysis import Hold


@dataclass(frozen=True, slots=True)
class StretchParams:
    target_deg: float
    """Deg of the exercise's measure."""
    tolerance_deg: float = 1.5
    """Below the target by less than this still counts once the target was reached, deg."""
    grace_s: float = 3.0
    """A dip under the tolerance shorter than this does not end the hold, s."""
    fidget_deg: float = 4.0
    """Leaving the held level by more than this (and coming back) is a fidget, deg."""
    level_tau_s: float = 5.0
    """Time constant of the held level's running mean when the angle eases off, s."""
    deepen_tau_s: float = 0.3
    """... and when it goes deeper, s."""
    min_hold_s: float = 1.0
    """Shorter holds are not reported, s."""


@dataclass(slots=True)
class _Open:
    start: float
    sum_ir: float = 0.0
    n: int = 0
    below_since: float | None = None


@dataclass
class StretchTimer:
    params: StretchParams
    sign: float = 1.0
    """Multiplier from hip IR to the measure (−1 for external-rotation stretches)."""
    holds: list[Hold] = field(default_factory=list)
    time_at_target_s: float = 0.0
    fidgets: int = 0
    _open: _Open | None = None
    _level: float | None = None
    _in_fidget: bool = False
    _prev_t: float | None = None
    _prev_counting: bool = False

    @property
    def holding(self) -> bool:
        return self._open is not None

    def update(self, t: float, hip_ir_deg: float, paused: bool = False) -> list[Hold]:
        """Feed one output instant; returns a hold that just ended, if any."""
        p = self.params
        value = self.sign * hip_ir_deg
        dt = 0.0 if self._prev_t is None else max(0.0, t - self._prev_t)
        self._prev_t = t
        ended: list[Hold] = []
        h = self._open
        if h is None:
            if value >= p.target_deg:
                h = self._open = _Open(t)
                self._level, self._in_fidget = value, False
        elif value < p.target_deg - p.tolerance_deg:
            if h.below_since is None:
                h.below_since = t
            if t - h.below_since > p.grace_s:
                ended = self._close(h.below_since)
                h = None
        else:
            h.below_since = None
        counting = h is not None and h.below_since is None
        if counting and self._prev_counting and not paused:
            self.time_at_target_s += dt
        self._prev_counting = counting
        if h is not None:
            self._track_level(value, dt, h)
        return ended

    def _track_level(self, value: float, dt: float, h: _Open) -> None:
        p = self.params
        assert self._level is not None
        below = self._level - value
        if self._in_fidget:
            if below < 0.5 * p.fidget_deg:
                self._in_fidget = False
                self.fidgets += 1
        elif below > p.fidget_deg:
            self._in_fidget = True
        else:
            tau = p.deepen_tau_s if value > self._level else p.level_tau_s
            self._level += (value - self._level) * min(1.0, dt / tau)
            if abs(value - self._level) < 0.5 * p.fidget_deg:
                h.sum_ir += self.sign * value
                h.n += 1

    def _close(self, t_end: float) -> list[Hold]:
        h = self._open
        assert h is not None
        self._open = None
        self._in_fidget = False
        if t_end - h.start < self.params.min_hold_s or h.n == 0:
            return []
        hold = Hold(h.start, t_end, h.sum_ir / h.n)
        self.holds.append(hold)
        return [hold]

    def finish(self, t: float) -> list[Hold]:
        """End of a set: close the hold under way; the time until the next set does not count."""
        self._prev_t, self._prev_counting = None, False
        if self._open is None:
            return []
        h = self._open
        return self._close(h.below_since if h.below_since is not None else t)
