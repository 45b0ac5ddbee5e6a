"""Rep and hold counting on a live stream of one angle (the exercise's primary measure).

Fed one output instant at a time, it follows each movement out of rest, its peak, an end-range hold
and the return, and reports what happened as events. The same object serves the live view and the
offline analysis, so both find the same reps.

A rep counts once the angle passes `count_deg`; it is over when the angle is back under `rest_deg`; both
are measured from the resting level (a running average while at rest), so a slow drift of the reading
over minutes neither merges reps nor makes them.
Its start and end are the moments the angle left and regained the resting level (the angle's level at
rest plus `quiet_margin_deg`), so they mark the movement itself rather than a threshold crossing.

A hold is the end-range plateau: found when the angle, past half of the rep's range so far, stops
rising (its speed falls under a fraction of the rise's top speed) and over when the angle falls away by
more than `hold_band_deg` or starts back down faster than that speed. Its duration is then the time the
angle spent within `hold_tolerance_deg` of the plateau's mean level (a tolerance band, so the slow
arrival at end range and tremor neither shorten nor stretch it). Its clock pauses while the caller
says a compensation is active (`update(..., paused=True)`), so a hold held by cheating counts less.

A movement out of rest that never reaches `count_deg` is a partial rep: reported, never counted.
Thresholds scale with the person's target (`RepParams.for_target`), so a small range is still counted
and a large one is not counted on a twitch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from tracker.analysis import Compensation, Hold, Rep
from tracker.speed import SpeedWindow


@dataclass(frozen=True, slots=True)
class RepParams:
    rest_deg: float = 5.0
    """Below this the leg is at rest, deg."""
    count_deg: float = 10.0
    """A movement counts as a rep once it passes this, deg."""
    speed_window_s: float = 0.2
    """Angular speed is the slope between the two halves of this trailing window, s (tracker.speed)."""
    hold_speed_fraction: float = 0.1
    """A hold starts/ends when the speed is under this fraction of the rise's top speed."""
    hold_min_speed_deg_s: float = 2.0
    """... but never under this, deg/s (noise floor)."""
    hold_band_deg: float = 3.0
    """A hold ends if the angle falls this far below the hold's highest point, deg."""
    hold_tolerance_deg: float = 1.0
    """A hold lasts while the angle is within this of the hold's mean level (or twice the hold's own
    standard deviation, if larger: a slow drift or tremor during a long hold), deg."""
    min_hold_s: float = 0.2
    """Shorter plateaus (time within the tolerance band) are not counted as holds, s."""
    quiet_margin_deg: float = 1.5
    """Within this of the resting level the leg counts as back at rest, deg."""
    rest_level_tau_s: float = 1.0
    """Time constant of the resting level's running average, s."""
    settle_s: float = 1.0
    """After falling under rest_deg, a rep ends at the latest this much later, s."""
    close_on_quiet: bool = True
    """End the rep as soon as the angle is back at the resting level (False: only after settle_s, so a
    short dip in a long stretch does not end it)."""
    min_partial_s: float = 0.4
    """A movement that never reaches count_deg is reported as a partial rep if it lasted this long, s."""

    @staticmethod
    def for_target(target_deg: float, *, long_hold: bool = False, wide_rest: bool = False) -> RepParams:
        """Thresholds relative to the range the person aims for (deg of the exercise's measure).

        A rep counts at 40 % of the target (5..12 deg) and the leg is at rest under half that; with
        `wide_rest` (transitions, whose resting position varies by several degrees) at 55 % and 30 %;
        with `long_hold` (stretches) a dip does not end the movement for 5 s."""
        target = abs(target_deg)
        if wide_rest:
            count, rest = 0.55 * target, 0.3 * target
        else:
            count = min(12.0, max(5.0, 0.4 * target))
            rest = min(5.0, max(2.5, 0.5 * count))
        if long_hold:
            return RepParams(rest_deg=rest, count_deg=count, close_on_quiet=False, settle_s=5.0)
        return RepParams(rest_deg=rest, count_deg=count)


class RepPhase(StrEnum):
    REST = "rest"
    RISING = "rising"
    HOLDING = "holding"
    RETURNING = "returning"


@dataclass(frozen=True, slots=True)
class PartialRep:
    """A movement that left rest but never reached the counting threshold."""

    start: float
    peak: float
    end: float
    peak_deg: float


@dataclass(frozen=True, slots=True)
class RepEvent:
    kind: str
    """rep_started | hold_started | hold_ended | rep_completed | movement_abandoned |
    compensation_started | compensation_ended (the last two from the exercise engine)"""
    t: float
    rep_no: int
    rep: Rep | None = None
    hold: Hold | None = None
    compensation: Compensation | None = None
    message: str = ""
    rise_10_90_s: float | None = None
    """rep_completed: time the rise took from 10 % to 90 % of the rep's range, s (the tempo measure that
    does not depend on where the movement is said to start or end)."""


