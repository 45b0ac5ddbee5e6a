"""The `hiptrack` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from calibration.errors import CalibrationError
from firmware_bridge.errors import BridgeError
from firmware_bridge.recording import read_recording, write_recording
from firmware_bridge.replay import replay
from imu_core.errors import ImuCoreError
from imu_core.frames import Segment, Side
from imu_core.types import ImuSample, Marker, Recording
from tracker.analysis import AnalysisResult, write_angles_csv
from tracker.errors import TrackerError, UnknownSessionError
from tracker.exercise_model import Exercise, ExerciseKind
from tracker.exercises import get_exercise
from tracker.live_view import TerminalView
from tracker.offline import analyse_recording, analyse_recording_in_detail, session_report
from tracker.paths import default_store_path, reports_dir
from tracker.pipeline import SessionPipeline
from tracker.rom_compare import rom_comparison
from tracker.session import LiveState, run_live_session
from tracker.store import SessionStore

USER_ERRORS = (TrackerError, BridgeError, CalibrationError, ImuCoreError)  # every package root
PAIN_WAIT_S = 180.0
"""How long the guide waits for a pain answer from the page before going on without one, s."""


def _store_path(args: argparse.Namespace) -> Path:
    return Path(args.store) if args.store else default_store_path()


def _session_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UnknownSessionError(text) from None


def _chart_path(store_path: Path, session_id: int) -> Path:
    return reports_dir(store_path) / f"session-{session_id}.png"


# --- demo ------------------------------------------------------------------------------------
def _parse_compensations(specs: Sequence[str]) -> list[object]:
    from firmware_bridge.simulator.exercises import Compensation, CompensationKind

    out: list[object] = []
    for spec in specs:
        kind, _, rep_no = spec.partition(":")
        try:
            out.append(Compensation(CompensationKind(kind), int(rep_no)))
        except ValueError:
            raise TrackerError(f"--compensate {spec!r} is not KIND:REP.",
                               f"Kinds: {', '.join(k.value for k in CompensationKind)}; e.g. thigh_drift:3.") from None
    return out


def _simulated_motion(exercise: Exercise) -> str:
    """The catalog exercise whose motion the simulated person performs: the exercise itself, or for a
    custom one, the catalog exercise of the same kind, posture and measure."""
    from firmware_bridge.simulator.exercises import EXERCISES
    from tracker.exercises import CATALOG

    if exercise.id in EXERCISES:
        return exercise.id
    for ex in CATALOG.values():
        if (ex.kind, ex.posture.name, ex.measure) == (exercise.kind, exercise.posture.name, exercise.measure) \
                and ex.id in EXERCISES:
            return ex.id
    raise TrackerError(f"the simulator has no motion like {exercise.id!r} ({exercise.kind.value}, "
                       f"{exercise.posture.name} posture) to demonstrate.",
                       "Run it with sensors ('hiptrack run --exercise ID'), or demo a catalog exercise.")


def _with_band(exercise: Exercise, band: str | None) -> Exercise:
    """The exercise with the resistance band used today recorded in its prescription."""
    if band is None:
        return exercise
    return exercise.with_prescription(exercise.prescription.with_overrides(band_level=band))


def _band_meta(exercise: Exercise) -> dict[str, str]:
    level = exercise.prescription.band_level
    return {} if level is None else {"band_level": level}


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from firmware_bridge.simulator import simulate_session

    exercise = _with_band(get_exercise(args.exercise), args.band)
    motion = _simulated_motion(exercise)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    first = Side(args.side) if args.side else (Side.LEFT if seed % 2 == 0 else Side.RIGHT)
    sides = [first, Side.RIGHT if first is Side.LEFT else Side.LEFT] if args.both_sides else [first]
    store_path = _store_path(args)
    compensations = _parse_compensations(args.compensate)
    for n, side in enumerate(sides):
        sim = simulate_session(seed=seed + n, side=side, reps=args.reps, max_seconds=args.seconds,
                               exercise=motion, compensations=compensations,  # type: ignore[arg-type]
                               with_pelvis_sensor=args.pelvis, sets=args.sets)
        rec = sim.recording
        like = "" if motion == exercise.id else f" (moving as in {motion})"
        console.print(f"Simulated person (seed {seed + n}), {side.value} leg, {exercise.name}{like}: "
                      f"{args.sets} set(s), {len(sim.truth_reps)} reps planned; store {store_path}")
        with SessionStore.open(store_path) as store:
            sid = store.create_session(exercise.id, side, "demo", rec.sample_rate_hz, rec.sensors_info,
                                       {"simulator_seed": seed + n, **_band_meta(exercise)})
            store.commit()
            pipe = SessionPipeline(exercise, side, rec.sample_rate_hz)
            state = LiveState(exercise.name, side.value, exercise.prescription.reps if args.reps is None
                              else args.reps, exercise.prescription.hold_s, sets_total=args.sets)
            with TerminalView(console, exercise) as view:
                result, chart = asyncio.run(_demo_with_dashboard(args, console, exercise, rec, pipe, store, sid,
                                                                 state, view.on_change,
                                                                 _chart_path(store_path, sid)))
            _print_summary(console, sid, result, sim.truth_reps, store.load_details(sid))
            if exercise.kind is ExerciseKind.ROM_TEST:
                for line in rom_comparison(store, sid, exercise):
                    console.print(line)
        console.print(f"Chart: {chart}")
    return 0


async def _demo_with_dashboard(args: argparse.Namespace, console: Console, exercise: Exercise, rec: Recording,
                               pipe: SessionPipeline, store: SessionStore, sid: int, state: LiveState,
                               on_view: Callable[[LiveState, list[str]], None],
                               chart_path: Path) -> tuple[AnalysisResult, Path]:
    """The demo's session with its dashboard: the page shows it live and, with --keep-open, afterwards."""
    from tracker.dashboard.messages import Command, summary_message
    from tracker.dashboard.server import DashboardServer

    stop = asyncio.Event()

    def on_command(cmd: Command) -> str | None:
        if cmd.command == "stop":
            stop.set()
        elif cmd.command in ("pause", "resume"):
            return "the demo plays a recorded session: it cannot pause"
        elif cmd.command == "pain" and cmd.set_no is not None and cmd.value is not None:
            store.add_pain(sid, cmd.set_no, cmd.value, state.t)
            store.commit()
        return None

    async with DashboardServer(exercise, host=args.host, port=args.port, token=args.token,
                               on_command=on_command) as dash:
        console.print(f"Dashboard: {dash.url}")
        _open_browser(dash.url, args.no_browser)

        def on_change(st: LiveState, news: list[str]) -> None:
            on_view(st, news)
            dash.update(st, news)

        async def until_stopped() -> AsyncIterator[list[ImuSample | Marker]]:
            async for batch in replay(rec, speed=args.speed):
                if stop.is_set():
                    return
                yield batch

        result = await run_live_session(until_stopped(), pipe, store, sid, state, on_change)
        chart = session_report(store, sid, chart_path)
        dash.chart_path = chart
        dash.update(state, summary=summary_message(result, store.load_details(sid)))
        if args.keep_open:
            console.print("The dashboard stays open for the summary; Ctrl-C ends it.")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        else:
            await asyncio.sleep(0.2)  # let open pages receive the summary
    return result, chart


