"""BROAD benchmark: orientation error of the project's filter, VQF and ahrs's Madgwick against optical truth.

    .venv/bin/python benchmarks/broad.py [--trials N] [--data DIR] [--remove-heading-offset]

Data: BROAD (Laidig, Caruso, Cereatti, Seel 2021, "BROAD—A Benchmark for Robust Inertial Orientation
Estimation", Data 6(7):72, doi:10.3390/data6070072, CC-BY 4.0), one `.mat` file per trial, by default
in `../shared/data/broad` beside the repository. Every trial is run, in the same process, through

- project: `imu_core.estimate_orientation(gyr, acc, mag, rate_hz)` (9D),
- vqf:     `vqf.VQF(1 / rate_hz).updateBatch(gyr, acc, mag)["quat9D"]` (online VQF, default parameters),
- madgwick: `imu_core.filters.MadgwickFilter(rate_hz, use_mag=True)`, which runs ahrs's
  `ahrs.filters.Madgwick.updateMARG` sample by sample with ahrs's default gain (0.041) after a start
  orientation from the first sample's gravity and field. ahrs's quaternion is sensor-to-earth with a
  north-west-up earth frame (+z up along the accelerometer, +x toward the horizontal magnetic field), so the
  filter returns q_enu = about_z(+90°) * q_nwu. With ahrs 0.4 this equals `Madgwick(gyr=..., acc=...,
  mag=..., frequency=rate_hz).Q` turned the same way (tests/test_broad.py checks that).

Metric, BROAD's own (the authors' `example_code/broad_utils.py` in github.com/dlaidig/broad, which the
trials' `opt_quat` is aligned for: sensor-to-ENU, the optical frame already turned onto the IMU's
magnetic ENU frame, marker-to-IMU mounting already removed):

- error quaternion in the earth frame: e = q_imu * conj(q_opt) (Hamilton product, both normalised);
- total error       = angle of e = 2 * acos(|e_w|);
- heading error     = |twist of e about earth z| = |2 * atan2(e_z, e_w)| wrapped to [0°, 180°]
                      (equal to BROAD's 2 * atan(|e_z / e_w|));
- inclination error = angle of the swing of e (how far e tilts the vertical) = 2 * acos(sqrt(e_w² + e_z²));
- each is an RMSE over the samples with `movement` true and a finite `opt_quat` (BROAD skips the NaN rows
  of lost optical tracking with nanmean), in degrees; the summary row is the plain mean over trials.

With `--remove-heading-offset` (not BROAD's metric; for a filter whose heading reference is not magnetic
north), e is first turned by the trial's constant mean heading error: e' = e * about_z(-h), h being the
circular mean of e's heading twist over the evaluated samples, i.e. q_opt is rotated about the vertical by
h. That sets the heading and total errors of a constant frame misalignment to zero; inclination is unchanged.

Time per sample is measured around each method's call on each trial (time.perf_counter, data already in
memory), divided by the trial's samples; the summary gives total time over total samples.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from vqf import VQF

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imu_core import estimate_orientation
from imu_core import quaternion as Q
from imu_core.filters import MadgwickFilter

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "broad"
EARTH_Z = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True, slots=True)
class Trial:
    name: str
    gyr: np.ndarray
    """(N, 3) rad/s."""
    acc: np.ndarray
    """(N, 3) m/s²."""
    mag: np.ndarray
    """(N, 3) µT."""
    opt_quat: np.ndarray
    """(N, 4) w, x, y, z sensor-to-ENU from optical tracking; NaN rows where tracking was lost."""
    movement: np.ndarray
    """(N,) bool, the samples BROAD evaluates."""
    rate_hz: float


@dataclass(frozen=True, slots=True)
class BroadErrors:
    """RMSE (degrees) over the evaluated samples of one trial."""

    total_deg: float
    heading_deg: float
    inclination_deg: float
    samples: int


def load_trial(path: Path) -> Trial:
    d = scipy.io.loadmat(str(path))
    return Trial(
        name=path.stem,
        gyr=np.ascontiguousarray(d["imu_gyr"], dtype=float),
        acc=np.ascontiguousarray(d["imu_acc"], dtype=float),
        mag=np.ascontiguousarray(d["imu_mag"], dtype=float),
        opt_quat=np.asarray(d["opt_quat"], dtype=float),
        movement=np.asarray(d["movement"]).reshape(-1).astype(bool),
        rate_hz=float(np.asarray(d["sampling_rate"]).item()),
    )


def trial_paths(data: Path) -> list[Path]:
    """The trials' .mat files in `data`, sorted by name; exits with a one-line message if there are none."""
    paths = sorted(data.glob("*.mat")) if data.is_dir() else []
    if not paths:
        raise SystemExit(f"BROAD data not found: no .mat trials in {data} (pass --data DIR)")
    return paths


