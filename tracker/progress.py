"""Progress over weeks (`hiptrack progress`): IR range per side, hold time, clean reps, reported pain and
the left/right difference, each beside the measurement's own noise so a real change stands out from it.

What is computed, and how:

- **Window**: the `weeks` calendar weeks (Monday to Sunday, in the given time zone, default the
  machine's) up to and including the week of the person's *newest* session that passes the filters,
  not up to today: someone who paused for a month still sees their last weeks of work. The chart says
  which dates it covers.
- **ROM tests** (exercises of kind rom-test): one point per complete test, the session's result
  (`SessionInfo.max_ir_deg`, the largest clean excursion), with the device's uncertainty
  (`details['rom_test']['uncertainty_deg']`, else `ROM_UNCERTAINTY_DEG`) as error bars.
- **Noise band**: the minimal detectable change (MDC, see `PUBLISHED_MDC_DEG`) drawn around the *first*
  test of each side in the window (the baseline). A later test that differs from it by at least the MDC
  is flagged "beyond the noise"; anything closer is indistinguishable from measuring twice.
- **Exercise peaks**: per exercise session, the mean of the `PEAK_TOP_N` largest rep peaks among the
  reps without compensation (all reps if none was clean). One overshooting rep cannot move it much, and it
  still describes end range; compensated reps are left out for the same reason a ROM test uses its largest
  clean excursion. Only exercises measured as hip IR toward internal rotation count (not the
  external-rotation stretches or 90/90 transitions, whose peaks are turned outward).
- **Per week and side**: mean hold of the reps of rep exercises (stretches' holds are minutes at a
  target and transitions have none) against the prescribed hold recorded with each session, and the
  share of reps without compensation (every exercise but ROM tests).
- **Pain**: every rating exactly as the person gave it after a set (0-10), never smoothed or judged.
- **Asymmetry**: per week and test/exercise, mean left minus mean right when both sides were measured
  that week; a ROM-test difference of at least the MDC is flagged.

Everything here describes measurements; nothing in it advises anyone.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from imu_core.frames import Side
from tracker.engine import ROM_UNCERTAINTY_DEG
from tracker.exercise_model import ExerciseKind, Measure
from tracker.exercises import CATALOG
from tracker.rom_compare import mdc_deg
from tracker.store import SessionInfo, SessionStore
from tracker.store_schema import DEFAULT_PERSON

PEAK_TOP_N = 3
"""An exercise session's peak is the mean of this many largest clean rep peaks."""
WEEKS_DEFAULT = 8


# ------------------------------------------------------------------------------------------- results

@dataclass(frozen=True, slots=True)
class RomPoint:
    """One ROM test's result."""

    session_id: int
    when: datetime
    side: Side
    exercise: str
    value_deg: float
    uncertainty_deg: float
    change_deg: float | None
    """Against the side's baseline (its first test in the window); None for the baseline itself."""
    beyond_noise: bool
    """|change| >= the MDC."""


@dataclass(frozen=True, slots=True)
class NoiseBand:
    """baseline +- MDC for one test (or exercise) and side, from the baseline's date on."""

    exercise: str
    side: Side
    baseline_deg: float
    baseline_session: int
    since: datetime
    mdc_deg: float
    from_tests: bool
    """True: around a ROM test. False: around the first exercise peak, where the MDC is only a lower bound."""

    @property
    def low(self) -> float:
        return self.baseline_deg - self.mdc_deg

    @property
    def high(self) -> float:
        return self.baseline_deg + self.mdc_deg


@dataclass(frozen=True, slots=True)
class PeakPoint:
    """An exercise session's end range (see PEAK_TOP_N)."""

    session_id: int
    when: datetime
    side: Side
    exercise: str
    value_deg: float
    reps_used: int
    clean_only: bool
    """False when no rep was clean and all reps were used."""


@dataclass(frozen=True, slots=True)
class PainPoint:
    session_id: int
    when: datetime
    side: Side
    exercise: str
    set_no: int
    pain: int
    """0-10 as the person reported it."""