def _open_browser(url: str, no_browser: bool) -> None:
    """Open the page where there is a screen to show it on; otherwise the printed URL is the way in."""
    if no_browser or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                          or sys.platform in ("darwin", "win32")):
        return
    import webbrowser

    with contextlib.suppress(webbrowser.Error):
        webbrowser.open(url)


def _print_summary(console: Console, sid: int, result: AnalysisResult, truth: Sequence[object],
                   details: dict[str, Any] | None = None) -> None:
    table = Table(title=f"Session {sid}: {result.exercise}, {result.side} leg")
    table.add_column("rep", justify="right")
    table.add_column("peak IR (deg)", justify="right")
    table.add_column("hold (s)", justify="right")
    table.add_column("tempo up-hold-down (s)", justify="right")
    table.add_column("compensation")
    has_truth = bool(truth)
    if has_truth:
        table.add_column("simulated peak", justify="right", style="grey50")
    rows = {r["number"]: r for r in (details or {}).get("reps", [])}
    for i, rep in enumerate(result.reps):
        info = rows.get(i + 1, {})
        comps = ", ".join(k.replace("_", " ") for k in info.get("compensations", []))
        row = [str(i + 1), f"{rep.peak_ir_deg:.1f}", f"{rep.hold_s:.1f}", info.get("tempo", ""), comps or "clean"]
        if has_truth and i < len(truth):
            row.append(f"{getattr(truth[i], 'peak_ir_deg', float('nan')):.1f}")
        table.add_row(*row)
    console.print(table)
    clean = sum(1 for r in rows.values() if r.get("clean"))
    if (details or {}).get("measure") == "hip_er_deg" and result.reps:
        reach = f"   deepest external rotation: {-min(r.peak_ir_deg for r in result.reps):.1f} deg"
    else:
        reach = f"   max IR: {result.max_ir_deg:.1f} deg"
    line = (f"Reps: {len(result.reps)}" + (f" ({clean} clean, {len(result.reps) - clean} with compensation)"
                                           if rows else "")
            + (f", simulated {len(truth)}" if has_truth else "") + reach)
    console.print(line)
    if details:
        partial = len(details.get("partial_reps", []))
        if partial:
            console.print(f"Partial reps (not counted): {partial}")
        stretch = details.get("stretch")
        if stretch:
            console.print(f"Time at or beyond the target ({details['target_deg']:.0f}°): "
                          f"{stretch['time_at_target_s']:.1f} s, fidgets: {stretch['fidgets']}")
        transitions = details.get("transitions")
        if transitions:
            console.print(f"Transitions: {transitions['count']} ({transitions['to_front']} out, "
                          f"{transitions['to_back']} back)")


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


