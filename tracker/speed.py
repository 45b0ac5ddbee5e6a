"""Angular speed of a stream of angles over a short trailing window, one instant or a whole block at once.

The speed at an instant is the mean angle of the newer half of the window minus that of the older half,
over the same difference of mean times: robust to tremor and sensor noise, and it lags by half the
window at both ends of a hold, so hold durations are not shortened. The window holds the newest
instants back to the newest one at least `window_s` old (and always the last two).

Window sums come from running (prefix) sums, so one instant costs the same however long the window, and
a block of instants is a few numpy operations. A block and the same instants pushed one at a time give
identical results, bit for bit: the prefix sums are accumulated in the same order either way (tested).
"""

from __future__ import annotations

from collections import deque

import numpy as np

_FEW = 16
"""Blocks up to this long go through `push` one instant at a time (numpy's set-up costs more there)."""


class SpeedWindow:
    """Trailing-window speed of one angle, deg/s; state carried across pushes, cleared by `reset`."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        """Length of the trailing window, s."""
        self._origin_s = 0.0
        """Times enter the sums relative to the first instant since the reset, so they stay small."""
        self._entries: deque[tuple[float, float, float]] = deque()
        """The instants in the window: (t s, sum of relative times before it, sum of angles before it)."""
        self._sum_t = 0.0
        self._sum_angle = 0.0

    def reset(self) -> None:
        self._entries.clear()
        self._sum_t = self._sum_angle = 0.0

    def push(self, t: float, angle_deg: float) -> float:
        """Add one instant (t s, angle deg); its speed, deg/s (0 until the window has 4 instants)."""
        w = self._entries
        if not w:
            self._origin_s = t
        w.append((t, self._sum_t, self._sum_angle))
        self._sum_t += t - self._origin_s
        self._sum_angle += angle_deg
        while len(w) > 2 and t - w[1][0] >= self.window_s:
            w.popleft()
        n = len(w)
        if n < 4:
            return 0.0
        half = n // 2
        first, mid, late = w[0], w[half], w[n - half]
        dt = ((self._sum_t - late[1]) - (mid[1] - first[1])) / half
        da = ((self._sum_angle - late[2]) - (mid[2] - first[2])) / half
        return da / dt if dt > 0 else 0.0

    def push_block(self, t: np.ndarray, angle_deg: np.ndarray) -> np.ndarray:
        """Add instants (N,) in time order; their speeds (N,), deg/s, as `push` one by one gives them."""
        n_new = len(t)
        if n_new <= _FEW:
            push = self.push
            return np.array([push(a, b) for a, b in zip(t.tolist(), angle_deg.tolist(), strict=True)], dtype=float)
        w = self._entries
        if not w:
            self._origin_s = float(t[0])
        carried = len(w)
        times = np.concatenate([np.fromiter((e[0] for e in w), float, carried), t])
        # prefix sums before each instant, then the total after the last: accumulated in push's order
        sum_t = np.concatenate([np.fromiter((e[1] for e in w), float, carried),
                                np.cumsum(np.concatenate([[self._sum_t], t - self._origin_s]))])
        sum_a = np.concatenate([np.fromiter((e[2] for e in w), float, carried),
                                np.cumsum(np.concatenate([[self._sum_angle], angle_deg]))])
        now = np.arange(carried, carried + n_new)
        start = self._window_starts(times, now)
        n = now - start + 1
        half = n // 2
        late = now - half + 1
        with np.errstate(divide="ignore", invalid="ignore"):  # where the window is too short to use
            dt = ((sum_t[now + 1] - sum_t[late]) - (sum_t[start + half] - sum_t[start])) / half
            da = ((sum_a[now + 1] - sum_a[late]) - (sum_a[start + half] - sum_a[start])) / half
            speed: np.ndarray = np.where((n >= 4) & (dt > 0), da / dt, 0.0)
        keep = int(start[-1])
        self._entries = deque(zip(times[keep:].tolist(), sum_t[keep:-1].tolist(), sum_a[keep:-1].tolist(),
                                  strict=True))
        self._sum_t, self._sum_angle = float(sum_t[-1]), float(sum_a[-1])
        return speed

    def _window_starts(self, times: np.ndarray, now: np.ndarray) -> np.ndarray:
        """Index of the oldest instant in the window of each instant `now`: the first k with
        k >= now - 1 or times[now] - times[k + 1] < window_s (what push's popping leaves; that test is
        monotonic in k, so the first such k is found by a search, then settled on push's own arithmetic)."""
        t_now = times[now]

        def inside(k: np.ndarray) -> np.ndarray:
            nxt = np.minimum(k + 1, len(times) - 1)
            ok: np.ndarray = (k >= now - 1) | (t_now - times[nxt] < self.window_s)
            return ok

        k: np.ndarray = np.maximum(np.minimum(np.searchsorted(times, t_now - self.window_s, side="right") - 1,
                                              now - 1), 0)
        while not (ok := inside(k)).all():
            k = np.where(ok, k, k + 1)
        while True:
            earlier = np.maximum(k - 1, 0)
            step = (k > 0) & inside(earlier)
            if not step.any():
                return k
            k = np.where(step, earlier, k)