@dataclass(frozen=True, slots=True)
class Asymmetry:
    """Left minus right in one week, same test or exercise."""

    week: date
    exercise: str
    from_tests: bool
    """True: ROM tests (judged against the MDC); False: exercise peaks (not judged)."""
    left_deg: float
    right_deg: float
    beyond_noise: bool | None
    """ROM tests: |left - right| >= the MDC; exercise peaks: None."""

    @property
    def diff_deg(self) -> float:
        return self.left_deg - self.right_deg


@dataclass(slots=True)
class SideWeek:
    """One side's numbers in one week."""

    holds_s: list[float] = field(default_factory=list)
    """Hold of every rep of the rep exercises."""
    prescribed_s: list[tuple[float, float]] = field(default_factory=list)
    """The prescribed hold (min, max) of each of those reps, from its session."""
    clean_reps: int = 0
    reps: int = 0
    """Reps whose compensation verdict is known (all exercises but ROM tests)."""
    rom_deg: dict[str, list[float]] = field(default_factory=dict)
    """Test id -> results."""
    peak_deg: dict[str, list[float]] = field(default_factory=dict)
    """Exercise id -> session peaks."""
    pain: list[int] = field(default_factory=list)
    """Every rating given after a set in a session of this side, as given."""

    @property
    def mean_hold_s(self) -> float | None:
        return statistics.fmean(self.holds_s) if self.holds_s else None

    @property
    def prescribed_hold_s(self) -> tuple[float, float] | None:
        """Rep-weighted mean of the prescribed min and max."""
        if not self.prescribed_s:
            return None
        return (statistics.fmean(p[0] for p in self.prescribed_s), statistics.fmean(p[1] for p in self.prescribed_s))

    @property
    def clean_ratio(self) -> float | None:
        return self.clean_reps / self.reps if self.reps else None


@dataclass(slots=True)
class Week:
    start: date
    """Monday."""
    sessions: int = 0
    sides: dict[Side, SideWeek] = field(default_factory=lambda: {s: SideWeek() for s in Side})
    asymmetry: list[Asymmetry] = field(default_factory=list)

    @property
    def pain(self) -> list[int]:
        """Every rating of the week (left-leg sessions first)."""
        return [p for s in Side for p in self.sides[s].pain]

    @property
    def end(self) -> date:
        """The next Monday (exclusive)."""
        return self.start + timedelta(days=7)


@dataclass(slots=True)
class Progress:
    person: str
    exercise: str | None
    weeks_back: int
    start: date
    """Monday of the first week shown."""
    end: date
    """Day after the last week shown (a Monday)."""
    newest: datetime | None
    """The newest session that passed the filters: the window ends with its week."""
    mdc_deg: float
    tz: tzinfo | None
    rom: list[RomPoint] = field(default_factory=list)
    bands: list[NoiseBand] = field(default_factory=list)
    peaks: list[PeakPoint] = field(default_factory=list)
    pain: list[PainPoint] = field(default_factory=list)
    weeks: list[Week] = field(default_factory=list)
    message: str | None = None
    """Why there is nothing to show (None when there is)."""

    @property
    def empty(self) -> bool:
        return self.message is not None

    @property
    def asymmetry(self) -> list[Asymmetry]:
        return [a for w in self.weeks for a in w.asymmetry]

    def summary_lines(self) -> list[str]:
        """What the numbers say, in plain words (measurements only)."""
        if self.message is not None:
            return [self.message]
        who = f"{self.person}" + (f", {self.exercise}" if self.exercise else "")
        lines = [f"Progress for {who}: {self.start:%d %b %Y} to {self.end - timedelta(days=1):%d %b %Y} "
                 f"({self.weeks_back} weeks up to the newest session). Noise band: ±{self.mdc_deg:.1f}°."]
        for band in self.bands:
            if not band.from_tests:
                continue
            pts = [p for p in self.rom if p.exercise == band.exercise and p.side is band.side]
            last = pts[-1]
            head = f"{band.side.value.capitalize()} {band.exercise}: first {band.baseline_deg:.1f}°"
            if len(pts) == 1:
                lines.append(f"{head}, one test so far (a change needs a second one).")
                continue
            assert last.change_deg is not None
            verdict = "beyond the noise band" if last.beyond_noise else "within the noise band"
            lines.append(f"{head}, latest {last.value_deg:.1f}° ({last.change_deg:+.1f}°, {verdict}); "
                         f"{len(pts)} tests.")
        if not any(b.from_tests for b in self.bands):
            lines.append("No ROM tests in these weeks: the IR panels show exercise peaks only.")
        latest_asym = {a.exercise: a for a in self.asymmetry if a.from_tests}
        for a in latest_asym.values():
            verdict = "beyond the noise band" if a.beyond_noise else "within the noise band"
            lines.append(f"Left minus right, {a.exercise}, week of {a.week:%d %b}: {a.diff_deg:+.1f}° ({verdict}).")
        return lines


