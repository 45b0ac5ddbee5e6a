"""The exercise engine (reps, partial reps, sets, ROM tests, 90/90 transitions, per-rep timing) against
synthetic angle traces at 100 Hz built from minimum-jerk moves, whose every threshold crossing is known."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from angle_profiles import Profile, min_jerk_inverse

from tracker.engine import ExerciseEngine
from tracker.exercise_model import Exercise, Prescription
from tracker.exercises import get_exercise
from tracker.reps import RepEvent, RepParams

RATE = 100.0
SEATED_IR = get_exercise("seated-ir")
"""Reps to a 30 deg target."""
SEATED_PARAMS = RepParams.for_target(SEATED_IR.target_deg)


def timeline(start_s: float, end_s: float) -> np.ndarray:
    return start_s + np.arange(round((end_s - start_s) * RATE)) / RATE


def reps_profile(reps: list[tuple[float, float, float, float]], rest_s: float = 2.0,
                 p: Profile | None = None) -> Profile:
    """Reps (peak_deg, rise_s, hold_s, return_s), with rest_s before each and after the last."""
    p = Profile() if p is None else p
    for peak, rise, hold, back in reps:
        p.hold(rest_s).move(peak, rise).hold(hold).move(0.0, back)
    return p.hold(rest_s)


class Feeder:
    """Feeds an engine one output instant at a time, as the session pipeline does during a set."""

    def __init__(self, exercise: Exercise) -> None:
        self.engine = ExerciseEngine(exercise)
        self.events: list[RepEvent] = []

    def feed(self, t: np.ndarray, ir: np.ndarray, thigh: np.ndarray | None = None) -> None:
        thigh = np.zeros(len(t)) if thigh is None else thigh
        for tt, a, th in zip(t.tolist(), ir.tolist(), thigh.tolist(), strict=True):
            self.events += self.engine.update(tt, a, 90.0, th, math.nan)

    def set(self, t: np.ndarray, ir: np.ndarray, thigh: np.ndarray | None = None) -> None:
        self.engine.start_set(float(t[0]))
        self.feed(t, ir, thigh)
        self.events += self.engine.end_set(float(t[-1]))


def one_set(exercise: Exercise, p: Profile) -> ExerciseEngine:
    f = Feeder(exercise)
    t = timeline(0.0, p.now)
    f.set(t, p.at(t))
    return f.engine


def test_partial_rep_is_reported_and_not_counted() -> None:
    """Between two reps, a movement to 60 % of the counting threshold (7.2 deg of 12) for 1 s."""
    partial_deg = 0.6 * SEATED_PARAMS.count_deg
    assert partial_deg == pytest.approx(7.2)
    p = reps_profile([(30.0, 1.5, 2.0, 1.5)])
    t_partial = p.now
    p.move(partial_deg, 0.5).move(0.0, 0.5)
    reps_profile([(30.0, 1.5, 2.0, 1.5)], p=p)
    engine = one_set(SEATED_IR, p)

    d = engine.details()
    assert d["sets"][0]["reps"] == 2
    assert d["sets"][0]["partial_reps"] == 1
    assert [r["number"] for r in d["reps"]] == [1, 2]
    assert len(d["partial_reps"]) == 1
    partial = d["partial_reps"][0]
    assert partial["peak_ir_deg"] == pytest.approx(partial_deg, abs=0.05)
    assert partial["peak"] == pytest.approx(t_partial + 0.5, abs=0.02)
    # from leaving the resting level (1.5 deg margin) to being back at it
    left, back = p.crossings(SEATED_PARAMS.quiet_margin_deg)[2:4]
    assert partial["start"] == pytest.approx(left, abs=0.03)
    assert partial["end"] == pytest.approx(back, abs=0.03)
    assert all(partial["end"] <= r["start"] or partial["start"] >= r["end"] for r in d["reps"])


def test_twitch_shorter_than_min_partial_is_not_a_partial_rep() -> None:
    p = Profile().hold(2.0).move(8.0, 0.1).move(0.0, 0.1).hold(2.0)
    engine = one_set(SEATED_IR, p)
    assert engine.details()["partial_reps"] == []
    assert engine.reps == []


@pytest.mark.parametrize(("exercise", "target", "counted"), [
    (get_exercise("ninety-ninety-foot-lift"), 15.0, 3),
    (SEATED_IR, 30.0, 0),
    (SEATED_IR.with_prescription(Prescription(target_deg=15.0)), 15.0, 3),
])
def test_thresholds_scale_with_the_target(exercise: Exercise, target: float, counted: int) -> None:
    """Three 9 deg reps: counted against a 15 deg target (counts from 6 deg), partial reps against
    30 deg (counts from 12 deg), whether the target comes from the catalog or the prescription."""
    assert exercise.target_deg == target
    engine = one_set(exercise, reps_profile([(9.0, 1.2, 1.5, 1.2)] * 3))
    d = engine.details()
    assert d["sets"][0]["reps"] == counted
    assert len(d["partial_reps"]) == 3 - counted
    assert [r["peak_ir_deg"] for r in d["reps"]] == [pytest.approx(9.0, abs=0.05)] * counted


def test_two_sets_give_per_set_counts() -> None:
    f = Feeder(SEATED_IR)
    p1 = reps_profile([(30.0, 1.5, 2.0, 1.5)] * 3)
    t1 = timeline(0.0, p1.now)
    f.set(t1, p1.at(t1))
    assert not f.engine.in_set
    # a minute's rest (not fed), then a second set of two smaller reps
    p2 = reps_profile([(25.0, 1.5, 2.0, 1.5)] * 2, p=Profile().until(100.0))
    t2 = timeline(100.0, p2.now)
    f.set(t2, p2.at(t2))

    e = f.engine
    d = e.details()
    assert [(s["number"], s["reps"], s["clean_reps"]) for s in d["sets"]] == [(1, 3, 3), (2, 2, 2)]
    assert [(s["start"], s["end"]) for s in d["sets"]] == [(0.0, pytest.approx(t1[-1])), (100.0, pytest.approx(t2[-1]))]
    assert [s["max_ir_deg"] for s in d["sets"]] == [pytest.approx(30.0), pytest.approx(25.0)]
    assert e.max_ir_deg == pytest.approx(30.0)
    assert [r["set"] for r in d["reps"]] == [1, 1, 1, 2, 2]
    assert all(r.start >= 100.0 for r in e.reps[3:])
    assert len({r["number"] for r in d["reps"]}) == 5
    assert [ev.kind for ev in f.events].count("rep_completed") == 5


def _stretch_sets_in_position() -> ExerciseEngine:
    """Supine IR stretch, target 20: the person gets into position, starts the set and ends it while
    still in position. Set 1 from 0 s (at rest until 2 s, at 25 deg from 4 s) to 30 s; set 2 from
    90 s, already at 25 deg, coming out at 110 s."""
    f = Feeder(get_exercise("supine-ir-stretch"))
    t1 = timeline(0.0, 30.0)
    f.set(t1, Profile().hold(2.0).move(25.0, 2.0).at(t1))
    t2 = timeline(90.0, 120.0)
    f.set(t2, Profile(25.0).until(110.0).move(0.0, 2.0).at(t2))
    return f.engine


def test_stretch_sets_in_position_count_each_set_once() -> None:
    e = _stretch_sets_in_position()
    assert [s.reps for s in e.sets] == [1, 1]
    assert len(e.holds) == 2
    assert e.reps[1].hold_s == pytest.approx(20.74, abs=0.1)
    assert e.sets[0].time_at_target_s == pytest.approx(30.0 - 3.35, abs=0.1)  # 20 deg reached at 3.35 s


def test_rest_between_stretch_sets_is_not_time_at_target() -> None:
    e = _stretch_sets_in_position()
    d = e.details()
    assert d["sets"][1]["time_at_target_s"] == pytest.approx(20.74, abs=0.1)
    assert d["stretch"]["time_at_target_s"] == pytest.approx(26.65 + 20.74, abs=0.2)


def test_rep_of_a_set_starts_within_the_set() -> None:
    e = _stretch_sets_in_position()
    assert e.reps[1].start >= 90.0


def _busy_trace() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three reps, a partial rep and a thigh drift held across rep 2's hold."""
    p = reps_profile([(30.0, 1.5, 3.0, 1.5)])
    p.move(7.0, 0.6).move(0.0, 0.6)
    reps_profile([(35.0, 1.2, 4.0, 1.5), (28.0, 0.5, 1.0, 1.0)], p=p)
    t = timeline(0.0, p.now)
    thigh = Profile(1.0).until(14.0).move(9.0, 0.4).hold(1.5).move(1.0, 0.4).at(t)
    return t, p.at(t), thigh


