"""Compensation detection (thigh drift, knee flexion change, pelvis motion, too fast) against synthetic
angle traces at 100 Hz whose deviations are known exactly: minimum-jerk moves, so every threshold
crossing has an exact time to compare the detector's onsets and ends with."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from angle_profiles import Profile

from tracker.analysis import Compensation
from tracker.engine import ExerciseEngine
from tracker.exercise_model import CompensationParams, Exercise
from tracker.exercises import get_exercise
from tracker.reps import RepEvent

RATE = 100.0
SEATED_IR = get_exercise("seated-ir")
"""Reps to a 30 deg target: a rep counts past 12 deg, the leg is at rest under 5 deg."""
PARAMS = SEATED_IR.compensation
KNEE_DEG = 90.0
"""Knee flexion of the seated posture."""


def timeline(duration_s: float) -> np.ndarray:
    return np.arange(round(duration_s * RATE)) / RATE


def reps_profile(reps: list[tuple[float, float, float, float]], rest_s: float = 2.0) -> tuple[Profile, list[float]]:
    """IR profile of reps (peak_deg, rise_s, hold_s, return_s) with rest_s before each and after the
    last; returns it and each rep's start time."""
    p = Profile()
    starts = []
    for peak, rise, hold, back in reps:
        p.hold(rest_s)
        starts.append(p.now)
        p.move(peak, rise).hold(hold).move(0.0, back)
    p.hold(rest_s)
    return p, starts


def run(exercise: Exercise, t: np.ndarray, ir: np.ndarray, knee: np.ndarray | None = None,
        thigh: np.ndarray | None = None, pelvis: np.ndarray | None = None) -> tuple[ExerciseEngine, list[RepEvent]]:
    """One set of the exercise over the trace; pelvis NaN (no sensor) unless given."""
    n = len(t)
    knee = np.full(n, KNEE_DEG) if knee is None else knee
    thigh = np.zeros(n) if thigh is None else thigh
    pelvis = np.full(n, math.nan) if pelvis is None else pelvis
    engine = ExerciseEngine(exercise)
    engine.start_set(float(t[0]))
    events: list[RepEvent] = []
    for row in zip(t.tolist(), ir.tolist(), knee.tolist(), thigh.tolist(), pelvis.tolist(), strict=True):
        events += engine.update(*row)
    events += engine.end_set(float(t[-1]))
    return engine, events


def kinds(comps: list[Compensation]) -> list[tuple[str, int | None]]:
    return [(c.kind, c.rep) for c in comps]


FOUR_REPS = [(30.0, 1.5, 3.0, 1.5)] * 4
"""Each rep: 1.5 s out, 3 s held, 1.5 s back; rep 2 starts at 10 s and is held from 11.5 to 14.5 s."""


def test_thigh_drift_during_rep_2_of_4_is_found_once_with_its_timing() -> None:
    ir_p, starts = reps_profile(FOUR_REPS)
    assert starts[1] == pytest.approx(10.0)
    rest_thigh = 3.0  # the person's own resting thigh position (not zero): only a change counts
    thigh_p = Profile(rest_thigh).until(12.0).move(rest_thigh + 8.0, 0.5).hold(1.0).move(rest_thigh, 0.5)
    t = timeline(ir_p.now)
    engine, events = run(SEATED_IR, t, ir_p.at(t), thigh=thigh_p.at(t))

    assert len(engine.reps) == 4
    assert kinds(engine.compensations) == [("thigh_drift", 2)]
    comp = engine.compensations[0]
    crossed = thigh_p.crossing(rest_thigh + PARAMS.thigh_drift_deg)
    released = thigh_p.crossing(rest_thigh + PARAMS.release_fraction * PARAMS.thigh_drift_deg, after=crossed + 0.5)
    assert comp.start == pytest.approx(crossed, abs=0.3)
    assert comp.end == pytest.approx(released, abs=0.3)
    assert comp.end - comp.start == pytest.approx(released - crossed, abs=0.1)

    started = [e for e in events if e.kind == "compensation_started"]
    ended = [e for e in events if e.kind == "compensation_ended"]
    assert len(started) == len(ended) == 1
    assert started[0].rep_no == 2
    assert started[0].message == SEATED_IR.message("thigh_drift")

    details = engine.details()
    s = details["sets"][0]
    assert (s["reps"], s["clean_reps"], s["reps_with_compensation"]) == (4, 3, 1)
    assert [r["clean"] for r in details["reps"]] == [True, False, True, True]
    assert details["reps"][1]["compensations"] == ["thigh_drift"]


