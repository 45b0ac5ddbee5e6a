"""Lost samples must not be lost rotation."""

import itertools

import numpy as np

from imu_core import quaternion as Q
from imu_core.filters import VqfFilter
from imu_core.gaps import GapBridgingFilter, GapParams, missing_counts

RATE = 100.0


def spin(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sensor turning about the vertical at 90 deg/s, level: gravity only on z."""
    t = np.arange(n) / RATE
    gyr = np.tile([0.0, 0.0, np.radians(90.0)], (n, 1))
    acc = np.tile([0.0, 0.0, 9.81], (n, 1))
    return t, gyr, acc


def test_missing_counts_from_steps() -> None:
    dt = np.array([0.01, 0.0102, 0.03, 0.05, 0.9])
    np.testing.assert_array_equal(missing_counts(dt, RATE, GapParams()), [0, 0, 2, 4, 0])


def test_bridged_gaps_keep_the_heading_and_are_counted() -> None:
    t, gyr, acc = spin(400)
    keep = np.ones(400, dtype=bool)
    keep[[50, 51, 52, 200, 300, 301]] = False
    bridged = GapBridgingFilter(VqfFilter(RATE), RATE)
    q = bridged.update(t[keep], gyr[keep], acc[keep])
    heading_deg = np.degrees(np.unwrap(Q.heading(q)))
    expected = 90.0 * t[keep] + heading_deg[0]
    assert np.max(np.abs(heading_deg - expected)) < 0.5
    assert bridged.samples_bridged == 6 and bridged.gaps == 3

    naive = VqfFilter(RATE).update(gyr[keep], acc[keep])
    naive_deg = np.degrees(np.unwrap(Q.heading(naive)))
    assert abs(naive_deg[-1] - expected[-1]) > 4.0  # what the bridge prevents: 6 samples * 0.9 deg


def test_same_result_fed_in_pieces() -> None:
    t, gyr, acc = spin(300)
    keep = np.ones(300, dtype=bool)
    keep[[99, 100, 101, 150]] = False
    t, gyr, acc = t[keep], gyr[keep], acc[keep]
    whole = GapBridgingFilter(VqfFilter(RATE), RATE).update(t, gyr, acc)
    pieces = GapBridgingFilter(VqfFilter(RATE), RATE)
    cut = [0, 98, 99, 149, 296]
    parts = [pieces.update(t[a:b], gyr[a:b], acc[a:b]) for a, b in itertools.pairwise(cut)]
    np.testing.assert_allclose(np.vstack(parts), whole, atol=1e-12)
