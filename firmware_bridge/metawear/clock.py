"""Sample instants for MetaWear streams, which carry no timestamps, from arrival times and the rate.

What the board gives us (notes §3.1, §4): a raw notification holds one sample, a packed one three,
with no timestamp and no counter; the SDK itself stamps them with the host's arrival time. The only
facts to build on are the configured output data rate (ODR), the order of arrival and the arrival
times. Everything below is hiptrack's own method, not MbientLab's.

* **Sample grid.** The accelerometer and the gyro are one Bosch chip (BMI160/BMI270) at one ODR, so
  one grid of sample instants serves both, ``index * period``. Each stream (a *channel*) counts its
  samples; where its first sample sits on the grid is found from the first ``warmup_s`` of arrivals
  (the two streams are started by separate commands, so one may start a sample or two after the
  other). That acc and gyro at one ODR sample at the same instants is an assumption (same chip);
  the notes do not state it.
* **Timestamps: a lower envelope.** A notification arrives after its newest sample was taken, by
  the BLE and OS delay: never negative, mostly small, with a long tail. Against the grid index of
  its newest sample, arrivals lie on or above a line ``host = t0 + index * period * (1 + rate
  error)``. `LowerEnvelope` keeps the lowest arrival per ``bin_s`` of grid time over ``window_s`` and
  puts a line under them: its slope is that of the lower convex hull at the middle of the window
  (the board's oscillator is off its nominal rate by a fraction of a percent), the line touching the
  lowest point. A sample's host time is that line at its index: when it would have arrived at best.
  A least-squares line through the bin minima is *not* used: with several notifications per
  connection event the newest sample's delay (its phase against the events) slides slowly, and a
  fit through the minima mistakes that for a rate error.
* **Losses: steps in lateness.** A lost notification shows only as time: every later arrival of
  that channel is one notification period later than before. Lateness is measured against a
  *local floor* (the lowest rate-corrected arrival of the notifications released in the last
  ``local_s``, all channels), not against the long-term line, because against the line the phase
  just described looks like a loss. A notification later than ``tolerance`` notification periods
  is held back with everything after it on its channel, until one arrives on time again (a delay: a
  missed connection event, a busy host) or the held ones span ``settle_s`` after the last pause in
  arrivals. Then the step is measured on the plateau (the second half of that span) in whole
  notifications, and decided:

  - a channel that is behind the other channel(s) by k notifications lost k (a dropped
    notification hits one channel; both ride the same connection events, so this comparison is
    immune to the phase);
  - a step of exactly one notification in every channel at once, without a pause in arrivals, is
    the phase wrapping (a slow oscillator makes the newest sample's delay ramp down and jump up by
    one notification period: from arrival times alone that is *identical* to losing one
    notification per beat), so it is not a loss;
  - a common step after a pause (a stall: nothing arrived for 2.5 connection intervals) is a loss,
    counted against the long-term line (whole notifications below the plateau), because the phase
    has moved during the pause;
  - the gap goes after the last held notification clearly below the plateau and the burst above it
    (queued during a stall: a board whose transmit queue fills drops the newest), before the first
    one on the plateau.

How exact that can be, plainly (measured on synthetic arrivals: 1-50 ms connection intervals,
oscillator errors up to ±1 %, exponential OS jitter up to 3 ms mean, single drops, stalls up to 1 s
that overflow a 12-notification queue, host delay spikes; see tests/test_metawear_driver.py):

* Timestamps are the arrival envelope, not the sampling instants: every sample carries the link's
  smallest delay (the same for acc and gyro; for two sensors on one adapter, similar). Jitter is
  removed, a constant lag is not. After the rate is fitted (``min_fit_span_s`` = 2 s) timestamps are
  within about one connection interval of the sampling instants (p99 over the runs above: 7 ms
  typical, 18 ms worst); in the first 2 s the rate is taken as nominal, so they drift by the
  oscillator error (up to 16 ms at 0.8 %).
* Without batching (one notification per connection event) timestamps and loss counts are exact.
* With batching, single dropped notifications are counted exactly. A stall is counted to within
  one notification (3 samples when packed). Two single drops in *different* channels within
  ``settle_s`` of each other look like a phase wrap and are missed. A count that is one notification
  off makes the following timestamps one notification period off, in both channels alike (so acc
  and gyro stay paired), until the envelope window has moved past it.
* Around a drop, acc and gyro are paired wrongly for at most the samples held while it is resolved
  (at most ``settle_s``; typically a few dozen samples). A delay cannot be told from a loss on one
  notification, only by what follows: after a suspected loss, samples are held back for up to
  ``settle_s`` (0.5 s); otherwise nothing is held back.

`SampleAssembler` pairs the accelerometer and gyro samples with the same grid index into
`ImuSample`s (at that index's time), adds the magnetometer (its own chip and rate; the newest
magnetometer reading that had *arrived* when the sample's notification arrived, i.e. repeated until
the next one, at most one magnetometer period plus one connection interval old; None if the
magnetometer has been silent for ``mag_stale_s``), and reports every grid index that produced no
complete sample as lost, in `SensorGap`s.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from firmware_bridge.ble.sensor import SensorGap
from imu_core.frames import Segment
from imu_core.types import ImuSample

T = TypeVar("T")
Vec = tuple[float, float, float]


class LowerEnvelope:
    """Line under the (grid index, arrival time) points: see the module docstring."""

    def __init__(self, period_s: float, *, bin_s: float = 0.5, window_s: float = 10.0, min_fit_span_s: float = 2.0,
                 max_rate_error: float = 0.03, unfitted_rate_uncertainty: float = 0.01,
                 fitted_rate_uncertainty: float = 0.001) -> None:
        if period_s <= 0.0 or bin_s <= 0.0 or window_s < bin_s:
            raise ValueError("need period_s > 0 and 0 < bin_s <= window_s")
        self.nominal_period = period_s
        self.bin_s = bin_s
        self.window_bins = math.ceil(window_s / bin_s)
        self.min_fit_span_s = min_fit_span_s
        self.max_rate_error = max_rate_error
        self.unfitted_rate_uncertainty = unfitted_rate_uncertainty
        self.fitted_rate_uncertainty = fitted_rate_uncertainty
        self._bins: dict[int, tuple[float, float]] = {}
        """bin -> (grid time x, arrival - x) of its lowest point."""
        self._slope = 0.0
        self._fitted = False
        self._xref = 0.0
        self._c = 0.0
        self._anchor_x = 0.0

    @property
    def ready(self) -> bool:
        return bool(self._bins)

    @property
    def period(self) -> float:
        """Estimated sample period on the host clock, s."""
        return self.nominal_period * (1.0 + self._slope)

    @property
    def rate_error(self) -> float:
        """Estimated (host period / nominal period) - 1."""
        return self._slope

    def add(self, index: int, arrival: float) -> None:
        x = index * self.nominal_period
        r = arrival - x
        key = math.floor(x / self.bin_s)
        if self._bins and key <= max(self._bins) - self.window_bins:
            return  # older than the window
        current = self._bins.get(key)
        if current is not None and current[1] <= r:
            return
        self._bins[key] = (x, r)
        newest = max(self._bins)
        for old in [k for k in self._bins if k <= newest - self.window_bins]:
            del self._bins[old]
        self._fit()

    def _fit(self) -> None:
        points = [self._bins[k] for k in sorted(self._bins)]
        xs = [p[0] for p in points]
        slope = 0.0
        self._fitted = len(points) >= 3 and xs[-1] - xs[0] >= self.min_fit_span_s
        if self._fitted:
            slope = _hull_slope(points, sum(xs) / len(xs))
            slope = min(self.max_rate_error, max(-self.max_rate_error, slope))
        self._slope = slope
        self._xref = xs[-1]
        offsets = [r - slope * (x - self._xref) for x, r in points]
        self._c = min(offsets)
        # Where the line touches (the newest such point): extrapolation error grows from there.
        self._anchor_x = max(x for (x, _), o in zip(points, offsets, strict=True) if o <= self._c)

    def time(self, index: int) -> float:
        """Host time of grid index `index` (its arrival time at best)."""
        x = index * self.nominal_period
        return x + self._c + self._slope * (x - self._xref)

    @property
    def rate_uncertainty(self) -> float:
        """How far the fitted rate may be off (1 % before a slope is fitted, then 0.1 %)."""
        return self.fitted_rate_uncertainty if self._fitted else self.unfitted_rate_uncertainty

    @property
    def level(self) -> float:
        """The line in detrended terms: arrival - x - rate_error * x on the line, s."""
        return self._c - self._slope * self._xref

    def allowance(self, index: int) -> float:
        """How far the line may be off at `index` because its slope is uncertain, s."""
        return self.rate_uncertainty * max(0.0, index * self.nominal_period - self._anchor_x)


def _hull_slope(points: list[tuple[float, float]], x_mid: float) -> float:
    """Slope of the lower convex hull of `points` (sorted by x) at `x_mid`: the support line that
    minimises the summed distance to the points (the linear-programming estimator of clock skew).
    Unlike a least-squares line through per-bin minima it is not tilted by a delay floor that
    varies slowly (e.g. the sampling phase sliding against the connection events)."""
    hull: list[tuple[float, float]] = []
    for p in points:
        while len(hull) >= 2:
            (x0, r0), (x1, r1) = hull[-2], hull[-1]
            if (x1 - x0) * (p[1] - r0) - (r1 - r0) * (p[0] - x0) > 0.0:
                break
            hull.pop()
        hull.append(p)
    for (x0, r0), (x1, r1) in itertools.pairwise(hull):
        if x0 <= x_mid <= x1 and x1 > x0:
            return (r1 - r0) / (x1 - x0)
    return 0.0


@dataclass(frozen=True, slots=True)
class Timed(Generic[T]):
    """One sample placed on the grid."""

    channel: int
    index: int
    """Grid index."""
    t: float
    """Host time, s."""
    arrival: float
    """When the notification that carried it arrived (host clock), s."""
    value: T


@dataclass(slots=True)
class _Held(Generic[T]):
    arrival: float
    values: list[T]


@dataclass(slots=True)
class _Channel(Generic[T]):
    next: int | None = None
    """Grid index of this channel's next sample (None until placed)."""
    held: list[_Held[T]] = field(default_factory=list)
    ref: tuple[float, float] | None = None
    """(grid time, arrival - grid time) of the on-time notification the held ones are judged against;
    None: against the long-term line."""
    paused: bool = False
    """The held notifications began right after a pause in arrivals."""
    limit: float = 0.0
    """Largest lateness counted as on time, fixed when the hold began, s."""
    lost: int = 0
    """Samples declared lost by timing."""
    delays: int = 0
    """Held-back episodes that turned out to be delays."""