def test_thigh_drift_moving_with_the_rise_is_measured_from_before_the_rep() -> None:
    """The thigh turns 6 deg together with the foot (same timing as the 1.5 s rise) and stays turned
    through the hold: the baseline is the thigh at rest, not wherever it had got to when the angle
    passed the counter's rest threshold, so the drift is found from its 4 deg crossing."""
    ir_p, starts = reps_profile([(30.0, 1.5, 3.0, 1.5)] * 2)
    thigh_p = Profile().until(starts[0]).move(6.0, 1.5).hold(3.0).move(0.0, 1.5)
    t = timeline(ir_p.now)
    engine, _ = run(SEATED_IR, t, ir_p.at(t), thigh=thigh_p.at(t))

    assert kinds(engine.compensations) == [("thigh_drift", 1)]
    comp = engine.compensations[0]
    assert comp.start == pytest.approx(thigh_p.crossing(PARAMS.thigh_drift_deg), abs=0.3)
    released = thigh_p.crossing(PARAMS.release_fraction * PARAMS.thigh_drift_deg, after=comp.start + 1.0)
    assert comp.end == pytest.approx(released, abs=0.3)


@pytest.mark.parametrize("real_drift_in_rep_4", [False, True])
def test_slow_baseline_drift_between_reps_is_not_flagged(real_drift_in_rep_4: bool) -> None:
    """The thigh creeps 6 deg over the 30 s of rest (0.2 deg/s, only while at rest): a detector that
    compared with the set's start would blame rep 4 (6 deg > 4 deg); the movement's own start does not.
    A real 8 deg drift in rep 4 is still found relative to where the thigh was when that rep began."""
    reps = [(30.0, 1.5, 2.0, 1.5)] * 4
    ir_p, starts = reps_profile(reps, rest_s=7.5)
    t = timeline(ir_p.now - 7.5)  # ends right after rep 4's return
    ir = ir_p.at(t)
    at_rest = np.ones(len(t), dtype=bool)
    for s0 in starts:
        at_rest[(t >= s0) & (t < s0 + 5.0)] = False
    thigh = np.concatenate([[0.0], np.cumsum(np.where(at_rest, 0.2 / RATE, 0.0))[:-1]])
    assert thigh[-1] == pytest.approx(6.0, abs=0.05)
    crossed = math.nan
    if real_drift_in_rep_4:
        bump = Profile().until(starts[3] + 2.0).move(8.0, 0.4).hold(0.8).move(0.0, 0.4)
        thigh = thigh + bump.at(t)
        crossed = bump.crossing(PARAMS.thigh_drift_deg)
    engine, _ = run(SEATED_IR, t, ir, thigh=thigh)

    assert len(engine.reps) == 4
    if real_drift_in_rep_4:
        assert kinds(engine.compensations) == [("thigh_drift", 4)]
        assert engine.compensations[0].start == pytest.approx(crossed, abs=0.3)
        assert engine.details()["sets"][0]["clean_reps"] == 3
    else:
        assert engine.compensations == []
        assert engine.details()["sets"][0]["clean_reps"] == 4


def test_knee_flexion_change_is_flagged_both_ways_but_not_under_its_threshold() -> None:
    """Rep 1 bends the knee 10 deg more, rep 2 straightens it 10 deg, rep 3 changes it 5 deg (< 7)."""
    ir_p, starts = reps_profile([(30.0, 1.5, 3.0, 1.5)] * 3)
    knee_p = Profile(KNEE_DEG)
    for s0, change in zip(starts, (10.0, -10.0, 5.0), strict=True):
        knee_p.until(s0 + 2.0).move(KNEE_DEG + change, 0.3).hold(1.0).move(KNEE_DEG, 0.3)
    t = timeline(ir_p.now)
    engine, _ = run(SEATED_IR, t, ir_p.at(t), knee=knee_p.at(t))

    assert len(engine.reps) == 3
    assert kinds(engine.compensations) == [("knee_flexion_change", 1), ("knee_flexion_change", 2)]
    first = knee_p.crossing(KNEE_DEG + PARAMS.knee_flexion_change_deg)
    assert engine.compensations[0].start == pytest.approx(first, abs=0.3)
    assert engine.details()["sets"][0]["clean_reps"] == 1