# --- store commands --------------------------------------------------------------------------
def cmd_sessions(args: argparse.Namespace, console: Console) -> int:
    with SessionStore.open(_store_path(args)) as store:
        sessions = store.list_sessions()
    if not sessions:
        console.print("No sessions yet. Try 'hiptrack demo'.")
        return 0
    table = Table()
    for col in ("id", "started (UTC)", "exercise", "side", "source", "status", "duration", "reps", "max IR"):
        table.add_column(col)
    for s in sessions:
        table.add_row(str(s.id), f"{s.created_at:%Y-%m-%d %H:%M}", s.exercise, s.side.value, s.source, s.status,
                      f"{s.duration_s:.0f} s", str(s.n_reps),
                      "--" if s.max_ir_deg is None else f"{s.max_ir_deg:.1f}°")
    console.print(table)
    return 0


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    store_path = _store_path(args)
    sid = _session_id(args.session)
    with SessionStore.open(store_path) as store:
        out = Path(args.out) if args.out else _chart_path(store_path, sid)
        path = session_report(store, sid, out)
    console.print(f"Chart: {path}")
    return 0


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    sid = _session_id(args.session)
    with SessionStore.open(_store_path(args)) as store:
        rec = store.load_recording(sid)
    write_recording(rec, Path(args.dir))
    console.print(f"Session {sid} written to {args.dir}")
    return 0