class GridTimeline(Generic[T]):
    """Places the samples of one or more channels on a common grid (module docstring).

    Lateness is judged against a *local floor*: the lowest (detrended) arrival of the notifications
    released in the last ``local_s``, shared by all channels, rather than against the long-term
    line. With several notifications per connection event the newest one's delay (the phase of the
    sample grid against the connection events) lies anywhere in one notification period and slides
    slowly; against the long-term line a high phase looks like a lost notification, against the
    recent floor only a step does. The long-term line gives the timestamps.
    """

    def __init__(self, rate_hz: float, channels: int = 1, *, warmup_s: float = 0.2, settle_s: float = 0.5,
                 tolerance: float = 0.6, local_s: float = 0.3, bin_s: float = 0.5, window_s: float = 10.0,
                 min_fit_span_s: float = 2.0, max_rate_error: float = 0.03) -> None:
        if rate_hz <= 0.0 or channels < 1:
            raise ValueError("need rate_hz > 0 and channels >= 1")
        self.nominal_period = 1.0 / rate_hz
        self.envelope = LowerEnvelope(self.nominal_period, bin_s=bin_s, window_s=window_s,
                                      min_fit_span_s=min_fit_span_s, max_rate_error=max_rate_error)
        self.warmup_s = warmup_s
        self.settle_s = settle_s
        self.tolerance = tolerance
        """Largest lateness of an on-time notification, in notification periods (samples per
        notification / rate)."""
        self.local_s = local_s
        self._channels: list[_Channel[T]] = [_Channel() for _ in range(channels)]
        self._warm = False
        self._warmup: list[tuple[int, float, list[T]]] = []
        self._recent: deque[tuple[float, float, float, int]] = deque(maxlen=4096)
        """(arrival, grid time, arrival - grid time, channel) of the newest sample of each released
        notification."""
        self._last_arrival: float | None = None
        self._pauses: deque[float] = deque(maxlen=16)
        """Arrival times that ended a pause (see `_note_arrival`)."""
        self._gaps: deque[tuple[float, float]] = deque()
        """(arrival, gap before it) of the last 2 s of arrivals."""
        self._spacing = 0.0
        self._spacing_at = -math.inf

    # ------------------------------------------------------------------ queries
    def released_through(self, channel: int) -> int | None:
        """Highest grid index of `channel` that is settled (released or declared lost); None before
        the channel is placed."""
        nxt = self._channels[channel].next
        return None if nxt is None else nxt - 1

    def lost(self, channel: int) -> int:
        """Samples of `channel` declared lost by timing."""
        return self._channels[channel].lost

    def delays(self, channel: int) -> int:
        """Times notifications of `channel` were held back and turned out merely late."""
        return self._channels[channel].delays

    @property
    def period(self) -> float:
        return self.envelope.period

    # ------------------------------------------------------------------ input
    def push(self, channel: int, arrival: float, values: Sequence[T]) -> list[Timed[T]]:
        """One notification of `channel` (its samples oldest first) arrived at `arrival`; returns
        the samples that are now placed (of any channel), in release order."""
        if not values:
            return []
        if not self._warm:
            self._warmup.append((channel, arrival, list(values)))
            first = self._warmup[0][1]
            seen = {c for c, _, _ in self._warmup}
            span = arrival - first
            if (len(seen) == len(self._channels) and span >= self.warmup_s) or span >= 5.0 * self.warmup_s:
                return self._finish_warmup()
            return []
        self._note_arrival(arrival)
        return self._process(channel, arrival, list(values))

    def _note_arrival(self, arrival: float) -> None:
        """Record pauses: no notification on any channel for longer than 2.5 times the usual
        spacing of arrivals (the time-weighted median gap of the last 2 s: about the connection
        interval when notifications are batched), and at least 30 ms."""
        last = self._last_arrival
        self._last_arrival = arrival
        if last is None:
            return
        gap = arrival - last
        gaps = self._gaps
        gaps.append((arrival, gap))
        while gaps[0][0] < arrival - 2.0:
            gaps.popleft()
        if gap <= 0.03:
            return
        if arrival - self._spacing_at > 0.25:
            ordered = sorted(g for _, g in gaps)
            half, acc = 0.5 * sum(ordered), 0.0
            for g in ordered:
                acc += g
                if acc >= half:
                    self._spacing = g
                    break
            self._spacing_at = arrival
        if gap > max(0.03, 2.5 * self._spacing):
            self._pauses.append(arrival)

    def drain(self) -> list[Timed[T]]:
        """Release everything held, assuming no loss (the stream is ending)."""
        out = [] if self._warm else self._finish_warmup()
        for channel, st in enumerate(self._channels):
            if st.held:
                held, st.held = st.held, []
                for h in held:
                    self._release(channel, st, h.arrival, h.values, out)
        return out

    # ------------------------------------------------------------------ internals
    def _finish_warmup(self) -> list[Timed[T]]:
        self._warm = True
        period = self.nominal_period
        floors: dict[int, float] = {}
        counts: dict[int, int] = {}
        for channel, arrival, values in self._warmup:
            k_last = counts.get(channel, 0) + len(values) - 1
            counts[channel] = k_last + 1
            floors[channel] = min(floors.get(channel, math.inf), arrival - k_last * period)
        if floors:
            base = min(floors.values())
            for channel, floor in floors.items():
                self._channels[channel].next = round((floor - base) / period)
        out: list[Timed[T]] = []
        buffered, self._warmup = self._warmup, []
        for channel, arrival, values in buffered:
            out += self._process(channel, arrival, values)
        return out

    def _floor(self, arrival: float) -> tuple[float, float] | None:
        """The lowest detrended arrival among the notifications released in the last `local_s`
        (before a pause, if there was one); None before the first release."""
        recent = self._recent
        if not recent:
            return None
        # After a pause (a stall), judge against the last `local_s` before it.
        cutoff = min(arrival, recent[-1][0]) - self.local_s
        while recent and recent[0][0] < cutoff:
            recent.popleft()
        slope = self.envelope.rate_error
        _, x, r, _ = min(recent, key=lambda e: e[2] - slope * e[1])
        return (x, r)

    def _lateness(self, index: int, arrival: float, ref: tuple[float, float] | None) -> float:
        """How much later than `ref` (or the long-term line) a notification whose newest sample has
        grid index `index` arrived, with the rate error taken out, s."""
        env = self.envelope
        slope = env.rate_error
        x = index * self.nominal_period
        detrended = arrival - x - slope * x
        if ref is None:
            return detrended - env.level
        return detrended - (ref[1] - slope * ref[0])

    def _limit(self, index: int, size: int, ref: tuple[float, float] | None) -> float:
        """Largest lateness of an on-time notification of `size` samples ending at grid `index`."""
        env = self.envelope
        if ref is None:
            slack = env.allowance(index)
        else:
            slack = env.rate_uncertainty * max(0.0, index * self.nominal_period - ref[0])
        return self.tolerance * size * self.nominal_period + slack

    def _process(self, channel: int, arrival: float, values: list[T]) -> list[Timed[T]]:
        st = self._channels[channel]
        out: list[Timed[T]] = []
        if st.next is None:
            # A channel that was silent during the warm-up: put its newest sample at the grid
            # index whose time is nearest to its arrival.
            if self.envelope.ready:
                newest = round((arrival - self.envelope.time(0)) / self.nominal_period)
                st.next = max(0, newest - len(values) + 1)
            else:
                st.next = 0
        if st.held:
            st.held.append(_Held(arrival, values))
            self._resolve(channel, st, out)
            return out
        newest = st.next + len(values) - 1
        ref = self._floor(arrival)
        if not self.envelope.ready or self._lateness(newest, arrival, ref) <= self._limit(newest, len(values), ref):
            self._release(channel, st, arrival, values, out)
        else:
            st.held.append(_Held(arrival, values))
            st.ref = ref
            st.limit = self._limit(newest, len(values), ref)
            st.paused = bool(self._pauses) and self._pauses[-1] >= arrival
        return out

    def _resolve(self, channel: int, st: _Channel[T], out: list[Timed[T]]) -> None:
        assert st.next is not None
        late: list[float] = []
        index = st.next
        for h in st.held:
            index += len(h.values)
            late.append(self._lateness(index - 1, h.arrival, st.ref))
        size = len(st.held[-1].values)
        # On time again (the limit as when the hold began: while held it must not keep widening
        # with an unfitted rate, or a one-sample loss would fade into it; a real drift shows in
        # every channel and is told apart below).
        if late[-1] <= st.limit:
            st.delays += 1
            self._release_held(channel, st, len(st.held), 0, out)
            return
        # Settle on arrivals after the last pause (a stall ends in a burst of queued notifications,
        # then the live stream; the plateau must be measured on the live stream).
        pauses = [t for t in self._pauses if t >= st.held[0].arrival]
        paused = bool(pauses) or st.paused
        resume = pauses[-1] if pauses else st.held[0].arrival
        if st.held[-1].arrival - resume < self.settle_s:
            return
        # The step is measured on the plateau: what arrived in the second half of the held window
        # (the live stream after the loss). Losses come in whole notifications (a packed one is 3
        # samples).
        half = st.held[-1].arrival - 0.5 * self.settle_s
        tail = [i for i, h in enumerate(st.held) if h.arrival >= half]
        plateau = min(late[i] for i in tail)
        span = size * self.envelope.period
        if not paused:
            steps = round(plateau / span)
        else:
            # After a pause the sampling phase against the connection events has moved by an unknown
            # amount; against the long-term line the plateau is whole notifications plus that phase
            # (0..1 notification), so count the whole notifications below it.
            index = st.next + sum(len(h.values) for h in st.held[:tail[0]])
            on_line = []
            for i in tail:
                index += len(st.held[i].values)
                on_line.append(self._lateness(index - 1, st.held[i].arrival, None))
            steps = math.floor(min(on_line) / span + 0.15)
        # Against the other channels (same chip grid, same connection events): a channel that lost
        # notifications is behind them by exactly that many; the phase wrapping lifts all alike.
        behind = [round((plateau - other) / span) for other in self._plateaus(channel, st.ref, half)]
        if behind and max(behind) >= 1:
            steps = min(b for b in behind if b >= 1)
        elif behind and steps == 1 and not paused:
            steps = 0  # one notification, in every channel at once, without a pause: the phase
        lost = size * steps
        if lost < 1:
            st.delays += 1
            self._release_held(channel, st, len(st.held), 0, out)
            return
        # Before the gap: everything clearly below the plateau (on time, or late only within its
        # batch), then what came in a burst above it (queued during a stall); the gap goes before
        # the first notification on the plateau after those.
        tol = self.tolerance * size * self.nominal_period
        below = [i for i, e in enumerate(late) if e < plateau - tol]
        first = below[-1] + 1 if below else 0
        split = next((i for i in range(first, len(late)) if late[i] <= plateau + tol), first)
        self._release_held(channel, st, split, lost, out)

    def _plateaus(self, channel: int, ref: tuple[float, float] | None, since: float) -> list[float]:
        """For each other channel with notifications since `since`: the smallest lateness of those,
        against the same reference (held ones at their no-loss indices)."""
        out: list[float] = []
        for other, ch in enumerate(self._channels):
            if other == channel or ch.next is None:
                continue
            late = [self._lateness(round(x / self.nominal_period), a, ref)
                    for a, x, _, c in self._recent if c == other and a >= since]
            index = ch.next
            for h in ch.held:
                index += len(h.values)
                if h.arrival >= since:
                    late.append(self._lateness(index - 1, h.arrival, ref))
            if late:
                out.append(min(late))
        return out

    def _release_held(self, channel: int, st: _Channel[T], split: int, lost: int, out: list[Timed[T]]) -> None:
        """Release the held notifications before `split`, skip `lost` grid indices, release the rest."""
        assert st.next is not None
        held, st.held = st.held, []
        st.ref = None
        st.paused = False
        for h in held[:split]:
            self._release(channel, st, h.arrival, h.values, out)
        st.next += lost
        st.lost += lost
        for h in held[split:]:
            self._release(channel, st, h.arrival, h.values, out)

    def _release(self, channel: int, st: _Channel[T], arrival: float, values: list[T], out: list[Timed[T]]) -> None:
        assert st.next is not None
        first = st.next
        newest = first + len(values) - 1
        self.envelope.add(newest, arrival)
        x = newest * self.nominal_period
        self._recent.append((arrival, x, arrival - x, channel))
        for i, value in enumerate(values):
            out.append(Timed(channel, first + i, self.envelope.time(first + i), arrival, value))
        st.next = first + len(values)


