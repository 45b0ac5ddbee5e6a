"""How to reach the broker: `MqttSettings` from `--mqtt URL` and the shared options (docs/mqtt.md,
'Connecting'), and the pseudonymous id a bridge or a live session is named by.

A password is never taken from a URL or the command line (other users can read both): it comes from
`$HIPTRACK_MQTT_PASSWORD`, and only together with a user name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from firmware_bridge.errors import MqttConfigError
from firmware_bridge.mqtt.topics import DEFAULT_PREFIX, validate_id, validate_prefix

PASSWORD_ENV = "HIPTRACK_MQTT_PASSWORD"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
ID_PREFIX = "ht-"
_URL_ADVICE = "Give the broker as mqtt://HOST[:PORT] (plain, port 1883) or mqtts://HOST[:PORT] (TLS, port 8883)."


@dataclass(frozen=True)
class MqttSettings:
    """Where the broker is and how to log in. Immutable; `from_url` builds and checks one."""

    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    """From $HIPTRACK_MQTT_PASSWORD; never shown in a repr."""
    ca_file: Path | None = None
    """CA that signed the broker's certificate; None: the system's CAs."""
    cert_file: Path | None = None
    """Client certificate (with key_file)."""
    key_file: Path | None = None
    prefix: str = DEFAULT_PREFIX
    client_id: str | None = None
    """The pseudonymous id the bridge or live session is named by in topics (`--mqtt-id`); None: the
    caller picks the default one kept beside the store (`resolved_id`)."""

    # ------------------------------------------------------------------------------ building
    @classmethod
    def from_url(cls, url: str, *, user: str | None = None, ca: Path | None = None, cert: Path | None = None,
                 key: Path | None = None, prefix: str | None = None, client_id: str | None = None) -> MqttSettings:
        """Check `url` and the options and build the settings (MqttConfigError with advice otherwise).

        A user name may be in the URL (`mqtt://NAME@HOST`) or in `user`; the password comes from
        `$HIPTRACK_MQTT_PASSWORD` when there is a user name. A password in the URL is refused."""
        text = url.strip()
        if "://" not in text:
            raise MqttConfigError(f"{url!r} is not an MQTT URL (no scheme)", _URL_ADVICE)
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as e:
            raise MqttConfigError(f"{url!r} is not a valid MQTT URL ({e})", _URL_ADVICE) from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise MqttConfigError(f"{url!r}: unknown scheme {parts.scheme!r}", _URL_ADVICE)
        if parts.password is not None:
            raise MqttConfigError(
                f"the MQTT URL {_redacted(parts)!r} holds a password",
                f"Never put a password in a URL or on the command line, where other users can read it: give "
                f"the user with --mqtt-user NAME and the password in the environment variable {PASSWORD_ENV}.")
        host = parts.hostname
        if not host:
            raise MqttConfigError(f"{url!r} names no broker host", _URL_ADVICE)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise MqttConfigError(f"{url!r}: an MQTT URL has no path, query or fragment", _URL_ADVICE)
        if port is None:
            port = DEFAULT_PORTS[scheme]
        if not 0 < port < 65536:
            raise MqttConfigError(f"{url!r}: port {port} is out of range", _URL_ADVICE)
        url_user = parts.username or None
        if url_user is not None and user is not None and url_user != user:
            raise MqttConfigError(f"the URL names the user {url_user!r} but --mqtt-user says {user!r}",
                                  "Give the user name once, with --mqtt-user.")
        username = user if user is not None else url_user
        if username is not None and not username:
            raise MqttConfigError("the MQTT user name is empty", "Give --mqtt-user NAME, or leave it out.")
        password = os.environ.get(PASSWORD_ENV) if username is not None else None
        tls = scheme == "mqtts"
        for what, path in (("CA file (--mqtt-ca)", ca), ("client certificate (--mqtt-cert)", cert),
                           ("client key (--mqtt-key)", key)):
            if path is not None and not Path(path).is_file():
                raise MqttConfigError(f"the {what} {str(path)!r} does not exist or is not a file",
                                      "Check the path; the file must be readable by this user.")
        if (cert is None) != (key is None):
            raise MqttConfigError("a client certificate needs both --mqtt-cert and --mqtt-key",
                                  "Give both files (PEM), or neither.")
        if not tls and (ca is not None or cert is not None):
            raise MqttConfigError(f"{url!r} is a plain connection, but a CA or client certificate was given",
                                  "Use mqtts://HOST for TLS (port 8883 by default), or leave out --mqtt-ca, "
                                  "--mqtt-cert and --mqtt-key.")
        return cls(host=host, port=port, tls=tls, username=username, password=password,
                   ca_file=None if ca is None else Path(ca), cert_file=None if cert is None else Path(cert),
                   key_file=None if key is None else Path(key),
                   prefix=validate_prefix(prefix if prefix is not None else DEFAULT_PREFIX),
                   client_id=None if client_id is None else validate_id(client_id, "id (--mqtt-id)"))

    def with_id(self, client_id: str) -> MqttSettings:
        return replace(self, client_id=validate_id(client_id, "id (--mqtt-id)"))

    def resolved_id(self, id_file: Path) -> str:
        """`client_id`, or the pseudonymous id kept in `id_file` (made there the first time)."""
        return self.client_id if self.client_id is not None else pseudonymous_id(id_file)

    @property
    def url(self) -> str:
        """The broker's URL, without credentials (for logs and messages)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"

    # ------------------------------------------------------------------------------ connecting
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (None for a plain connection): the given CA or the system's, and the client
        certificate if any. Unreadable or malformed files raise MqttConfigError."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(
                cafile=None if self.ca_file is None else str(self.ca_file))
        except (OSError, ssl.SSLError) as e:
            raise MqttConfigError(f"the CA file {str(self.ca_file)!r} cannot be used: {e}",
                                  "Give the PEM certificate of the CA that signed the broker's certificate.") from e
        context.sslsocket_class = _ClosingSSLSocket
        if self.cert_file is not None and self.key_file is not None:
            try:
                context.load_cert_chain(str(self.cert_file), str(self.key_file))
            except (OSError, ssl.SSLError) as e:
                raise MqttConfigError(
                    f"the client certificate {str(self.cert_file)!r} with key {str(self.key_file)!r} cannot be "
                    f"used: {e}", "Give a PEM certificate and its matching unencrypted PEM key.") from e
        return context

    def client(self, *, identifier: str | None = None, will: aiomqtt.Will | None = None,
               **kw: Any) -> aiomqtt.Client:
        """An `aiomqtt.Client` for this broker (not yet connected: use it as `async with`).

        `identifier` is the MQTT client identifier (must be unique on the broker: a second client with
        the same one disconnects the first); None lets the client make a random one. Other keyword
        arguments go to `aiomqtt.Client` (e.g. `clean_session`, `keepalive`, `timeout`)."""
        return aiomqtt.Client(self.host, self.port, username=self.username, password=self.password,
                              identifier=identifier, will=will, tls_context=self.ssl_context(), **kw)


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the TLS handshake fails (paho-mqtt drops such a socket unclosed)."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def _redacted(parts: Any) -> str:
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return f"{parts.scheme}://{user}:***@{netloc}{parts.path}"


def new_pseudonymous_id() -> str:
    """A fresh random id like 'ht-7f3a9c' (24 random bits)."""
    return ID_PREFIX + secrets.token_hex(3)


def pseudonymous_id(path: Path) -> str:
    """The id kept in `path`; made (randomly, `new_pseudonymous_id`) and written there the first time.

    The file holds only the id. A file whose content is not a valid id is replaced by a new one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    except OSError as e:
        raise MqttConfigError(f"cannot read the MQTT id file {str(path)!r}: {e}",
                              "Check the file's permissions, or give an id with --mqtt-id.") from e
    if text:
        try:
            return validate_id(text)
        except MqttConfigError:
            pass
    new = new_pseudonymous_id()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".mqtt-id-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(new + "\n")
            if text:  # an unusable id is replaced
                os.replace(tmp, path)
                return new
            try:  # create only if still absent: two processes starting together agree on one id
                os.link(tmp, path)
            except FileExistsError:
                return validate_id(path.read_text(encoding="utf-8").strip())
            return new
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    except OSError as e:
        raise MqttConfigError(f"cannot write the MQTT id file {str(path)!r}: {e}",
                              "Check the folder's permissions, or give an id with --mqtt-id.") from e
