"""`hiptrack progress`: weekly series from a seeded multi-week store (no IMU simulation), the noise band
and its flags, and the PNG/HTML outputs."""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from imu_core.frames import Side
from tracker.analysis import AnalysisResult, Compensation, Rep
from tracker.progress import Progress, compute_progress, default_progress_path, progress_report, session_peak
from tracker.progress_chart import PANELS, progress_figure, progress_html, weekly_rows
from tracker.rom_compare import CHANGE_DEG, PUBLISHED_MDC_DEG, mdc_deg
from tracker.store import SessionStore

SENSORS = {"thigh": {"model": "simulated"}, "shin": {"model": "simulated"}}
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)  # a Monday
WEEKS = 8
MDC = PUBLISHED_MDC_DEG

ROM_LEFT = [25.0, 26.5, 28.0, 30.0, 31.5, 33.5, 36.0, 38.0]  # improving
ROM_RIGHT = [31.0, 31.0, 29.5, 30.5, 32.0, 29.0, 31.0, 30.5]  # flat, within noise
LEFT_CLEAN = [4, 4, 5, 5, 6, 6, 7, 7]  # clean reps of 8 per left session
LEFT_HOLD = [2.0 + 0.25 * i for i in range(WEEKS)]
RIGHT_HOLD = 3.0
RIGHT_PAIN_WEEKS = [w for w in range(WEEKS) if w != 3]