# ---------------------------------------------------------------------------------------------------
ACC = 0
GYRO = 1

Event = ImuSample | SensorGap


@dataclass(slots=True)
class _Finished:
    index: int
    t: float
    arrival: float
    acc: Vec
    gyr: Vec


class SampleAssembler:
    """Accelerometer + gyro (+ magnetometer) notifications of one stream -> `ImuSample`s and
    `SensorGap`s, in order (module docstring). One assembler per started stream: after a reconnect
    the driver starts a new one (and reports the disconnect gap itself)."""

    def __init__(self, sensor: Segment, rate_hz: float, *, expect_mag: bool, mag_wait_s: float = 0.5,
                 mag_stale_s: float = 0.5, max_skew_s: float = 1.0, **timeline: float) -> None:
        self.sensor = sensor
        self.rate_hz = rate_hz
        self.expect_mag = expect_mag
        self.mag_wait_s = mag_wait_s
        self.mag_stale_s = mag_stale_s
        self.timeline: GridTimeline[Vec] = GridTimeline(rate_hz, channels=2, **timeline)
        self._max_skew = max(1, round(max_skew_s * rate_hz))
        self._parts: tuple[dict[int, Timed[Vec]], dict[int, Timed[Vec]]] = ({}, {})
        self._started = False
        self._last_index: int | None = None
        self._last_t: float | None = None
        self._mags: deque[tuple[float, Vec]] = deque(maxlen=256)
        self._queue: deque[_Finished | SensorGap] = deque()
        self.samples = 0
        self.lost = 0
        self.mag_missing = 0
        """Samples emitted with mag=None although a magnetometer was expected."""

    @property
    def last_t(self) -> float | None:
        """Host time of the last sample emitted."""
        return self._last_t

    def push_acc(self, arrival: float, values: Sequence[Vec]) -> list[Event]:
        return self._take(self.timeline.push(ACC, arrival, values))

    def push_gyro(self, arrival: float, values: Sequence[Vec]) -> list[Event]:
        return self._take(self.timeline.push(GYRO, arrival, values))

    def push_mag(self, arrival: float, values: Sequence[Vec]) -> list[Event]:
        for value in values:
            self._mags.append((arrival, value))
        return self._emit(force=False)

    def flush(self) -> list[Event]:
        """The stream ended: release what the timeline holds and emit every complete sample."""
        self._take_only(self.timeline.drain())
        self._finish(final=True)
        return self._emit(force=True)

    # ------------------------------------------------------------------ internals
    def _take(self, placed: list[Timed[Vec]]) -> list[Event]:
        self._take_only(placed)
        self._finish(final=False)
        return self._emit(force=False)

    def _take_only(self, placed: list[Timed[Vec]]) -> None:
        for item in placed:
            self._parts[item.channel][item.index] = item

    def _finish(self, final: bool) -> None:
        acc, gyr = self._parts
        ra, rg = self.timeline.released_through(ACC), self.timeline.released_through(GYRO)
        if final:
            limit = max((max(d) for d in (acc, gyr) if d), default=-1)
        elif ra is None or rg is None:
            # One stream has not started: keep at most max_skew of the other.
            ahead = ra if ra is not None else rg
            if ahead is None:
                return
            limit = ahead - self._max_skew
        else:
            limit = max(min(ra, rg), max(ra, rg) - self._max_skew)
        for g in sorted(g for g in acc if g <= limit and g in gyr):
            a, b = acc[g], gyr[g]
            if not self._started:
                self._started = True  # samples of one stream before the other started are not losses
            elif self._last_index is not None and g > self._last_index + 1:
                missing = g - self._last_index - 1
                self._queue.append(SensorGap(self.sensor, self._last_t or a.t, a.t, missing, "packet_loss"))
                self.lost += missing
            t = a.t
            if self._last_t is not None and self._last_index is not None:
                # Never backwards when the envelope moves down (e.g. after a late first arrival).
                t = max(t, self._last_t + 0.5 * self.timeline.nominal_period * (g - self._last_index))
            self._queue.append(_Finished(g, t, max(a.arrival, b.arrival), a.value, b.value))
            self._last_index, self._last_t = g, t
        for d in (acc, gyr):
            for g in [g for g in d if g <= limit]:
                del d[g]

    def _mag_for(self, arrival: float) -> Vec | bool | None:
        """The magnetometer value for a sample whose notification arrived at `arrival`; False when
        it should wait for a first reading."""
        if not self.expect_mag:
            return None
        if not self._mags:
            return False
        chosen: tuple[float, Vec] | None = None
        for mag_arrival, value in reversed(self._mags):
            if mag_arrival <= arrival:
                chosen = (mag_arrival, value)
                break
        if chosen is None:
            return self._mags[0][1]  # the first reading came after the first samples: use it for them
        if arrival - chosen[0] > self.mag_stale_s:
            return None  # the magnetometer stopped: say so rather than repeat an old reading
        return chosen[1]

    def _emit(self, force: bool) -> list[Event]:
        out: list[Event] = []
        while self._queue:
            item = self._queue[0]
            if isinstance(item, SensorGap):
                self._queue.popleft()
                out.append(item)
                continue
            mag = self._mag_for(item.arrival)
            if mag is False:
                waiting = [q.arrival for q in self._queue if isinstance(q, _Finished)]
                if not force and waiting[-1] - waiting[0] < self.mag_wait_s:
                    break
                mag = None
            self._queue.popleft()
            if mag is None and self.expect_mag:
                self.mag_missing += 1
            out.append(ImuSample(item.t, self.sensor, item.acc, item.gyr, mag if isinstance(mag, tuple) else None))
            self.samples += 1
        return out