def cmd_import(args: argparse.Namespace, console: Console) -> int:
    rec = read_recording(Path(args.dir))
    result, _, _ = analyse_recording(rec)  # fails before storing anything if it cannot be analysed
    with SessionStore.open(_store_path(args)) as store:
        sid = store.store_recording(rec, source="import")
        store.save_analysis(sid, result)
        store.commit()
    console.print(f"Imported as session {sid}: {len(result.reps)} reps, max IR {result.max_ir_deg:.1f} deg")
    return 0


def cmd_analyze(args: argparse.Namespace, console: Console) -> int:
    rec = read_recording(Path(args.dir))
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

    path = config_path(_store_path(args))
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

    assignments = load_assignments(config_path(_store_path(args)))
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


def _ask_pain_in_terminal(console: Console) -> Callable[[int], Any]:
    async def ask(set_no: int) -> int | None:
        def read() -> int | None:
            while True:
                answer = console.input(f"Set {set_no} done. Pain right now, 0 (none) to 10 (worst)? "
                                       "(Enter to skip) ").strip()
                if not answer:
                    return None
                if answer.isdigit() and 0 <= int(answer) <= 10:
                    return int(answer)
                console.print("Please type a whole number from 0 to 10, or just Enter.")

        return await asyncio.to_thread(read)

    return ask


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from tracker.guide import GuidePlan
    from tracker.live_run import make_link, pick_sensors, run_session_with_sensors
    from tracker.sensor_config import config_path, load_assignments

    exercise = _with_band(get_exercise(args.exercise), args.band)
    store_path = _store_path(args)
    assignments = load_assignments(config_path(store_path))
    p = exercise.prescription
    first = Side(args.side) if args.side else None
    sides: list[Side | None] = [first]
    if args.both_sides and p.both_sides:
        start = first or pick_sensors(assignments, None)[0]
        sides = [start, Side.RIGHT if start is Side.LEFT else Side.LEFT]
    plan = GuidePlan(reps=args.reps or (1 if exercise.kind is ExerciseKind.STRETCH else p.reps),
                     max_exercise_s=args.seconds or max(600.0, 2 * p.hold_s[1]), sets=args.sets or p.sets,
                     rest_s=p.rest_s)
    ask = None if args.no_pain else _ask_pain_in_terminal(console)
    for n, want in enumerate(sides):
        side, chosen = pick_sensors(assignments, want)
        if n:
            console.input(f"Now the {side.value} leg: put on its sensors, then press Enter. ")
        links = [make_link(a) for a in chosen]
        info = {a.segment.value: {"model": a.family, "address": a.address, "name": a.name} for a in chosen}
        with SessionStore.open(store_path) as store, TerminalView(console, exercise) as view:
            async def session(store: SessionStore = store, links: list[Any] = links, side: Side = side,
                              info: dict[str, Any] = info,
                              view: TerminalView = view) -> tuple[int, AnalysisResult, Path]:
                from tracker.dashboard.messages import Command, summary_message
                from tracker.dashboard.server import DashboardServer

                stop = asyncio.Event()
                waiting: dict[int, asyncio.Future[int | None]] = {}
                pains: list[tuple[int | None, int | None]] = []
                latest: list[LiveState] = []

                def on_command(cmd: Command) -> str | None:
                    if cmd.command == "stop":
                        stop.set()
                    elif cmd.command in ("pause", "resume"):
                        if not latest:
                            return "nothing to pause yet: the session is still connecting"
                        latest[0].paused = cmd.command == "pause"
                    elif cmd.command == "pain":
                        asked = waiting.get(cmd.set_no or 0)
                        if asked is not None and not asked.done():
                            asked.set_result(cmd.value)
                        else:
                            pains.append((cmd.set_no, cmd.value))
                    return None

                async with DashboardServer(exercise, host=args.host, port=args.port, token=args.token,
                                           on_command=on_command) as dash:
                    console.print(f"Dashboard: {dash.url}")
                    _open_browser(dash.url, args.no_browser)

                    def on_change(st: LiveState, news: list[str]) -> None:
                        view.on_change(st, news)
                        dash.update(st, news)
                        latest[:] = [st]

                    async def ask_page_or_terminal(set_no: int) -> int | None:
                        """The page's answer where a page is open (the person is on the floor), else the
                        terminal's."""
                        if dash.clients:
                            waiting[set_no] = asyncio.get_running_loop().create_future()
                            try:
                                return await asyncio.wait_for(waiting[set_no], timeout=PAIN_WAIT_S)
                            except TimeoutError:
                                return None
                        return None if ask is None else await ask(set_no)

                    sid, result = await run_session_with_sensors(
                        links, exercise, side, store, plan, rate_hz=args.rate, sensors_info=info,
                        on_change=on_change, stop=stop, ask_pain=None if args.no_pain else ask_page_or_terminal)
                    for set_no, value in pains:
                        if set_no is not None and value is not None:
                            store.add_pain(sid, set_no, value)
                    store.commit()
                    chart = session_report(store, sid, _chart_path(store_path, sid))
                    dash.chart_path = chart
                    details = store.load_details(sid)
                    if latest:
                        dash.update(latest[0], summary=summary_message(result, details))
                    if args.keep_open:
                        console.print("The dashboard stays open for the summary; Ctrl-C ends it.")
                        with contextlib.suppress(asyncio.CancelledError):
                            await asyncio.Event().wait()
                return sid, result, chart

            sid, result, chart = asyncio.run(session())
            _print_summary(console, sid, result, [], store.load_details(sid))
            if exercise.kind is ExerciseKind.ROM_TEST:
                for line in rom_comparison(store, sid, exercise):
                    console.print(line)
        console.print(f"Chart: {chart}")
    return 0


