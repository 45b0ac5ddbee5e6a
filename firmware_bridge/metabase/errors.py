"""Errors of the MetaBase import: each one means nothing was imported."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from firmware_bridge.errors import BridgeError


class MetabaseError(BridgeError):
    """Root of the MetaBase import's errors: nothing was imported."""


class MetabaseFileError(MetabaseError):
    """A MetaBase CSV file is empty, truncated or malformed; `line` (1-based) and `column` when known."""

    def __init__(self, path: Path | str, message: str, advice: str = "", *, line: int | None = None,
                 column: str | None = None) -> None:
        where = str(path) + (f", line {line}" if line is not None else "") + \
            (f", column {column!r}" if column is not None else "")
        super().__init__(f"{where}: {message}",
                         advice or "Export the session from MetaBase again and import the files unchanged.")
        self.path = str(path)
        self.line = line
        self.column = column


class MetabaseUnitError(MetabaseFileError):
    """A column is in a unit this import does not know or does not expect for the signal."""


class MetabaseBoardError(MetabaseError):
    """The boards found in the files do not match the MAC -> segment mapping, or a board lacks a signal."""

    def __init__(self, message: str, advice: str, macs_found: Sequence[str]) -> None:
        super().__init__(message, advice)
        self.macs_found = list(macs_found)


class MetabaseRateError(MetabaseError):
    """Sample rates that do not fit together (file name vs time stamps, accelerometer vs gyro, boards)."""


class MetabaseMarkerError(MetabaseError):
    """Markers given by the caller are unusable."""


class MarkerDetectionError(MetabaseError):
    """The calibration phases could not be found in the data."""
