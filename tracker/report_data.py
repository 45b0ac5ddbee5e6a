"""What the post-session report shows, computed from the store: the rows and spans that the chart
(tracker/report.py), the HTML file (tracker/report_html.py) and the PDF tables (tracker/report_pdf.py)
draw. Everything here is a measurement or the prescription as given; nothing advises.

`build_report(store, session_id)` recomputes the joint angles from the stored samples (as the live
session computed them) and takes the reps, holds and compensations from the saved analysis (or from
the recomputation when none was saved), the sets and tempo from the saved details, pain as reported,
and the gaps the sensors left.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imu_core.types import JointAngles, Marker, MarkerLabel
from tracker.analysis import AnalysisResult, Hold
from tracker.exercise_model import Check, Exercise, ExerciseKind
from tracker.exercises import get_exercise
from tracker.prompts import target_band_ir_deg
from tracker.store import SessionStore
from tracker.store_schema import DEFAULT_PERSON

KIND_WORDS: dict[str, str] = {
    Check.THIGH_DRIFT.value: "thigh drift",
    Check.KNEE_FLEXION_CHANGE.value: "knee bend changed",
    Check.TOO_FAST.value: "too fast",
    Check.PELVIS_MOTION.value: "pelvis moved",
}
"""A compensation kind in plain words."""

GAP_REASON_WORDS: dict[str, str] = {"packet_loss": "lost packets", "disconnect": "sensor disconnected",
                                    "broker": "lost between the bridge and this computer"}

UNIT_WORDS: dict[ExerciseKind, tuple[str, str]] = {
    ExerciseKind.REPS: ("rep", "reps"),
    ExerciseKind.ROM_TEST: ("attempt", "attempts"),
    ExerciseKind.STRETCH: ("hold", "holds"),
    ExerciseKind.TRANSITIONS: ("cycle", "cycles"),
}
"""What one counted movement is called, singular and plural."""

DISCLAIMER = ("This report shows what the sensors measured and the exercise as prescribed. "
              "It gives no medical advice.")

SAME_REP_S = 0.5
"""A saved detail and an analysed rep with starts this close are the same rep, s."""


def kind_words(kind: str) -> str:
    return KIND_WORDS.get(kind, kind.replace("_", " "))


def deg(x: float, nd: int = 1) -> str:
    """An angle for the reader: '23.9°' ('--' when not a number)."""
    return f"{x:.{nd}f}°" if math.isfinite(x) else "--"


def seconds_range(lo: float, hi: float) -> str:
    return f"{lo:g} s" if lo == hi else f"{lo:g}–{hi:g} s"


@dataclass(frozen=True, slots=True)
class RepRow:
    """One counted rep (or ROM attempt, stretch hold, transition cycle)."""

    number: int
    """1-based across the session's sets."""
    set_no: int | None
    start: float
    peak_t: float
    end: float
    """Session time, s."""
    peak_deg: float
    """Largest hip internal rotation of the rep, deg (negative: external rotation)."""
    hold_s: float
    """End-range hold as counted (a stretch: time at or beyond the target), s."""
    tempo: str | None
    """'up-hold-down' seconds, as the saved details give it; None when not saved."""
    compensations: tuple[str, ...] = ()
    """Kinds (analysis values), sorted."""

    @property
    def clean(self) -> bool:
        return not self.compensations

    @property
    def result(self) -> str:
        return "clean" if self.clean else ", ".join(kind_words(k) for k in self.compensations)


@dataclass(frozen=True, slots=True)
class SetRow:
    number: int
    start: float | None
    end: float | None
    reps: int
    clean_reps: int
    partial_reps: int
    max_ir_deg: float | None
    pain: int | None
    """0-10 as the person reported it after the set; None if not reported."""
    time_at_target_s: float | None = None
    """Stretches only."""
    fidgets: int | None = None
    """Stretches only: movements out of the stretch and back."""
    compensations: tuple[str, ...] = ()
    """Kinds seen in the set's reps, sorted."""


