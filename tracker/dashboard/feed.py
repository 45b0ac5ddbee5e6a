"""What a live session's consumers are sent, worked out from its successive live states: the newest
snapshot (tracker/dashboard/messages.py `state_message`, with the trace of the recent angle) and the
events between snapshots (a rep counted, a hold complete, ...).

One `LiveFeed` per consumer: the person's dashboard (tracker/dashboard/server.py) has one, the MQTT
publisher (tracker/mqtt_publish.py) its own, so both derive the same events and per-set counts the same
way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracker.dashboard.messages import Trace, state_message
from tracker.exercise_model import Exercise
from tracker.session import LiveState


@dataclass
class _Derived:
    """What is remembered of the earlier states, to tell what is new in the next."""

    reps: int = 0
    alerts: set[str] = field(default_factory=set)
    phase: str = ""
    hold_done_for: int = 0
    calibrated: bool = False
    set_no: int = 0
    set_start: tuple[int, int] = (0, 0)
    """(reps, clean reps) counted before the current set began."""


_SnapshotOf = tuple[LiveState, Trace, float | None, dict[str, Any] | None, tuple[int, int]]
"""What the newest snapshot is made of, as it was at its update: the state (read when the snapshot is
made), the trace, the best peak, the summary and the reps and clean reps counted before this set."""


class LiveFeed:
    """Turns each new LiveState of a session (every leg of it) into a snapshot and the events since the last.

    `update` is called with each new state (from the session's consumer; it never blocks) and returns
    the events it derived; `snapshot` is the newest snapshot (None before the first state).

    A snapshot is made when it is first asked for, not at every update: a session updates up to hundreds
    of times a second, its consumers send a few dozen snapshots a second at most (the page: `frame_hz`;
    MQTT: `state_hz`). It reads the live state then: what the session's consumer changes, it changes just
    before its next `update`; what changes in between (the sensors' link counters, the guide's phase
    timer, a pause) shows in it as it is when the snapshot is made."""

    def __init__(self, exercise: Exercise) -> None:
        self.exercise = exercise
        self.trace = Trace()
        self.best_deg: float | None = None
        """The person's best earlier peak in this exercise on this leg, drawn on the dial."""
        self.snapshots = 0
        """Snapshots so far, one per update (the `seq` of the newest)."""
        self._derived = _Derived()
        self._summary: dict[str, Any] | None = None
        self._summary_ends_with_leg = False
        self._newest: _SnapshotOf | None = None
        self._snapshot: dict[str, Any] | None = None
        """The newest snapshot once made (None: not asked for since its update)."""

    @property
    def snapshot(self) -> dict[str, Any] | None:
        """The newest snapshot, with `"events": []` (a consumer adds the events it sends with it); made
        once per update, when first asked for."""
        if self._snapshot is None and self._newest is not None:
            state, trace, best_deg, summary, counted_before = self._newest
            self._snapshot = state_message(state, self.exercise, self.snapshots, trace, [], best_deg=best_deg,
                                           summary=summary, counted_before=counted_before)
        return self._snapshot

    def new_leg(self, best_deg: float | None = None) -> None:
        """The next leg's session begins (--both-sides): a fresh trace and counts; the last leg's summary
        stays in the snapshots until the new leg's calibration begins."""
        self.trace = Trace()
        self._derived = _Derived()
        self._summary_ends_with_leg = True
        self.best_deg = best_deg

    def update(self, state: LiveState, news: list[str] | None = None, *,
               summary: dict[str, Any] | None = None) -> list[dict[str, str]]:
        """Take the newest live state (and, when a leg ends, its summary); returns the new events, in
        order, as `{kind, text}`. `news` (the session's own lines) is not used: the events are derived."""
        self.trace.add(state.t, state.hip_ir_deg)
        events = self._derive_events(state)
        if self._summary_ends_with_leg and state.phase:
            self._summary, self._summary_ends_with_leg = None, False
        if summary is not None:
            self._summary = summary
        self.snapshots += 1
        self._newest = (state, self.trace, self.best_deg, self._summary, self._derived.set_start)
        self._snapshot = None
        return events

    def _derive_events(self, state: LiveState) -> list[dict[str, str]]:
        d = self._derived
        events: list[dict[str, str]] = []
        add = events.append
        if state.set_no != d.set_no:
            d.set_no = state.set_no
            d.set_start = (len(state.reps), state.clean_reps)
        if state.calibration_score is not None and not d.calibrated:
            d.calibrated = True
            add({"kind": "calibrated", "text": f"Calibrated, quality {state.calibration_score:.0%}"})
        if state.phase != d.phase:
            d.phase = state.phase
            if state.phase == "exercise.end":
                add({"kind": "set_done", "text": f"Set {max(state.set_no, 1)} done"})
            else:
                add({"kind": "phase", "text": state.phase})
        if len(state.reps) > d.reps:
            for rep in state.reps[d.reps:]:
                d.reps += 1
                add({"kind": "rep", "text": f"Rep {d.reps}: {rep.peak_ir_deg:.0f} degrees"})
        if state.alerts or d.alerts:  # most updates: none then, none now
            for kind, message in state.alerts.items():
                if kind not in d.alerts:
                    add({"kind": "compensation", "text": message})
            d.alerts = set(state.alerts)
        target = state.target_hold_s[0]
        rep_no = len(state.reps) + 1
        if target > 0 and state.hold_elapsed_s >= target and d.hold_done_for != rep_no:
            d.hold_done_for = rep_no
            add({"kind": "hold_complete", "text": "Hold complete"})
        return events
