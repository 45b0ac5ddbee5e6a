"""`read_metabase`: a MetaBase session's files -> a `Recording`, and what it keeps in the recording.

It returns the recording only when every file and the markers are valid; it stores nothing. Notes about
skipped lines, signals or magnetometers are kept in ``extra_meta["metabase"]["notes"]`` (`import_notes`),
the session's start in ``extra_meta["metabase"]["session_start_utc"]`` (`recorded_at`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_bridge.metabase.board_files import board_mapping, collect_files, group_files
from firmware_bridge.metabase.detection import DetectionParams, detect_markers
from firmware_bridge.metabase.errors import MetabaseError
from firmware_bridge.metabase.markers import check_given_markers
from firmware_bridge.metabase.timebase import assemble_board, check_boards, utc
from imu_core.frames import Segment, Side
from imu_core.types import Marker, Recording, SensorStream


def read_metabase(paths: Sequence[Path | str] | Path | str, segments: Mapping[str, Segment | str], side: Side | str,
                  exercise: str, markers: Sequence[Marker] | None = None, *,
                  detection: DetectionParams | None = None) -> Recording:
    """Read a MetaBase session (a folder, or its CSV files) into a `Recording`; see the package docstring.

    segments: board address (MAC, any common spelling) -> "thigh", "shin" or "pelvis".
    markers: phase times in seconds on the session clock (t = 0 at the session's first sample); None to
    detect them (`detect_markers`). Raises a `MetabaseError` subclass, having changed nothing, on any problem.
    """
    try:
        side_v = Side(side)
    except ValueError:
        raise MetabaseError(f"side {side!r} is not left or right.", "Say which leg wore the sensors.") from None
    if not isinstance(exercise, str) or not exercise:
        raise MetabaseError("no exercise was given.", "Give the catalog id of the exercise, e.g. seated-ir.")
    notes: list[str] = []
    mapping = board_mapping(segments)
    files = collect_files(paths, notes)
    grouped = group_files(files, mapping, notes)
    order = [s for s in Segment if s in grouped]
    boards = [assemble_board(seg, grouped[seg], notes) for seg in order]
    rate = check_boards(boards)
    epoch0 = min(b.first_ms for b in boards)
    streams = {b.segment: SensorStream((b.t_ms - epoch0) / 1000.0, b.acc, b.gyr, b.mag) for b in boards}
    t_end = min(float(s.t[-1]) for seg, s in streams.items() if seg in (Segment.THIGH, Segment.SHIN))
    if markers is None:
        found = detect_markers(streams, detection)
        how = "detected"
    else:
        found = check_given_markers(markers, max(float(s.t[-1]) for s in streams.values()))
        how = "given"
    meta: dict[str, Any] = {
        "session_start_epoch_ms": round(epoch0, 3),
        "session_start_utc": utc(epoch0).isoformat(timespec="milliseconds"),
        "markers": how,
        "data_end_s": round(t_end, 3),
        "notes": list(notes),
    }
    return Recording(side=side_v, exercise=exercise, streams=streams, markers=found, sample_rate_hz=float(rate),
                     sensors_info={b.segment.value: b.info for b in boards}, extra_meta={"metabase": meta})


def recorded_at(rec: Recording) -> datetime | None:
    """When the MetaBase session began (UTC, from its first time stamp), or None for other recordings."""
    meta = rec.extra_meta.get("metabase")
    text = meta.get("session_start_utc") if isinstance(meta, dict) else None
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def import_notes(rec: Recording) -> list[str]:
    """The notes `read_metabase` kept (skipped lines, signals, magnetometers), for showing to the user."""
    meta = rec.extra_meta.get("metabase")
    notes = meta.get("notes") if isinstance(meta, dict) else None
    return [str(n) for n in notes] if isinstance(notes, list) else []