# ----------------------------------------------------------------------------------------- compute

def person_of(info: SessionInfo) -> str:
    """Whom a session belongs to (the store's `person` field)."""
    return info.person


def select_sessions(sessions: Iterable[SessionInfo], person: str, exercise: str | None = None) -> list[SessionInfo]:
    """The person's finished sessions (complete or interrupted), of one exercise if given, oldest first."""
    return sorted((s for s in sessions
                   if person_of(s) == person and (exercise is None or s.exercise == exercise)
                   and s.status in ("complete", "interrupted") and not s.needs_recovery),
                  key=lambda s: (s.created_at, s.id))


def week_start(when: datetime, tz: tzinfo | None = None) -> date:
    """Monday of the calendar week holding `when`, in `tz` (None: the machine's time zone)."""
    d = when.astimezone(tz).date()
    return d - timedelta(days=d.weekday())


def compute_progress(store: SessionStore, *, person: str = DEFAULT_PERSON, exercise: str | None = None,
                     weeks: int = WEEKS_DEFAULT, tz: tzinfo | None = None) -> Progress:
    """Gather the series and weekly numbers of `person`'s last `weeks` weeks (see the module's docstring)."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    mdc = mdc_deg()
    chosen = select_sessions(store.list_sessions(), person, exercise)
    if not chosen:
        what = f"no sessions of {exercise} for {person}" if exercise else f"no sessions for {person}"
        known = sorted({person_of(s) for s in store.list_sessions()})
        hint = f" (people with sessions: {', '.join(known)})" if known and person not in known else ""
        today = week_start(datetime.now().astimezone(), tz)
        return Progress(person, exercise, weeks, today - timedelta(weeks=weeks - 1), today + timedelta(days=7),
                        None, mdc, tz, message=f"{what}{hint}; record some with hiptrack run.")
    newest = chosen[-1].created_at
    last = week_start(newest, tz)
    start = last - timedelta(weeks=weeks - 1)
    in_window = [s for s in chosen if week_start(s.created_at, tz) >= start]
    prog = Progress(person, exercise, weeks, start, last + timedelta(days=7), newest, mdc, tz,
                    weeks=[Week(start + timedelta(weeks=i)) for i in range(weeks)])
    for info in in_window:
        _add_session(store, prog, info)
    _finish(prog)
    if not prog.rom and not prog.peaks and not prog.pain and not any(
            sw.reps or sw.holds_s for w in prog.weeks for sw in w.sides.values()):
        prog.message = (f"no analysed sessions for {person}" + (f" ({exercise})" if exercise else "")
                        + f" in the {weeks} weeks up to {newest.astimezone(tz):%d %b %Y}; "
                        "record some with hiptrack run.")
    return prog


def _kind_of(exercise_id: str, details: dict[str, Any] | None) -> str:
    if details is not None:
        if "rom_test" in details:
            return ExerciseKind.ROM_TEST.value
        if isinstance(details.get("kind"), str):
            return str(details["kind"])
    ex = CATALOG.get(exercise_id)
    return ex.kind.value if ex is not None else ExerciseKind.REPS.value


def _turns_inward(exercise_id: str, details: dict[str, Any] | None) -> bool:
    """Whether the exercise's rep peaks are hip IR reached inward (its measure is IR, its target > 0)."""
    measure: object = None
    target: object = None
    if details is not None:
        measure, target = details.get("measure"), details.get("target_deg")
    ex = CATALOG.get(exercise_id)
    if measure is None and ex is not None:
        measure = ex.measure.value
    if target is None and ex is not None:
        target = ex.target_deg
    return (measure is None or measure == Measure.HIP_IR.value) and isinstance(target, int | float) and target > 0


