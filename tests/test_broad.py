"""BROAD metric (benchmarks/broad.py) on synthetic errors, and the project's filter on real BROAD trials."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from imu_core import estimate_orientation
from imu_core import quaternion as Q
from imu_core.filters import NWU_TO_ENU, MadgwickFilter, OrientationFilter


def _load_benchmark() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "broad.py"
    spec = importlib.util.spec_from_file_location("broad_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


broad = _load_benchmark()

UNDISTURBED = ("02_undisturbed_slow_rotation_B", "09_undisturbed_fast_rotation_with_breaks_B",
               "16_undisturbed_fast_translation_B")


@cache
def _trial(name: str) -> Any:
    path = broad.DEFAULT_DATA / f"{name}.mat"
    if not path.exists():
        pytest.skip(f"BROAD data not found at {path}")
    return broad.load_trial(path)


def _random_orientations(n: int, seed: int = 0) -> np.ndarray:
    return Q.normalize(np.random.default_rng(seed).normal(size=(n, 4)))


# ---- the metric on synthetic quaternions ------------------------------------------------------------

def test_identical_orientations_have_no_error() -> None:
    q = _random_orientations(200)
    err = broad.broad_errors(q, -q, np.ones(200, bool))  # -q is the same rotation
    assert err.total_deg == pytest.approx(0.0, abs=1e-6)
    assert err.heading_deg == pytest.approx(0.0, abs=1e-6)
    assert err.inclination_deg == pytest.approx(0.0, abs=1e-6)


def test_constant_heading_offset_is_heading_error_or_removed() -> None:
    q_opt = _random_orientations(300, seed=1)
    q_imu = Q.multiply(Q.about_z(np.radians(7.0)), q_opt)  # earth frame turned 7 deg about the vertical
    err = broad.broad_errors(q_imu, q_opt, np.ones(300, bool))
    assert err.heading_deg == pytest.approx(7.0, abs=1e-6)
    assert err.total_deg == pytest.approx(7.0, abs=1e-6)
    assert err.inclination_deg == pytest.approx(0.0, abs=1e-5)
    removed = broad.broad_errors(q_imu, q_opt, np.ones(300, bool), remove_heading_offset=True)
    assert removed.total_deg == pytest.approx(0.0, abs=1e-6)
    assert removed.heading_deg == pytest.approx(0.0, abs=1e-6)


def test_known_tilt_is_inclination_error() -> None:
    q_opt = _random_orientations(300, seed=2)
    tilt = Q.from_axis_angle(np.array([1.0, 1.0, 0.0]), np.radians(4.0))  # about a horizontal axis
    err = broad.broad_errors(Q.multiply(tilt, q_opt), q_opt, np.ones(300, bool), remove_heading_offset=True)
    assert err.inclination_deg == pytest.approx(4.0, abs=1e-5)
    assert err.heading_deg == pytest.approx(0.0, abs=1e-6)
    assert err.total_deg == pytest.approx(4.0, abs=1e-6)


def test_tilt_and_heading_separate_and_only_valid_movement_samples_count() -> None:
    n = 400
    q_opt = _random_orientations(n, seed=3)
    e = Q.multiply(Q.from_axis_angle(np.array([0.0, 1.0, 0.0]), np.radians(3.0)), Q.about_z(np.radians(-10.0)))
    q_imu = Q.multiply(e, q_opt)
    movement = np.arange(n) % 2 == 0
    q_imu[1::2] = Q.IDENTITY  # wrong, but outside the movement phase
    q_opt[::10] = np.nan  # lost optical tracking
    err = broad.broad_errors(q_imu, q_opt, movement)
    assert err.samples == n // 2 - n // 10
    assert err.heading_deg == pytest.approx(10.0, abs=1e-6)
    assert err.inclination_deg == pytest.approx(3.0, abs=1e-5)
    assert err.total_deg == pytest.approx(np.degrees(Q.angle(e)), abs=1e-6)


# ---- real trials --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", UNDISTURBED)
def test_project_filter_on_undisturbed_trials(name: str) -> None:
    t = _trial(name)
    project = broad.broad_errors(estimate_orientation(t.gyr, t.acc, t.mag, t.rate_hz), t.opt_quat, t.movement)
    vqf = broad.broad_errors(broad.run_vqf(t), t.opt_quat, t.movement)
    assert project.samples > 0.4 * len(t.gyr)
    assert project.total_deg < 3.0
    assert project.inclination_deg < 1.5
    # the whole-recording estimate is never worse than the online filter on these trials
    assert project.total_deg <= vqf.total_deg + 0.05
    causal = broad.broad_errors(estimate_orientation(t.gyr, t.acc, t.mag, t.rate_hz, causal=True),
                                t.opt_quat, t.movement)
    assert causal.total_deg == pytest.approx(vqf.total_deg, abs=0.01)


def test_madgwick_filter_is_ahrs_madgwick_in_enu_and_plausible() -> None:
    t = _trial(UNDISTURBED[0])
    n = int(60 * t.rate_hz)  # movement starts after about 40 s
    gyr, acc, mag = t.gyr[:n], t.acc[:n], t.mag[:n]
    filt = MadgwickFilter(t.rate_hz, use_mag=True)
    thirds = np.array_split(np.arange(n), 3)  # fed in pieces, as a live stream would
    q = np.concatenate([filt.update(gyr[i], acc[i], mag[i]) for i in thirds])
    err = broad.broad_errors(q, t.opt_quat[:n], t.movement[:n])
    assert err.samples > 10 * t.rate_hz
    assert err.total_deg < 5.0
    assert err.inclination_deg < 2.0

    ahrs = pytest.importorskip("ahrs")
    if tuple(int(x) for x in ahrs.__version__.split(".")[:2]) < (0, 4):
        pytest.skip("ahrs < 0.4 starts its batch mode from another orientation")
    m = int(5 * t.rate_hz)
    batch = ahrs.filters.Madgwick(gyr=gyr[:m], acc=acc[:m], mag=mag[:m], frequency=t.rate_hz).Q
    np.testing.assert_allclose(Q.canonical(q[:m]), Q.canonical(Q.multiply(NWU_TO_ENU, batch)), atol=1e-9)


def test_madgwick_filter_state_and_gyro_bias() -> None:
    rate = 100.0
    n = 300
    rng = np.random.default_rng(4)
    gyr = np.tile([0.0, 0.0, 0.5], (n, 1)) + rng.normal(scale=0.01, size=(n, 3))
    acc = np.tile([0.0, 0.0, 9.81], (n, 1))
    mag = Q.rotate(Q.about_z(-0.5 * np.arange(n) / rate), np.array([0.0, 20.0, -40.0]))  # turning sensor
    filt: OrientationFilter = MadgwickFilter(rate, use_mag=True)
    first = filt.update(gyr[:100], acc[:100], mag[:100])
    state = filt.get_state()
    rest = filt.update(gyr[100:], acc[100:], mag[100:])
    filt.set_state(state)
    np.testing.assert_allclose(filt.update(gyr[100:], acc[100:], mag[100:]), rest)
    assert np.degrees(Q.angle(Q.multiply(rest[-1], Q.conjugate(Q.about_z(0.5 * (n - 1) / rate))))) < 2.0

    bias = np.array([0.02, -0.01, 0.03])
    biased = MadgwickFilter(rate, use_mag=True)
    biased.set_gyro_bias(bias)
    np.testing.assert_allclose(biased.update(gyr + bias, acc, mag), np.concatenate([first, rest]), atol=1e-12)