def _dashboard_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-browser", action="store_true", help="do not open the dashboard; its URL is printed")
    p.add_argument("--keep-open", action="store_true", help="keep serving the dashboard after the session")
    p.add_argument("--host", default="127.0.0.1",
                   help="dashboard address (default 127.0.0.1; any other needs a token, generated if not given)")
    p.add_argument("--port", type=int, default=0, help="dashboard port (default: a free one)")
    p.add_argument("--token", default=None, help="token the dashboard's URL must carry")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hiptrack", description="Hip internal rotation, measured live.")
    parser.add_argument("--store", help="session store file (default: $HIPTRACK_STORE or the user data folder)")
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
    _dashboard_options(demo)
    demo.set_defaults(func=cmd_demo)

    sub.add_parser("exercises", help="list the exercises and what each measures").set_defaults(func=cmd_exercises)

    sub.add_parser("sessions", help="list stored sessions").set_defaults(func=cmd_sessions)

    rep = sub.add_parser("report", help="redraw a session's chart")
    rep.add_argument("session")
    rep.add_argument("--out", help="PNG path (default: reports/ beside the store)")
    rep.set_defaults(func=cmd_report)

    exp = sub.add_parser("export", help="write a session as a recording folder")
    exp.add_argument("session")
    exp.add_argument("dir")
    exp.set_defaults(func=cmd_export)

    imp = sub.add_parser("import", help="store a recording folder as a session")
    imp.add_argument("dir")
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
    _dashboard_options(run)
    run.add_argument("--seconds", type=float, default=None, help="cap the set's length, s")
    run.add_argument("--rate", type=float, default=100.0, help="sample rate, Hz")
    run.set_defaults(func=cmd_run)

    ana = sub.add_parser("analyze", help="analyse a recording folder offline")
    ana.add_argument("dir")
    ana.add_argument("--json", required=True, help="analysis output file (hiptrack-analysis/1)")
    ana.add_argument("--angles", help="also write the angle time series as CSV")
    ana.add_argument("--details", help="also write sets, tempo, partial reps, stretch and test results as JSON")
    ana.set_defaults(func=cmd_analyze)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        code: int = args.func(args, console)
        return code
    except USER_ERRORS as exc:
        print(f"hiptrack: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hiptrack: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

