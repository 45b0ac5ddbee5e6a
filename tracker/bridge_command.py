"""`hiptrack bridge --mqtt URL`: this machine holds the sensors and publishes their samples to a broker
(firmware_bridge/mqtt/bridge.py, docs/mqtt.md), and the MQTT connection options the other commands share.

    hiptrack bridge --mqtt mqtts://broker.example:8883 --mqtt-user mat1 --mqtt-ca ca.pem
    hiptrack bridge --mqtt mqtt://127.0.0.1 --simulate --seed 3 --exercise seated-ir --reps 5

Without `--simulate` the assigned sensors of one leg are used (`hiptrack sensors assign`; thigh and shin,
and the pelvis sensor if one is assigned). With `--simulate` a simulated person plays in real time and
the bridge ends when the simulated session is over. Ctrl-C (or SIGTERM) ends the bridge cleanly: what it
holds is sent, and the status says offline.

Also runnable on its own: `python -m tracker.bridge_command --mqtt URL [...]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from firmware_bridge.ble.sensor import SensorLink
from firmware_bridge.errors import BridgeError, MqttConfigError
from firmware_bridge.mqtt.bridge import BridgeStats, run_bridge
from firmware_bridge.mqtt.settings import MqttSettings
from imu_core.frames import Side
from tracker.cli_options import add_bridge_arguments
from tracker.paths import store_path_of

ID_FILE_NAME = "mqtt-id"
"""The pseudonymous id's file, beside the store."""


# ------------------------------------------------------------------------------ shared options
def settings_from_args(args: argparse.Namespace, url: str | None = None) -> MqttSettings | None:
    """The settings from `--mqtt` (or `url`) and the shared options; None when no URL was given (and no
    other MQTT option either: those without a URL are an error)."""
    url = url if url is not None else getattr(args, "mqtt", None)
    if url is None:
        given = [name for name in ("mqtt_user", "mqtt_ca", "mqtt_cert", "mqtt_key", "mqtt_id", "mqtt_prefix")
                 if getattr(args, name, None) is not None]
        if given:
            raise MqttConfigError(f"--{given[0].replace('_', '-')} was given without a broker",
                                  "Give the broker with --mqtt mqtt://HOST (or mqtts://HOST for TLS).")
        return None
    return MqttSettings.from_url(url, user=args.mqtt_user, ca=args.mqtt_ca, cert=args.mqtt_cert, key=args.mqtt_key,
                                 prefix=args.mqtt_prefix, client_id=args.mqtt_id)


def id_file(args: argparse.Namespace) -> Path:
    """Where the default pseudonymous id is kept: beside the store."""
    return store_path_of(args).parent / ID_FILE_NAME


def mqtt_id(args: argparse.Namespace, settings: MqttSettings) -> str:
    """`--mqtt-id`, else the id kept beside the store (made the first time)."""
    return settings.resolved_id(id_file(args))