@dataclass(frozen=True, slots=True)
class CompensationSpan:
    kind: str
    start: float
    end: float
    rep: int | None
    message: str
    """What the live views told the person ('' for a kind the exercise does not name)."""

    @property
    def words(self) -> str:
        return kind_words(self.kind)


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    kind: str
    """'still' | 'swing' (calibration) | 'set'"""
    label: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class GapRow:
    sensor: str
    start: float
    end: float
    samples_lost: int
    reason: str

    @property
    def reason_words(self) -> str:
        return GAP_REASON_WORDS.get(self.reason, self.reason.replace("_", " "))


@dataclass(frozen=True, slots=True)
class ReportTable:
    """A table of the report, as the HTML and PDF files show it (cells already formatted)."""

    key: str
    """'sets' | 'reps' | 'compensations' | 'gaps'"""
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str = ""
    """Shown instead of the table when it has no rows."""
    notes: tuple[str, ...] = ()
    flagged: tuple[bool, ...] = ()
    """Per row: whether it is a rep with a compensation (drawn shaded; the text says it too)."""


@dataclass(frozen=True, slots=True)
class SessionReport:
    session_id: int
    created_at: datetime
    status: str
    source: str
    exercise: Exercise
    """With the session's prescription (target, hold) where the saved details give it."""
    side: str
    angles: JointAngles
    reps: tuple[RepRow, ...]
    holds: tuple[Hold, ...]
    compensations: tuple[CompensationSpan, ...]
    phases: tuple[PhaseSpan, ...]
    sets: tuple[SetRow, ...]
    pain: Mapping[int, int]
    gaps: tuple[GapRow, ...]
    max_ir_deg: float | None
    band_level: str | None = None
    person: str = DEFAULT_PERSON
    partial_reps: int = 0
    stretch_time_at_target_s: float | None = None
    rom_lines: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    # --- derived -------------------------------------------------------------------------------
    @property
    def target_deg(self) -> float:
        return self.exercise.target_deg

    @property
    def target_band_ir_deg(self) -> tuple[float, float]:
        return target_band_ir_deg(self.exercise)

    @property
    def hold_range_s(self) -> tuple[float, float]:
        return self.exercise.prescription.hold_s

    @property
    def kind(self) -> ExerciseKind:
        return self.exercise.kind

    @property
    def unit(self) -> tuple[str, str]:
        return UNIT_WORDS.get(self.kind, ("rep", "reps"))

    @property
    def hold_heading(self) -> str:
        return "time at target" if self.kind is ExerciseKind.STRETCH else "hold"

    @property
    def title(self) -> str:
        who = "" if self.person == DEFAULT_PERSON else f"{self.person} · "
        return (f"Session {self.session_id} · {who}{self.exercise.name} · {self.side} leg · "
                f"{self.created_at:%Y-%m-%d %H:%M} UTC")

    def meta_line(self) -> str:
        return f"Person: {self.person} · {self.source} session, {self.status}."

    @property
    def clean_reps(self) -> int:
        return sum(r.clean for r in self.reps)

    @property
    def outward(self) -> bool:
        """Whether the exercise aims at external rotation (its peaks are negative hip IR)."""
        return self.target_deg * self.exercise.measure.sign() < 0

    def reach(self, reps: Sequence[RepRow] | None = None, max_ir_deg: float | None = None) -> str:
        """The furthest the hip went toward the target: largest IR, or furthest external rotation."""
        reps = self.reps if reps is None else reps
        if self.outward:
            return f"furthest outward {deg(-min(r.peak_deg for r in reps))}" if reps else ""
        return "" if max_ir_deg is None else f"largest internal rotation {deg(max_ir_deg)}"

    def target_words(self) -> str:
        t = self.target_deg * self.exercise.measure.sign()
        lo, hi = self.target_band_ir_deg
        way = "internal rotation (inward)" if t >= 0 else "external rotation (outward)"
        return f"target {abs(t):g}° of {way}, shaded {lo:.1f}° to {hi:.1f}° on the charts"

    def prescription_text(self) -> str:
        """The prescription as given, in plain words."""
        p = self.exercise.prescription
        one, many = self.unit
        sets = f"{p.sets} set{'s' if p.sets != 1 else ''}"
        lo, hi = p.hold_s
        if self.kind is ExerciseKind.STRETCH:
            text = f"Prescribed: {sets} of one hold, {seconds_range(lo, hi)} at or beyond the target; "
        elif self.kind is ExerciseKind.ROM_TEST:
            text = f"Test: {p.reps} slow {many if p.reps != 1 else one} to end range; "
        elif self.kind is ExerciseKind.TRANSITIONS:
            text = f"Prescribed: {sets} of {p.reps} {many if p.reps != 1 else one} (each one switch out and one back); "
        else:
            hold = f", hold {seconds_range(lo, hi)} at end range" if hi > 0 else ""
            text = f"Prescribed: {sets} of {p.reps} {many if p.reps != 1 else one}{hold}; "
        text += self.target_words() + "."
        if self.band_level:
            text += f" Band: {self.band_level}."
        return text

    def summary_line(self) -> str:
        one, many = self.unit
        n = len(self.reps)
        parts = [f"{n} {one if n == 1 else many}" + (f" in {len(self.sets)} sets" if len(self.sets) > 1 else "")
                 + _clean_words(n, self.clean_reps)]
        if reach := self.reach(max_ir_deg=self.max_ir_deg):
            parts.append(reach)
        if self.stretch_time_at_target_s is not None:
            parts.append(f"time at target {self.stretch_time_at_target_s:.1f} s")
        if self.partial_reps:
            parts.append(f"{self.partial_reps} partial (not counted)")
        return " · ".join(parts)

    def set_lines(self) -> list[str]:
        """One line per set: what was done and the pain reported."""
        one, many = self.unit
        lines = []
        for s in self.sets:
            bits = []
            if self.kind is ExerciseKind.STRETCH:
                tat = "--" if s.time_at_target_s is None else f"{s.time_at_target_s:.1f} s"
                bits.append(f"time at target {tat} (prescribed {seconds_range(*self.hold_range_s)})")
                if s.fidgets:
                    bits.append(f"{s.fidgets} shift{'s' if s.fidgets != 1 else ''} out of the stretch")
            else:
                done = f"{s.reps} {one if s.reps == 1 else many}" + _clean_words(s.reps, s.clean_reps)
                if s.reps > s.clean_reps and s.compensations:
                    done += " (" + ", ".join(kind_words(k) for k in s.compensations) + ")"
                bits.append(done)
                if s.partial_reps:
                    bits.append(f"{s.partial_reps} partial")
            if reach := self.reach([r for r in self.reps if r.set_no == s.number], s.max_ir_deg):
                bits.append(reach)
            bits.append(pain_words(s.pain))
            lines.append(f"Set {s.number}: " + " · ".join(bits))
        return lines

    def gap_lines(self, limit: int = 3) -> list[str]:
        if not self.gaps:
            return []
        lines = [f"Missing sensor data: {g.sensor} {g.start:.1f}–{g.end:.1f} s ({g.samples_lost} samples, "
                 f"{g.reason_words})" for g in self.gaps[:limit]]
        if len(self.gaps) > limit:
            lines.append(f"... and {len(self.gaps) - limit} more gaps (see the table).")
        return lines


