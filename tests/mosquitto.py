"""A real MQTT broker for the tests: Debian's mosquitto (2.x) on 127.0.0.1 and a free port, with a config
made in a temporary folder; plain or TLS (a CA and a server certificate for 127.0.0.1/localhost made
with openssl), anonymous or with a password file (mosquitto_passwd).

    with Broker() as broker:                       # plain, anonymous
        settings = MqttSettings.from_url(broker.url)
    with Broker(tls=True, users={"bridge": "s3cret"}) as broker:
        MqttSettings.from_url(broker.url, user="bridge", ca=broker.ca_file)

`stop()` ends the broker (SIGTERM, so it writes its persistence file: persistent sessions and queued
QoS 1 messages survive a `start()`), `start()` starts it again on the same port, `restart()` does both;
`kill()` ends it with SIGKILL (nothing saved). The broker is killed when the block ends, also on errors.

CI installs mosquitto and sets HIPTRACK_REQUIRE_MOSQUITTO=1, so there a missing broker fails the tests
rather than skipping them (as tests/browser.py does for Chromium).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pytest

MOSQUITTO = (shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").is_file() else None))
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or (
    "/usr/bin/mosquitto_passwd" if Path("/usr/bin/mosquitto_passwd").is_file() else None)
OPENSSL = shutil.which("openssl")


def mosquitto_or_skip(*, tls: bool = False, users: bool = False) -> str:
    """The mosquitto binary; else skip the test (fail it when HIPTRACK_REQUIRE_MOSQUITTO=1)."""
    missing = None
    if MOSQUITTO is None:
        missing = "mosquitto"
    elif users and MOSQUITTO_PASSWD is None:
        missing = "mosquitto_passwd"
    elif tls and OPENSSL is None:
        missing = "openssl"
    if missing is None:
        assert MOSQUITTO is not None
        return MOSQUITTO
    if os.environ.get("HIPTRACK_REQUIRE_MOSQUITTO") == "1":
        pytest.fail(f"{missing} is not installed, and this run requires the MQTT tests")
    pytest.skip(f"{missing} is not installed")


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free port below the kernel's ephemeral range. A port from that range (what binding port 0 gives)
    can be taken while a broker is stopped: a client retrying to connect to it may be handed that very
    port as its own source port, connect to itself, and hold it, so the broker cannot start again."""
    low = _ephemeral_ports()[0]
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10000, low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port found between 10000 and {low}")


def _run(*args: str, cwd: Path) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.crt, server.crt, server.key) in folder: a throwaway CA and a server certificate for
    localhost and 127.0.0.1 (EC P-256, valid 2 days, the extensions Python's strict checks want)."""
    assert OPENSSL is not None
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _run(OPENSSL, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
         "-subj", "/CN=hiptrack test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-addext", "subjectKeyIdentifier=hash", cwd=folder)
    _run(OPENSSL, "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=folder)
    (folder / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n")
    _run(OPENSSL, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.crt", "-days", "2", "-extfile", "server.ext", cwd=folder)
    return folder / "ca.crt", folder / "server.crt", folder / "server.key"


def make_client_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """(client.crt, client.key) for `name`, signed by the CA `make_certificates` left in folder."""
    assert OPENSSL is not None
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _run(OPENSSL, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
    (folder / f"{name}.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=clientAuth\n"
        "authorityKeyIdentifier=keyid,issuer\n")
    _run(OPENSSL, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=folder)
    return folder / f"{name}.crt", folder / f"{name}.key"


class Broker:
    """A mosquitto for one test (see the module docstring)."""

    def __init__(self, *, tls: bool = False, users: dict[str, str] | None = None, persistence: bool = True,
                 host: str = "127.0.0.1", client_certificates: bool = False) -> None:
        self.binary = mosquitto_or_skip(tls=tls or client_certificates, users=bool(users))
        self.tls = tls or client_certificates
        self.client_certificates = client_certificates
        """TLS where the broker accepts only clients with a certificate from its CA (make_client_certificate)."""
        self.users = dict(users or {})
        self.persistence = persistence
        self.host = host
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="hiptrack-mosquitto-")
        self.folder = Path(self._tmp.name)
        self.ca_file: Path | None = None
        self.log_file = self.folder / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._configure()

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def _configure(self) -> None:
        lines = [f"listener {self.port} {self.host}", f"user {getpass.getuser()}",
                 f"log_dest file {self.log_file}", "log_type error", "log_type warning", "log_type notice",
                 "log_type information", "connection_messages true", "log_timestamp true",
                 "max_queued_messages 100000", "max_inflight_messages 0"]
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.folder}/", "autosave_interval 0"]
        else:
            lines.append("persistence false")
        if self.tls:
            self.ca_file, cert, key = make_certificates(self.folder)
            lines += [f"cafile {self.ca_file}", f"certfile {cert}", f"keyfile {key}", "tls_version tlsv1.2"]
            if self.client_certificates:
                lines += ["require_certificate true", "use_identity_as_username true"]
        if self.users and not self.client_certificates:
            assert MOSQUITTO_PASSWD is not None
            password_file = self.folder / "passwords"
            for i, (name, password) in enumerate(self.users.items()):
                flags = ["-b", "-c"] if i == 0 else ["-b"]
                _run(MOSQUITTO_PASSWD, *flags, str(password_file), name, password, cwd=self.folder)
            password_file.chmod(0o600)
            lines += [f"password_file {password_file}", "allow_anonymous false"]
        elif not self.client_certificates:
            lines.append("allow_anonymous true")
        self.config = self.folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    # -------------------------------------------------------------------------------- lifecycle
    def start(self, timeout_s: float = 10.0) -> None:
        """Start the broker (on the same port as before) and wait until it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}: {err.strip()}\n{self.log()}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.5):
                return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"mosquitto did not accept connections on port {self.port} within "
                                   f"{timeout_s} s\n{self.log()}")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 10.0) -> None:
        """End the broker cleanly (SIGTERM: it saves its persistence file), wait until it is gone."""
        process = self.process
        if process is None or process.poll() is not None:
            self._reap()
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5.0)
        self._reap()

    def kill(self) -> None:
        """End the broker at once (SIGKILL: nothing saved)."""
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(5.0)
        self._reap()

    def restart(self) -> None:
        self.stop()
        self.start()

    def _reap(self) -> None:
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """The broker's log so far (for assertion messages)."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> Broker:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.kill()
        self._tmp.cleanup()