# ------------------------------------------------------------------------------ the command
def cmd_bridge(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from_args(args)
    if settings is None:
        raise MqttConfigError("hiptrack bridge needs a broker", "Give it with --mqtt mqtt://HOST.")
    if not args.simulate and any(v is not None for v in (args.seed, args.exercise, args.reps)):
        raise MqttConfigError("--seed, --exercise and --reps describe the simulated person",
                              "Add --simulate, or leave them out to publish the assigned sensors.")
    bridge_id = mqtt_id(args, settings)
    links, what = _simulated(args) if args.simulate else _assigned(args)
    _log_to_stderr()
    console.print(f"Bridge {bridge_id}: {what} -> {settings.url}, topics {settings.prefix}/bridge/{bridge_id}/... "
                  "(Ctrl-C ends it)")
    stats = asyncio.run(_run(settings, bridge_id, links, args.rate, console, wait_for_end=args.simulate))
    sent = ", ".join(f"{seg.value} {ch.samples_acked}" for seg, ch in stats.sensors.items())
    console.print(f"Bridge {bridge_id} stopped. Samples the broker took: {sent}; dropped {stats.dropped_samples}, "
                  f"not delivered {stats.undelivered_samples}, reconnects {stats.reconnects}.")
    return 0


def _simulated(args: argparse.Namespace) -> tuple[list[SensorLink], str]:
    from firmware_bridge.replay import simulated_links
    from tracker.exercises import get_exercise
    from tracker.live_commands import _simulated_motion

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    side = Side(args.side) if args.side else (Side.LEFT if seed % 2 == 0 else Side.RIGHT)
    exercise = get_exercise(args.exercise or "seated-ir")
    motion = _simulated_motion(exercise)
    links: list[SensorLink] = list(simulated_links(seed, exercise=motion, reps=args.reps, side=side,
                                                   rate_hz=args.rate))
    return links, f"simulated person (seed {seed}, {side.value} leg, {exercise.name})"


def _assigned(args: argparse.Namespace) -> tuple[list[SensorLink], str]:
    from tracker.errors import TrackerError
    from tracker.live_run import make_link, pick_sensors
    from tracker.sensor_config import config_path, load_assignments

    assignments = load_assignments(config_path(store_path_of(args)))
    if not assignments:
        raise TrackerError("no sensors are assigned.", "Run 'hiptrack scan', then 'hiptrack sensors assign ...'; "
                           "or try the bridge with --simulate.")
    side, chosen = pick_sensors(assignments, Side(args.side) if args.side else None)
    links = [make_link(a) for a in chosen]
    return links, f"{side.value} leg: " + ", ".join(f"{a.segment.value} {a.address}" for a in chosen)


async def _run(settings: MqttSettings, bridge_id: str, links: Sequence[SensorLink], rate_hz: float,
               console: Console, *, wait_for_end: bool) -> BridgeStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:  # the first Ctrl-C ends cleanly (sends what is held); a second one at once
        stop.set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)

    async def end_with_the_simulation() -> None:
        from firmware_bridge.replay import ReplayedLink

        waits = [link.finished.wait() for link in links if isinstance(link, ReplayedLink)]
        if waits:
            await asyncio.gather(*waits)
            await asyncio.sleep(0.2)  # the last samples into a batch
            stop.set()

    last_line = ""

    def on_status(stats: BridgeStats) -> None:
        nonlocal last_line
        if stop.is_set():  # shutting down: the final summary follows
            return
        line = _summary(stats)
        if line != last_line:
            console.print(line)
            last_line = line

    ender = loop.create_task(end_with_the_simulation(), name="bridge-simulation-end") if wait_for_end else None
    try:
        return await run_bridge(settings, bridge_id, links, rate_hz=rate_hz, stop=stop, on_status=on_status)
    finally:
        if ender is not None:
            ender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ender
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def _summary(stats: BridgeStats) -> str:
    status = stats.status
    sensors = status.get("sensors", [])
    parts = [f"{s['segment']} {s['rate_hz']:.0f} Hz{'' if s['connected'] else ' (reconnecting)'}"
             + (f", battery {s['battery_percent']} %" if s.get("battery_percent") is not None else "")
             for s in sensors]
    broker = "broker connected" if stats.connected else "broker unreachable"
    return (f"{broker}; {'; '.join(parts) or 'no sensors yet'}; held {stats.buffered_samples}, "
            f"dropped {stats.dropped_samples}, reconnects {stats.reconnects}")


def _log_to_stderr() -> None:
    """The bridge's log lines (reconnects, drops) on stderr, unless logging is set up already."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
        logging.getLogger("firmware_bridge.mqtt").setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tracker.bridge_command ...` (the same as `hiptrack bridge ...`)."""
    parser = argparse.ArgumentParser(prog="hiptrack bridge", description="Publish the sensors to an MQTT broker.")
    parser.add_argument("--store", help="session store file (default: $HIPTRACK_STORE or the user data folder)")
    add_bridge_arguments(parser)
    args = parser.parse_args(argv)
    from tracker.errors import TrackerError

    try:
        return cmd_bridge(args, Console())
    except (BridgeError, TrackerError) as e:
        print(f"hiptrack: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