@pytest.mark.parametrize("split", [1, 337, 1050, 1403, 1571, 1950, 2215])
def test_feeding_in_two_pieces_equals_one_pass(split: int) -> None:
    """Split at rest, in a rise, in a partial rep, in a hold, in a compensation, on a return; the
    live view's questions between the pieces change nothing."""
    t, ir, thigh = _busy_trace()
    whole = Feeder(SEATED_IR)
    whole.set(t, ir, thigh)

    pieces = Feeder(SEATED_IR)
    pieces.engine.start_set(float(t[0]))
    pieces.feed(t[:split], ir[:split], thigh[:split])
    e = pieces.engine
    t_split = float(t[split - 1])
    _ = (e.details(), e.hold_elapsed(t_split), e.reps, e.holds, e.compensations, e.in_set, e.current_set)
    pieces.feed(t[split:], ir[split:], thigh[split:])
    pieces.events += e.end_set(float(t[-1]))

    assert len(whole.engine.reps) == 3
    assert [c.kind for c in whole.engine.compensations] == ["thigh_drift", "too_fast"]
    assert e.details() == whole.engine.details()
    assert pieces.events == whole.events
    assert e.holds == whole.engine.holds
    assert e.compensations == whole.engine.compensations


def test_rom_test_details_list_each_excursion_and_the_max() -> None:
    ex = get_exercise("seated-ir-test")
    peaks = [35.0, 41.0, 38.0]
    p = reps_profile([(x, 2.5, 0.8, 2.0) for x in peaks])
    p.move(6.0, 0.5).move(0.0, 0.5).hold(2.0)  # a twitch is not an excursion
    t = timeline(0.0, p.now)
    ir = p.at(t) + np.random.default_rng(7).normal(0.0, 0.1, len(t))
    f = Feeder(ex)
    f.set(t, ir)

    d = f.engine.details()
    rom = d["rom_test"]
    assert rom["excursions_deg"] == [pytest.approx(x, abs=0.4) for x in peaks]
    assert rom["max_ir_deg"] == pytest.approx(41.0, abs=0.4)
    assert rom["max_ir_deg"] == max(rom["excursions_deg"])
    assert rom["spread_deg"] == pytest.approx(6.0, abs=0.6)
    assert rom["norm_deg"] == [30.0, 45.0]
    assert rom["uncertainty_deg"] > 0
    assert d["kind"] == "rom-test"
    assert d["sets"][0]["max_ir_deg"] == pytest.approx(41.0, abs=0.4)
    json.dumps(d)  # the details are plain JSON


