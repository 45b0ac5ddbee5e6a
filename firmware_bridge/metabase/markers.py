"""Phase markers given by the caller: parsing ``LABEL=SECONDS`` and checking the set of them.

MetaBase records no markers. Either the caller gives them (at least ``calibration.static``,
``calibration.swing`` and ``exercise.start``, in seconds on the session clock), or `detect_markers`
(`firmware_bridge.metabase.detection`) finds them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from firmware_bridge.metabase.errors import MetabaseMarkerError
from imu_core.types import Marker, MarkerLabel

MARKER_OPTIONS_ADVICE = (
    "Give the phase times yourself, in seconds from the first sample of the session: "
    "--marker calibration.static=SECONDS --marker calibration.swing=SECONDS --marker exercise.start=SECONDS "
    "(and exercise.end=SECONDS, one start/end pair per set). Next time, begin the MetaBase recording with "
    "both legs still for 3 s or more, then swing the lower leg 3 to 5 times with the thigh still, then rest "
    "2 s before the exercise."
)


_ALIASES = {"static": MarkerLabel.CALIBRATION_STATIC, "still": MarkerLabel.CALIBRATION_STATIC,
            "swing": MarkerLabel.CALIBRATION_SWING, "swings": MarkerLabel.CALIBRATION_SWING,
            "start": MarkerLabel.EXERCISE_START, "end": MarkerLabel.EXERCISE_END}
REQUIRED_MARKERS = (MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING, MarkerLabel.EXERCISE_START)


def parse_marker(text: str) -> Marker:
    """'calibration.static=2.5' (or the short forms static=, swing=, start=, end=) -> Marker."""
    label_text, eq, value = str(text).partition("=")
    label_text = label_text.strip()
    labels = [m.value for m in MarkerLabel]
    label = _ALIASES.get(label_text.lower(), label_text)
    if not eq or label not in labels:
        raise MetabaseMarkerError(f"{text!r} is not a marker.",
                                  f"Write LABEL=SECONDS with LABEL one of {', '.join(labels)} "
                                  "(or static, swing, start, end), e.g. calibration.swing=6.5.")
    try:
        t = float(value)
    except ValueError:
        t = math.nan
    if not math.isfinite(t) or t < 0:
        raise MetabaseMarkerError(f"{text!r}: {value.strip()!r} is not a time in seconds.",
                                  "Give seconds from the first sample of the session, e.g. calibration.swing=6.5.")
    return Marker(t, str(label))


def check_given_markers(markers: Sequence[Marker], t_end: float) -> list[Marker]:
    """The caller's markers in time order, once they have the required labels, in order, within the data."""
    out = sorted(markers, key=lambda m: m.t)
    labels = [m.label for m in out]
    missing = [lab.value for lab in REQUIRED_MARKERS if lab.value not in labels]
    if missing:
        raise MetabaseMarkerError(f"the markers lack {', '.join(missing)}.",
                                  "Give all three calibration/exercise times, or none to find them automatically. "
                                  + MARKER_OPTIONS_ADVICE)
    late = [m for m in out if m.t > t_end]
    if late:
        raise MetabaseMarkerError(f"marker {late[0].label} at {late[0].t:g} s is after the end of the data "
                                  f"({t_end:.1f} s).", "Times are seconds from the first sample of the session.")
    order = [labels.index(lab.value) for lab in REQUIRED_MARKERS]
    if order != sorted(order):
        raise MetabaseMarkerError("the markers are out of order: calibration.static must come before "
                                  "calibration.swing, and that before exercise.start.", MARKER_OPTIONS_ADVICE)
    return out