def error_quaternions(q_imu: np.ndarray, q_opt: np.ndarray, movement: np.ndarray,
                      remove_heading_offset: bool = False) -> np.ndarray:
    """e = q_imu * conj(q_opt) at the samples BROAD evaluates (movement and finite q_opt), (M, 4).

    With remove_heading_offset, e is turned about earth z by minus its circular-mean heading twist.
    """
    valid = np.asarray(movement, dtype=bool) & np.all(np.isfinite(q_opt), axis=1)
    e = Q.normalize(Q.multiply(Q.normalize(q_imu[valid]), Q.conjugate(Q.normalize(q_opt[valid]))))
    if remove_heading_offset and len(e):
        h = Q.heading(e)
        mean_heading = float(np.arctan2(np.mean(np.sin(h)), np.mean(np.cos(h))))
        e = Q.multiply(e, Q.about_z(-mean_heading))
    return e


def broad_errors(q_imu: np.ndarray, q_opt: np.ndarray, movement: np.ndarray,
                 remove_heading_offset: bool = False) -> BroadErrors:
    """BROAD's total, heading and inclination RMSE (degrees); see the module docstring."""
    e = error_quaternions(q_imu, q_opt, movement, remove_heading_offset)
    if not len(e):
        nan = float("nan")
        return BroadErrors(nan, nan, nan, 0)

    def rmse_deg(x: np.ndarray) -> float:
        return float(np.degrees(np.sqrt(np.mean(np.square(x)))))

    return BroadErrors(
        total_deg=rmse_deg(Q.angle(e)),
        heading_deg=rmse_deg(Q.heading(e)),
        inclination_deg=rmse_deg(Q.swing_angle(e, EARTH_Z)),
        samples=len(e),
    )


def run_project(t: Trial) -> np.ndarray:
    return estimate_orientation(t.gyr, t.acc, t.mag, t.rate_hz)


def run_vqf(t: Trial) -> np.ndarray:
    return np.asarray(VQF(1.0 / t.rate_hz).updateBatch(t.gyr, t.acc, t.mag)["quat9D"])


def run_madgwick(t: Trial) -> np.ndarray:
    return MadgwickFilter(t.rate_hz, use_mag=True).update(t.gyr, t.acc, t.mag)


METHODS: dict[str, Callable[[Trial], np.ndarray]] = {
    "project": run_project,
    "vqf": run_vqf,
    "madgwick": run_madgwick,
}


@dataclass(frozen=True, slots=True)
class Result:
    errors: BroadErrors
    seconds: float
    samples: int

    @property
    def us_per_sample(self) -> float:
        return 1e6 * self.seconds / self.samples


def run_method(fn: Callable[[Trial], np.ndarray], t: Trial, remove_heading_offset: bool) -> Result:
    t0 = time.perf_counter()
    q = fn(t)
    seconds = time.perf_counter() - t0
    return Result(broad_errors(q, t.opt_quat, t.movement, remove_heading_offset), seconds, len(t.gyr))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=None, help="run only the first N trials (default: all)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help=f"folder of BROAD .mat trials (default {DEFAULT_DATA})")
    ap.add_argument("--remove-heading-offset", action="store_true",
                    help="remove each trial's mean heading error first (not BROAD's metric)")
    args = ap.parse_args(argv)
    if args.trials is not None and args.trials < 1:
        ap.error("--trials must be at least 1")
    paths = trial_paths(args.data.resolve())[: args.trials]

    names = list(METHODS)
    cell = f"{'tot':>6} {'head':>6} {'incl':>6} {'us/s':>6}"
    header = f"{'trial':<42} " + " | ".join(cell for _ in names)
    print(f"{'':<42} " + " | ".join(f"{n:^{len(cell)}}" for n in names))
    print(header)
    print("-" * len(header))
    rows: list[dict[str, Result]] = []
    t_start = time.perf_counter()
    for path in paths:
        trial = load_trial(path)
        row = {n: run_method(fn, trial, args.remove_heading_offset) for n, fn in METHODS.items()}
        rows.append(row)
        print(f"{trial.name[:42]:<42} " + " | ".join(
            f"{r.errors.total_deg:6.2f} {r.errors.heading_deg:6.2f} {r.errors.inclination_deg:6.2f} "
            f"{r.us_per_sample:6.2f}" for r in row.values()), flush=True)
    print("-" * len(header))

    def mean_of(n: str, attr: str) -> float:
        return float(np.mean([getattr(row[n].errors, attr) for row in rows]))

    def us_overall(n: str) -> float:
        return 1e6 * sum(row[n].seconds for row in rows) / sum(row[n].samples for row in rows)

    print(f"{f'mean over {len(rows)} trials':<42} " + " | ".join(
        f"{mean_of(n, 'total_deg'):6.2f} {mean_of(n, 'heading_deg'):6.2f} {mean_of(n, 'inclination_deg'):6.2f} "
        f"{us_overall(n):6.2f}" for n in names))
    ratio = float(np.mean([row["project"].errors.total_deg / row["vqf"].errors.total_deg for row in rows]))
    metric = "mean heading offset removed per trial (not BROAD's metric)" if args.remove_heading_offset else \
        "BROAD's metric, no offset removed"
    print(f"\nmean over trials of project total RMSE / vqf total RMSE: {ratio:.4f}")
    print(f"{len(rows)} trials, {sum(row['vqf'].samples for row in rows)} samples, "
          f"{time.perf_counter() - t_start:.1f} s.\nRMSE in degrees over movement samples with valid optical "
          f"truth ({metric}); us/s = measured microseconds per sample.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
