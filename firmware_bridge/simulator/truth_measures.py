"""What the tracker's measures should read on a simulated session, from the script's exact angles.

The tracker times a hold as the time the angle stays within a tolerance band of the plateau's level
(tracker/reps.py), and a stretch as the time at or beyond a target (tracker/stretch.py). A commanded
plateau is not observable as such: a smooth approach is within a fraction of a degree of end range
well before the plateau begins. So the truth of each measure is the same definition applied to the
true angle, and the benchmark compares like with like.
"""

from __future__ import annotations

import numpy as np

from firmware_bridge.simulator.script import ExerciseScript, TrueRep

GRID_S = 0.002
"""Time step of the truth evaluation, s."""


def banded_hold_s(script: ExerciseScript, rep: TrueRep, tolerance_deg: float = 1.0,
                  sign: float = 1.0) -> float:
    """Time the true angle (sign * IR) stays within tolerance_deg of its plateau level around the peak, s."""
    t = np.arange(rep.start, rep.end, GRID_S)
    if len(t) < 2:
        return 0.0
    angle = sign * script.hip_ir_deg(t)
    k = int(np.argmax(angle))
    plateau = angle >= angle[k] - 0.5
    level = float(angle[plateau].mean())
    inside = angle >= level - max(tolerance_deg, 2.0 * float(angle[plateau].std()))
    first = k
    while first > 0 and inside[first - 1]:
        first -= 1
    last = k
    while last < len(t) - 1 and inside[last + 1]:
        last += 1
    return float(t[last] - t[first])


def time_at_or_beyond_s(script: ExerciseScript, t0: float, t1: float, target_deg: float,
                        sign: float = 1.0) -> float:
    """Time in [t0, t1] the true measure (sign * IR) is at or beyond target_deg, s."""
    t = np.arange(t0, t1, GRID_S)
    return float(np.count_nonzero(sign * script.hip_ir_deg(t) >= target_deg) * GRID_S)
