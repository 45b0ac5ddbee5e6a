"""Options several commands share, to build the command line's parser without importing what the commands
themselves need (the dashboard's web server, the MQTT client, Bluetooth): `hiptrack analyze` or `hiptrack
sessions` start without them."""

from __future__ import annotations

import argparse
from pathlib import Path

from firmware_bridge.mqtt.settings import PASSWORD_ENV
from imu_core.frames import Side
from tracker.monitor.people import KEEP_HOURS


def dashboard_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-browser", action="store_true", help="do not open the dashboard; its URL is printed")
    p.add_argument("--keep-open", action="store_true", help="keep serving the dashboard after the session")
    p.add_argument("--host", default="127.0.0.1",
                   help="dashboard address (default 127.0.0.1; any other needs a token, generated if not given)")
    p.add_argument("--port", type=int, default=0, help="dashboard port (default: a free one)")
    p.add_argument("--token", default=None, help="token the dashboard's URL must carry")


def add_mqtt_options(parser: argparse.ArgumentParser, *, url: bool = True, url_required: bool = False) -> None:
    """The connection options of docs/mqtt.md ('Connecting'). `url`: add `--mqtt URL` too (commands
    that take the URL elsewhere, e.g. `run --source mqtt://...`, pass False)."""
    group = parser.add_argument_group("MQTT (docs/mqtt.md)")
    if url:
        group.add_argument("--mqtt", metavar="URL", required=url_required,
                           help="broker: mqtt://HOST[:PORT] (plain, 1883) or mqtts://HOST[:PORT] (TLS, 8883)")
    group.add_argument("--mqtt-user", metavar="NAME",
                       help=f"user name; the password is read from ${PASSWORD_ENV}, never from the command line")
    group.add_argument("--mqtt-ca", metavar="FILE", type=Path,
                       help="CA certificate (PEM) that signed the broker's (default: the system's CAs)")
    group.add_argument("--mqtt-cert", metavar="FILE", type=Path, help="client certificate (PEM), with --mqtt-key")
    group.add_argument("--mqtt-key", metavar="FILE", type=Path, help="client certificate's key (PEM)")
    group.add_argument("--mqtt-id", metavar="ID",
                       help="pseudonymous id in the topics (default: a random id made once, kept beside the store)")
    group.add_argument("--mqtt-prefix", metavar="PREFIX", help="topic prefix (default hiptrack/v1)")


def add_bridge_arguments(parser: argparse.ArgumentParser) -> None:
    """Everything `hiptrack bridge` takes (the shared MQTT options included, --mqtt required)."""
    add_mqtt_options(parser, url_required=True)
    parser.add_argument("--simulate", action="store_true", help="a simulated person instead of the sensors")
    parser.add_argument("--seed", type=int, default=None, help="seed of the simulated person (--simulate)")
    parser.add_argument("--exercise", default=None,
                        help="exercise the simulated person does (--simulate; default seated-ir)")
    parser.add_argument("--reps", type=int, default=None, help="reps the simulated person does (--simulate)")
    parser.add_argument("--side", choices=[s.value for s in Side], default=None,
                        help="which leg's sensors (default: the leg that has both assigned) or simulated leg")
    parser.add_argument("--rate", type=float, default=100.0, help="sample rate, Hz (default 100)")


def add_monitor_arguments(parser: argparse.ArgumentParser) -> None:
    """Everything `hiptrack monitor` takes: the shared MQTT options (--mqtt required) and where to serve."""
    add_mqtt_options(parser, url_required=True)
    parser.add_argument("--no-browser", action="store_true", help="do not open the page; its URL is printed")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (default 127.0.0.1; any other needs a token, generated if not given)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--token", default=None, help="token the page's URL must carry")
    parser.add_argument("--keep-hours", type=float, default=KEEP_HOURS,
                        help=f"also list sessions that ended within this many hours (default {KEEP_HOURS:g})")
