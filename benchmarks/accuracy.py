"""Accuracy benchmark: a seeded suite of simulated sessions, each exported as a recording folder and
run through `hiptrack analyze`, compared with the simulator's ground truth.

    .venv/bin/python benchmarks/accuracy.py [--seeds N]

Prints one row per (posture, error model): IR RMSE and knee flexion RMSE over the exercise phase, the
share of recordings whose rep count is exact, rep peak error (mean and 95th percentile of |error|),
hold time error (mean and 95th percentile of |error|) and rep start/end timing error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware_bridge.recording import write_recording
from firmware_bridge.simulator import ImuErrorModel, MagneticDisturbance, simulate_session, write_truth
from firmware_bridge.simulator.truth_measures import banded_hold_s
from imu_core.frames import Side
from imu_core.types import MarkerLabel
from tracker.cli import main as hiptrack

ERROR_MODELS: dict[str, ImuErrorModel] = {
    "ideal": ImuErrorModel.ideal(),
    "realistic": ImuErrorModel.realistic(),
    "soft-tissue": ImuErrorModel(sta_ir_fraction=0.3, sta_wobble_deg=0.5),
    "steel-chair": ImuErrorModel(magnetic_disturbance=MagneticDisturbance(dipole_moment_am2=(0.0, 0.0, 1.5))),
    "lossy-link": ImuErrorModel(packet_loss_probability=0.05),
}
POSTURES = {  # posture name -> the catalog exercise played in it
    "seated": "seated-ir",
    "prone": "prone-ir-test",
    "side-lying": "side-lying-ir",
    "90/90": "ninety-ninety-foot-lift",
}


@dataclass
class Case:
    posture: str
    model: str
    seed: int
    ir_rmse: float
    knee_rmse: float
    reps_exact: bool
    peak_err: list[float]
    hold_err: list[float]
    timing_err: list[float]


def run_case(posture: str, model: str, seed: int, workdir: Path) -> Case:
    side = Side.LEFT if seed % 2 == 0 else Side.RIGHT
    sim = simulate_session(seed=seed, side=side, errors=ERROR_MODELS[model], exercise=POSTURES[posture])
    folder = workdir / f"{POSTURES[posture]}-{model}-{seed}"
    write_recording(sim.recording, folder)
    write_truth(sim, folder)
    out_json, out_csv = folder / "analysis.json", folder / "angles.csv"
    with contextlib.redirect_stdout(io.StringIO()):
        code = hiptrack(["analyze", str(folder), "--json", str(out_json), "--angles", str(out_csv)])
    if code != 0:
        raise SystemExit(f"hiptrack analyze failed on {folder}")
    result = json.loads(out_json.read_text())
    angles = np.loadtxt(out_csv, delimiter=",", skiprows=1)
    t_ex = sim.recording.marker_time(MarkerLabel.EXERCISE_START) or 0.0
    t_end = sim.recording.marker_time(MarkerLabel.EXERCISE_END) or float("inf")
    sel = (angles[:, 0] >= t_ex) & (angles[:, 0] <= t_end)
    t = angles[sel, 0]
    ir_err = angles[sel, 1] - np.interp(t, sim.truth.t, sim.truth.hip_ir_deg)
    knee_err = angles[sel, 2] - np.interp(t, sim.truth.t, sim.truth.knee_flexion_deg)
    reps, truth = result["reps"], sim.truth_reps
    exact = len(reps) == len(truth)
    peak_err, hold_err, timing_err = [], [], []
    if exact:
        for r, tr in zip(reps, truth, strict=True):
            peak_err.append(abs(r["peak_ir_deg"] - tr.peak_ir_deg))
            hold_err.append(abs(r["hold_s"] - banded_hold_s(sim.script, tr)))
            timing_err += [abs(r["start"] - tr.start), abs(r["end"] - tr.end)]
    return Case(posture, model, seed, float(np.sqrt(np.mean(ir_err**2))), float(np.sqrt(np.mean(knee_err**2))),
                exact, peak_err, hold_err, timing_err)


def p95(x: list[float]) -> float:
    return float(np.percentile(x, 95)) if x else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=6, help="recordings per posture and error model (default 6)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cases: list[Case] = []
    with tempfile.TemporaryDirectory() as tmp:
        for posture in POSTURES:
            for model in ERROR_MODELS:
                for seed in range(args.seeds):
                    cases.append(run_case(posture, model, 1000 + seed, Path(tmp)))
    header = (f"{'posture':<8} {'errors':<12} {'n':>3} {'IR rmse':>8} {'knee rmse':>9} {'reps exact':>10} "
              f"{'peak err':>8} {'peak p95':>8} {'hold err':>8} {'hold p95':>8} {'start/end':>9}")
    print(header)
    print("-" * len(header))
    groups = [(p, m) for p in POSTURES for m in ERROR_MODELS] + [("all", "all")]
    for posture, model in groups:
        sel = [c for c in cases if (posture == "all" or c.posture == posture) and (model == "all" or c.model == model)]
        peaks = [e for c in sel for e in c.peak_err]
        holds = [e for c in sel for e in c.hold_err]
        timing = [e for c in sel for e in c.timing_err]
        print(f"{posture:<8} {model:<12} {len(sel):>3} "
              f"{np.sqrt(np.mean([c.ir_rmse**2 for c in sel])):>7.2f}° "
              f"{np.sqrt(np.mean([c.knee_rmse**2 for c in sel])):>8.2f}° "
              f"{np.mean([c.reps_exact for c in sel]):>10.0%} "
              f"{np.mean(peaks):>7.2f}° {p95(peaks):>7.2f}° {np.mean(holds):>7.2f}s {p95(holds):>7.2f}s "
              f"{np.mean(timing):>8.2f}s")
    worst = max(cases, key=lambda c: c.ir_rmse)
    print(f"\n{len(cases)} recordings in {time.perf_counter() - t0:.1f} s; worst IR rmse {worst.ir_rmse:.2f}° "
          f"({worst.posture}, {worst.model}, seed {worst.seed}). Errors are |measured - truth|; RMSE over the "
          "exercise phase; rep errors over recordings whose rep count is exact.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