def _clean_words(n: int, clean: int) -> str:
    if n == 0:
        return ""
    if clean == n:
        return ", all clean" if n > 1 else ", clean"
    if clean == 0:
        return ", all with compensation" if n > 1 else ", with compensation"
    return f": {clean} clean, {n - clean} with compensation"


def pain_words(pain: int | None) -> str:
    return "pain not reported" if pain is None else f"pain {pain}/10 (as reported)"


# --------------------------------------------------------------------------------------------- building


def build_report(store: SessionStore, session_id: int) -> SessionReport:
    """The report of a stored session (angles recomputed from its samples)."""
    from tracker.offline import analyse_recording_in_detail  # tracker.offline imports the chart module

    info = store.get_session(session_id)
    rec = store.load_recording(session_id)
    computed, angles, _, computed_details = analyse_recording_in_detail(rec)
    stored = store.load_analysis(session_id)
    result = stored or computed
    notes: list[str] = []
    details = store.load_details(session_id)
    if details is None and (stored is None or _same_reps(stored, computed)):
        details = computed_details
    if stored is None:
        notes.append("No analysis was saved with this session; its reps were found again from the samples.")
    if info.status == "interrupted":
        notes.append("The session was interrupted before its end.")
    elif info.status == "recording":
        notes.append("The session was still recording when this report was made.")

    exercise = _with_session_prescription(get_exercise(rec.exercise), details)
    band = _band_level(details, rec.extra_meta)
    reps = _rep_rows(result, details, rec.markers)
    comps = tuple(CompensationSpan(c.kind, c.start, c.end, c.rep, _message(exercise, c.kind))
                  for c in result.compensations)
    pain = store.load_pain(session_id)
    sets = _set_rows(details, reps, rec.markers, pain)
    gaps = tuple(GapRow(*g) for g in store.load_gaps(session_id))
    t_end = float(angles.t[-1]) if len(angles) else 0.0
    rom_lines: tuple[str, ...] = ()
    if exercise.kind is ExerciseKind.ROM_TEST:
        from tracker.rom_compare import rom_comparison

        rom_lines = tuple(rom_comparison(store, session_id, exercise))
        if any(not r.clean for r in reps):
            notes.append("Attempts with a compensation do not count toward the test's result when a clean one exists.")
    stretch = (details or {}).get("stretch") or {}
    tat = stretch.get("time_at_target_s")
    max_ir = result.max_ir_deg
    return SessionReport(
        session_id=session_id, created_at=info.created_at, status=info.status, source=info.source,
        exercise=exercise, side=rec.side.value, angles=angles, reps=reps, holds=tuple(result.holds),
        compensations=comps, phases=_phases(rec.markers, t_end), sets=sets, pain=pain, gaps=gaps,
        max_ir_deg=float(max_ir) if math.isfinite(max_ir) else None, band_level=band, person=info.person,
        partial_reps=len((details or {}).get("partial_reps") or ()),
        stretch_time_at_target_s=None if tat is None else float(tat), rom_lines=rom_lines, notes=tuple(notes))


