"""The post-session report (`hiptrack report --format png|html|pdf`): sessions simulated with a known
compensation, analysed and stored as a live session stores them; every format's contents checked
against what the store holds, not just that a file appears."""

from __future__ import annotations

import base64
import dataclasses
import io
import math
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import matplotlib.image
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from firmware_bridge.simulator import simulate_session
from firmware_bridge.simulator.exercise_model import Compensation, CompensationKind
from imu_core.frames import Segment, Side
from imu_core.types import MarkerLabel
from tracker.errors import UnknownSessionError
from tracker.offline import analyse_recording_in_detail
from tracker.report import (
    CLEAN_BAR,
    COMP_BAR,
    DPI,
    default_report_path,
    report_figure,
    report_format,
    save_report,
    write_report,
)
from tracker.report_data import RepRow, SessionReport, build_report, report_tables
from tracker.report_pdf import table_figures
from tracker.rom_compare import rom_comparison
from tracker.store import SessionStore

PAIN = {1: 3, 2: 7}
GAP = (Segment.SHIN, 30.0, 30.5, 50, "disconnect")
PERSON = "Ana"
BAND = "<b>red</b> & \"strong\""
"""A band level with markup in it: the HTML must show it as text."""


@dataclass(frozen=True)
class Stored:
    path: Path
    reps: int
    """seated-ir, 2 sets of 3 reps, thigh drift injected into rep 2, pain after each set, one gap"""
    rom: int
    stretch: int
    bare: int
    """The reps session again, stored as an import stores it: analysis only, no details, no pain."""


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    path = tmp_path_factory.mktemp("report") / "hiptrack.sqlite3"
    with SessionStore.open(path) as store:

        def add(exercise: str, details: bool = True, **kw: object) -> int:
            sim = simulate_session(seed=3, side=Side.RIGHT, exercise=exercise, **kw)  # type: ignore[arg-type]
            result, _, _, det = analyse_recording_in_detail(sim.recording)
            sid = store.store_recording(sim.recording, "demo", person=PERSON)
            store.save_analysis(sid, result)
            if details:
                det["prescription"]["band_level"] = BAND if exercise == "seated-ir" else None
                store.save_details(sid, det)
            store.commit()
            return sid

        comps = [Compensation(CompensationKind.THIGH_DRIFT, 2)]
        reps = add("seated-ir", reps=3, sets=2, compensations=comps)
        for set_no, pain in PAIN.items():
            store.add_pain(reps, set_no, pain)
        store.add_gap(reps, *GAP)
        store.commit()
        rom = add("prone-ir-test", max_seconds=60)
        stretch = add("supine-ir-stretch", max_seconds=70)
        bare = add("seated-ir", details=False, reps=3, sets=2, compensations=comps)
        result = store.load_analysis(reps)
    assert result is not None and len(result.reps) == 6
    assert {(c.kind, c.rep) for c in result.compensations} == {("thigh_drift", 2)}, "the injected compensation"
    return Stored(path, reps, rom, stretch, bare)


@pytest.fixture(scope="module")
def report(stored: Stored) -> SessionReport:
    with SessionStore.open(stored.path) as store:
        return build_report(store, stored.reps)


# ------------------------------------------------------------------------------------------- helpers


def axes(fig: Figure, label: str) -> Axes:
    (ax,) = [a for a in fig.axes if a.get_label() == label]
    return ax


def spans(ax: Axes, prefix: str) -> dict[str, tuple[float, float]]:
    """gid -> (x0, x1) of the axvspans whose gid is prefix-N."""
    out = {}
    for p in ax.patches:
        gid = p.get_gid()
        if gid and re.fullmatch(rf"{prefix}-\d+", gid):
            assert isinstance(p, Rectangle)
            out[gid] = (p.get_x(), p.get_x() + p.get_width())
    return out


def bars(ax: Axes, prefix: str) -> dict[int, Rectangle]:
    out = {}
    for p in ax.patches:
        gid = p.get_gid()
        if gid and re.fullmatch(rf"{prefix}-\d+", gid):
            assert isinstance(p, Rectangle)
            out[int(gid.rsplit("-", 1)[1])] = p
    return out


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(io.BytesIO(data), format="png")
    return img.shape[1], img.shape[0]


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", data))