def test_pelvis_motion_is_flagged_with_a_pelvis_sensor() -> None:
    ir_p, starts = reps_profile([(30.0, 1.5, 3.0, 1.5)] * 2)
    rest_pelvis = 1.5
    pelvis_p = Profile(rest_pelvis).until(starts[1] + 2.0).move(rest_pelvis + 6.0, 0.3).hold(1.0).move(rest_pelvis, 0.3)
    t = timeline(ir_p.now)
    engine, _ = run(SEATED_IR, t, ir_p.at(t), pelvis=pelvis_p.at(t))

    assert kinds(engine.compensations) == [("pelvis_motion", 2)]
    comp = engine.compensations[0]
    assert comp.start == pytest.approx(pelvis_p.crossing(rest_pelvis + PARAMS.pelvis_motion_deg), abs=0.3)
    release = rest_pelvis + PARAMS.release_fraction * PARAMS.pelvis_motion_deg
    released = pelvis_p.crossing(release, after=comp.start + 0.5)
    assert comp.end == pytest.approx(released, abs=0.3)


def test_no_pelvis_sensor_never_flags_pelvis_motion() -> None:
    """NaN pelvis (no sacrum sensor) all along: large hip movements, a thigh drift in rep 1; only the
    thigh drift is found, and the other rep is clean."""
    ir_p, starts = reps_profile([(40.0, 1.5, 3.0, 1.5)] * 2)
    thigh_p = Profile().until(starts[0] + 2.0).move(8.0, 0.3).hold(1.0).move(0.0, 0.3)
    t = timeline(ir_p.now)
    engine, _ = run(SEATED_IR, t, ir_p.at(t), thigh=thigh_p.at(t), pelvis=np.full(len(t), math.nan))

    assert kinds(engine.compensations) == [("thigh_drift", 1)]
    assert [r.clean for r in engine.records] == [False, True]


@pytest.mark.parametrize(("plateau_s", "flagged"), [(0.05, False), (0.1, False), (0.3, True)])
def test_deviation_must_last_min_duration(plateau_s: float, flagged: bool) -> None:
    """An 8 deg thigh flick: over the 4 deg threshold for plateau + 0.1 s (0.15 s, 0.2 s, 0.4 s)
    against min_duration_s = 0.25 s."""
    ir_p, starts = reps_profile([(30.0, 1.5, 3.0, 1.5)])
    thigh_p = Profile().until(starts[0] + 2.0).move(8.0, 0.1).hold(plateau_s).move(0.0, 0.1)
    t = timeline(ir_p.now)
    thigh = thigh_p.at(t)
    over_s = (np.count_nonzero(thigh > PARAMS.thigh_drift_deg) - 1) / RATE
    assert bool(over_s >= PARAMS.min_duration_s) is flagged
    engine, _ = run(SEATED_IR, t, ir_p.at(t), thigh=thigh)

    assert len(engine.reps) == 1
    assert kinds(engine.compensations) == ([("thigh_drift", 1)] if flagged else [])


def test_too_fast_rise_is_flagged_with_its_rep_number() -> None:
    """Rises of 1.5, 0.4, 1.5 s (min_rise_s 0.8): only rep 2 is too fast."""
    ir_p, _ = reps_profile([(30.0, 1.5, 2.0, 1.5), (30.0, 0.4, 2.0, 1.5), (30.0, 1.5, 2.0, 1.5)])
    t = timeline(ir_p.now)
    engine, events = run(SEATED_IR, t, ir_p.at(t))

    assert len(engine.reps) == 3
    assert kinds(engine.compensations) == [("too_fast", 2)]
    comp, rep = engine.compensations[0], engine.reps[1]
    assert comp.start == pytest.approx(rep.start, abs=0.01)
    assert 0.0 < comp.end - comp.start < PARAMS.min_rise_s
    assert comp.end <= rep.peak + 0.1
    assert [r.clean for r in engine.records] == [True, False, True]
    assert [e.rep_no for e in events if e.kind == "compensation_started"] == [2]


def test_too_fast_follows_the_exercise_threshold() -> None:
    """The same 0.85 s rise (0.43 s from 10 % to 90 %) is fine for seated-ir (min_rise_s 0.35) but too fast
    with the band (0.5)."""
    band = get_exercise("seated-ir-band")
    assert band.compensation.min_rise_s == pytest.approx(0.5)
    ir_p, _ = reps_profile([(25.0, 0.85, 2.0, 1.5)])
    t = timeline(ir_p.now)
    plain, _ = run(SEATED_IR, t, ir_p.at(t))
    banded, _ = run(band, t, ir_p.at(t))
    rise_10_90 = 0.506 * 0.85
    assert PARAMS.min_rise_s < rise_10_90 < band.compensation.min_rise_s
    assert plain.compensations == []
    assert kinds(banded.compensations) == [("too_fast", 1)]