def _same_reps(a: AnalysisResult, b: AnalysisResult) -> bool:
    return len(a.reps) == len(b.reps) and all(
        abs(x.start - y.start) <= SAME_REP_S for x, y in zip(a.reps, b.reps, strict=True))


def _with_session_prescription(exercise: Exercise, details: Mapping[str, Any] | None) -> Exercise:
    """The exercise with the target and dose the session was run with (saved in its details)."""
    if not details:
        return exercise
    p = details.get("prescription") or {}
    changes: dict[str, object] = {}
    if p.get("sets") is not None:
        changes["sets"] = int(p["sets"])
    if p.get("reps") is not None:
        changes["reps"] = int(p["reps"])
    if p.get("hold_s") is not None and len(p["hold_s"]) == 2:
        changes["hold_s"] = (float(p["hold_s"][0]), float(p["hold_s"][1]))
    if p.get("band_level") is not None:
        changes["band_level"] = str(p["band_level"])
    if details.get("target_deg") is not None and float(details["target_deg"]) != exercise.target_deg:
        changes["target_deg"] = float(details["target_deg"])
    try:
        return exercise.with_prescription(exercise.prescription.with_overrides(**changes))
    except (TypeError, ValueError):
        return exercise


def _band_level(details: Mapping[str, Any] | None, extra_meta: Mapping[str, Any]) -> str | None:
    level = ((details or {}).get("prescription") or {}).get("band_level")
    if level is None:
        level = extra_meta.get("band_level")
    return None if level is None else str(level)


