"""The post-session report as a PDF (matplotlib's PdfPages): the chart on the first page, then the
prescription, the test result and the tables on A4 pages, a table's header repeated where it breaks."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from tracker.report_data import DISCLAIMER, ReportTable, SessionReport, report_tables

PAGE_W, PAGE_H = 8.27, 11.69
"""A4 portrait, in."""
MARGIN = 0.6
TOP = PAGE_H - 0.55
BOTTOM = 0.75
FONT = 8.5
LINE = 0.165
"""Height of one text line at FONT, in."""
CHAR_W = 0.0068 * FONT
"""Rough width of an average character at FONT, in (for wrapping)."""
FLAG_FILL = "#fdebd9"
HEAD_FILL = "#e8edf4"

Draw = Callable[[Figure, float], None]
"""Draws an item with its top at y (in) on the page."""


@dataclass(frozen=True, slots=True)
class _Item:
    height: float
    draw: Draw
    keep_with_next: bool = False
    repeat_header: _Item | None = None
    """For a table row: the header to draw again at the top of a new page."""


def _text(x: float, y: float, s: str, **kw: object) -> Draw:
    def draw(fig: Figure, top: float) -> None:
        fig.text(x / PAGE_W, (top - y) / PAGE_H, s, va="top", ha="left", **kw)  # type: ignore[arg-type]
    return draw


def _paragraph(s: str, size: float = FONT, bold: bool = False, colour: str = "#222",
               space_before: float = 0.0, keep_with_next: bool = False) -> _Item:
    width = PAGE_W - 2 * MARGIN
    chars = max(20, int(width / (CHAR_W * size / FONT)))
    lines = textwrap.wrap(s, chars) or [""]
    line = LINE * size / FONT
    h = space_before + line * len(lines) + 0.04
    draw = _text(MARGIN, space_before, "\n".join(lines), fontsize=size, fontweight="bold" if bold else "normal",
                 color=colour, linespacing=1.25)
    return _Item(h, draw, keep_with_next)


def _column_widths(table: ReportTable) -> list[float]:
    width = PAGE_W - 2 * MARGIN
    want = []
    for i, h in enumerate(table.headers):
        longest = max([len(h)] + [len(r[i]) for r in table.rows])
        want.append(min(max(longest, 4), 40) + 2)
    total = sum(want)
    return [width * w / total for w in want]


def _row(cells: Sequence[str], widths: Sequence[float], bold: bool = False, fill: str | None = None) -> _Item:
    wrapped = [textwrap.wrap(c, max(4, int((w - 0.08) / CHAR_W))) or [""] for c, w in zip(cells, widths, strict=True)]
    n = max(len(w) for w in wrapped)
    h = LINE * n * 1.12 + 0.07

    def draw(fig: Figure, top: float) -> None:
        if fill is not None:
            fig.add_artist(Rectangle((MARGIN / PAGE_W, (top - h) / PAGE_H), sum(widths) / PAGE_W, h / PAGE_H,
                                     transform=fig.transFigure, facecolor=fill, edgecolor="none", zorder=0))
        x = MARGIN
        for lines, w in zip(wrapped, widths, strict=True):
            fig.text((x + 0.04) / PAGE_W, (top - 0.035) / PAGE_H, "\n".join(lines), va="top", ha="left",
                     fontsize=FONT, fontweight="bold" if bold else "normal", linespacing=1.12)
            x += w
        fig.add_artist(Rectangle((MARGIN / PAGE_W, (top - h) / PAGE_H), sum(widths) / PAGE_W, 0.0,
                                 transform=fig.transFigure, edgecolor="#bbb", lw=0.5, fill=False))
    return _Item(h, draw)


def _table_items(table: ReportTable) -> list[_Item]:
    items = [_paragraph(table.title, size=11, bold=True, space_before=0.18, keep_with_next=True)]
    if not table.rows:
        items.append(_paragraph(table.empty))
    else:
        widths = _column_widths(table)
        header = _row(table.headers, widths, bold=True, fill=HEAD_FILL)
        items.append(_Item(header.height, header.draw, keep_with_next=True))
        for i, row in enumerate(table.rows):
            flagged = i < len(table.flagged) and table.flagged[i]
            r = _row(row, widths, fill=FLAG_FILL if flagged else None)
            items.append(_Item(r.height, r.draw, repeat_header=header))
    items += [_paragraph(n, size=FONT - 0.5, colour="#555") for n in table.notes]
    return items


def _page_items(report: SessionReport) -> list[_Item]:
    items = [_paragraph(report.title, size=12, bold=True),
             _paragraph(report.summary_line(), colour="#444"),
             _paragraph(report.meta_line(), colour="#444"),
             _paragraph("Prescription", size=11, bold=True, space_before=0.18, keep_with_next=True),
             _paragraph(report.prescription_text()),
             *(_paragraph(x) for x in report.set_lines())]
    if report.rom_lines:
        items.append(_paragraph("Test result", size=11, bold=True, space_before=0.18, keep_with_next=True))
        items += [_paragraph(x) for x in report.rom_lines]
    for table in report_tables(report):
        items += _table_items(table)
    if report.notes:
        items.append(_paragraph("Notes", size=11, bold=True, space_before=0.18, keep_with_next=True))
        items += [_paragraph(x) for x in report.notes]
    return items


def table_figures(report: SessionReport) -> list[Figure]:
    """The pages after the chart: prescription, test result and tables, as A4 figures."""
    pages: list[list[tuple[float, _Item]]] = [[]]
    y = TOP
    items = _page_items(report)
    for i, item in enumerate(items):
        need = item.height
        j = i
        while items[j].keep_with_next and j + 1 < len(items):  # a heading stays with what follows it
            j += 1
            need += items[j].height
        if y - need < BOTTOM and pages[-1]:
            pages.append([])
            y = TOP
            if item.repeat_header is not None:
                pages[-1].append((y, item.repeat_header))
                y -= item.repeat_header.height
        pages[-1].append((y, item))
        y -= item.height
    figures = []
    for k, placed in enumerate(pages, start=1):
        fig = Figure(figsize=(PAGE_W, PAGE_H))
        for top, item in placed:
            item.draw(fig, top)
        fig.text(MARGIN / PAGE_W, 0.4 / PAGE_H, DISCLAIMER, fontsize=7, color="#666", va="bottom", ha="left")
        fig.text(1 - MARGIN / PAGE_W, 0.4 / PAGE_H, f"Session {report.session_id} · page {k + 1} of {len(pages) + 1}",
                 fontsize=7, color="#666", va="bottom", ha="right")
        figures.append(fig)
    return figures


def report_figures(report: SessionReport) -> list[Figure]:
    """Every page of the PDF: the chart, then the tables."""
    from tracker.report import report_figure

    return [report_figure(report), *table_figures(report)]


def write_pdf(report: SessionReport, out: Path) -> Path:
    metadata = {"Title": report.title, "Subject": f"{report.exercise.name}: post-session report",
                "Creator": "hiptrack", "CreationDate": datetime.now(UTC)}
    with PdfPages(out, metadata=metadata) as pdf:
        for fig in report_figures(report):
            pdf.savefig(fig)
    return out
