"""The post-session report's pictures: the session chart (hip IR over time with reps, holds and
compensations marked, knee flexion underneath) and per-rep bars against the prescription; and writing
the report as PNG, HTML or PDF (`write_report`).

Figures are built as `matplotlib.figure.Figure` objects without pyplot, so nothing is left open and a
test can inspect what was drawn (artists carry gids: 'rep-N', 'hold-N', 'comp-N', 'peak-N', 'holdbar-N').
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from imu_core.types import MarkerLabel
from tracker.paths import reports_dir
from tracker.report_data import DISCLAIMER, RepRow, SessionReport, build_report, deg, seconds_range
from tracker.store import SessionStore

PHASE_COLOURS = {
    MarkerLabel.CALIBRATION_STATIC: ("#e8e8e8", "still"),
    MarkerLabel.CALIBRATION_SWING: ("#f3efe0", "knee swings"),
}
REPORT_FORMATS = ("png", "html", "pdf")
DPI = 110

IR_COLOUR = "#1f4e99"
KNEE_COLOUR = "#555555"
TARGET_COLOUR = "#d9f2d9"
TARGET_LINE = "#2e7d32"
REP_COLOUR = "#e3ecf9"
HOLD_COLOUR = "#ffd27f"
CLEAN_BAR = "#4a78b5"
COMP_BAR = "#e07b39"
GAP_COLOUR = "#9e9e9e"
COMP_COLOURS = {
    "thigh_drift": "#c62828",
    "knee_flexion_change": "#7b1fa2",
    "too_fast": "#6d4c41",
    "pelvis_motion": "#ad1457",
}
OTHER_COMP_COLOUR = "#d84315"
PHASE_FILL = {"still": "#e8e8e8", "swing": "#f3efe0"}


def comp_colour(kind: str) -> str:
    return COMP_COLOURS.get(kind, OTHER_COMP_COLOUR)


# --------------------------------------------------------------------------------------- the figure


def report_figure(report: SessionReport, *, with_summary: bool = True) -> Figure:
    """The report on one figure: the session chart, per-rep bars, and (with_summary) the prescription and a
    line per set underneath."""
    lines = _summary_lines(report) if with_summary else []
    heights = [4.0, 1.4, 2.5] + ([0.3 + 0.2 * len(lines)] if lines else [])
    fig = Figure(figsize=(12.0, sum(heights) + 0.9), layout="constrained")
    gs = fig.add_gridspec(len(heights), 2, height_ratios=heights)
    ax_ir = fig.add_subplot(gs[0, :], label="hip_ir")
    ax_knee = fig.add_subplot(gs[1, :], sharex=ax_ir, label="knee")
    ax_peak = fig.add_subplot(gs[2, 0], label="peaks")
    ax_hold = fig.add_subplot(gs[2, 1], label="holds")
    fig.suptitle(report.title, fontsize=13, fontweight="bold")
    draw_trace(ax_ir, ax_knee, report)
    draw_peak_bars(ax_peak, report)
    draw_hold_bars(ax_hold, report)
    if lines:
        ax_text = fig.add_subplot(gs[3, :], label="summary")
        ax_text.axis("off")
        ax_text.text(0.0, 1.0, "\n".join(lines), transform=ax_text.transAxes, va="top", ha="left", fontsize=9.5,
                     linespacing=1.45)
    return fig


def _summary_lines(report: SessionReport) -> list[str]:
    lines = [report.prescription_text(), *report.set_lines(), *report.rom_lines, *report.gap_lines(), *report.notes]
    return [*lines, DISCLAIMER]


def draw_trace(ax_ir: Axes, ax_knee: Axes, report: SessionReport) -> None:
    """Hip IR over time (reps, holds, compensations, target band), knee flexion underneath."""
    a = report.angles
    t0 = float(a.t[0]) if len(a) else 0.0
    t1 = float(a.t[-1]) if len(a) else 1.0
    for p in report.phases:
        if p.kind in PHASE_FILL:
            for ax in (ax_ir, ax_knee):
                ax.axvspan(p.start, p.end, color=PHASE_FILL[p.kind], zorder=0, lw=0)
        else:
            ax_ir.axvline(p.start, color="#bbb", lw=0.8, ls=":", zorder=1)
            ax_ir.axvline(p.end, color="#bbb", lw=0.8, ls=":", zorder=1)
        # its name, where it fits (about 0.075 in per character on an axis about 11 in wide)
        if (min(p.end, t1) - max(p.start, t0)) / max(t1 - t0, 1e-9) * 11.0 > 0.06 * len(p.label) + 0.04:
            ax_ir.text((max(p.start, t0) + min(p.end, t1)) / 2, 0.985, p.label,
                       transform=ax_ir.get_xaxis_transform(), ha="center", va="top", fontsize=8.5, color="#666")
    lo, hi = report.target_band_ir_deg
    ax_ir.axhspan(lo, hi, color=TARGET_COLOUR, zorder=0.5, lw=0)
    ax_ir.axhline(report.target_deg * report.exercise.measure.sign(), color=TARGET_LINE, lw=0.9, ls="--", zorder=1)
    for r in report.reps:
        ax_ir.axvspan(r.start, r.end, color=REP_COLOUR, zorder=0.6, lw=0, gid=f"rep-{r.number}")
    for n, h in enumerate(report.holds, start=1):
        ax_ir.axvspan(h.start, h.end, color=HOLD_COLOUR, alpha=0.7, zorder=0.7, lw=0, gid=f"hold-{n}")
    for g in report.gaps:
        for ax in (ax_ir, ax_knee):
            ax.axvspan(g.start, g.end, facecolor="white", edgecolor=GAP_COLOUR, hatch="xx", zorder=2, lw=0)
    ax_ir.plot(a.t, a.hip_ir_deg, color=IR_COLOUR, lw=1.4, zorder=3)
    ax_knee.plot(a.t, a.knee_flexion_deg, color=KNEE_COLOUR, lw=1.0, zorder=3)
    _draw_compensations(ax_ir, ax_knee, report)
    for r in report.reps:
        colour = "#222" if r.clean else comp_colour(r.compensations[0])
        ax_ir.plot([r.peak_t], [r.peak_deg], "v" if r.peak_deg >= 0 else "^", color=colour, ms=6, zorder=5)
        label = f"{r.number}\n{r.peak_deg:.0f}°" + (f"\n{r.hold_s:.1f} s" if r.hold_s > 0 else "")
        up = r.peak_deg >= 0
        ax_ir.annotate(label, (r.peak_t, r.peak_deg), textcoords="offset points", xytext=(0, 7 if up else -7),
                       ha="center", va="bottom" if up else "top", fontsize=7.5, color=colour, zorder=6)
    ax_ir.axhline(0, color="#999", lw=0.8, zorder=1)
    ir = a.hip_ir_deg[np.isfinite(a.hip_ir_deg)] if len(a) else np.zeros(1)
    if ir.size == 0:
        ir = np.zeros(1)
    top = max(45.0, float(ir.max()) + 0.1 * np.ptp(ir) + 14.0, hi + 10.0)
    low = float(ir.min())
    bottom = min(-10.0, low - (0.1 * np.ptp(ir) + 14.0 if low < -10 else 3.0), lo - 5.0)
    ax_ir.set_ylim(bottom, top)
    ax_ir.set_ylabel("hip internal rotation (°)")
    ax_ir.set_title(report.summary_line(), fontsize=10, loc="left")
    ax_knee.set_ylabel("knee flexion (°)")
    ax_knee.set_xlabel("time (s)")
    for ax in (ax_ir, ax_knee):
        ax.grid(alpha=0.3)
        ax.set_xlim(t0, t1)
    ax_ir.tick_params(labelbottom=False)
    handles = [Line2D([], [], color=IR_COLOUR, lw=1.4, label="hip rotation (+ inward)"),
               Patch(color=PHASE_FILL["still"], label="calibration"),
               Patch(color=TARGET_COLOUR, label="target band"),
               Line2D([], [], color=TARGET_LINE, lw=0.9, ls="--", label="target"),
               Patch(color=REP_COLOUR, label=report.unit[0]),
               Patch(color=HOLD_COLOUR, alpha=0.7, label=report.hold_heading)]
    for kind in dict.fromkeys(c.kind for c in report.compensations):
        words = next(c.words for c in report.compensations if c.kind == kind)
        handles.append(Patch(facecolor=comp_colour(kind), alpha=0.3, edgecolor=comp_colour(kind), hatch="///",
                             label=words))
    if report.gaps:
        handles.append(Patch(facecolor="white", edgecolor=GAP_COLOUR, hatch="xx", label="no sensor data"))
    ax_knee.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.32), fontsize=8.5,
                   ncols=min(len(handles), 9), frameon=False, handlelength=1.6, columnspacing=1.2)


def _draw_compensations(ax_ir: Axes, ax_knee: Axes, report: SessionReport) -> None:
    """Each compensation: a hatched span in its own colour on both traces, the trace drawn in that colour
    while it lasted, and its kind in words above."""
    a = report.angles
    levels: list[float] = []  # end time of the last label on each text row, so labels do not overlap
    for n, c in enumerate(report.compensations, start=1):
        colour = comp_colour(c.kind)
        ax_ir.axvspan(c.start, c.end, facecolor=colour, alpha=0.16, edgecolor=colour, hatch="///", lw=0,
                      zorder=2, gid=f"comp-{n}")
        ax_knee.axvspan(c.start, c.end, facecolor=colour, alpha=0.16, edgecolor=colour, hatch="///", lw=0,
                        zorder=2, gid=f"comp-knee-{n}")
        if len(a):
            inside = (a.t >= c.start) & (a.t <= c.end)
            ax_ir.plot(a.t[inside], a.hip_ir_deg[inside], color=colour, lw=2.4, zorder=4)
            ax_knee.plot(a.t[inside], a.knee_flexion_deg[inside], color=colour, lw=2.0, zorder=4)
        row = next((i for i, end in enumerate(levels) if end < c.start), len(levels))
        if row == len(levels):
            levels.append(c.end)
        levels[row] = max(c.end, c.start + 6.0)
        ax_ir.text((c.start + c.end) / 2, 0.90 - 0.065 * row, c.words, transform=ax_ir.get_xaxis_transform(),
                   ha="center", va="top", fontsize=8.5, fontweight="bold", color=colour, zorder=7,
                   bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": colour, "lw": 0.6, "alpha": 0.9})


def _bars(ax: Axes, reps: Sequence[RepRow], values: Sequence[float], gid: str, label_fmt: str) -> None:
    x = [r.number for r in reps]
    colours = [CLEAN_BAR if r.clean else COMP_BAR for r in reps]
    bars = ax.bar(x, values, color=colours, width=0.7, zorder=3)
    for bar, r in zip(bars, reps, strict=True):
        bar.set_gid(f"{gid}-{r.number}")
        if not r.clean:
            bar.set_hatch("//")
            bar.set_edgecolor("#8a3a10")
    ax.bar_label(bars, labels=[label_fmt.format(v) for v in values], fontsize=7 if len(reps) > 12 else 8,
                 padding=2, zorder=4)
    for prev, cur in itertools.pairwise(reps):
        if prev.set_no != cur.set_no and cur.set_no is not None:
            ax.axvline(cur.number - 0.5, color="#888", lw=0.8, ls=":", zorder=2)
            ax.text(cur.number - 0.45, 0.98, f"set {cur.set_no}", transform=ax.get_xaxis_transform(),
                    ha="left", va="top", fontsize=7.5, color="#666")
    if reps and reps[0].set_no is not None and any(r.set_no != reps[0].set_no for r in reps):
        ax.text(reps[0].number - 0.45, 0.98, f"set {reps[0].set_no}", transform=ax.get_xaxis_transform(),
                ha="left", va="top", fontsize=7.5, color="#666")
    step = max(1, len(reps) // 25 + 1) if len(reps) > 25 else 1
    ax.set_xticks(x[::step])
    pad = max(0.0, (4 - len(x)) / 2)  # a single stretch is not one bar across the whole axis
    ax.set_xlim(min(x) - 0.6 - pad, max(x) + 0.6 + pad)
    ax.grid(axis="y", alpha=0.3, zorder=0)


def _no_reps(ax: Axes, report: SessionReport) -> None:
    ax.text(0.5, 0.5, f"no {report.unit[1]} counted", transform=ax.transAxes, ha="center", va="center",
            color="#666")
    ax.set_xticks([])


def _bar_legend(ax: Axes, reps: Sequence[RepRow], band: Patch) -> None:
    handles = [Patch(color=CLEAN_BAR, label="clean"), band]
    if any(not r.clean for r in reps):
        handles.insert(1, Patch(facecolor=COMP_BAR, edgecolor="#8a3a10", hatch="//", label="with compensation"))
    ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7.5, ncols=3,
              frameon=False, borderaxespad=0.2)


def draw_peak_bars(ax: Axes, report: SessionReport) -> None:
    """Each rep's peak against the target band."""
    lo, hi = report.target_band_ir_deg
    one = report.unit[0]
    ax.set_title(f"Peak per {one}", fontsize=10, loc="left")
    ax.set_ylabel("peak rotation (°)")
    ax.set_xlabel(one)
    ax.axhspan(lo, hi, color=TARGET_COLOUR, zorder=1, lw=0)
    ax.axhline(report.target_deg * report.exercise.measure.sign(), color=TARGET_LINE, lw=0.9, ls="--", zorder=2)
    ax.axhline(0, color="#999", lw=0.8, zorder=2)
    if not report.reps:
        _no_reps(ax, report)
    else:
        peaks = [r.peak_deg for r in report.reps]
        _bars(ax, report.reps, peaks, "peak", "{:.0f}°")
        top = max(hi, *peaks, 0.0)
        bottom = min(lo, *peaks, 0.0)
        span = top - bottom or 1.0
        ax.set_ylim(bottom - (0.12 * span if bottom < 0 else 0.0), top + 0.22 * span)
    _bar_legend(ax, report.reps, Patch(color=TARGET_COLOUR, label=f"target band {deg(lo, 0)}–{deg(hi, 0)}"))


