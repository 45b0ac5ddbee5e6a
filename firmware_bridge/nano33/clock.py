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
        if self._bins and index < self._bins[-1][0]:
            # The device clock went backwards (a new stream, a reset): start again.
            self._bins.clear()
        if self._bins and self._bins[-1][0] == index:
            if residual < self._bins[-1][2]:
                self._bins[-1] = (index, device_s, residual)
        else:
            self._bins.append((index, device_s, residual))
        oldest = index - math.ceil(self.window_s / self.bin_s)
        while self._bins and self._bins[0][0] <= oldest:
            self._bins.popleft()
        self.updates += 1
        self._fit()

    def _fit(self) -> None:
        n = len(self._bins)
        ds = [b[1] for b in self._bins]
        rs = [b[2] for b in self._bins]
        mean_d = sum(ds) / n
        mean_r = sum(rs) / n
        sxx = sum((d - mean_d) ** 2 for d in ds)
        drift = 0.0
        if n >= 2 and sxx > 0.0:
            drift = sum((d - mean_d) * (r - mean_r) for d, r in zip(ds, rs, strict=True)) / sxx
            drift = min(self.max_drift, max(-self.max_drift, drift))
        self._ref = mean_d
        self._offset = mean_r
        self._drift = drift

    def to_host(self, device_s: float) -> float:
        """Host time of an event at device time `device_s`; the device time itself before any update."""
        if not self.ready:
            return device_s
        return device_s + self._offset + self._drift * (device_s - self._ref)
