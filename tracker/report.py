"""Post-session chart: hip IR over time with reps and holds marked, knee flexion underneath."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from imu_core.types import JointAngles, Marker, MarkerLabel
from tracker.analysis import AnalysisResult

PHASE_COLOURS = {
    MarkerLabel.CALIBRATION_STATIC: ("#e8e8e8", "still"),
    MarkerLabel.CALIBRATION_SWING: ("#f3efe0", "knee swings"),
}


def session_chart(angles: JointAngles, result: AnalysisResult, markers: list[Marker], title: str,
                  out_png: Path, target_deg: tuple[float, float] | None = None) -> Path:
    """Draw the session chart to `out_png` and return its path."""
    fig, (ax_ir, ax_knee) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True,
                                         gridspec_kw={"height_ratios": [3, 1]})
    t_end = float(angles.t[-1]) if len(angles) else 0.0
    for i, m in enumerate(markers):
        if m.label in PHASE_COLOURS:
            colour, label = PHASE_COLOURS[MarkerLabel(m.label)]
            nxt = markers[i + 1].t if i + 1 < len(markers) else t_end
            for ax in (ax_ir, ax_knee):
                ax.axvspan(m.t, nxt, color=colour, zorder=0)
            ax_ir.text((m.t + nxt) / 2, 0.98, label, transform=ax_ir.get_xaxis_transform(),
                       ha="center", va="top", fontsize=8, color="#666")
    if target_deg is not None:
        ax_ir.axhspan(*target_deg, color="#d9f2d9", zorder=0, label="target range")
    for h in result.holds:
        ax_ir.axvspan(h.start, h.end, color="#ffd27f", alpha=0.6, zorder=1)
    ax_ir.plot(angles.t, angles.hip_ir_deg, color="#1f4e99", lw=1.4, zorder=3, label="hip IR")
    for n, r in enumerate(result.reps, start=1):
        ax_ir.plot([r.peak], [r.peak_ir_deg], "v", color="#c0392b", zorder=4)
        ax_ir.annotate(f"{n}\n{r.peak_ir_deg:.0f}°" + (f"\n{r.hold_s:.1f}s" if r.hold_s > 0 else ""),
                       (r.peak, r.peak_ir_deg), textcoords="offset points", xytext=(0, 6),
                       ha="center", fontsize=8, color="#c0392b")
    ax_ir.axhline(0, color="#999", lw=0.8)
    ax_ir.set_ylabel("hip internal rotation (deg)")
    reps = len(result.reps)
    holds = [r.hold_s for r in result.reps if r.hold_s > 0]
    sub = f"{reps} reps, max {result.max_ir_deg:.1f}°" + (
        f", mean hold {sum(holds) / len(holds):.1f} s" if holds else "")
    ax_ir.set_title(f"{title}\n{sub}", fontsize=11)
    ymax = max(45.0, float(angles.hip_ir_deg.max()) + 12 if len(angles) else 45.0)
    ax_ir.set_ylim(min(-10.0, float(angles.hip_ir_deg.min()) - 3 if len(angles) else -10.0), ymax)
    ax_ir.plot([], [], "s", color="#ffd27f", label="hold")
    ax_ir.plot([], [], "v", color="#c0392b", label="rep peak")
    ax_ir.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, ncols=4, frameon=False)
    ax_knee.plot(angles.t, angles.knee_flexion_deg, color="#555", lw=1.0)
    ax_knee.set_ylabel("knee flexion (deg)")
    ax_knee.set_xlabel("time (s)")
    for ax in (ax_ir, ax_knee):
        ax.grid(alpha=0.3)
        ax.set_xlim(0 if len(angles) == 0 else float(angles.t[0]), t_end)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
