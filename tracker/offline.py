"""Offline analysis of a whole recording, through the same pipeline a live session uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calibration.model import Calibration
from imu_core.frames import Segment
from imu_core.types import JointAngles, Recording
from tracker.analysis import AnalysisResult
from tracker.errors import TrackerError
from tracker.exercises import get_exercise
from tracker.pipeline import analyse_streams_in_detail
from tracker.store import SessionStore


def analyse_recording(rec: Recording) -> tuple[AnalysisResult, JointAngles, Calibration]:
    """Calibrate from the recording's markers, compute angles and reps, as a live session would."""
    result, angles, cal, _ = analyse_recording_in_detail(rec)
    return result, angles, cal


def analyse_recording_in_detail(rec: Recording) -> tuple[AnalysisResult, JointAngles, Calibration, dict[str, Any]]:
    """`analyse_recording`, plus the exercise engine's details."""
    exercise = get_exercise(rec.exercise)
    missing = [s.value for s in (Segment.THIGH, Segment.SHIN) if s not in rec.streams or not len(rec.streams[s])]
    if missing:
        raise TrackerError(f"the recording has no {' or '.join(missing)} samples.",
                           "This exercise needs a thigh and a shin sensor.")
    return analyse_streams_in_detail(exercise, rec.side, rec.sample_rate_hz, rec.streams, rec.markers)


def session_report(store: SessionStore, session_id: int, out_png: Path) -> Path:
    """Draw a stored session's report as one PNG (angles recomputed from its raw samples)."""
    from tracker.report import write_report

    return write_report(store, session_id, out_png, "png")