def _prescribed_hold(exercise_id: str, details: dict[str, Any] | None) -> tuple[float, float] | None:
    hold = (details or {}).get("prescription", {}).get("hold_s")
    if isinstance(hold, list | tuple) and len(hold) == 2:
        return float(hold[0]), float(hold[1])
    ex = CATALOG.get(exercise_id)
    return None if ex is None else ex.prescription.hold_s


@dataclass(frozen=True, slots=True)
class _Rep:
    peak_deg: float
    hold_s: float
    clean: bool | None


def _reps_of(store: SessionStore, sid: int, details: dict[str, Any] | None) -> list[_Rep]:
    """The session's reps: the stored analysis, with each rep's verdict from the details."""
    d_reps: list[dict[str, Any]] = list((details or {}).get("reps") or [])
    verdict: dict[int, bool] = {int(r["number"]): bool(r["clean"]) for r in d_reps
                                if "number" in r and isinstance(r.get("clean"), bool)}
    analysis = store.load_analysis(sid)
    if analysis is not None and analysis.reps:
        return [_Rep(r.peak_ir_deg, r.hold_s, verdict.get(i)) for i, r in enumerate(analysis.reps, start=1)]
    return [_Rep(_num(r.get("peak_ir_deg")), _num(r.get("hold_s")), verdict.get(int(r.get("number", 0))))
            for r in d_reps]


def _num(x: object) -> float:
    return float(x) if isinstance(x, int | float) else math.nan


def session_peak(reps: Sequence[tuple[float, bool | None]], top_n: int = PEAK_TOP_N) -> tuple[float, int, bool] | None:
    """(value, reps used, clean only) of a session's exercise peak from (peak, clean) per rep; None without
    a finite peak. The mean of the `top_n` largest peaks of the clean reps (all reps if none is clean)."""
    finite = [(p, c) for p, c in reps if math.isfinite(p)]
    clean = [p for p, c in finite if c is not False]
    pool, clean_only = (clean, True) if clean else ([p for p, _ in finite], False)
    if not pool:
        return None
    top = sorted(pool, reverse=True)[:top_n]
    return statistics.fmean(top), len(top), clean_only


