"""`hiptrack monitor --mqtt URL`: every active person on a broker on one page (tracker/monitor/server.py).

    hiptrack monitor --mqtt mqtts://broker.clinic:8883 --mqtt-user desk --mqtt-ca ca.pem
    hiptrack monitor --mqtt mqtt://127.0.0.1 --host 0.0.0.0          # a token is generated and printed

The page is served as the dashboard is (docs/dashboard.md): on 127.0.0.1 and a free port by default, any
other address only with a token. It runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from rich.console import Console

from firmware_bridge.errors import MqttConfigError
from firmware_bridge.mqtt.settings import MqttSettings
from tracker.bridge_command import settings_from_args
from tracker.monitor.server import MonitorServer


def cmd_monitor(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from_args(args)
    if settings is None:
        raise MqttConfigError("hiptrack monitor needs a broker", "Give it with --mqtt mqtt://HOST.")
    asyncio.run(_monitor(args, console, settings))
    return 0


async def _monitor(args: argparse.Namespace, console: Console, settings: MqttSettings) -> None:
    from tracker.live_commands import _open_browser

    async with MonitorServer(settings, host=args.host, port=args.port, token=args.token,
                             keep_hours=args.keep_hours) as monitor:
        console.print(f"Monitor of {monitor.settings.url} (topics {monitor.prefix}/session/...): {monitor.url}")
        console.print("Ctrl-C ends it.")
        _open_browser(monitor.url, args.no_browser)
        with contextlib.suppress(asyncio.CancelledError):
            await monitor.run()
