"""The rep/hold counter against angle traces whose reps and holds are known exactly."""

import numpy as np
import pytest

from tracker.reps import RepCounter, RepEvent, RepParams

RATE = 100.0


def min_jerk(frac: np.ndarray) -> np.ndarray:
    return 10 * frac**3 - 15 * frac**4 + 6 * frac**5


def trace(reps: list[tuple[float, float]], rise_s: float = 1.5, rest_s: float = 2.0,
          noise_deg: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, float]]]:
    """Angle trace of reps (peak_deg, hold_s); returns t, angle, and (start, hold_start, hold_end)."""
    parts: list[np.ndarray] = [np.zeros(int(rest_s * RATE))]
    truth = []
    t_now = rest_s
    for peak, hold in reps:
        ramp = np.arange(int(rise_s * RATE)) / (rise_s * RATE)
        parts += [peak * min_jerk(ramp), np.full(int(hold * RATE), peak), peak * (1 - min_jerk(ramp)),
                  np.zeros(int(rest_s * RATE))]
        truth.append((t_now, t_now + rise_s, t_now + rise_s + hold))
        t_now += 2 * rise_s + hold + rest_s
    angle = np.concatenate(parts)
    angle = angle + np.random.default_rng(seed).normal(0, noise_deg, angle.shape)
    return np.arange(len(angle)) / RATE, angle, truth


def banded_hold_s(peak: float, hold: float, rise_s: float = 1.5, band_deg: float = 1.0) -> float:
    """Time a min-jerk rep spends within band_deg of its plateau: the plateau plus both approaches."""
    u = np.linspace(0, 1, 100001)
    near = u[peak * min_jerk(u) >= peak - band_deg][0]
    return hold + 2 * rise_s * (1 - near)


def run(t: np.ndarray, a: np.ndarray, params: RepParams | None = None) -> tuple[RepCounter, list[RepEvent]]:
    counter = RepCounter(params or RepParams())
    events: list[RepEvent] = []
    for tt, aa in zip(t, a, strict=True):
        events += counter.update(float(tt), float(aa))
    events += counter.finish(float(t[-1]))
    return counter, events


def test_counts_reps_with_their_peaks_and_holds() -> None:
    spec = [(25.0, 3.0), (32.0, 2.0), (38.0, 5.0), (21.0, 4.0)]
    t, a, truth = trace(spec, noise_deg=0.15)
    counter, events = run(t, a)
    assert len(counter.reps) == len(spec)
    for rep, (peak, hold), (start, h0, h1) in zip(counter.reps, spec, truth, strict=True):
        assert rep.peak_ir_deg == pytest.approx(peak, abs=0.6)
        assert rep.hold_s == pytest.approx(banded_hold_s(peak, hold), abs=0.1)
        assert h0 - 0.3 <= rep.peak <= h1 + 0.3
        assert rep.start == pytest.approx(start + 0.5, abs=0.6)  # leaves 5 deg rest band after onset
    assert [e.kind for e in events].count("rep_completed") == len(spec)
    assert [e.kind for e in events].count("hold_started") >= len(spec)


def test_small_wobbles_are_not_reps() -> None:
    t = np.arange(0, 20, 1 / RATE)
    a = 7.0 * np.sin(2 * np.pi * 0.3 * t) ** 2  # never reaches 10 deg
    counter, events = run(t, a)
    assert counter.reps == []
    assert "movement_abandoned" in [e.kind for e in events]


def test_rep_without_hold_has_zero_hold() -> None:
    t, a, _ = trace([(30.0, 0.0)], rise_s=1.0)
    counter, _ = run(t, a)
    assert len(counter.reps) == 1
    assert counter.reps[0].hold_s < 0.5
    assert counter.holds == [] or counter.holds[0].end - counter.holds[0].start < 0.5


def test_rep_cut_by_end_of_exercise_still_counts() -> None:
    t, a, _ = trace([(30.0, 3.0)])
    cut = int(4.5 * RATE)  # in the middle of the hold
    counter, events = run(t[:cut], a[:cut])
    assert len(counter.reps) == 1
    assert events[-1].kind == "rep_completed"


def test_live_hold_timer_runs_during_the_hold() -> None:
    t, a, _ = trace([(30.0, 4.0)])
    counter = RepCounter()
    seen = []
    for tt, aa in zip(t, a, strict=True):
        counter.update(float(tt), float(aa))
        seen.append(counter.hold_elapsed(float(tt)))
    assert max(seen) == pytest.approx(4.0, abs=0.4)
    assert seen[-1] == 0.0
