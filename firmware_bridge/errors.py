"""Exceptions of firmware_bridge (everything that produces samples)."""

from __future__ import annotations

from imu_core.errors import AdvisedError


class BridgeError(AdvisedError):
    """Root of firmware_bridge's errors."""


class RecordingFormatError(BridgeError):
    """A recording folder is missing, incomplete or malformed."""

    def __init__(self, message: str, path: str, line: int | None = None, advice: str = "") -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {message}",
                         advice or "See docs/recording-format.md for the expected files and columns.")
        self.path = path
        self.line = line


class PacketError(BridgeError):
    """Bytes from a sensor are not a valid packet (bad length, unknown format version, CRC mismatch)."""

    def __init__(self, reason: str, length: int, advice: str = "") -> None:
        super().__init__(
            f"bad packet ({length} bytes): {reason}",
            advice
            or "A single bad packet is dropped and counted. If every packet is bad, check that the sensor's "
            "firmware matches this hiptrack version (firmware_bridge/nano33_firmware/README.md).",
        )
        self.reason = reason
        self.length = length
