"""Shared by the simulator's tests: exact-signal sessions (made once per exercise and side) and small
geometry helpers."""

from __future__ import annotations

import numpy as np

from firmware_bridge.simulator import ImuErrorModel, SimulatedSession, simulate_session
from imu_core.frames import Segment, Side

_SESSIONS: dict[tuple[str, Side], SimulatedSession] = {}


def ideal_session(exercise: str, side: Side) -> SimulatedSession:
    """One exact-signal session per exercise and side (seed 7), shared by the tests."""
    key = (exercise, side)
    if key not in _SESSIONS:
        _SESSIONS[key] = simulate_session(seed=7, side=side, exercise=exercise, errors=ImuErrorModel.ideal())
    return _SESSIONS[key]


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.asarray(np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0))))


def phase(sim: SimulatedSession, seg: Segment, start: str, end: str) -> np.ndarray:
    """Which of the segment's true sample times lie in the phase from marker `start` to marker `end`."""
    t = sim.true_sample_t[seg]
    t0, t1 = sim.recording.marker_time(start), sim.recording.marker_time(end)
    assert t0 is not None and t1 is not None
    return np.asarray((t >= t0) & (t < t1))