def _message(exercise: Exercise, kind: str) -> str:
    try:
        return exercise.message(kind)
    except ValueError:
        return ""


def _set_spans(markers: Sequence[Marker], t_end: float | None = None) -> list[tuple[float, float]]:
    """(start, end) of each exercise.start .. exercise.end phase, in order."""
    spans: list[tuple[float, float]] = []
    start: float | None = None
    for m in markers:
        if m.label == MarkerLabel.EXERCISE_START and start is None:
            start = m.t
        elif m.label == MarkerLabel.EXERCISE_END and start is not None:
            spans.append((start, m.t))
            start = None
    if start is not None:
        spans.append((start, math.inf if t_end is None else t_end))
    return spans


def _set_of(t: float, spans: Sequence[tuple[float, float]]) -> int | None:
    for n, (a, b) in enumerate(spans, start=1):
        if a <= t <= b:
            return n
    return None


def _rep_rows(result: AnalysisResult, details: Mapping[str, Any] | None,
              markers: Sequence[Marker]) -> tuple[RepRow, ...]:
    by_number = {int(d["number"]): d for d in ((details or {}).get("reps") or ()) if "number" in d}
    spans = _set_spans(markers)
    rows = []
    for n, rep in enumerate(result.reps, start=1):
        d = by_number.get(n)
        if d is not None and (d.get("start") is None or abs(float(d["start"]) - rep.start) > SAME_REP_S):
            d = None  # details of another analysis: do not mix them in
        kinds = {c.kind for c in result.compensations if c.rep == n}
        if d is not None:
            kinds |= {str(k) for k in d.get("compensations") or ()}
        set_no = int(d["set"]) if d is not None and d.get("set") is not None else _set_of(rep.peak, spans)
        tempo = str(d["tempo"]) if d is not None and d.get("tempo") else None
        rows.append(RepRow(n, set_no, rep.start, rep.peak, rep.end, rep.peak_ir_deg, rep.hold_s, tempo,
                           tuple(sorted(kinds))))
    return tuple(rows)


def _set_rows(details: Mapping[str, Any] | None, reps: Sequence[RepRow], markers: Sequence[Marker],
              pain: Mapping[int, int]) -> tuple[SetRow, ...]:
    saved = {int(s["number"]): s for s in ((details or {}).get("sets") or ()) if "number" in s}
    if not saved:  # no details: the sets are the recording's exercise phases
        saved = {n: {"start": a, "end": b} for n, (a, b) in enumerate(_set_spans(markers), start=1)}
    numbers = sorted(set(saved) | set(pain) | {r.set_no for r in reps if r.set_no is not None})
    rows = []
    for n in numbers:
        s = saved.get(n, {})
        mine = [r for r in reps if r.set_no == n]
        mx = s.get("max_ir_deg")
        if mx is None and mine:
            mx = max(r.peak_deg for r in mine)

        def opt(key: str, s: Mapping[str, Any] = s) -> float | None:
            v = s.get(key)
            return None if v is None else float(v)

        fidgets = s.get("fidgets")
        rows.append(SetRow(
            number=n, start=opt("start"), end=opt("end"), reps=int(s.get("reps", len(mine))),
            clean_reps=int(s.get("clean_reps", sum(r.clean for r in mine))),
            partial_reps=int(s.get("partial_reps", 0)), max_ir_deg=None if mx is None else float(mx),
            pain=pain.get(n), time_at_target_s=opt("time_at_target_s"),
            fidgets=None if fidgets is None else int(fidgets),
            compensations=tuple(sorted({k for r in mine for k in r.compensations}))))
    return tuple(rows)


