"""The post-session report as one self-contained HTML file: the chart embedded as a base64 PNG, the
tables as HTML, all text escaped, no scripts and nothing loaded from elsewhere; it prints on A4."""

from __future__ import annotations

import base64
from html import escape

from tracker.report_data import DISCLAIMER, ReportTable, SessionReport, report_tables

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 1.5rem auto; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.4rem; margin: 0 0 .3rem; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 .4rem; border-bottom: 1px solid #ccc; padding-bottom: .15rem; }
p { margin: .25rem 0; }
.meta { color: #555; }
figure { margin: 1rem 0; }
figure img { width: 100%; height: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f1f4f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.comp td { background: #fdebd9; }
.note { color: #555; font-size: .88rem; }
footer { margin-top: 1.6rem; color: #555; font-size: .88rem; border-top: 1px solid #ccc; padding-top: .4rem; }
@page { size: A4; margin: 12mm; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  figure { break-inside: avoid; }
  table { page-break-inside: auto; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
  h2 { break-after: avoid; }
}
"""

_NUMERIC_HEADERS = ("(s)", "(°)", "Set", "Clean", "Partial", "With compensation", "Samples", "Shifts")


def report_html(report: SessionReport, chart_png: bytes | None = None) -> str:
    """The whole HTML file. `chart_png`: the chart already drawn (default: draw `report_figure`)."""
    if chart_png is None:
        from tracker.report import figure_png, report_figure

        chart_png = figure_png(report_figure(report, with_summary=False))
    e = escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(report.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{e(report.title)}</h1>",
        f'<p class="meta">{e(report.summary_line())}</p>',
        f'<p class="meta">{e(report.meta_line())}</p>',
        "</header>",
        '<section id="chart">',
        f'<figure><img alt="{e(_alt(report))}" src="data:image/png;base64,{base64.b64encode(chart_png).decode()}">',
        f'<figcaption class="note">{e(_caption(report))}</figcaption></figure>',
        "</section>",
        '<section id="prescription">',
        "<h2>Prescription</h2>",
        f"<p>{e(report.prescription_text())}</p>",
        *(f"<p>{e(line)}</p>" for line in report.set_lines()),
        "</section>",
    ]
    if report.rom_lines:
        parts += ['<section id="rom">', "<h2>Test result</h2>", *(f"<p>{e(x)}</p>" for x in report.rom_lines),
                  "</section>"]
    for table in report_tables(report):
        parts += _table(table)
    if report.notes:
        parts += ['<section id="notes">', "<h2>Notes</h2>", *(f"<p>{e(x)}</p>" for x in report.notes), "</section>"]
    parts += [f"<footer>{e(DISCLAIMER)}</footer>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _caption(report: SessionReport) -> str:
    one, hold = report.unit[0], report.hold_heading
    return (f"Top: hip rotation over time, each {one} shaded blue, {hold} yellow, compensations hatched in their "
            f"own colour and named; knee flexion below. Bars: each {one}'s peak against the target band and its "
            f"{hold} against the prescription.")


def _alt(report: SessionReport) -> str:
    return f"Chart of {report.title}: {report.summary_line()}"


def _table(table: ReportTable) -> list[str]:
    e = escape
    out = [f'<section id="{e(table.key)}">', f"<h2>{e(table.title)}</h2>"]
    if not table.rows:
        out.append(f"<p>{e(table.empty)}</p>")
    else:
        numeric = [any(h.endswith(x) or h == x for x in _NUMERIC_HEADERS) for h in table.headers]
        out.append(f'<table class="{e(table.key)}">')
        out.append("<thead><tr>" + "".join(f'<th scope="col">{e(h)}</th>' for h in table.headers) + "</tr></thead>")
        out.append("<tbody>")
        for i, row in enumerate(table.rows):
            flagged = i < len(table.flagged) and table.flagged[i]
            cls = ' class="comp"' if flagged else ""
            cells = "".join(f'<td class="num">{e(c)}</td>' if num else f"<td>{e(c)}</td>"
                            for c, num in zip(row, numeric, strict=True))
            out.append(f"<tr{cls}>{cells}</tr>")
        out.append("</tbody></table>")
    out += [f'<p class="note">{e(n)}</p>' for n in table.notes]
    out.append("</section>")
    return out
