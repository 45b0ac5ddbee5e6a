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


class SensorLinkError(BridgeError):
    """A Bluetooth sensor could not be connected, configured or kept streaming."""

    def __init__(self, message: str, advice: str = "", *, sensor: str = "") -> None:
        super().__init__(message, advice)
        self.sensor = sensor
        """Which sensor, in words (segment and address)."""


class SensorUnreachableError(SensorLinkError):
    """A connect (or reconnect) episode ran out of time: every attempt failed with a transient error."""

    def __init__(self, sensor: str, attempts: int, elapsed_s: float, last_error: BaseException | None) -> None:
        last = f"{type(last_error).__name__}: {last_error}" if last_error is not None else "none"
        super().__init__(
            f"{sensor} could not be reached: {attempts} attempt{'s' if attempts != 1 else ''} in {elapsed_s:.1f} s "
            f"all failed (the last with {last}).",
            "Check that the sensor is switched on and charged, within a few metres of the computer, and not "
            "connected to another program or phone (a BLE peripheral takes one central at a time); then "
            "start again.",
            sensor=sensor,
        )
        self.attempts = attempts
        self.elapsed_s = elapsed_s
        self.last_error = last_error


class SensorFatalError(SensorLinkError):
    """The sensor answered, but retrying cannot help (wrong device or firmware, authentication, refused
    configuration); `reason` is a short category, e.g. 'wrong_device', 'authentication', 'start_refused'."""

    def __init__(self, message: str, advice: str = "", *, sensor: str = "", reason: str = "fatal") -> None:
        super().__init__(message, advice, sensor=sensor)
        self.reason = reason


class WrongSensorError(SensorFatalError):
    """The device is not a sensor running the firmware this driver speaks (service or characteristic
    missing, unknown device-info or packet format)."""

    def __init__(self, message: str, advice: str = "", *, sensor: str = "") -> None:
        super().__init__(message, advice, sensor=sensor, reason="wrong_device")


class SensorStartError(SensorFatalError):
    """The sensor refused to start streaming as asked (link MTU too small, a rate or range it lacks, no IMU)."""

    def __init__(self, message: str, advice: str = "", *, sensor: str = "") -> None:
        super().__init__(message, advice, sensor=sensor, reason="start_refused")


class MqttError(BridgeError):
    """Root of the MQTT bridge's and clients' errors (docs/mqtt.md)."""


class MqttConfigError(MqttError):
    """An MQTT URL, option or file is wrong (bad URL, a password in the URL, a missing certificate, a bad id)."""

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(message, advice or "See docs/mqtt.md, 'Connecting', for the URL and the options.")


class MqttConnectionError(MqttError):
    """The broker could not be reached, or it refused the connection (wrong password, not authorised, TLS)."""

    def __init__(self, message: str, advice: str = "", *, retryable: bool = True) -> None:
        super().__init__(message, advice)
        self.retryable = retryable
        """False when retrying cannot help (credentials refused, certificate rejected)."""