def _phases(markers: Sequence[Marker], t_end: float) -> tuple[PhaseSpan, ...]:
    """Calibration phases (until the next marker) and sets."""
    out: list[PhaseSpan] = []
    words = {MarkerLabel.CALIBRATION_STATIC.value: ("still", "still"),
             MarkerLabel.CALIBRATION_SWING.value: ("swing", "knee swings")}
    for i, m in enumerate(markers):
        if m.label in words:
            kind, label = words[m.label]
            nxt = markers[i + 1].t if i + 1 < len(markers) else t_end
            out.append(PhaseSpan(kind, label, m.t, max(nxt, m.t)))
    for n, (a, b) in enumerate(_set_spans(markers, t_end), start=1):
        out.append(PhaseSpan("set", f"set {n}", a, b))
    return tuple(out)


# --------------------------------------------------------------------------------------------- tables


def report_tables(report: SessionReport) -> list[ReportTable]:
    """The report's tables, cells formatted for reading (the HTML and PDF files show these)."""
    one, many = report.unit
    stretch = report.kind is ExerciseKind.STRETCH
    set_headers = ["Set", many.capitalize(), "Clean", "With compensation", "Partial", "Largest (°)"]
    if stretch:
        set_headers = ["Set", "Time at target (s)", "Shifts out", "Largest (°)"]
    set_headers.append("Pain 0-10 (as reported)")
    set_rows: list[tuple[str, ...]] = []
    for s in report.sets:
        pain = "not reported" if s.pain is None else str(s.pain)
        largest = "--" if s.max_ir_deg is None else f"{s.max_ir_deg:.1f}"
        if stretch:
            tat = "--" if s.time_at_target_s is None else f"{s.time_at_target_s:.1f}"
            set_rows.append((str(s.number), tat, str(s.fidgets or 0), largest, pain))
        else:
            set_rows.append((str(s.number), str(s.reps), str(s.clean_reps), str(s.reps - s.clean_reps),
                             str(s.partial_reps), largest, pain))
    lo, hi = report.hold_range_s
    hold_head = "Time at target (s)" if stretch else "Hold (s)"
    rep_notes = [f"Target band {deg(report.target_band_ir_deg[0])} to {deg(report.target_band_ir_deg[1])}; "
                 f"prescribed {report.hold_heading} {seconds_range(lo, hi)}.",
                 "Tempo: seconds moving out, at end range, and coming back."]
    rep_notes.append("Time at target stops while a compensation lasts." if stretch
                     else "Hold time stops while a compensation lasts, so it can be shorter than the middle "
                          "number of the tempo.")
    tables = [
        ReportTable("sets", "Sets", tuple(set_headers), tuple(set_rows), empty="No set was recorded."),
        ReportTable(
            "reps", many.capitalize(),
            (one.capitalize(), "Set", "Peak (°)", hold_head, "Tempo up-hold-down (s)", "Result"),
            tuple((str(r.number), "--" if r.set_no is None else str(r.set_no), f"{r.peak_deg:.1f}",
                   f"{r.hold_s:.1f}", r.tempo or "--", r.result) for r in report.reps),
            empty=f"No {many} were counted.", notes=tuple(rep_notes), flagged=tuple(not r.clean for r in report.reps)),
        ReportTable(
            "compensations", "Compensations",
            ("What", "From (s)", "To (s)", one.capitalize(), "What the person was told"),
            tuple((c.words, f"{c.start:.1f}", f"{c.end:.1f}", "--" if c.rep is None else str(c.rep), c.message or "--")
                  for c in report.compensations),
            empty="None seen."),
        ReportTable(
            "gaps", "Missing sensor data", ("Sensor", "From (s)", "To (s)", "Samples missing", "Why"),
            tuple((g.sensor, f"{g.start:.2f}", f"{g.end:.2f}", str(g.samples_lost), g.reason_words)
                  for g in report.gaps),
            empty="None: every sensor delivered all its samples.",
            notes=("Missing samples are left out, never filled in.",) if report.gaps else ()),
    ]
    return tables
