"""A ROM test's maximum set beside the usual values, the other side and earlier tests, with the
measurement's own uncertainty, so a difference that is only noise is not read as change."""

from __future__ import annotations

import math

from imu_core.frames import Side
from tracker.engine import ROM_UNCERTAINTY_DEG
from tracker.exercise_model import Exercise
from tracker.store import SessionStore

CHANGE_DEG = math.sqrt(2.0) * ROM_UNCERTAINTY_DEG
"""Smallest difference between two tests read as real: both maxima carry the uncertainty, so their
difference can be off by about sqrt(2) times it, deg."""


def rom_comparison(store: SessionStore, session_id: int, exercise: Exercise) -> list[str]:
    """Lines describing the test's result against the norm, the other side and the previous test."""
    info = store.get_session(session_id)
    if info.max_ir_deg is None:
        return ["No maximum was measured in this test."]
    mx = info.max_ir_deg
    lines = [f"Largest internal rotation: {mx:.1f}° (measurement uncertainty about ±{ROM_UNCERTAINTY_DEG:.0f}°)."]
    if exercise.norm_deg is not None:
        lo, hi = exercise.norm_deg
        usual = f"about {lo:.0f}°" if lo == hi else f"{lo:.0f}-{hi:.0f}°"
        lines.append(f"Usual values for this test: {usual}.")
    earlier = [s for s in store.list_sessions()
               if s.exercise == info.exercise and s.person == info.person and s.id != session_id
               and s.max_ir_deg is not None
               and s.status == "complete" and s.created_at <= info.created_at]
    other = [s for s in earlier if s.side is not info.side]
    same = [s for s in earlier if s.side is info.side]
    if other:
        o = max(other, key=lambda s: (s.created_at, s.id))
        assert o.max_ir_deg is not None
        lines.append(_compare(mx, o.max_ir_deg, f"the {o.side.value} side ({o.created_at:%Y-%m-%d})"))
    if same:
        p = max(same, key=lambda s: (s.created_at, s.id))
        assert p.max_ir_deg is not None
        lines.append(_compare(mx, p.max_ir_deg, f"the previous test of this side ({p.created_at:%Y-%m-%d})"))
    return lines


def _compare(value: float, other: float, what: str) -> str:
    diff = value - other
    verdict = ("within the measurement's noise" if abs(diff) < CHANGE_DEG
               else "more than the measurement's noise")
    return f"{diff:+.1f}° against {what}, {other:.1f}°: {verdict} (±{CHANGE_DEG:.1f}°)."



def personal_best_deg(store: SessionStore, exercise: Exercise, side: Side, *, person: str, source: str,
                      before_session: int | None = None) -> float | None:
    """The person's best earlier reach in this exercise on this leg, in deg of hip IR (so the most
    negative for an external-rotation stretch), over their complete sessions of the same source (live
    sessions for a person, demo sessions for the demo); None before there is one."""
    sign = exercise.measure.sign()
    best: float | None = None
    """In the exercise's own measure: larger is further."""
    for s in store.list_sessions():
        if (s.exercise != exercise.id or s.side is not side or s.person != person or s.source != source
                or s.status != "complete"
                or (before_session is not None and s.id >= before_session)):
            continue
        if sign > 0:
            reach = s.max_ir_deg
        else:
            result = store.load_analysis(s.id)
            reach = None if result is None or not result.reps else max(sign * r.peak_ir_deg for r in result.reps)
        if reach is not None and math.isfinite(reach) and (best is None or reach > best):
            best = reach
    return None if best is None else sign * best