@dataclass(slots=True)
class _Current:
    start: float
    counted: bool = False
    peak_t: float = 0.0
    peak_deg: float = float("-inf")
    top_rise_speed: float = 0.0
    hold_start: float | None = None
    hold_max: float = float("-inf")
    hold_sum: float = 0.0
    hold_n: int = 0
    hold_counted_s: float = 0.0
    hold_sq: float = 0.0
    trace_t: list[float] = field(default_factory=list)
    trace_angle: list[float] = field(default_factory=list)
    trace_paused: list[bool] = field(default_factory=list)
    hold: Hold | None = None
    hold_s: float = 0.0
    below_rest_t: float | None = None


@dataclass
class RepCounter:
    params: RepParams = field(default_factory=RepParams)
    reps: list[Rep] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    partials: list[PartialRep] = field(default_factory=list)
    phase: RepPhase = RepPhase.REST
    _last_quiet_t: float | None = None
    _rest_level_deg: float = 0.0
    _prev_t: float | None = None
    _cur: _Current | None = None
    _window: SpeedWindow = field(init=False)

    def __post_init__(self) -> None:
        self._window = SpeedWindow(self.params.speed_window_s)

    def hold_elapsed(self, t: float) -> float:
        """Seconds counted in the current hold (0 if not holding); pauses do not count."""
        cur = self._cur
        if cur is None or cur.hold_start is None or self.phase is not RepPhase.HOLDING:
            return 0.0
        return cur.hold_counted_s

    @property
    def in_movement(self) -> bool:
        """True from the moment the angle leaves rest until the movement is over."""
        return self._cur is not None

    @property
    def current_rep_no(self) -> int:
        """Number the movement under way gets if it counts (1-based)."""
        return len(self.reps) + 1

    def speeds(self, t: np.ndarray, angle_deg: np.ndarray) -> np.ndarray:
        """The angular speed (deg/s) at each of the next instants, for `update(..., speed=)`: a block of
        instants at once, exactly what `update` works out for them one by one."""
        return self._window.push_block(t, angle_deg)

    def begin_set(self) -> None:
        """A new set: nothing before it (rest times, speeds) carries into its first rep."""
        self._last_quiet_t = None
        self._prev_t = None
        self._window.reset()

    def update(self, t: float, angle_deg: float, paused: bool = False, speed: float | None = None) -> list[RepEvent]:
        """Feed the next output instant (time s, angle deg); returns what happened.

        paused: a compensation is active, so hold time does not accumulate; speed: this instant's from
        `speeds` (worked out here when None)."""
        p = self.params
        if speed is None:
            speed = self._window.push(t, angle_deg)
        dt = 0.0 if self._prev_t is None else max(0.0, t - self._prev_t)
        self._prev_t = t
        events: list[RepEvent] = []
        quiet = angle_deg <= self._rest_level_deg + p.quiet_margin_deg
        rel = angle_deg - self._rest_level_deg  # thresholds ride on the resting level: slow drift is not a rep
        cur = self._cur
        if rel <= p.rest_deg:
            if cur is None:
                if abs(speed) < p.hold_min_speed_deg_s:  # settled: a slow drift is followed, a wobble is not
                    self._rest_level_deg += (angle_deg - self._rest_level_deg) * min(1.0, dt / p.rest_level_tau_s)
                if quiet:
                    self._last_quiet_t = t
                self.phase = RepPhase.REST
                return events
            if self.phase is RepPhase.HOLDING:
                events.extend(self._end_hold(t))
            self.phase = RepPhase.RETURNING
            if cur.below_rest_t is None:
                cur.below_rest_t = t
            if (quiet and p.close_on_quiet) or t - cur.below_rest_t >= p.settle_s:
                events.extend(self._close(t))
                self._last_quiet_t = t
                self.phase = RepPhase.REST
            return events
        if cur is None:
            cur = self._cur = _Current(start=self._last_quiet_t if self._last_quiet_t is not None else t)
            self.phase = RepPhase.RISING
        cur.below_rest_t = None
        cur.trace_t.append(t)
        cur.trace_angle.append(angle_deg)
        cur.trace_paused.append(paused)
        if angle_deg > cur.peak_deg:
            cur.peak_deg, cur.peak_t = angle_deg, t
        if not cur.counted and rel >= p.count_deg:
            cur.counted = True
            events.append(RepEvent("rep_started", cur.start, len(self.reps) + 1))
        threshold = max(p.hold_min_speed_deg_s, p.hold_speed_fraction * cur.top_rise_speed)
        if self.phase is RepPhase.RISING:
            cur.top_rise_speed = max(cur.top_rise_speed, speed)
            if cur.counted and speed < threshold and rel >= 0.5 * (cur.peak_deg - self._rest_level_deg):
                self.phase = RepPhase.HOLDING
                cur.hold_start, cur.hold_max, cur.hold_sum, cur.hold_n = t, angle_deg, 0.0, 0
                cur.hold_counted_s, cur.hold_sq = 0.0, 0.0
                events.append(RepEvent("hold_started", t, len(self.reps) + 1))
        elif self.phase is RepPhase.HOLDING:
            cur.hold_max = max(cur.hold_max, angle_deg)
            if angle_deg < cur.hold_max - p.hold_band_deg or speed < -threshold:
                events.extend(self._end_hold(t))
                self.phase = RepPhase.RETURNING
            else:
                cur.hold_sum += angle_deg
                cur.hold_sq += angle_deg * angle_deg
                cur.hold_n += 1
                if not paused:
                    cur.hold_counted_s += dt
        elif self.phase is RepPhase.RETURNING and speed > threshold and rel > p.count_deg:
            # rose again without coming back to rest: keep it one rep, allow another hold
            self.phase = RepPhase.RISING
        return events

    def _end_hold(self, t: float) -> list[RepEvent]:
        cur = self._cur
        assert cur is not None and cur.hold_start is not None
        if cur.hold_n == 0:
            return []
        hold, counted_s = self._banded_hold(cur)
        if hold.end - hold.start < self.params.min_hold_s:
            return []
        # the longest plateau of the rep is its hold
        if cur.hold is None or (hold.end - hold.start) > (cur.hold.end - cur.hold.start):
            cur.hold = hold
            cur.hold_s = counted_s
        return [RepEvent("hold_ended", t, len(self.reps) + 1, hold=hold)]

    def _banded_hold(self, cur: _Current) -> tuple[Hold, float]:
        """The hold as the time within the tolerance band of its mean level; and its unpaused part, s."""
        assert cur.hold_start is not None
        level = cur.hold_sum / cur.hold_n
        std = max(0.0, cur.hold_sq / cur.hold_n - level * level) ** 0.5
        floor = level - max(self.params.hold_tolerance_deg, 2.0 * std)
        ts, angles, paused = cur.trace_t, cur.trace_angle, cur.trace_paused
        i = len(ts) - 1
        while i > 0 and ts[i] > cur.hold_start:
            i -= 1
        first = i
        while first > 0 and angles[first - 1] >= floor:
            first -= 1
        last = len(ts) - 1
        while last > first and angles[last] < floor:
            last -= 1
        counted = sum(ts[k] - ts[k - 1] for k in range(first + 1, last + 1) if not paused[k])
        return Hold(ts[first], ts[last], level), counted

    def _close(self, t: float) -> list[RepEvent]:
        cur = self._cur
        assert cur is not None
        events: list[RepEvent] = []
        if self.phase is RepPhase.HOLDING:
            events.extend(self._end_hold(t))
        self._cur = None
        if not cur.counted:
            if t - cur.start >= self.params.min_partial_s:
                self.partials.append(PartialRep(cur.start, cur.peak_t, t, cur.peak_deg))
            return [*events, RepEvent("movement_abandoned", t, len(self.reps) + 1)]
        hold_s = 0.0 if cur.hold is None else cur.hold_s
        rep = Rep(cur.start, cur.peak_t, t, cur.peak_deg, hold_s)
        self.reps.append(rep)
        if cur.hold is not None:
            self.holds.append(cur.hold)
        events.append(RepEvent("rep_completed", t, len(self.reps), rep=rep, hold=cur.hold,
                               rise_10_90_s=self._rise_10_90(cur)))
        return events

    def _rise_10_90(self, cur: _Current) -> float | None:
        base = self._rest_level_deg
        span = cur.peak_deg - base
        t10 = t90 = None
        for tt, a in zip(cur.trace_t, cur.trace_angle, strict=True):
            if tt > cur.peak_t:
                break
            if t10 is None and a >= base + 0.1 * span:
                t10 = tt
            if a >= base + 0.9 * span:
                t90 = tt
                break
        return None if t10 is None or t90 is None else t90 - t10

    def finish(self, t: float) -> list[RepEvent]:
        """End of the exercise: close a rep still under way (it counts if it passed count_deg)."""
        if self._cur is None:
            return []
        return self._close(t)
