"""How a session's reps are laid out in time and turned into knots of the script's angle paths (script.py):
compensation requests resolved, the per-rep draws only some exercises need, sets, stretch fidgets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from firmware_bridge.simulator.exercise_model import (
    CHANGE_DEG,
    FIDGET_DIP_DEG,
    FIDGET_MARGIN_S,
    FIDGET_S,
    FIDGETS_PER_HOLD,
    SET_REST_S,
    TOO_FAST_PHASE_S,
    Compensation,
    CompensationKind,
    ExerciseProfile,
    MotionKind,
    TrueCompensation,
    TrueFidget,
)


@dataclass(frozen=True)
class PlannedCompensation:
    kind: CompensationKind
    rep_index: int
    component: str | None
    change_deg: float | None
    rise_s: float | None = None
    return_s: float | None = None


def plan_compensations(
    profile: ExerciseProfile, compensations: Sequence[Compensation], reps: int, rng: np.random.Generator
) -> list[PlannedCompensation]:
    """Resolve defaults and draw sizes, in the order given."""
    seen: set[tuple[int, CompensationKind]] = set()
    planned = []
    for c in compensations:
        if c.rep > reps:
            raise ValueError(f"{c.kind.value} asked for rep {c.rep} of a session of {reps} reps")
        if (c.rep, c.kind) in seen:
            raise ValueError(f"{c.kind.value} asked twice for rep {c.rep}")
        seen.add((c.rep, c.kind))
        if c.kind is CompensationKind.TOO_FAST:
            if not profile.allows_too_fast:
                raise ValueError(f"{profile.exercise_id} is held, not timed: it has no too_fast")
            rise, back = TOO_FAST_PHASE_S.draw(rng), TOO_FAST_PHASE_S.draw(rng)
            planned.append(PlannedCompensation(c.kind, c.rep - 1, None, None, rise, back))
            continue
        usual = profile.usual_compensations.get(c.kind)
        if usual is None and c.component is None:
            raise ValueError(f"{profile.exercise_id} has no usual {c.kind.value}: name its component")
        component = usual.component if c.component is None and usual is not None else c.component
        sign = usual.sign if usual is not None and component == usual.component else 1.0
        change = sign * CHANGE_DEG[c.kind].draw(rng) if c.change_deg is None else float(c.change_deg)
        planned.append(PlannedCompensation(c.kind, c.rep - 1, component, change))
    return planned


@dataclass(frozen=True)
class Extras:
    """What only some exercises draw: per-rep excursions of other angles, return levels, fidgets, and the
    gaps between sets."""

    excursion_deg: dict[str, np.ndarray]
    return_ir_deg: np.ndarray
    fidget_count: np.ndarray
    """(reps,) how many fidgets each hold gets."""
    fidget_dip_deg: np.ndarray
    """(reps, 3)"""
    fidget_s: np.ndarray
    fidget_place: np.ndarray
    """(reps, 3) where in its slot each fidget starts, 0..1."""
    set_rest_s: np.ndarray
    """(sets - 1,)"""
    set_lead_in_s: np.ndarray


def draw_extras(profile: ExerciseProfile, reps: int, sets: int, rng: np.random.Generator) -> Extras:
    excursion = {name: rng.uniform(span.low, span.high, size=reps) for name, span in profile.excursion_deg.items()}
    returns = (rng.uniform(*profile.return_ir_deg, size=reps) if profile.return_ir_deg != (0.0, 0.0)
               else np.zeros(reps))
    most = FIDGETS_PER_HOLD[1]
    if profile.kind is MotionKind.STRETCH:
        count = rng.integers(FIDGETS_PER_HOLD[0], most + 1, size=reps)
        dip = rng.uniform(FIDGET_DIP_DEG.low, FIDGET_DIP_DEG.high, size=(reps, most))
        length = rng.uniform(FIDGET_S.low, FIDGET_S.high, size=(reps, most))
        place = rng.uniform(0.0, 1.0, size=(reps, most))
    else:
        count = np.zeros(reps, dtype=int)
        dip = length = place = np.zeros((reps, most))
    set_rest = rng.uniform(SET_REST_S.low, SET_REST_S.high, size=sets - 1) if sets > 1 else np.zeros(0)
    set_lead_in = rng.uniform(0.5, 1.0, size=sets - 1) if sets > 1 else np.zeros(0)
    return Extras(excursion, returns, count, dip, length, place, set_rest, set_lead_in)


def layout(exercise_start: float, lead_in_s: float, end_gap_s: float, reps: int, n_sets: int, keep: int,
            tempo: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], extras: Extras,
            ) -> tuple[list[tuple[float, float, float, float]], list[tuple[float, float]]]:
    """Rep windows (rise, hold start, hold end, return end) of the first `keep` reps, and the sets
    (start, end): all of them, or where a cap drops reps, those up to the last rep kept (at least one)."""
    rise_s, hold_s, return_s, rest_s = tempo
    windows: list[tuple[float, float, float, float]] = []
    sets: list[tuple[float, float]] = []
    start, lead_in = exercise_start, lead_in_s
    i = 0
    while True:
        t = start + lead_in
        last_return = t
        for _ in range(reps):
            if i >= keep:
                break
            hold_start = t + float(rise_s[i])
            hold_end = hold_start + float(hold_s[i])
            back = hold_end + float(return_s[i])
            windows.append((t, hold_start, hold_end, back))
            last_return = back
            t = back + float(rest_s[i])
            i += 1
        end = last_return + end_gap_s
        sets.append((start, end))
        if len(sets) == n_sets or (keep < reps * n_sets and i >= keep):
            return windows, sets
        gap = len(sets) - 1
        start, lead_in = end + float(extras.set_rest_s[gap]), float(extras.set_lead_in_s[gap])


def place_fidgets(rep: int, hold: tuple[float, float], level_deg: float,
             extras: Extras) -> list[tuple[float, float, float]]:
    """(start, end, dip) of the fidgets of a hold: one per equal slot of the hold (without its margins),
    each dipping at most 3/4 of the way back to the start."""
    i = rep - 1
    count = int(extras.fidget_count[i])
    lo, hi = hold[0] + FIDGET_MARGIN_S, hold[1] - FIDGET_MARGIN_S
    if count == 0 or hi <= lo:
        return []
    slot = (hi - lo) / count
    out = []
    for k in range(count):
        length = float(extras.fidget_s[i, k])
        if length < slot:
            start = lo + k * slot + float(extras.fidget_place[i, k]) * (slot - length)
            dip = min(float(extras.fidget_dip_deg[i, k]), 0.75 * abs(level_deg))
            out.append((start, start + length, dip))
    return out


def rep_knots(
    profile: ExerciseProfile, i: int, window: tuple[float, float, float, float],
    knots: dict[str, list[tuple[float, float]]], planned: list[PlannedCompensation], extras: Extras,
    true_compensations: list[TrueCompensation], true_fidgets: list[TrueFidget],
    rep: tuple[float, float, float],
) -> None:
    """Add rep i's knots to every path it moves. `rep`: (size of the excursion, knee flexion and tibial
    rotation held through it), deg."""
    t0, hold_start, hold_end, back = window
    peak, knee_peak, tibial_peak = rep
    level = profile.direction * peak
    start_ir = float(extras.return_ir_deg[i - 1]) if i > 0 else 0.0
    end_ir = float(extras.return_ir_deg[i])
    fidgets = place_fidgets(i + 1, (hold_start, hold_end), level - start_ir, extras) if hold_end > hold_start else []
    true_fidgets += [TrueFidget(i + 1, a, b, dip) for a, b, dip in fidgets]
    # (time, share of the excursion) of the rep's inner knots; the rep starts and ends at share 0
    inner = [(hold_start, 1.0)]
    for a, b, dip in fidgets:
        inner += [(a, 1.0), (0.5 * (a + b), 1.0 - dip / abs(level - start_ir)), (b, 1.0)]
    if hold_end > hold_start:
        inner.append((hold_end, 1.0))

    # held through the rep: compensations, the knee's and tibia's small per-rep changes
    held: dict[str, float] = {"knee_flexion": knee_peak, "tibial_rotation": tibial_peak}
    for p in planned:
        if p.rep_index != i:
            continue
        true_compensations.append(TrueCompensation(p.kind.value, float(t0), float(back), i + 1, p.component,
                                                   p.change_deg))
        if p.component is not None and p.change_deg is not None:
            held[p.component] = held.get(p.component, knots[p.component][0][1]) + p.change_deg
    knots["hip_ir"] += [(t0, start_ir)] + [(t, start_ir + (level - start_ir) * share) if share != 1.0
                                           else (t, level) for t, share in inner] + [(back, end_ir)]
    for name in dict.fromkeys([*held, *extras.excursion_deg]):
        rest = knots[name][0][1]
        top = held.get(name, rest)
        swing = float(extras.excursion_deg[name][i]) if name in extras.excursion_deg else 0.0
        knots[name] += [(t0, rest)] + [(t, top + swing * share if swing else top) for t, share in inner] + [
            (back, rest)]
    if hold_end > hold_start:
        ramp = 0.3
        knots["hold_envelope"] += [(hold_start - ramp, 0.0), (hold_start, 1.0), (hold_end, 1.0),
                                   (hold_end + ramp, 0.0)]
