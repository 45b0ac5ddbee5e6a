"""Drawing `tracker.progress.Progress`: one PNG with six panels, and a self-contained HTML page (the PNG
embedded as base64, a table of the weekly numbers, and how to read them).

Panels (each has its `gid`, so tests and tools can find it): `ir-left`, `ir-right` (IR range per side:
ROM tests with error bars, the noise band around the first test, exercise peaks dashed), `asymmetry`
(left minus right per week, band +-MDC around 0), `pain` (every rating as given), `hold` (weekly mean
hold against the prescribed range), `clean` (weekly share of reps without compensation).
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from datetime import date, datetime, time, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from imu_core.frames import Side
from tracker.progress import PEAK_TOP_N, Progress, SideWeek, Week
from tracker.rom_compare import PUBLISHED_MDC_DEG

SIDE_COLOUR = {Side.LEFT: "#1f5fa8", Side.RIGHT: "#d2600a"}
BAND_COLOUR = "#9a9a9a"
PRESCRIBED_COLOUR = "#bfe3bf"
MARKERS = ("o", "s", "^", "D", "v", "P")
PANELS = ("ir-left", "ir-right", "asymmetry", "pain", "hold", "clean")


def _x(prog: Progress, when: datetime | date) -> float:
    """Matplotlib's date number (days) of a local time in the progress's time zone (what the axes show)."""
    naive = (when.astimezone(prog.tz).replace(tzinfo=None) if isinstance(when, datetime)
             else datetime.combine(when, time()))
    return float(mdates.date2num(naive))  # type: ignore[no-untyped-call]


def _mid(prog: Progress, week: Week) -> float:
    return _x(prog, week.start) + 3.5


def progress_figure(prog: Progress) -> Figure:
    """The six-panel progress figure (not saved; `write_png` saves it)."""
    fig = Figure(figsize=(13.5, 12.5), dpi=100, layout="constrained")
    gs = fig.add_gridspec(3, 2, height_ratios=[1.35, 1.0, 1.0])
    ax_left = fig.add_subplot(gs[0, 0], gid="ir-left")
    ax_right = fig.add_subplot(gs[0, 1], gid="ir-right", sharey=ax_left)
    ax_asym = fig.add_subplot(gs[1, 0], gid="asymmetry")
    ax_pain = fig.add_subplot(gs[1, 1], gid="pain")
    ax_hold = fig.add_subplot(gs[2, 0], gid="hold")
    ax_clean = fig.add_subplot(gs[2, 1], gid="clean")
    for ax, side in ((ax_left, Side.LEFT), (ax_right, Side.RIGHT)):
        _ir_panel(ax, prog, side)
    _asymmetry_panel(ax_asym, prog)
    _pain_panel(ax_pain, prog)
    _hold_panel(ax_hold, prog)
    _clean_panel(ax_clean, prog)
    x0, x1 = _x(prog, prog.start), _x(prog, prog.end)
    for ax in (ax_left, ax_right, ax_asym, ax_pain, ax_hold, ax_clean):
        ax.set_xlim(x0, x1)
        every = max(1, (prog.weeks_back + 9) // 10)
        ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO, interval=every))  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))  # type: ignore[no-untyped-call]
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=9)
    who = prog.person + (f" · {prog.exercise}" if prog.exercise else "")
    last = prog.end - timedelta(days=1)
    fig.suptitle(f"Hip internal rotation progress: {who}\n{prog.start:%d %b %Y} to {last:%d %b %Y}, "
                 f"{prog.weeks_back} weeks up to the newest session", fontsize=13)
    fig.supxlabel(
        f"Measurements only. Grey band: ±{prog.mdc_deg:.1f}°, the smallest change a repeated hip IR test shows "
        f"beyond measurement noise (published MDC), around each side's first test.\n"
        f"Hatched band: around the first exercise peak when there is no test. Black ring: beyond the band. "
        f"Error bars: the sensors' uncertainty for one test.\n"
        f"Exercise peak: mean of the {PEAK_TOP_N} largest reps without compensation in a session; exercises are "
        f"not tests, their noise is at least as large, so they are never ringed. Pain: exactly as reported.",
        fontsize=8.5, color="#444")
    return fig


def _no_data(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=10, color="#777")


def _ir_panel(ax: Axes, prog: Progress, side: Side) -> None:
    colour = SIDE_COLOUR[side]
    x_end = _x(prog, prog.end)
    for band in (b for b in prog.bands if b.side is side):
        xs = [_x(prog, band.since), x_end]
        what = "first test" if band.from_tests else "first exercise peak (at least)"
        ax.fill_between(xs, band.low, band.high, color=BAND_COLOUR, alpha=0.28 if band.from_tests else 0.14,
                        hatch=None if band.from_tests else "//", lw=0, gid=f"band:{band.exercise}",
                        label=f"noise ±{band.mdc_deg:.1f}° around {what}")
        ax.hlines(band.baseline_deg, xs[0], xs[1], colors=BAND_COLOUR, linestyles=":", lw=1.2)
    rom = [p for p in prog.rom if p.side is side]
    tests = sorted({p.exercise for p in rom})
    for i, ex in enumerate(tests):
        pts = [p for p in rom if p.exercise == ex]
        xs = [_x(prog, p.when) for p in pts]
        ys = [p.value_deg for p in pts]
        ax.errorbar(xs, ys, yerr=[p.uncertainty_deg for p in pts], fmt="none", ecolor=colour, alpha=0.55, lw=1.2)
        ax.plot(xs, ys, "-", marker=MARKERS[i % len(MARKERS)], color=colour, lw=2.0, ms=7, zorder=4,
                gid=f"rom:{ex}", label=f"ROM test ({ex})")
        flagged = [p for p in pts if p.beyond_noise]
        if flagged:
            ax.plot([_x(prog, p.when) for p in flagged], [p.value_deg for p in flagged], "o", ls="none", ms=14,
                    mfc="none", mec="black", mew=1.6, zorder=5, gid=f"beyond:{ex}", label="beyond the noise band")
        lastp = pts[-1]
        text = f"{lastp.value_deg:.1f}°" + ("" if lastp.change_deg is None else f" ({lastp.change_deg:+.1f}°)")
        ax.annotate(text, (_x(prog, lastp.when), lastp.value_deg), textcoords="offset points", xytext=(0, 11),
                    ha="center", fontsize=9, fontweight="bold", color=colour)
    peaks = [p for p in prog.peaks if p.side is side]
    for i, ex in enumerate(sorted({p.exercise for p in peaks})):
        ppts = [p for p in peaks if p.exercise == ex]
        ax.plot([_x(prog, p.when) for p in ppts], [p.value_deg for p in ppts], "--",
                marker=MARKERS[(i + len(tests)) % len(MARKERS)], mfc="white", color=colour, alpha=0.75, lw=1.1,
                ms=5, zorder=3, gid=f"peak:{ex}", label=f"exercise peak ({ex})")
    if not rom and not peaks:
        _no_data(ax, "no ROM tests or exercise peaks\nfor this side in these weeks")
    ax.set_title(f"{side.value.capitalize()} hip: internal rotation range", fontsize=11, color=colour,
                 fontweight="bold")
    ax.set_ylabel("deg")
    if rom or peaks:
        ax.legend(loc="upper left", fontsize=8, framealpha=0.85)


def _asymmetry_panel(ax: Axes, prog: Progress) -> None:
    mdc = prog.mdc_deg
    ax.axhspan(-mdc, mdc, color=BAND_COLOUR, alpha=0.28, lw=0, gid="asym-band", label=f"noise ±{mdc:.1f}°")
    ax.axhline(0.0, color="#555", lw=0.8)
    asym = prog.asymmetry
    for from_tests in (True, False):
        for i, ex in enumerate(sorted({a.exercise for a in asym if a.from_tests is from_tests})):
            pts = [a for a in asym if a.from_tests is from_tests and a.exercise == ex]
            xs = [_x(prog, a.week) + 3.5 for a in pts]
            ys = [a.diff_deg for a in pts]
            if from_tests:
                ax.plot(xs, ys, "-D", color="#333", ms=7, lw=1.6, zorder=4, gid=f"asym:rom:{ex}",
                        label=f"ROM test ({ex})")
                flagged = [(x, a.diff_deg) for x, a in zip(xs, pts, strict=True) if a.beyond_noise]
                if flagged:
                    ax.plot([f[0] for f in flagged], [f[1] for f in flagged], "o", ls="none", ms=14, mfc="none",
                            mec="black", mew=1.6, zorder=5, gid=f"asym-beyond:{ex}", label="beyond the noise band")
            else:
                ax.plot(xs, ys, "--", marker=MARKERS[(i + 1) % len(MARKERS)], mfc="white", color="#666", ms=5,
                        lw=1.0, alpha=0.8, zorder=3, gid=f"asym:peak:{ex}", label=f"exercise peak ({ex})")
    if not asym:
        _no_data(ax, "needs both sides measured in the same week")
    else:
        lim = max(mdc * 2.0, *(abs(a.diff_deg) + 3.0 for a in asym))
        ax.set_ylim(-lim, lim)
        ax.legend(loc="best", fontsize=8, framealpha=0.85)
    ax.text(0.99, 0.97, "above 0: left turns in further", transform=ax.transAxes, ha="right", va="top",
            fontsize=8, color=SIDE_COLOUR[Side.LEFT])
    ax.text(0.99, 0.03, "below 0: right turns in further", transform=ax.transAxes, ha="right", va="bottom",
            fontsize=8, color=SIDE_COLOUR[Side.RIGHT])
    ax.set_title("Left minus right, per week", fontsize=11)
    ax.set_ylabel("deg")


def _pain_panel(ax: Axes, prog: Progress) -> None:
    for side in Side:
        pts = [p for p in prog.pain if p.side is side]
        if pts:
            ax.plot([_x(prog, p.when) for p in pts], [p.pain for p in pts], "o", ls="none", color=SIDE_COLOUR[side],
                    alpha=0.65, ms=6, gid=f"pain:{side.value}", label=f"after a set, {side.value} leg session")
    if not prog.pain:
        _no_data(ax, "no pain ratings recorded in these weeks")
    else:
        ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    ax.set_ylim(-0.5, 10.5)
    ax.set_yticks(range(0, 11, 2))
    ax.set_title("Pain reported (0 to 10, as given)", fontsize=11)


def _hold_panel(ax: Axes, prog: Progress) -> None:
    drew = False
    bars = [(w, p) for w in prog.weeks if (p := _prescribed(w)) is not None]
    if bars:
        ax.bar([_mid(prog, w) for w, _ in bars], [p[1] - p[0] for _, p in bars], bottom=[p[0] for _, p in bars],
               width=6.0, color=PRESCRIBED_COLOUR, alpha=0.8, gid="prescribed", label="prescribed hold")
    for side in Side:
        weeks = [w for w in prog.weeks if w.sides[side].mean_hold_s is not None]
        if weeks:
            drew = True
            ys = [h for w in weeks if (h := w.sides[side].mean_hold_s) is not None]
            ax.plot([_mid(prog, w) for w in weeks], ys, "-o", color=SIDE_COLOUR[side], lw=1.8, ms=6, zorder=4,
                    gid=f"hold:{side.value}", label=f"mean hold, {side.value}")
    if not drew:
        _no_data(ax, "no rep exercises in these weeks")
        ax.set_ylim(0, 1)
    else:
        top = max([h for w in prog.weeks for sw in w.sides.values() for h in sw.holds_s]
                  + [p[1] for _, p in bars])
        ax.set_ylim(0, top * 1.3)  # room for the legend above the data
        ax.legend(loc="upper left", fontsize=8, framealpha=0.85, ncols=3)
    ax.set_title("Hold per rep, weekly mean", fontsize=11)
    ax.set_ylabel("s")


def _clean_panel(ax: Axes, prog: Progress) -> None:
    drew = False
    for side, shift in ((Side.LEFT, -1.4), (Side.RIGHT, 1.4)):
        weeks = [w for w in prog.weeks if w.sides[side].reps]
        if not weeks:
            continue
        drew = True
        xs = [_mid(prog, w) + shift for w in weeks]
        pct = [100.0 * w.sides[side].clean_reps / w.sides[side].reps for w in weeks]
        ax.bar(xs, pct, width=2.6, color=SIDE_COLOUR[side], alpha=0.8, gid=f"clean:{side.value}",
               label=f"{side.value}")
        for x, p, w in zip(xs, pct, weeks, strict=True):
            sw = w.sides[side]
            ax.text(x, p + 2, f"{sw.clean_reps}/{sw.reps}", ha="center", va="bottom", fontsize=7, color="#333")
    if not drew:
        _no_data(ax, "no exercise reps in these weeks")
    else:
        ax.legend(loc="upper left", fontsize=8, framealpha=0.85, ncols=2)
    ax.set_ylim(0, 125)
    ax.set_yticks(range(0, 101, 25))
    ax.set_title("Reps without compensation, weekly share (%)", fontsize=11)


def _prescribed(week: Week) -> tuple[float, float] | None:
    p = [x for sw in week.sides.values() for x in sw.prescribed_s]
    if not p:
        return None
    return statistics.fmean(x[0] for x in p), statistics.fmean(x[1] for x in p)


def png_bytes(prog: Progress) -> bytes:
    buf = io.BytesIO()
    progress_figure(prog).savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def write_png(prog: Progress, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png_bytes(prog))
    return out


# ---------------------------------------------------------------------------------------------- html

def _deg_cell(values: dict[str, list[float]]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{statistics.fmean(next(iter(values.values()))):.1f}°"
    return "; ".join(f"{ex} {statistics.fmean(v):.1f}°" for ex, v in sorted(values.items()))


def _clean_cell(sw: SideWeek) -> str:
    return "–" if not sw.reps else f"{sw.clean_reps}/{sw.reps} ({100.0 * sw.clean_reps / sw.reps:.0f}%)"


def _hold_cell(sw: SideWeek) -> str:
    h = sw.mean_hold_s
    return "–" if h is None else f"{h:.1f} s"


def _pain_cell(pain: list[int]) -> str:
    return "–" if not pain else f"max {max(pain)}, mean {statistics.fmean(pain):.1f} ({len(pain)})"


def weekly_rows(prog: Progress) -> list[dict[str, str]]:
    """The weekly table, one dict (column -> text) per week, oldest first."""
    rows = []
    for w in prog.weeks:
        left, right = w.sides[Side.LEFT], w.sides[Side.RIGHT]
        tests = [a for a in w.asymmetry if a.from_tests]
        p = _prescribed(w)
        rows.append({
            "Week of": f"{w.start:%d %b %Y}",
            "Sessions": str(w.sessions),
            "IR test left": _deg_cell(left.rom_deg),
            "IR test right": _deg_cell(right.rom_deg),
            "Left − right (tests)": "; ".join(
                f"{a.diff_deg:+.1f}°" + (" beyond noise" if a.beyond_noise else " within noise") for a in tests) or "–",
            "Exercise peak left": _deg_cell(left.peak_deg),
            "Exercise peak right": _deg_cell(right.peak_deg),
            "Mean hold left": _hold_cell(left),
            "Mean hold right": _hold_cell(right),
            "Prescribed hold": "–" if p is None else f"{p[0]:g}–{p[1]:g} s",
            "Clean reps left": _clean_cell(left),
            "Clean reps right": _clean_cell(right),
            "Pain left": _pain_cell(left.pain),
            "Pain right": _pain_cell(right.pain),
        })
    return rows


_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
img { width: 100%; height: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { border: 1px solid #ccc; padding: 4px 6px; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
.note { color: #555; font-size: 13px; }
"""


