"""The rep counter's angular speed: a block at once is what one instant at a time gives, bit for bit."""

import numpy as np
import pytest

from tracker.speed import SpeedWindow


def _stream(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Irregular times (lost samples, equal times) far from 0, and a wandering angle, deg."""
    steps = rng.choice([0.01, 0.005, 0.013, 0.03, 0.0], size=n, p=[0.6, 0.1, 0.1, 0.1, 0.1])
    return 1000.0 + np.cumsum(steps), np.cumsum(rng.normal(0.0, 0.5, n))


@pytest.mark.parametrize("window_s", [0.2, 0.05, 0.11])
def test_blocks_of_any_size_give_what_single_instants_give(window_s: float) -> None:
    rng = np.random.default_rng(int(window_s * 1000))
    for _ in range(50):
        t, angle = _stream(rng, int(rng.integers(1, 400)))
        one = SpeedWindow(window_s)
        single = np.array([one.push(a, b) for a, b in zip(t.tolist(), angle.tolist(), strict=True)])
        block = SpeedWindow(window_s)
        parts, i = [], 0
        while i < len(t):
            k = int(rng.integers(1, 60))
            parts.append(block.push_block(t[i:i + k], angle[i:i + k]))
            i += k
        np.testing.assert_array_equal(np.concatenate(parts), single)
        # and the two carry the same state on
        assert block.push(float(t[-1]) + 0.01, 3.0) == one.push(float(t[-1]) + 0.01, 3.0)


def _mean_halves_speed(t: np.ndarray, angle: np.ndarray, window_s: float) -> np.ndarray:
    """The definition written out: the window back to the newest instant at least window_s old (and at
    least the last two); mean angle of its newer half minus its older half, over the same for time."""
    out = np.zeros(len(t))
    for i in range(len(t)):
        j = 0
        while i - j > 1 and t[i] - t[j + 1] >= window_s:
            j += 1
        n = i - j + 1
        if n < 4:
            continue
        half = n // 2
        old, new = slice(j, j + half), slice(i - half + 1, i + 1)
        dt = t[new].mean() - t[old].mean()
        out[i] = (angle[new].mean() - angle[old].mean()) / dt if dt > 0 else 0.0
    return out


def test_speed_is_the_slope_between_the_window_halves() -> None:
    rng = np.random.default_rng(3)
    t, angle = _stream(rng, 3000)
    got = SpeedWindow(0.2).push_block(t, angle)
    np.testing.assert_allclose(got, _mean_halves_speed(t, angle, 0.2), rtol=1e-9, atol=1e-9)


def test_a_steady_turn_reads_its_rate_and_a_reset_forgets_the_past() -> None:
    w = SpeedWindow(0.2)
    t = np.arange(0.0, 2.0, 0.01)
    np.testing.assert_allclose(w.push_block(t, 30.0 * t)[4:], 30.0, rtol=1e-9)
    w.reset()
    assert [w.push(10.0 + 0.01 * k, 5.0) for k in range(3)] == [0.0, 0.0, 0.0]  # too few instants yet