def draw_hold_bars(ax: Axes, report: SessionReport) -> None:
    """Each rep's hold (a stretch: time at target) against the prescribed hold."""
    lo, hi = report.hold_range_s
    one = report.unit[0]
    ax.set_title(f"{report.hold_heading.capitalize()} per {one}", fontsize=10, loc="left")
    ax.set_ylabel(f"{report.hold_heading} (s)")
    ax.set_xlabel(one)
    if hi > 0:
        ax.axhspan(lo, hi, color=TARGET_COLOUR, zorder=1, lw=0)
    if not report.reps:
        _no_reps(ax, report)
    else:
        holds = [r.hold_s for r in report.reps]
        _bars(ax, report.reps, holds, "holdbar", "{:.1f}")
        top = max(hi, *holds, 1.0)
        ax.set_ylim(0, top * 1.25)
    _bar_legend(ax, report.reps, Patch(color=TARGET_COLOUR, label=f"prescribed {seconds_range(lo, hi)}"))


# --------------------------------------------------------------------------------------- writing


def report_format(requested: str | None, out: Path | None) -> str:
    """The format to write: the one asked for, else the --out file's suffix, else png."""
    if requested is not None:
        fmt = requested.lower().lstrip(".")
    elif out is not None and out.suffix.lower().lstrip(".") in (*REPORT_FORMATS, "htm"):
        fmt = out.suffix.lower().lstrip(".")
    else:
        fmt = "png"
    fmt = "html" if fmt == "htm" else fmt
    if fmt not in REPORT_FORMATS:
        raise ValueError(f"report format must be one of {', '.join(REPORT_FORMATS)}, not {requested!r}")
    return fmt


def default_report_path(store_path: Path, session_id: int, fmt: str = "png") -> Path:
    """reports/session-N.<fmt> beside the store (the PNG is the live commands' chart path)."""
    return reports_dir(store_path) / f"session-{session_id}.{fmt}"


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_report(report: SessionReport, out: Path, fmt: str = "png") -> Path:
    """Write `report` to `out` as png, html or pdf (atomically: a failed write leaves no partial file)."""
    if fmt not in REPORT_FORMATS:
        raise ValueError(f"report format must be one of {', '.join(REPORT_FORMATS)}, not {fmt!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        if fmt == "png":
            tmp.write_bytes(figure_png(report_figure(report)))
        elif fmt == "html":
            from tracker.report_html import report_html

            tmp.write_text(report_html(report), encoding="utf-8")
        else:
            from tracker.report_pdf import write_pdf

            write_pdf(report, tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def write_report(store: SessionStore, session_id: int, out: Path, fmt: str = "png") -> Path:
    """`hiptrack report`: build a stored session's report and write it to `out`; returns the path."""
    return save_report(build_report(store, session_id), out, fmt)


# --------------------------------------------------------------------------------------- older chart