def pdf_text(data: bytes) -> str:
    """The text shown by an uncompressed matplotlib PDF (it writes each string as a kerned TJ array)."""
    lines = []
    for arr in re.findall(rb"\[(.*?)\]\s*TJ", data, re.S):
        pieces = re.findall(rb"\(((?:\\.|[^\\)])*)\)", arr)
        lines.append(re.sub(rb"\\(.)", rb"\1", b"".join(pieces)).decode("latin-1"))
    return "\n".join(lines)


def figure_text(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


class Html(HTMLParser):
    """The tables (by their section id), the images and every tag/attribute of an HTML report."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.row_classes: dict[str, list[str]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._section = ""
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "section":
            self._section = a.get("id") or ""
        elif tag == "tr":
            self.tables.setdefault(self._section, []).append([])
            self.row_classes.setdefault(self._section, []).append(a.get("class") or "")
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._section][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


# ------------------------------------------------------------------------------------------- the data


def test_report_rows_are_the_stored_session(stored: Stored, report: SessionReport) -> None:
    with SessionStore.open(stored.path) as store:
        result = store.load_analysis(stored.reps)
        details = store.load_details(stored.reps)
        rec = store.load_recording(stored.reps)
        info = store.get_session(stored.reps)
    assert result is not None and details is not None
    assert [(r.start, r.peak_t, r.end, r.peak_deg, r.hold_s) for r in report.reps] == \
        [(r.start, r.peak, r.end, r.peak_ir_deg, r.hold_s) for r in result.reps]
    assert [(r.number, r.set_no, r.tempo) for r in report.reps] == \
        [(d["number"], d["set"], d["tempo"]) for d in details["reps"]]
    assert [r.result for r in report.reps] == ["clean", "thigh drift", "clean", "clean", "clean", "clean"]
    assert [(c.kind, c.start, c.end, c.rep) for c in report.compensations] == \
        [(c.kind, c.start, c.end, c.rep) for c in result.compensations]
    assert report.compensations[0].message == "Keep your knee still."
    assert [(s.number, s.reps, s.clean_reps, s.pain) for s in report.sets] == [(1, 3, 2, 3), (2, 3, 3, 7)]
    assert [(g.sensor, g.start, g.end, g.samples_lost, g.reason_words) for g in report.gaps] == \
        [("shin", 30.0, 30.5, 50, "sensor disconnected")]
    starts = [m.t for m in rec.markers if m.label == MarkerLabel.EXERCISE_START]
    assert [(p.label, p.start) for p in report.phases if p.kind == "set"] == [("set 1", starts[0]),
                                                                             ("set 2", starts[1])]
    assert {p.label for p in report.phases} >= {"still", "knee swings"}
    assert report.target_band_ir_deg == pytest.approx((25.5, 34.5))
    assert report.hold_range_s == (2.0, 5.0)
    assert report.band_level == BAND
    assert report.title == (f"Session {stored.reps} · {PERSON} · Seated hip internal rotation · right leg · "
                            f"{info.created_at:%Y-%m-%d %H:%M} UTC")
    reps_table = next(t for t in report_tables(report) if t.key == "reps")
    assert len(reps_table.rows) == len(result.reps)
    assert reps_table.flagged == (False, True, False, False, False, False)


def test_unknown_session_is_refused(stored: Stored) -> None:
    with SessionStore.open(stored.path) as store, pytest.raises(UnknownSessionError):
        build_report(store, 999)


def test_report_format_and_default_path() -> None:
    assert report_format(None, None) == "png"
    assert report_format(None, Path("r/x.PDF")) == "pdf"
    assert report_format(None, Path("x.htm")) == "html"
    assert report_format("html", Path("x.png")) == "html"
    assert report_format(None, Path("x.txt")) == "png"
    with pytest.raises(ValueError, match="png, html, pdf"):
        report_format("docx", None)
    assert default_report_path(Path("/d/hiptrack.sqlite3"), 4, "pdf") == Path("/d/reports/session-4.pdf")


# ------------------------------------------------------------------------------------------- figure


def test_figure_marks_reps_holds_and_compensations_at_their_times(report: SessionReport) -> None:
    fig = report_figure(report)
    ir = axes(fig, "hip_ir")
    assert list(spans(ir, "rep").values()) == [(r.start, r.end) for r in report.reps]
    assert list(spans(ir, "hold").values()) == [(h.start, h.end) for h in report.holds]
    (comp,) = report.compensations
    assert list(spans(ir, "comp").values()) == [(comp.start, comp.end)]
    assert list(spans(axes(fig, "knee"), "comp-knee").values()) == [(comp.start, comp.end)]
    assert "thigh drift" in [t.get_text() for t in ir.texts]
    assert {t.get_text() for t in ir.texts} >= {"still", "knee swings", "set 1", "set 2"}
    assert ir.get_ylabel() == "hip internal rotation (°)" and axes(fig, "knee").get_ylabel() == "knee flexion (°)"
    assert fig.get_suptitle() == report.title

    peaks, holds = bars(axes(fig, "peaks"), "peak"), bars(axes(fig, "holds"), "holdbar")
    assert sorted(peaks) == sorted(holds) == [r.number for r in report.reps]
    for r in report.reps:
        assert peaks[r.number].get_height() == pytest.approx(r.peak_deg)
        assert holds[r.number].get_height() == pytest.approx(r.hold_s)
        expected = CLEAN_BAR if r.clean else COMP_BAR
        assert matplotlib.colors.same_color(peaks[r.number].get_facecolor(), expected)
        assert matplotlib.colors.same_color(holds[r.number].get_facecolor(), expected)
    legend = axes(fig, "peaks").get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["clean", "with compensation", "target band 26°–34°"]
    hold_legend = axes(fig, "holds").get_legend()
    assert hold_legend is not None and "prescribed 2–5 s" in [t.get_text() for t in hold_legend.get_texts()]
    text = figure_text(fig)
    assert "pain 3/10 (as reported)" in text and "pain 7/10 (as reported)" in text
    assert "Missing sensor data: shin 30.0–30.5 s" in text
    assert "no medical advice" in text


def test_png_is_the_figure(stored: Stored, tmp_path: Path) -> None:
    with SessionStore.open(stored.path) as store:
        out = write_report(store, stored.reps, tmp_path / "deep" / "r.png", "png")
        report = build_report(store, stored.reps)
    w, h = png_size(out.read_bytes())
    fw, fh = report_figure(report).get_size_inches()
    assert (w, h) == (round(fw * DPI), round(fh * DPI))
    assert [p.name for p in out.parent.iterdir()] == ["r.png"]  # no temporary file left behind


# ------------------------------------------------------------------------------------------- HTML


def test_html_is_self_contained_and_holds_the_tables(stored: Stored, report: SessionReport, tmp_path: Path) -> None:
    out = save_report(report, tmp_path / "r.html", "html")
    text = out.read_text(encoding="utf-8")
    page = Html(text)
    reps = page.tables["reps"]
    assert reps[0] == ["Rep", "Set", "Peak (°)", "Hold (s)", "Tempo up-hold-down (s)", "Result"]
    assert reps[1:] == [[str(r.number), str(r.set_no), f"{r.peak_deg:.1f}", f"{r.hold_s:.1f}", r.tempo, r.result]
                        for r in report.reps]
    assert page.row_classes["reps"][1:] == ["", "comp", "", "", "", ""]
    sets = page.tables["sets"]
    assert [row[0] for row in sets[1:]] == ["1", "2"]
    assert [row[-1] for row in sets[1:]] == [str(PAIN[1]), str(PAIN[2])]
    (comp,) = report.compensations
    assert page.tables["compensations"][1] == ["thigh drift", f"{comp.start:.1f}", f"{comp.end:.1f}", "2",
                                               "Keep your knee still."]
    assert page.tables["gaps"][1] == ["shin", "30.00", "30.50", "50", "sensor disconnected"]
    # escaped: the band level is text, not markup
    assert BAND not in text and "&lt;b&gt;red&lt;/b&gt; &amp; &quot;strong&quot;" in text
    assert f"Band: {BAND}." in "".join(page.text)
    assert not any(tag == "b" for tag, _ in page.tags)
    # self-contained: no scripts, no links, the only image is embedded
    assert not [t for t, _ in page.tags if t in ("script", "link", "iframe", "object", "embed")]
    urls = [v for _, a in page.tags for k, v in a.items() if k in ("src", "href") and v]
    assert len(urls) == 1 and urls[0].startswith("data:image/png;base64,")
    assert "http://" not in text and "https://" not in text and "url(" not in text
    w, _ = png_size(base64.b64decode(urls[0].split(",", 1)[1]))
    assert w == 12 * DPI
    assert "@media print" in text
    assert report.title in "".join(page.text)
    assert f"Person: {PERSON} · demo session, complete." in "".join(page.text)


# ------------------------------------------------------------------------------------------- PDF


def test_pdf_pages_hold_the_figure_and_the_tables(report: SessionReport, tmp_path: Path) -> None:
    with matplotlib.rc_context({"pdf.compression": 0}):
        out = save_report(report, tmp_path / "r.pdf", "pdf")
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert pdf_pages(data) == 1 + len(table_figures(report)) == 2
    text = pdf_text(data)
    assert "Seated hip internal rotation" in text
    assert report.title in text
    for r in report.reps:
        assert f"{r.peak_deg:.1f}" in text and (r.tempo or "") in text
    assert "thigh drift" in text and "Keep your knee still." in text
    assert "sensor disconnected" in text
    assert "Pain 0-10 (as reported)" in text
    assert b"/Title (\xfe\xff" + report.title.encode("utf-16-be") in data  # the document's metadata (UTF-16)


def test_long_tables_continue_on_more_pages_with_their_header(report: SessionReport) -> None:
    many = tuple(RepRow(n, 1 + (n - 1) // 20, 10.0 * n, 10.0 * n + 2, 10.0 * n + 5, 20.0 + n / 10, 3.0,
                        "1.0-3.0-1.0", ("too_fast",) if n % 7 == 0 else ()) for n in range(1, 81))
    pages = table_figures(dataclasses.replace(report, reps=many))
    assert len(pages) >= 3
    texts = [figure_text(p) for p in pages]
    for n in range(1, 81):
        assert f"{20.0 + n / 10:.1f}" in "\n".join(texts)
    continued = [t for t in texts[1:] if "Tempo up-hold-down (s)" in t]
    assert continued, "the reps table's header is repeated where it breaks"
    assert all(f"page {k + 2} of {len(pages) + 1}" in t for k, t in enumerate(texts))


# ------------------------------------------------------------------------------------------- other kinds


def test_rom_test_shows_its_result_with_the_uncertainty(stored: Stored, tmp_path: Path) -> None:
    with SessionStore.open(stored.path) as store:
        report = build_report(store, stored.rom)
        lines = rom_comparison(store, stored.rom, report.exercise)
        info = store.get_session(stored.rom)
    assert info.max_ir_deg is not None
    assert report.rom_lines == tuple(lines)
    assert lines[0] == f"Largest internal rotation: {info.max_ir_deg:.1f}° (measurement uncertainty about ±2°)."
    assert report.unit == ("attempt", "attempts")
    page = Html(save_report(report, tmp_path / "rom.html", "html").read_text(encoding="utf-8"))
    assert lines[0] in "".join(page.text)
    assert page.tables["reps"][0][0] == "Attempt"
    assert "Usual values for this test: about 45°." in figure_text(report_figure(report))


def test_stretch_shows_time_at_target(stored: Stored, tmp_path: Path) -> None:
    with SessionStore.open(stored.path) as store:
        report = build_report(store, stored.stretch)
        details = store.load_details(stored.stretch)
    assert details is not None
    tat = details["stretch"]["time_at_target_s"]
    assert report.stretch_time_at_target_s == tat > 0
    assert report.sets[0].time_at_target_s == details["sets"][0]["time_at_target_s"]
    fig = report_figure(report)
    hold_bars = bars(axes(fig, "holds"), "holdbar")
    assert [b.get_height() for b in hold_bars.values()] == pytest.approx([r.hold_s for r in report.reps])
    assert axes(fig, "holds").get_ylabel() == "time at target (s)"
    page = Html(save_report(report, tmp_path / "s.html", "html").read_text(encoding="utf-8"))
    assert page.tables["sets"][0][:2] == ["Set", "Time at target (s)"]
    assert page.tables["sets"][1][1] == f"{details['sets'][0]['time_at_target_s']:.1f}"
    assert page.tables["sets"][1][-1] == "not reported"


def test_session_stored_without_details_gets_them_recomputed(stored: Stored, report: SessionReport,
                                                             tmp_path: Path) -> None:
    with SessionStore.open(stored.path) as store:
        assert store.load_details(stored.bare) is None
        bare = build_report(store, stored.bare)
        for fmt in ("png", "html", "pdf"):
            assert write_report(store, stored.bare, tmp_path / f"b.{fmt}", fmt).stat().st_size > 10_000
    assert [(r.number, r.set_no, r.tempo, r.result) for r in bare.reps] == \
        [(r.number, r.set_no, r.tempo, r.result) for r in report.reps]
    assert [s.pain for s in bare.sets] == [None, None]
    assert bare.gaps == () and bare.band_level is None
    assert all(math.isfinite(r.peak_deg) for r in bare.reps)