def test_ninety_ninety_transitions() -> None:
    """Five cycles from the back position (turned in a few degrees, varying) to the front one (IR
    about -60) and back: five reps, ten transitions, and each back position's IR."""
    ex = get_exercise("ninety-ninety-transitions")
    assert ex.target_deg < 0
    backs = [2.0, 5.0, 0.0, 3.0, 4.0]
    p = Profile(backs[0]).hold(2.0)
    fronts = [-60.0, -58.0, -62.0, -59.0, -61.0]
    for i, front in enumerate(fronts):
        p.move(front, 1.5).hold(1.0).move(backs[i + 1] if i + 1 < len(backs) else 1.0, 1.5).hold(2.0)
    t = timeline(0.0, p.now)
    ir = p.at(t) + np.random.default_rng(11).normal(0.0, 0.1, len(t))
    f = Feeder(ex)
    f.set(t, ir)

    d = f.engine.details()
    assert d["sets"][0]["reps"] == 5
    tr = d["transitions"]
    assert (tr["count"], tr["to_front"], tr["to_back"]) == (10, 5, 5)
    assert tr["back_ir_deg"] == [pytest.approx(b, abs=0.4) for b in backs]
    assert [r.peak_ir_deg for r in f.engine.reps] == [pytest.approx(x, abs=0.4) for x in fronts]
    assert d["partial_reps"] == []


REP_SHAPES = [(0.6, 2.5, 1.8), (2.0, 3.0, 1.0), (1.5, 1.0, 2.2)]
"""(rise, hold, return) of each rep, s."""


def test_per_rep_timing_follows_the_trace() -> None:
    """Rise, hold and return of each rep, as the rep counter defines them: the movement leaves and
    regains the resting level (quiet margin, 1.5 deg), and the hold is the time within the hold
    tolerance (1 deg) of the plateau. Within 0.15 s of the values computed from the construction."""
    peak = 30.0
    p = Profile()
    expected = []
    for rise, hold, back in REP_SHAPES:
        p.hold(2.5)
        t0 = p.now
        p.move(peak, rise).hold(hold).move(0.0, back)
        left = t0 + rise * min_jerk_inverse(SEATED_PARAMS.quiet_margin_deg / peak)
        held = t0 + rise * min_jerk_inverse(1.0 - SEATED_PARAMS.hold_tolerance_deg / peak)
        let_go = t0 + rise + hold + back * min_jerk_inverse(SEATED_PARAMS.hold_tolerance_deg / peak)
        returned = t0 + rise + hold + back * min_jerk_inverse(1.0 - SEATED_PARAMS.quiet_margin_deg / peak)
        expected.append((left, held - left, let_go - held, returned - let_go, returned))
    p.hold(2.5)
    t = timeline(0.0, p.now)
    ir = p.at(t) + np.random.default_rng(2).normal(0.0, 0.1, len(t))
    f = Feeder(SEATED_IR)
    f.set(t, ir)

    reps = f.engine.details()["reps"]
    assert len(reps) == len(REP_SHAPES)
    for r, (start, rise, hold, back, end), (shape_rise, _, _) in zip(reps, expected, REP_SHAPES, strict=True):
        assert r["start"] == pytest.approx(start, abs=0.15)
        assert r["end"] == pytest.approx(end, abs=0.15)
        assert r["rise_s"] == pytest.approx(rise, abs=0.15)
        assert r["hold_s"] == pytest.approx(hold, abs=0.15)
        assert r["return_s"] == pytest.approx(back, abs=0.15)
        tempo = [float(x) for x in r["tempo"].split("-")]
        assert tempo == [pytest.approx(x, abs=0.2) for x in (rise, hold, back)]
        # too fast is judged on the 10-90 % rise: about half a smooth movement's rise (0.3 s of the 0.6 s one)
        assert r["clean"] is (0.506 * shape_rise >= SEATED_IR.compensation.min_rise_s)
    assert [r["clean"] for r in reps] == [False, True, True]
