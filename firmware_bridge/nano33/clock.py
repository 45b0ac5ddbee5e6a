"""Device clock -> host clock, from the receive times of notifications.

Every notification carries the device time of its samples; the host notes when it arrived. The
arrival is always *later* than the last sample in it by the BLE and OS delay, which is never negative
and mostly small, with a long tail (a connection event missed, a busy host). So the pairs
(device time, host receive time) lie on or above the line `host = device + offset + drift * device`,
and the points closest to that line are the lowest ones.

`DeviceClock` keeps, for each `bin_s` of device time, the pair with the smallest `host - device`
(the lower envelope), and fits a straight line through the last `window_s` of those minima by least
squares: the offset follows the device crystal's drift (tens of ppm, i.e. milliseconds per minute),
and the tail of late notifications has no effect on the fit. What it estimates is "device time +
offset + the smallest delay seen", so samples are stamped when they would have arrived at best:
every sensor gets the same kind of small constant lag, which is what matters for aligning two
sensors.
"""

from __future__ import annotations

import math
from collections import deque


class DeviceClock:
    """Running lower-envelope line fit of host receive time against device time (both in s)."""

    def __init__(self, window_s: float = 60.0, bin_s: float = 1.0, max_drift: float = 500e-6) -> None:
        if bin_s <= 0.0 or window_s < bin_s:
            raise ValueError("need 0 < bin_s <= window_s")
        self.window_s = window_s
        self.bin_s = bin_s
        self.max_drift = max_drift
        """Largest |drift| believed (crystals are tens of ppm off); a fit beyond is clamped."""
        self._bins: deque[tuple[int, float, float]] = deque()
        """(bin index, device s, host - device s) of each bin's lowest point, oldest first."""
        self._ref = 0.0
        self._offset = 0.0
        self._drift = 0.0
        self.updates = 0
        # Sums over the bins' points of (device - _ref_d), (residual - _ref_r), (device - _ref_d)**2 and
        # (device - _ref_d) * (residual - _ref_r), about the means of the last full fit: they let a new
        # lowest point in the newest bin refit in O(1), accurately (the deviations are small).
        self._ref_d = 0.0
        self._ref_r = 0.0
        self._sum_d = 0.0
        self._sum_r = 0.0
        self._sum_dd = 0.0
        self._sum_dr = 0.0

    @property
    def ready(self) -> bool:
        """At least one pair seen."""
        return self.updates > 0

    @property
    def offset(self) -> float:
        """host - device at device time `reference`, s."""
        return self._offset

    @property
    def reference(self) -> float:
        """Device time the offset refers to, s."""
        return self._ref

    @property
    def drift(self) -> float:
        """Host seconds gained per device second, minus 1 (e.g. 40e-6 = device crystal 40 ppm slow)."""
        return self._drift

    def update(self, device_s: float, host_s: float) -> None:
        """Add one pair: a notification whose newest sample has device time `device_s` arrived at `host_s`."""
        if not (math.isfinite(device_s) and math.isfinite(host_s)):
            return
        residual = host_s - device_s
        index = math.floor(device_s / self.bin_s)
        bins = self._bins
        self.updates += 1
        if bins:
            newest_index, newest_d, newest_r = bins[-1]
            if index == newest_index:
                # Most notifications change nothing (only a new lowest point in a bin moves the line), and a
                # new lowest point changes one term of the sums: refitting over every bin per notification
                # was most of the decoder's cost.
                if residual < newest_r:
                    bins[-1] = (index, device_s, residual)
                    self._refit_newest(newest_d, newest_r, device_s, residual)
                return
            if index < newest_index:
                # The device clock went backwards (a new stream, a reset): start again.
                bins.clear()
        bins.append((index, device_s, residual))
        oldest = index - math.ceil(self.window_s / self.bin_s)
        while bins and bins[0][0] <= oldest:
            bins.popleft()
        self._fit()

    def _fit(self) -> None:
        """The line through the bins' points, from scratch (about their means: accurate at any device time)."""
        n = len(self._bins)
        ds = [b[1] for b in self._bins]
        rs = [b[2] for b in self._bins]
        mean_d = sum(ds) / n
        mean_r = sum(rs) / n
        sxx = sum((d - mean_d) ** 2 for d in ds)
        sxy = sum((d - mean_d) * (r - mean_r) for d, r in zip(ds, rs, strict=True))
        self._ref_d, self._ref_r = mean_d, mean_r
        self._sum_d = self._sum_r = 0.0
        self._sum_dd, self._sum_dr = sxx, sxy
        self._set_line(n, mean_d, mean_r, sxx, sxy)

    def _refit_newest(self, old_d: float, old_r: float, new_d: float, new_r: float) -> None:
        """The newest bin's point (old_d, old_r) was replaced by (new_d, new_r): the same line as `_fit`
        gives, to float rounding, in O(1)."""
        ref_d, ref_r = self._ref_d, self._ref_r
        od, orr = old_d - ref_d, old_r - ref_r
        nd, nr = new_d - ref_d, new_r - ref_r
        sum_d = self._sum_d = self._sum_d + (nd - od)
        sum_r = self._sum_r = self._sum_r + (nr - orr)
        sum_dd = self._sum_dd = self._sum_dd + (nd * nd - od * od)
        sum_dr = self._sum_dr = self._sum_dr + (nd * nr - od * orr)
        n = len(self._bins)
        self._set_line(n, ref_d + sum_d / n, ref_r + sum_r / n, sum_dd - sum_d * sum_d / n, sum_dr - sum_d * sum_r / n)

    def _set_line(self, n: int, mean_d: float, mean_r: float, sxx: float, sxy: float) -> None:
        drift = 0.0
        if n >= 2 and sxx > 0.0:
            drift = min(self.max_drift, max(-self.max_drift, sxy / sxx))
        self._ref = mean_d
        self._offset = mean_r
        self._drift = drift

    def to_host(self, device_s: float) -> float:
        """Host time of an event at device time `device_s`; the device time itself before any update."""
        if self.updates == 0:  # not `ready`: this is called for every sample
            return device_s
        return device_s + self._offset + self._drift * (device_s - self._ref)