def test_compensation_in_a_movement_that_never_counts_has_no_rep() -> None:
    """A movement to 8 deg (counting starts at 12) with a thigh drift, then a clean rep: the drift
    belongs to no rep, and the rep after it is number 1 and clean."""
    ir_p = Profile().hold(2.0).move(8.0, 1.0).hold(2.0).move(0.0, 1.0).hold(2.0)
    ir_p.move(30.0, 1.5).hold(2.0).move(0.0, 1.5).hold(2.0)
    thigh_p = Profile().until(3.5).move(8.0, 0.3).hold(0.8).move(0.0, 0.3)
    t = timeline(ir_p.now)
    engine, events = run(SEATED_IR, t, ir_p.at(t), thigh=thigh_p.at(t))

    assert kinds(engine.compensations) == [("thigh_drift", None)]
    assert engine.compensations[0].start == pytest.approx(thigh_p.crossing(PARAMS.thigh_drift_deg), abs=0.3)
    assert [r.number for r in engine.records] == [1]
    assert engine.records[0].clean
    s = engine.details()["sets"][0]
    assert (s["reps"], s["clean_reps"], s["partial_reps"]) == (1, 1, 1)
    assert any(e.kind == "movement_abandoned" for e in events)


def test_hold_time_pauses_while_compensating_but_the_hold_goes_on() -> None:
    """A 6 s end-range hold with the thigh drifting 8 deg for about 2 s in its middle: the hold's
    counted time is shorter by about the compensated time, but it is one hold of the same span and
    the live hold clock stops rather than restarting."""
    ir_p, starts = reps_profile([(30.0, 1.5, 6.0, 1.5)])
    thigh_p = Profile().until(starts[0] + 1.5 + 2.0).move(8.0, 0.3).hold(1.7).move(0.0, 0.3)
    t = timeline(ir_p.now)
    ir = ir_p.at(t)
    clean, _ = run(SEATED_IR, t, ir)

    engine = ExerciseEngine(SEATED_IR)
    engine.start_set(0.0)
    thigh = thigh_p.at(t)
    clock: list[tuple[float, float, bool]] = []
    for tt, a, th in zip(t.tolist(), ir.tolist(), thigh.tolist(), strict=True):
        engine.update(tt, a, KNEE_DEG, th, math.nan)
        clock.append((tt, engine.hold_elapsed(tt), bool(engine.detector.active)))
    engine.end_set(float(t[-1]))

    assert len(engine.reps) == len(clean.reps) == 1
    assert kinds(engine.compensations) == [("thigh_drift", 1)]
    comp = engine.compensations[0]
    compensated = comp.end - comp.start
    assert compensated == pytest.approx(2.0, abs=0.2)
    assert clean.reps[0].hold_s - engine.reps[0].hold_s == pytest.approx(compensated, abs=0.3)
    assert engine.reps[0].hold_s > 0.5 * clean.reps[0].hold_s
    # the hold is not cut in two nor restarted: same span as without the compensation
    assert len(engine.holds) == 1
    assert engine.holds[0].start == pytest.approx(clean.holds[0].start, abs=0.05)
    assert engine.holds[0].end == pytest.approx(clean.holds[0].end, abs=0.05)

    # live clock: never goes back while the hold lasts, and stands still while the compensation is active
    running = [(tt, h, act) for tt, h, act in clock if h > 0]
    assert all(b[1] >= a[1] - 1e-9 for a, b in itertools.pairwise(running))
    during = [h for tt, h, act in running if act]
    assert during and during[-1] - during[0] < 0.05
    assert running[-1][1] == pytest.approx(max(h for _, h, _ in clock))
    assert max(h for _, h, _ in clock) == pytest.approx(6.0 - (compensated - PARAMS.min_duration_s), abs=0.5)


def test_custom_thresholds_are_used() -> None:
    """A stricter thigh threshold (3 deg) flags a 3.5 deg drift the default (4 deg) lets pass."""
    strict = replace(SEATED_IR, compensation=CompensationParams(thigh_drift_deg=3.0))
    ir_p, starts = reps_profile([(30.0, 1.5, 3.0, 1.5)])
    thigh_p = Profile().until(starts[0] + 2.0).move(3.5, 0.3).hold(1.0).move(0.0, 0.3)
    t = timeline(ir_p.now)
    default, _ = run(SEATED_IR, t, ir_p.at(t), thigh=thigh_p.at(t))
    stricter, _ = run(strict, t, ir_p.at(t), thigh=thigh_p.at(t))
    assert default.compensations == []
    assert kinds(stricter.compensations) == [("thigh_drift", 1)]
