"""A ROM test's maximum set beside the usual values, the other side and earlier tests, with the
measurement's own uncertainty and the published minimal detectable change, so a difference that is only
noise is not read as change; and the person's best earlier reach, for the live views."""

from __future__ import annotations

import math

from imu_core.frames import Side
from tracker.engine import ROM_UNCERTAINTY_DEG
from tracker.exercise_model import Exercise
from tracker.store import SessionStore

CHANGE_DEG = math.sqrt(2.0) * ROM_UNCERTAINTY_DEG
"""The device's own noise in the difference of two tests: both maxima carry the uncertainty, so their
difference can be off by about sqrt(2) times it, deg."""

PUBLISHED_MDC_DEG = 5.4
"""Minimal detectable change of hip IR range, deg.

Source: Krause DA, Hollman JH, Krych AJ, Kalisvaart MM, Levy BA. "Reliability of hip internal rotation
range of motion measurement using a digital inclinometer." Knee Surgery, Sports Traumatology,
Arthroscopy 23(9):2562-2567 (https://mayoclinic.pure.elsevier.com/en/publications/reliability-of-hip-
internal-rotation-range-of-motion-measurement-). 25 adults, two examiners, digital inclinometer with
the pelvis watched; active IR of one leg, seated, was the most responsive method with an MDC of 5.4 deg
(ICCs 0.84-0.93 across methods).

Why this value: that method is what `seated-ir-test` does (seated, active, one leg, shin angle from
vertical), so its MDC covers what an IMU's error alone does not: how far a person turns on a given
day, how they sit, how the pelvis is held. Our device's own share is smaller (ROM_UNCERTAINTY_DEG = 2
deg per test, so rom_compare.CHANGE_DEG = sqrt(2) * 2 = 2.8 deg between two tests, measured against
the simulator), so the larger of the two is used: `mdc_deg()`. The five reference articles in
../shared/reference/ give test postures and usual values (about 45 deg prone, 30-45 deg seated) but no
reliability figures (no SEM, MDC or ICC). No published MDC was found for the prone test; the seated
value is used for it too, which is an assumption. Exercise peaks have no published MDC at all: the ROM
MDC is a lower bound for them (they also depend on effort, band and tempo), so they are drawn with it
but never flagged.
"""


def mdc_deg(uncertainty_deg: float = ROM_UNCERTAINTY_DEG) -> float:
    """The smallest difference between two ROM tests read as real, deg: the published MDC, or the
    device's own two-test noise (sqrt(2) x its per-test uncertainty) if that is larger."""
    own = CHANGE_DEG if uncertainty_deg == ROM_UNCERTAINTY_DEG else math.sqrt(2.0) * uncertainty_deg
    return max(PUBLISHED_MDC_DEG, own)


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
    change = mdc_deg()
    verdict = ("within what repeated tests vary by" if abs(diff) < change
               else "more than repeated tests vary by")
    return f"{diff:+.1f}° against {what}, {other:.1f}°: {verdict} (±{change:.1f}°)."



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