def progress_html(prog: Progress) -> str:
    """The whole page as text (PNG inline)."""
    esc = html.escape
    who = prog.person + (f" · {prog.exercise}" if prog.exercise else "")
    summary = prog.summary_lines()
    png = base64.b64encode(png_bytes(prog)).decode("ascii")
    rows = weekly_rows(prog)
    cols = list(rows[0]) if rows else []
    table = ("<table><thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr></thead><tbody>"
             + "".join("<tr>" + "".join(f"<td>{esc(r[c])}</td>" for c in cols) + "</tr>" for r in rows)
             + "</tbody></table>")
    notes = [
        f"The grey band is ±{prog.mdc_deg:.1f}° around the first ROM test of each side in these weeks. A later "
        f"test inside it cannot be told apart from measuring the same range twice; one at or beyond its edge is "
        f"ringed. The {PUBLISHED_MDC_DEG:.1f}° comes from a published study of seated hip internal rotation "
        f"measured with a digital inclinometer (Krause et al., Knee Surg Sports Traumatol Arthrosc 23(9)); the "
        f"sensors' own share of it is smaller (about ±2° per test).",
        "Error bars on ROM tests: the sensors' uncertainty for one test.",
        f"Exercise peak: the mean of the {PEAK_TOP_N} largest reps without compensation in a session. Exercises "
        "are not tests: effort, band and tempo change their peaks too, so their noise is at least the band's "
        "width, and they are never ringed.",
        "Left minus right: mean of each side's values in the same week for the same test or exercise.",
        "Hold: mean end-range hold per rep of the rep exercises; the green bars show the prescribed range. "
        "Clean reps: reps in which no compensation was detected, out of all reps (ROM tests not counted).",
        "Pain: the ratings given after each set, shown exactly as given; in the table, the week's highest and "
        "mean rating per leg exercised, with the number of ratings in brackets.",
        f"Weeks run Monday to Sunday; the window is the {prog.weeks_back} weeks up to the newest session.",
        "This page shows measurements only; it is not medical advice.",
    ]
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Hip IR progress: {esc(who)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>Hip internal rotation progress: {esc(who)}</h1>\n"
        + "".join(f"<p>{esc(line)}</p>\n" for line in summary)
        + f"<img alt=\"{esc(' '.join(summary))}\" src=\"data:image/png;base64,{png}\">\n"
        f"<h2>Week by week</h2>\n{table}\n<h2>How to read it</h2>\n<ul class=\"note\">"
        + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>\n</body></html>\n")


def write_html(prog: Progress, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(progress_html(prog), encoding="utf-8")
    return out