def left_pain(week: int) -> tuple[int, int]:
    return max(0, 5 - week // 2), max(0, 5 - week // 2) + 1


def left_peaks(week: int) -> list[float]:
    """8 reps: rep 1 is the largest and compensated (so excluded); clean reps follow."""
    base = 20.0 + 1.5 * week
    return [base + 6.0, base + 2.0, base + 1.0, base, base - 1.0, base - 2.0, base - 3.0, base - 4.0]


@dataclass
class Seeded:
    path: Path
    rom_ids: dict[tuple[Side, int], int]


def _rom_test(store: SessionStore, side: Side, when: datetime, value: float, *, person: str = "me",
              status: str = "complete") -> int:
    sid = store.create_session("seated-ir-test", side, "live", 100.0, SENSORS, created_at=when, person=person)
    reps = [Rep(1.0, 2.0, 3.0, value - 1.0, 0.5), Rep(4.0, 5.0, 6.0, value, 0.5)]
    store.save_analysis(sid, AnalysisResult("seated-ir-test", side.value, value, reps))
    store.save_details(sid, {
        "format": "hiptrack-analysis-details/1", "exercise": "seated-ir-test", "kind": "rom-test",
        "measure": "hip_ir_deg", "target_deg": 38.0,
        "prescription": {"sets": 1, "reps": 3, "hold_s": [0.0, 2.0], "band_level": None},
        "sets": [{"number": 1, "reps": 2, "clean_reps": 2}],
        "reps": [{"number": 1, "set": 1, "clean": True, "compensations": [], "hold_s": 0.5},
                 {"number": 2, "set": 1, "clean": True, "compensations": [], "hold_s": 0.5}],
        "rom_test": {"max_ir_deg": value, "excursions_deg": [value - 1.0, value], "excursions_with_compensation": [],
                     "spread_deg": 1.0, "uncertainty_deg": 2.0, "norm_deg": [30.0, 45.0]}})
    store.finish_session(sid, status)
    return sid


def _exercise(store: SessionStore, side: Side, when: datetime, peaks: list[float], holds: list[float],
              clean: list[bool], pain: dict[int, int], *, exercise: str = "seated-ir", person: str = "me") -> int:
    sid = store.create_session(exercise, side, "live", 100.0, SENSORS, created_at=when, person=person)
    reps = [Rep(3.0 * i, 3.0 * i + 1, 3.0 * i + 2, p, h) for i, (p, h) in enumerate(zip(peaks, holds, strict=True))]
    comps = [Compensation("thigh_drift", 3.0 * i, 3.0 * i + 1, i + 1) for i, c in enumerate(clean) if not c]
    store.save_analysis(sid, AnalysisResult(exercise, side.value, max(peaks), reps, [], comps))
    half = len(peaks) // 2
    store.save_details(sid, {
        "format": "hiptrack-analysis-details/1", "exercise": exercise, "kind": "reps", "measure": "hip_ir_deg",
        "target_deg": 25.0, "prescription": {"sets": 2, "reps": half, "hold_s": [2.0, 5.0], "band_level": None},
        "sets": [{"number": n + 1, "reps": half, "clean_reps": sum(clean[n * half:(n + 1) * half])}
                 for n in range(2)],
        "reps": [{"number": i + 1, "set": 1 + i // half, "peak_ir_deg": p, "hold_s": h, "clean": c,
                  "compensations": [] if c else ["thigh_drift"]}
                 for i, (p, h, c) in enumerate(zip(peaks, holds, clean, strict=True))]})
    for set_no, value in pain.items():
        store.add_pain(sid, set_no, value)
    store.finish_session(sid)
    return sid


def seed(path: Path) -> Seeded:
    rom_ids: dict[tuple[Side, int], int] = {}
    with SessionStore.open(path) as store:
        # Before the window: must be left out (else the left baseline would be 10 deg).
        _rom_test(store, Side.LEFT, T0 - timedelta(days=10), 10.0)
        for w in range(WEEKS):
            day = T0 + timedelta(weeks=w)
            rom_ids[Side.LEFT, w] = _rom_test(store, Side.LEFT, day, ROM_LEFT[w])
            rom_ids[Side.RIGHT, w] = _rom_test(store, Side.RIGHT, day + timedelta(minutes=20), ROM_RIGHT[w])
            n_clean = LEFT_CLEAN[w]
            _exercise(store, Side.LEFT, day + timedelta(days=2), left_peaks(w),
                      [LEFT_HOLD[w] + d for d in (-0.2, 0.2) * 4], [i != 0 and i <= n_clean for i in range(8)],
                      dict(enumerate(left_pain(w), start=1)))
            _exercise(store, Side.RIGHT, day + timedelta(days=2, hours=1), [30.0 + 0.1 * i for i in range(8)],
                      [RIGHT_HOLD] * 8, [i != 7 for i in range(8)], {1: 1, 2: 1} if w in RIGHT_PAIN_WEEKS else {})
        # Not counted: another person, an interrupted ROM test, a session still recording.
        _rom_test(store, Side.LEFT, T0 + timedelta(weeks=3), 60.0, person="simulated")
        _rom_test(store, Side.RIGHT, T0 + timedelta(weeks=2, days=1), 50.0, status="interrupted")
        store.create_session("seated-ir", Side.LEFT, "live", 100.0, SENSORS, created_at=T0 + timedelta(weeks=5))
    return Seeded(path, rom_ids)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed(tmp_path_factory.mktemp("progress") / "store.sqlite3")


@pytest.fixture(scope="module")
def prog(seeded: Seeded) -> Progress:
    with SessionStore.open(seeded.path) as store:
        return compute_progress(store, person="me", weeks=WEEKS, tz=UTC)


@pytest.fixture(scope="module")
def fig(prog: Progress) -> Figure:
    return progress_figure(prog)


def panel(fig: Figure, gid: str) -> Axes:
    (ax,) = [a for a in fig.axes if a.get_gid() == gid]
    return ax


def line(ax: Axes, gid: str) -> Line2D:
    (ln,) = [x for x in ax.get_lines() if x.get_gid() == gid]
    return ln


# --------------------------------------------------------------------------------------------- numbers

def test_mdc_is_the_published_value_not_the_smaller_device_noise() -> None:
    assert round(CHANGE_DEG, 2) == 2.83
    assert mdc_deg() == PUBLISHED_MDC_DEG == 5.4
    assert mdc_deg(5.0) == pytest.approx(math.sqrt(2) * 5.0)  # a noisier device widens it


def test_window_is_the_last_weeks_up_to_the_newest_session(prog: Progress) -> None:
    assert prog.message is None
    assert prog.start == T0.date() and prog.end == (T0 + timedelta(weeks=WEEKS)).date()
    assert [w.start for w in prog.weeks] == [(T0 + timedelta(weeks=i)).date() for i in range(WEEKS)]
    # 2 tests + 2 exercise sessions each week, and the interrupted test in week 3 (not as a ROM point)
    assert [w.sessions for w in prog.weeks] == [4, 4, 5, 4, 4, 4, 4, 4]


def test_rom_points_band_and_flags(prog: Progress, seeded: Seeded) -> None:
    left = [p for p in prog.rom if p.side is Side.LEFT]
    right = [p for p in prog.rom if p.side is Side.RIGHT]
    assert [p.value_deg for p in left] == ROM_LEFT  # not the test before the window, nor another person's
    assert [p.value_deg for p in right] == ROM_RIGHT  # not the interrupted test
    assert [p.session_id for p in left] == [seeded.rom_ids[Side.LEFT, w] for w in range(WEEKS)]
    assert all(p.uncertainty_deg == 2.0 for p in prog.rom)
    bands = {b.side: b for b in prog.bands}
    assert set(bands) == {Side.LEFT, Side.RIGHT} and all(b.from_tests for b in bands.values())
    assert (bands[Side.LEFT].low, bands[Side.LEFT].high) == pytest.approx((25.0 - MDC, 25.0 + MDC))
    assert (bands[Side.RIGHT].low, bands[Side.RIGHT].high) == pytest.approx((31.0 - MDC, 31.0 + MDC))
    assert left[0].change_deg is None and not left[0].beyond_noise
    assert [p.change_deg for p in left[1:]] == pytest.approx([v - 25.0 for v in ROM_LEFT[1:]])
    # +1.5, +3, +5 are noise; +6.5 and more are beyond it
    assert [p.beyond_noise for p in left] == [False, False, False, False, True, True, True, True]
    assert not any(p.beyond_noise for p in right)


def test_asymmetry_per_week(prog: Progress) -> None:
    tests = [a for a in prog.asymmetry if a.from_tests]
    assert [a.week for a in tests] == [w.start for w in prog.weeks]
    assert [a.diff_deg for a in tests] == pytest.approx([a - b for a, b in zip(ROM_LEFT, ROM_RIGHT, strict=True)])
    # -6 and +7.5 are beyond the band; -4.5 .. +5 are not
    assert [a.beyond_noise for a in tests] == [True, False, False, False, False, False, False, True]
    peaks = [a for a in prog.asymmetry if not a.from_tests]
    assert len(peaks) == WEEKS and all(a.beyond_noise is None for a in peaks)
    assert peaks[0].left_deg == pytest.approx(21.0) and peaks[0].right_deg == pytest.approx(30.5)


def test_session_peak_is_the_mean_of_the_top_three_clean_reps() -> None:
    assert session_peak([(30.0, True), (35.0, False), (28.0, True), (29.0, True), (20.0, True)]) == (29.0, 3, True)
    assert session_peak([(30.0, False), (35.0, False)]) == (32.5, 2, False)  # none clean: all reps
    assert session_peak([(31.0, None), (33.0, None)]) == (32.0, 2, True)  # verdict unknown: counted
    assert session_peak([(math.nan, True)]) is None


def test_exercise_peaks(prog: Progress) -> None:
    left = [p for p in prog.peaks if p.side is Side.LEFT]
    # rep 1 (base + 6) is compensated: the top 3 clean are base + 2, + 1, + 0
    assert [p.value_deg for p in left] == pytest.approx([20.0 + 1.5 * w + 1.0 for w in range(WEEKS)])
    assert all(p.reps_used == 3 and p.clean_only for p in left)
    right = [p for p in prog.peaks if p.side is Side.RIGHT]
    assert [p.value_deg for p in right] == pytest.approx([30.5] * WEEKS)  # rep 8 (30.7) compensated: 30.6, 30.5, 30.4
    assert not any(p.exercise == "seated-ir-test" for p in prog.peaks)


def test_weekly_hold_and_clean_ratio(prog: Progress) -> None:
    for w, week in enumerate(prog.weeks):
        left, right = week.sides[Side.LEFT], week.sides[Side.RIGHT]
        assert left.mean_hold_s == pytest.approx(LEFT_HOLD[w])
        assert right.mean_hold_s == pytest.approx(RIGHT_HOLD)
        assert left.prescribed_hold_s == right.prescribed_hold_s == (2.0, 5.0)
        assert (left.clean_reps, left.reps) == (LEFT_CLEAN[w], 8)  # ROM-test reps are not counted
        assert (right.clean_reps, right.reps) == (7, 8)
        assert left.clean_ratio == pytest.approx(LEFT_CLEAN[w] / 8)


def test_pain_is_kept_exactly_as_reported(prog: Progress) -> None:
    left = [(p.when.date(), p.set_no, p.pain) for p in prog.pain if p.side is Side.LEFT]
    assert left == [((T0 + timedelta(weeks=w, days=2)).date(), s, v)
                    for w in range(WEEKS) for s, v in enumerate(left_pain(w), start=1)]
    assert [p.pain for p in prog.pain if p.side is Side.RIGHT] == [1, 1] * len(RIGHT_PAIN_WEEKS)
    assert prog.weeks[3].pain == list(left_pain(3))
    assert prog.weeks[0].pain == [5, 6, 1, 1]
    assert prog.weeks[0].sides[Side.LEFT].pain == [5, 6] and prog.weeks[3].sides[Side.RIGHT].pain == []


def test_summary_lines_state_measurements(prog: Progress) -> None:
    text = "\n".join(prog.summary_lines())
    assert "Left seated-ir-test: first 25.0°, latest 38.0° (+13.0°, beyond the noise band); 8 tests." in text
    assert "Right seated-ir-test: first 31.0°, latest 30.5° (-0.5°, within the noise band); 8 tests." in text
    assert "±5.4°" in text


def test_fewer_weeks_and_exercise_filter(seeded: Seeded) -> None:
    with SessionStore.open(seeded.path) as store:
        short = compute_progress(store, weeks=3, tz=UTC)
        only = compute_progress(store, exercise="seated-ir", weeks=WEEKS, tz=UTC)
    assert short.start == (T0 + timedelta(weeks=5)).date()
    left = [p for p in short.rom if p.side is Side.LEFT]
    assert [p.value_deg for p in left] == ROM_LEFT[5:]  # baseline: the first test in the window
    assert [p.beyond_noise for p in left] == [False, False, False]  # 33.5 -> 38.0 is +4.5
    assert not only.rom and len(only.peaks) == 2 * WEEKS
    assert {b.side: b.from_tests for b in only.bands} == {Side.LEFT: False, Side.RIGHT: False}
    assert {b.side: b.baseline_deg for b in only.bands} == pytest.approx({Side.LEFT: 21.0, Side.RIGHT: 30.5})
    assert "No ROM tests in these weeks" in "\n".join(only.summary_lines())


def test_nothing_to_show_is_a_message_not_a_crash(seeded: Seeded, tmp_path: Path) -> None:
    with SessionStore.open(seeded.path) as store:
        prog, path = progress_report(store, tmp_path / "p.png", person="nobody", weeks=6)
        assert path is None and prog.empty and not (tmp_path / "p.png").exists()
        assert prog.message == ("no sessions for nobody (people with sessions: me, simulated); "
                                "record some with hiptrack run.")
        other, _ = progress_report(store, tmp_path / "p.png", exercise="pigeon-stretch")
        assert other.message == "no sessions of pigeon-stretch for me; record some with hiptrack run."
    with SessionStore.open(tmp_path / "empty.sqlite3") as store:
        store.create_session("seated-ir", Side.LEFT, "live", 100.0, SENSORS, created_at=T0)  # still recording
        prog = compute_progress(store)
    assert prog.summary_lines() == ["no sessions for me; record some with hiptrack run."]


def test_a_session_without_analysis_is_insufficient(tmp_path: Path) -> None:
    with SessionStore.open(tmp_path / "s.sqlite3") as store:
        sid = store.create_session("seated-ir", Side.LEFT, "live", 100.0, SENSORS, created_at=T0)
        store.finish_session(sid)
        prog, path = progress_report(store, tmp_path / "p.html", fmt="html", tz=UTC)
    assert path is None
    assert prog.message == ("no analysed sessions for me in the 8 weeks up to 04 Mar 2024; "
                            "record some with hiptrack run.")


# ----------------------------------------------------------------------------------------- drawings

def test_figure_panels_and_lines_match_the_data(fig: Figure, prog: Progress) -> None:
    assert sorted(a.get_gid() for a in fig.axes) == sorted(PANELS)
    for side, gid in ((Side.LEFT, "ir-left"), (Side.RIGHT, "ir-right")):
        ax = panel(fig, gid)
        rom = line(ax, "rom:seated-ir-test")
        assert list(rom.get_ydata()) == [p.value_deg for p in prog.rom if p.side is side]
        peak = line(ax, "peak:seated-ir")
        assert list(peak.get_ydata()) == pytest.approx([p.value_deg for p in prog.peaks if p.side is side])
        (band,) = [c for c in ax.collections if c.get_gid() == "band:seated-ir-test"]
        ys = band.get_paths()[0].vertices[:, 1]
        b = next(b for b in prog.bands if b.side is side)
        assert (ys.min(), ys.max()) == pytest.approx((b.low, b.high))
    ring = line(panel(fig, "ir-left"), "beyond:seated-ir-test")
    assert list(ring.get_ydata()) == ROM_LEFT[4:]
    assert not [x for x in panel(fig, "ir-right").get_lines() if x.get_gid() == "beyond:seated-ir-test"]
    asym = panel(fig, "asymmetry")
    assert list(line(asym, "asym:rom:seated-ir-test").get_ydata()) == pytest.approx(
        [a - b for a, b in zip(ROM_LEFT, ROM_RIGHT, strict=True)])
    assert list(line(asym, "asym-beyond:seated-ir-test").get_ydata()) == pytest.approx([-6.0, 7.5])
    assert len(line(asym, "asym:peak:seated-ir").get_xdata()) == WEEKS
    pain = panel(fig, "pain")
    assert len(line(pain, "pain:left").get_ydata()) == 2 * WEEKS
    assert list(line(pain, "pain:right").get_ydata()) == [1, 1] * len(RIGHT_PAIN_WEEKS)
    hold = panel(fig, "hold")
    assert list(line(hold, "hold:left").get_ydata()) == pytest.approx(LEFT_HOLD)
    (presc,) = [c for c in hold.containers if c.get_label() == "prescribed hold"]
    assert len(presc) == WEEKS and all(r.get_y() == 2.0 and r.get_height() == 3.0 for r in presc)
    clean = panel(fig, "clean")
    (bars_left,) = [c for c in clean.containers if c.get_label() == "left"]
    assert [r.get_height() for r in bars_left] == pytest.approx([100 * c / 8 for c in LEFT_CLEAN])


def test_empty_panels_say_so(seeded: Seeded) -> None:
    with SessionStore.open(seeded.path) as store:
        only_tests = compute_progress(store, exercise="seated-ir-test", tz=UTC)
    fig = progress_figure(only_tests)
    texts = {ax.get_gid(): " ".join(t.get_text() for t in ax.texts) for ax in fig.axes}
    assert "no rep exercises" in texts["hold"] and "no exercise reps" in texts["clean"]
    assert "no pain ratings" in texts["pain"]


def test_png_and_html_outputs(seeded: Seeded, tmp_path: Path) -> None:
    with SessionStore.open(seeded.path) as store:
        prog, png = progress_report(store, tmp_path / "out" / "p.png", tz=UTC)
        _, page = progress_report(store, tmp_path / "p.html", fmt="html", tz=UTC)
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page is not None
    text = page.read_text(encoding="utf-8")
    m = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert m is not None and base64.b64decode(m.group(1))[:4] == b"\x89PNG"
    assert "http" not in text.replace("data:image", "")  # self-contained
    rows = weekly_rows(prog)
    assert len(rows) == WEEKS
    assert rows[0]["IR test left"] == "25.0°" and rows[7]["IR test left"] == "38.0°"
    assert rows[7]["Left − right (tests)"] == "+7.5° beyond noise"
    assert rows[2]["Clean reps left"] == "5/8 (62%)" and rows[2]["Clean reps right"] == "7/8 (88%)"
    assert rows[4]["Mean hold left"] == "3.0 s" and rows[4]["Prescribed hold"] == "2–5 s"
    assert rows[0]["Pain left"] == "max 6, mean 5.5 (2)" and rows[0]["Pain right"] == "max 1, mean 1.0 (2)"
    assert rows[3]["Pain right"] == "–"
    for r in rows:
        for v in r.values():
            assert v in text
    assert "not medical advice" in text


def test_html_escapes_names(seeded: Seeded) -> None:
    with SessionStore.open(seeded.path) as store:
        prog = compute_progress(store, tz=UTC)
    prog.person = "<b>me</b>"
    page = progress_html(prog)
    assert "<b>me</b>" not in page and "&lt;b&gt;me&lt;/b&gt;" in page


def test_default_path(tmp_path: Path) -> None:
    assert default_progress_path(tmp_path / "s.sqlite3", "Ana M.", "seated-ir", "html") == \
        tmp_path / "reports" / "progress-Ana_M_-seated-ir.html"
    assert default_progress_path(tmp_path / "s.sqlite3", "me", None, "png").name == "progress-me.png"

