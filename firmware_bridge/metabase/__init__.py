"""Import of MbientLab MetaBase CSV exports: one CSV file per board and signal -> a `Recording`.

MetaBase (MbientLab's phone app) exports a session as one CSV file per board and signal. This package
reads such an export; it is separate from `firmware_bridge.metawear`, which talks to the boards over
Bluetooth. Its modules, in the order `read_metabase` uses them:

* `names`: the file names (``<name>_<start>_<MAC>_<Signal>_<rate>Hz_<firmware>.csv``) and board addresses.
* `board_files`: which files belong to which board and segment (the caller maps MACs to segments).
* `csv_file`: reading and checking one file: header, units (g, deg/s, T), rows, truncation, time stamps.
* `timebase`: a board's accelerometer, gyroscope and magnetometer on one time base; boards checked together.
* `markers`: phase markers given by the caller; `detection`: finding them in the data otherwise.
* `reader`: `read_metabase`, and `recorded_at` and `import_notes` for what it keeps in the recording.
* `errors`: `MetabaseError` and its subclasses, all `BridgeError`s: on any of them nothing was imported.

Each module's docstring states its rules. `read_metabase` returns the recording only when every file and
the markers are valid; it stores nothing.
"""

from __future__ import annotations

from firmware_bridge.metabase.csv_file import ACCELEROMETER, GYROSCOPE, MAGNETOMETER, MAX_RATE_MISMATCH, SIGNALS
from firmware_bridge.metabase.detection import DetectionParams, detect_markers
from firmware_bridge.metabase.errors import (
    MarkerDetectionError,
    MetabaseBoardError,
    MetabaseError,
    MetabaseFileError,
    MetabaseMarkerError,
    MetabaseRateError,
    MetabaseUnitError,
)
from firmware_bridge.metabase.markers import MARKER_OPTIONS_ADVICE, REQUIRED_MARKERS, parse_marker
from firmware_bridge.metabase.names import MetabaseFile, format_mac, normalise_mac, parse_file_name
from firmware_bridge.metabase.reader import import_notes, read_metabase, recorded_at
from firmware_bridge.metabase.timebase import GAP_PERIODS, MAG_MAX_AGE_S, MAX_ACC_GYRO_RATIO, MIN_OVERLAP

__all__ = [
    "ACCELEROMETER",
    "GAP_PERIODS",
    "GYROSCOPE",
    "MAGNETOMETER",
    "MAG_MAX_AGE_S",
    "MARKER_OPTIONS_ADVICE",
    "MAX_ACC_GYRO_RATIO",
    "MAX_RATE_MISMATCH",
    "MIN_OVERLAP",
    "REQUIRED_MARKERS",
    "SIGNALS",
    "DetectionParams",
    "MarkerDetectionError",
    "MetabaseBoardError",
    "MetabaseError",
    "MetabaseFile",
    "MetabaseFileError",
    "MetabaseMarkerError",
    "MetabaseRateError",
    "MetabaseUnitError",
    "detect_markers",
    "format_mac",
    "import_notes",
    "normalise_mac",
    "parse_file_name",
    "parse_marker",
    "read_metabase",
    "recorded_at",
]
