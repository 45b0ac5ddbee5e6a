"""The result of analysing a session: reps, holds, compensations (recording-format.md, analysis v1)."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imu_core.types import JointAngles

ANALYSIS_FORMAT = "hiptrack-analysis/1"


@dataclass(frozen=True, slots=True)
class Rep:
    start: float
    """s, when the movement left the rest position"""
    peak: float
    """s, when the largest IR of the rep was reached"""
    end: float
    """s, when the movement was back at rest"""
    peak_ir_deg: float
    hold_s: float
    """time held at end range, s (0 if not held)"""


@dataclass(frozen=True, slots=True)
class Hold:
    start: float
    end: float
    mean_ir_deg: float


@dataclass(frozen=True, slots=True)
class Compensation:
    kind: str
    """thigh_drift | knee_flexion_change | too_fast | pelvis_motion (more may be added)"""
    start: float
    end: float
    rep: int | None
    """1-based number of the rep it belongs to, None if none"""


@dataclass(slots=True)
class AnalysisResult:
    exercise: str
    side: str
    max_ir_deg: float
    reps: list[Rep] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    compensations: list[Compensation] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        def r(x: float, nd: int = 3) -> float:
            return round(float(x), nd)

        return {
            "format": ANALYSIS_FORMAT,
            "exercise": self.exercise,
            "side": self.side,
            "max_ir_deg": r(self.max_ir_deg, 2) if math.isfinite(self.max_ir_deg) else None,
            "reps": [
                {"start": r(x.start), "peak": r(x.peak), "end": r(x.end),
                 "peak_ir_deg": r(x.peak_ir_deg, 2), "hold_s": r(x.hold_s, 2)}
                for x in self.reps
            ],
            "holds": [{"start": r(h.start), "end": r(h.end), "mean_ir_deg": r(h.mean_ir_deg, 2)}
                      for h in self.holds],
            "compensations": [{"kind": c.kind, "start": r(c.start), "end": r(c.end), "rep": c.rep}
                              for c in self.compensations],
        }

    @staticmethod
    def from_json_dict(d: dict[str, Any]) -> AnalysisResult:
        mx = d.get("max_ir_deg")
        return AnalysisResult(
            exercise=str(d["exercise"]),
            side=str(d["side"]),
            max_ir_deg=float("nan") if mx is None else float(mx),
            reps=[Rep(float(x["start"]), float(x["peak"]), float(x["end"]), float(x["peak_ir_deg"]),
                      float(x["hold_s"])) for x in d.get("reps", [])],
            holds=[Hold(float(h["start"]), float(h["end"]), float(h["mean_ir_deg"])) for h in d.get("holds", [])],
            compensations=[Compensation(str(c["kind"]), float(c["start"]), float(c["end"]),
                                        None if c.get("rep") is None else int(c["rep"]))
                           for c in d.get("compensations", [])],
        )

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json_dict(), indent=2) + "\n", encoding="utf-8")


def write_angles_csv(angles: JointAngles, path: Path) -> None:
    """`--angles` output: header t,hip_ir_deg,knee_flexion_deg, one row per output instant."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["t", "hip_ir_deg", "knee_flexion_deg"])
        for t, ir, kf in zip(angles.t, angles.hip_ir_deg, angles.knee_flexion_deg, strict=True):
            w.writerow([f"{t:.6f}", f"{ir:.3f}", f"{kf:.3f}"])
