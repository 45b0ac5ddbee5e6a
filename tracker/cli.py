"""The `hiptrack` command line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from calibration.errors import CalibrationError
from firmware_bridge.errors import BridgeError
from firmware_bridge.metabase import import_notes, parse_marker, read_metabase, recorded_at
from firmware_bridge.recording import read_recording, write_recording
from imu_core.errors import ImuCoreError
from imu_core.frames import Segment, Side
from imu_core.types import ImuSample
from tracker.analysis import write_angles_csv
from tracker.cli_options import add_bridge_arguments, add_monitor_arguments, add_mqtt_options, dashboard_options
from tracker.errors import TrackerError
from tracker.history_commands import add_history_commands, session_id
from tracker.offline import analyse_recording_in_detail
from tracker.paths import store_path_of
from tracker.store import SessionStore
from tracker.tables import TABLE_FORMATS, session_tables, write_tables

USER_ERRORS = (TrackerError, BridgeError, CalibrationError, ImuCoreError)  # every package root

Command = Callable[[argparse.Namespace, Console], int]


def _command(module: str, name: str) -> Command:
    """A command whose module is imported when it runs: the live ones bring a web server, MQTT and
    Bluetooth along, which `analyze` or `sessions` do without (a third of a second less to start)."""
    def run(args: argparse.Namespace, console: Console) -> int:
        command: Command = getattr(importlib.import_module(module), name)
        return command(args, console)
    return run


def cmd_exercises(args: argparse.Namespace, console: Console) -> int:
    from tracker.custom_exercises import custom_exercise_dirs, load_exercise_dir
    from tracker.exercises import CATALOG, UNMEASURABLE

    short = {"thigh_drift": "thigh", "knee_flexion_change": "knee", "too_fast": "tempo", "pelvis_motion": "pelvis"}
    table = Table(title="Exercises (hiptrack demo --exercise ID; docs/exercises.md)")
    table.add_column("id", no_wrap=True)
    for col in ("kind", "start posture", "dose", "checks"):
        table.add_column(col)
    custom = load_exercise_dir(custom_exercise_dirs())
    for ex in [*CATALOG.values(), *custom.values()]:
        p = ex.prescription
        dose = f"{p.sets}x{p.reps}" + (f", {p.hold_s[0]:g}-{p.hold_s[1]:g} s" if p.hold_s[1] > 0 else "")
        table.add_row(ex.id + (" (custom)" if ex.id in custom else ""), ex.kind.value, ex.posture.name, dose,
                      " ".join(short.get(c.value, c.value) for c in ex.checks))
    console.print(table)
    console.print("Not measurable with thigh and shin sensors:")
    for u in UNMEASURABLE.values():
        console.print(f"  {u.id}: {u.reason}")
    return 0


# --- data in and out -------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace, console: Console) -> int:
    sid = session_id(args.session)
    if args.tables:
        with SessionStore.open(store_path_of(args)) as store:
            tables = session_tables(store, sid, angles=not args.no_angles)
        paths = write_tables(tables, Path(args.dir), args.tables)
        console.print(f"Session {sid}: {len(paths)} tables written to {args.dir} ({', '.join(p.name for p in paths)})")
        return 0
    with SessionStore.open(store_path_of(args)) as store:
        rec = store.load_recording(sid)
    write_recording(rec, Path(args.dir))
    console.print(f"Session {sid} written to {args.dir}")
    return 0


def cmd_import(args: argparse.Namespace, console: Console) -> int:
    if args.metabase:
        from tracker.exercises import get_exercise

        if not (args.thigh and args.shin and args.side and args.exercise):
            raise TrackerError("--metabase needs --thigh MAC, --shin MAC, --side and --exercise.",
                               "The board addresses are in the MetaBase file names (…_C4A3E9E2E5F3_Gyroscope_….csv).")
        get_exercise(args.exercise)  # an unknown exercise fails before any file is read
        boards = {args.thigh: "thigh", args.shin: "shin", **({args.pelvis: "pelvis"} if args.pelvis else {})}
        markers = [parse_marker(m) for m in args.marker] or None
        rec = read_metabase([Path(p) for p in args.paths], boards, args.side, args.exercise, markers)
        for note in import_notes(rec):
            console.print(f"note: {note}")
    else:
        if len(args.paths) != 1 or args.marker:
            raise TrackerError("a recording folder is imported on its own.",
                               "Give one folder, or add --metabase for MetaBase CSV files.")
        rec = read_recording(Path(args.paths[0]))
    result, _, _, details = analyse_recording_in_detail(rec)  # fails before storing anything
    with SessionStore.open(store_path_of(args)) as store:
        sid = store.store_recording(rec, source="import", created_at=recorded_at(rec), person=args.person)
        store.save_results(sid, result, details)
    console.print(f"Imported as session {sid}: {len(result.reps)} reps, max IR {result.max_ir_deg:.1f} deg")
    return 0


def cmd_analyze(args: argparse.Namespace, console: Console) -> int:
    rec = read_recording(Path(args.dir))
    # What exists now (the modules, the recording) outlives the analysis: the collector's full passes
    # need not walk it (a tenth of a 20-minute recording's analysis otherwise).
    gc.freeze()
    result, angles, _, details = analyse_recording_in_detail(rec)
    result.write_json(Path(args.json))
    if args.details:
        Path(args.details).write_text(json.dumps(details, indent=2) + "\n", encoding="utf-8")
    if args.angles:
        write_angles_csv(angles, Path(args.angles))
    console.print(json.dumps({"reps": len(result.reps), "max_ir_deg": round(result.max_ir_deg, 2)}))
    return 0


# --- real sensors ----------------------------------------------------------------------------
def cmd_scan(args: argparse.Namespace, console: Console) -> int:
    from firmware_bridge.ble.scan import scan

    found = asyncio.run(scan(args.seconds))
    if not found:
        console.print("No supported sensors found. Wake them up (MetaMotion: press the button; Nano: power it) "
                      "and keep them within a few metres.")
        return 0
    table = Table()
    for col in ("address", "name", "model", "signal"):
        table.add_column(col)
    for f in found:
        table.add_row(f.address, f.name, {"metamotion": "MbientLab MetaMotion", "nano33": "Nano 33 BLE (hiptrack)"}
                      [f.family], f"{f.rssi_dbm} dBm")
    console.print(table)
    console.print("Battery is read when a sensor connects: see 'hiptrack stream'.")
    return 0


def cmd_sensors(args: argparse.Namespace, console: Console) -> int:
    from tracker.sensor_config import SensorAssignment, assign, config_path, load_assignments, save_assignments

    path = config_path(store_path_of(args))
    current = load_assignments(path)
    if args.action == "assign":
        family = args.family
        if family is None:
            from firmware_bridge.ble.scan import scan

            seen = {f.address.upper(): f for f in asyncio.run(scan(args.scan_seconds))}
            match = seen.get(args.address.upper())
            if match is None:
                raise TrackerError(f"no supported sensor with address {args.address} is advertising nearby.",
                                   "Check 'hiptrack scan', or give --family metamotion|nano33 to assign it anyway.")
            family = match.family
        new = SensorAssignment(args.address, Segment(args.segment), Side(args.side), family)
        save_assignments(path, assign(current, new))
        console.print(f"{args.address} is now the {args.side} {args.segment} sensor ({family}); saved in {path}")
        return 0
    if not current:
        console.print("No sensors assigned yet. Run 'hiptrack scan', then 'hiptrack sensors assign ADDRESS thigh'.")
        return 0
    table = Table()
    for col in ("address", "segment", "side", "family", "name"):
        table.add_column(col)
    for a in current:
        table.add_row(a.address, a.segment.value, a.side.value, a.family, a.name)
    console.print(table)
    return 0


def cmd_stream(args: argparse.Namespace, console: Console) -> int:
    from tracker.live_run import make_link
    from tracker.sensor_config import config_path, load_assignments

    assignments = load_assignments(config_path(store_path_of(args)))
    if not assignments:
        raise TrackerError("no sensors are assigned.", "Run 'hiptrack scan', then 'hiptrack sensors assign ...'.")
    links = [make_link(a) for a in assignments]

    async def main() -> None:
        counts = {link.segment: 0 for link in links}

        def counter(seg: Segment) -> Callable[[list[ImuSample]], None]:
            def on_samples(samples: list[ImuSample]) -> None:
                counts[seg] += len(samples)
            return on_samples

        try:
            for link in links:
                await link.start(args.rate, counter(link.segment), lambda gap: None)
            for _ in range(int(args.seconds)):
                await asyncio.sleep(1.0)
                console.print("   ".join(
                    f"{link.segment.value}: {link.stats.rate_hz:5.1f} Hz, lost {link.stats.samples_lost}, "
                    f"corrupt {link.stats.packets_corrupt}, battery "
                    f"{'--' if link.stats.battery_percent is None else str(link.stats.battery_percent) + ' %'}"
                    + ("" if link.stats.connected else " (reconnecting)") for link in links))
        finally:
            await asyncio.gather(*(link.stop() for link in links), return_exceptions=True)

    asyncio.run(main())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hiptrack", description="Hip internal rotation, measured live.")
    parser.add_argument("--store", help="session store file (default: $HIPTRACK_STORE or the user data folder)")
    parser.add_argument("--person", default=os.environ.get("HIPTRACK_PERSON") or None,
                        help="whose sessions (default: $HIPTRACK_PERSON, else 'me'; the demo's: 'simulated')")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="a simulated person does an exercise (default seated hip IR), shown live")
    demo.add_argument("--speed", type=float, default=1.0, help="times real time (default 1)")
    demo.add_argument("--seconds", type=float, default=None, help="cap the session length, s")
    demo.add_argument("--reps", type=int, default=None, help="reps per set (default: the simulated person's usual)")
    demo.add_argument("--sets", type=int, default=1, help="sets (default 1)")
    demo.add_argument("--seed", type=int, default=None, help="seed of the simulated person")
    demo.add_argument("--side", choices=[s.value for s in Side], default=None)
    demo.add_argument("--both-sides", action="store_true", help="one session per leg")
    demo.add_argument("--exercise", default="seated-ir", help="catalog id ('hiptrack exercises' lists them)")
    demo.add_argument("--compensate", action="append", default=[], metavar="KIND:REP",
                      help="the simulated person compensates in that rep, e.g. thigh_drift:3 (repeatable)")
    demo.add_argument("--pelvis", action="store_true", help="simulate a sacrum sensor too")
    demo.add_argument("--band", default=None, metavar="LEVEL", help="resistance band used (recorded), e.g. red")
    dashboard_options(demo)
    add_mqtt_options(demo)
    demo.set_defaults(func=_command("tracker.live_commands", "cmd_demo"))

    sub.add_parser("exercises", help="list the exercises and what each measures").set_defaults(func=cmd_exercises)

    add_history_commands(sub)

    bridge = sub.add_parser("bridge", help="publish the sensors (or a simulated person) to an MQTT broker")
    add_bridge_arguments(bridge)
    bridge.set_defaults(func=_command("tracker.bridge_command", "cmd_bridge"))

    exp = sub.add_parser("export", help="write a session as a recording folder (or its tables, --tables)")
    exp.add_argument("session")
    exp.add_argument("dir")
    exp.add_argument("--tables", choices=TABLE_FORMATS, default=None,
                     help="write the session's tables (reps, holds, compensations, sets, pain, angles...) as "
                          "csv or parquet files into DIR instead of a recording folder")
    exp.add_argument("--no-angles", action="store_true",
                     help="with --tables: leave out the angles table (it is recomputed from the samples)")
    exp.set_defaults(func=cmd_export)

    imp = sub.add_parser("import", help="store a recording folder (or a MetaBase export, --metabase) as a session")
    imp.add_argument("paths", nargs="+", metavar="PATH",
                     help="a recording folder; with --metabase the folder MetaBase exported, or its CSV files")
    imp.add_argument("--metabase", action="store_true", help="PATH is MbientLab MetaBase CSV files")
    imp.add_argument("--thigh", metavar="MAC", help="with --metabase: address of the thigh board")
    imp.add_argument("--shin", metavar="MAC", help="with --metabase: address of the shin board")
    imp.add_argument("--pelvis", metavar="MAC", help="with --metabase: address of the pelvis board, if any")
    imp.add_argument("--side", choices=[s.value for s in Side], help="with --metabase: the leg that wore the sensors")
    imp.add_argument("--exercise", help="with --metabase: catalog id of the exercise ('hiptrack exercises')")
    imp.add_argument("--marker", action="append", default=[], metavar="LABEL=SECONDS",
                     help="with --metabase: a phase time, s from the first sample (calibration.static, "
                          "calibration.swing, exercise.start, exercise.end; repeatable); default: found in the data")
    imp.set_defaults(func=cmd_import)

    sc = sub.add_parser("scan", help="list supported sensors nearby")
    sc.add_argument("--seconds", type=float, default=5.0)
    sc.set_defaults(func=cmd_scan)

    sen = sub.add_parser("sensors", help="assign sensors to segments (remembered beside the store)")
    sen_sub = sen.add_subparsers(dest="action", required=True)
    sa = sen_sub.add_parser("assign", help="assign a sensor to the thigh, shin or pelvis")
    sa.add_argument("address")
    sa.add_argument("segment", choices=[s.value for s in Segment])
    sa.add_argument("--side", choices=[s.value for s in Side], default="left")
    sa.add_argument("--family", choices=["metamotion", "nano33"], default=None,
                    help="the sensor's kind (found by scanning if not given)")
    sa.add_argument("--scan-seconds", type=float, default=5.0)
    sen_sub.add_parser("list", help="show the assignments")
    sen.set_defaults(func=cmd_sensors)

    st = sub.add_parser("stream", help="stream the assigned sensors: rates, loss, battery")
    st.add_argument("--seconds", type=float, default=10.0)
    st.add_argument("--rate", type=float, default=100.0)
    st.set_defaults(func=cmd_stream)

    run = sub.add_parser("run", help="a live session with the assigned sensors")
    run.add_argument("--exercise", default="seated-ir")
    run.add_argument("--side", choices=[s.value for s in Side], default=None)
    run.add_argument("--reps", type=int, default=None, help="reps per set (default: the prescription)")
    run.add_argument("--sets", type=int, default=None, help="sets (default: the prescription)")
    run.add_argument("--both-sides", action="store_true", help="then the other leg, with its assigned sensors")
    run.add_argument("--no-pain", action="store_true", help="do not ask for a pain rating after each set")
    run.add_argument("--band", default=None, metavar="LEVEL", help="resistance band used (recorded), e.g. red")
    dashboard_options(run)
    run.add_argument("--seconds", type=float, default=None, help="cap the set's length, s")
    run.add_argument("--rate", type=float, default=100.0, help="sample rate, Hz")
    run.add_argument("--source", metavar="URL",
                     help="the sensors of a bridge, through an MQTT broker: mqtt[s]://HOST[:PORT] (with --bridge and "
                          "--side; see docs/mqtt.md)")
    run.add_argument("--bridge", metavar="ID", help="with --source: the bridge's id (its --mqtt-id)")
    add_mqtt_options(run, url=True)
    run.set_defaults(func=_command("tracker.live_commands", "cmd_run"))

    monitor = sub.add_parser("monitor", help="every active person on an MQTT broker on one page")
    add_monitor_arguments(monitor)
    monitor.set_defaults(func=_command("tracker.monitor.command", "cmd_monitor"))

    ana = sub.add_parser("analyze", help="analyse a recording folder offline")
    ana.add_argument("dir")
    ana.add_argument("--json", required=True, help="analysis output file (hiptrack-analysis/1)")
    ana.add_argument("--angles", help="also write the angle time series as CSV")
    ana.add_argument("--details", help="also write sets, tempo, partial reps, stretch and test results as JSON")
    ana.set_defaults(func=cmd_analyze)
    for command in sub.choices.values():  # --store and --person also after the command's name
        command.add_argument("--store", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        command.add_argument("--person", default=argparse.SUPPRESS, help="whose sessions (as before the command)")
    return parser


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        code: int = args.func(args, console)
        return code
    except USER_ERRORS as exc:
        print(f"hiptrack: error: {exc}", file=sys.stderr)
        return 1
    except BaseExceptionGroup as group:  # from a task group: a user error in one of the session's tasks
        user, _ = group.split(USER_ERRORS)
        if user is None:
            raise
        print(f"hiptrack: error: {_first_leaf(user)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hiptrack: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