def _add_session(store: SessionStore, prog: Progress, info: SessionInfo) -> None:
    week = prog.weeks[(week_start(info.created_at, prog.tz) - prog.start).days // 7]
    week.sessions += 1
    sw = week.sides[info.side]
    details = store.load_details(info.id)
    kind = _kind_of(info.exercise, details)
    for set_no, pain in store.load_pain(info.id).items():
        prog.pain.append(PainPoint(info.id, info.created_at, info.side, info.exercise, set_no, pain))
        sw.pain.append(pain)
    if kind == ExerciseKind.ROM_TEST.value:
        if info.status == "complete" and info.max_ir_deg is not None and math.isfinite(info.max_ir_deg):
            u = (details or {}).get("rom_test", {}).get("uncertainty_deg")
            unc = float(u) if isinstance(u, int | float) else ROM_UNCERTAINTY_DEG
            prog.rom.append(RomPoint(info.id, info.created_at, info.side, info.exercise, info.max_ir_deg, unc,
                                     None, False))
            sw.rom_deg.setdefault(info.exercise, []).append(info.max_ir_deg)
        return
    reps = _reps_of(store, info.id, details)
    known = [r for r in reps if r.clean is not None]
    if known:
        sw.reps += len(known)
        sw.clean_reps += sum(bool(r.clean) for r in known)
    elif details is not None and details.get("sets"):
        sets = details["sets"]
        sw.reps += sum(int(s.get("reps", 0)) for s in sets)
        sw.clean_reps += sum(int(s.get("clean_reps", 0)) for s in sets)
    if kind == ExerciseKind.REPS.value:
        prescribed = _prescribed_hold(info.exercise, details)
        for r in reps:
            if math.isfinite(r.hold_s):
                sw.holds_s.append(r.hold_s)
                if prescribed is not None:
                    sw.prescribed_s.append(prescribed)
    if _turns_inward(info.exercise, details):
        peak = session_peak([(r.peak_deg, r.clean) for r in reps])
        if peak is not None:
            value, used, clean_only = peak
            prog.peaks.append(PeakPoint(info.id, info.created_at, info.side, info.exercise, value, used, clean_only))
            sw.peak_deg.setdefault(info.exercise, []).append(value)


def _finish(prog: Progress) -> None:
    """Baselines, bands and flags; weekly asymmetry."""
    mdc = prog.mdc_deg
    flagged: list[RomPoint] = []
    for key in sorted({(p.exercise, p.side) for p in prog.rom}):
        pts = [p for p in prog.rom if (p.exercise, p.side) == key]
        base = pts[0]
        prog.bands.append(NoiseBand(base.exercise, base.side, base.value_deg, base.session_id, base.when, mdc, True))
        flagged.append(base)
        for p in pts[1:]:
            change = p.value_deg - base.value_deg
            flagged.append(RomPoint(p.session_id, p.when, p.side, p.exercise, p.value_deg, p.uncertainty_deg,
                                    change, abs(change) >= mdc))
    prog.rom = sorted(flagged, key=lambda p: (p.when, p.session_id))
    with_tests = {p.side for p in prog.rom}
    for side in Side:
        if side in with_tests:
            continue
        side_peaks = [p for p in prog.peaks if p.side is side]
        if side_peaks:
            first = side_peaks[0]
            prog.bands.append(NoiseBand(first.exercise, side, first.value_deg, first.session_id, first.when, mdc,
                                        False))
    for week in prog.weeks:
        left, right = week.sides[Side.LEFT], week.sides[Side.RIGHT]
        for from_tests, lv, rv in ((True, left.rom_deg, right.rom_deg), (False, left.peak_deg, right.peak_deg)):
            for ex in sorted(set(lv) & set(rv)):
                a, b = statistics.fmean(lv[ex]), statistics.fmean(rv[ex])
                week.asymmetry.append(Asymmetry(week.start, ex, from_tests, a, b,
                                                abs(a - b) >= mdc if from_tests else None))


# ------------------------------------------------------------------------------------------ output

def default_progress_path(store_path: Path, person: str, exercise: str | None, fmt: str) -> Path:
    """reports/progress-<person>[-<exercise>].<fmt> beside the store."""
    from tracker.paths import reports_dir

    def safe(s: str) -> str:
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in s) or "_"

    name = f"progress-{safe(person)}" + (f"-{safe(exercise)}" if exercise else "")
    return reports_dir(store_path) / f"{name}.{fmt}"


def progress_report(store: SessionStore, out: Path, *, person: str = DEFAULT_PERSON, exercise: str | None = None,
                    weeks: int = WEEKS_DEFAULT, fmt: str = "png", tz: tzinfo | None = None
                    ) -> tuple[Progress, Path | None]:
    """Compute and write the progress chart (`fmt` png) or page (html) to `out`; (progress, path), path None
    when there was nothing to draw (then `progress.message` says why and no file is written)."""
    from tracker.progress_chart import write_html, write_png

    if fmt not in ("png", "html"):
        raise ValueError(f"format must be png or html, not {fmt!r}")
    prog = compute_progress(store, person=person, exercise=exercise, weeks=weeks, tz=tz)
    if prog.empty:
        return prog, None
    return prog, (write_png(prog, out) if fmt == "png" else write_html(prog, out))
