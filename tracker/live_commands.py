"""The live-session commands, `hiptrack demo` and `hiptrack run`: a session shown in the terminal and on
the web dashboard, stored, summarised and charted. The demo replays a simulated person; `run` connects
the assigned sensors and guides the person set by set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from firmware_bridge.ble.sensor import LinkStats, SensorLink
from firmware_bridge.replay import replay
from imu_core.frames import Segment, Side
from imu_core.types import ImuSample, Marker, Recording
from tracker.analysis import AnalysisResult
from tracker.dashboard.history import History
from tracker.dashboard.messages import Command, summary_message
from tracker.dashboard.server import DashboardServer
from tracker.errors import TrackerError
from tracker.exercise_model import Exercise, ExerciseKind
from tracker.exercises import get_exercise
from tracker.guide import GuidePlan
from tracker.live_view import TerminalView
from tracker.mqtt_publish import LiveStatePublisher, live_state_publisher
from tracker.offline import session_report
from tracker.paths import reports_dir, store_path_of
from tracker.pipeline import SessionPipeline
from tracker.rom_compare import personal_best_deg, rom_comparison
from tracker.sensor_config import SensorAssignment
from tracker.session import LiveState, run_live_session
from tracker.session_control import PageControl, TerminalLines, ask_pain_in_terminal
from tracker.store import SessionStore
from tracker.store_schema import DEFAULT_PERSON, DEMO_PERSON

OnChange = Callable[[LiveState, list[str]], None]
OnCommand = Callable[[Command], str | None]


def chart_path(store_path: Path, session_id: int) -> Path:
    return reports_dir(store_path) / f"session-{session_id}.png"


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


def person_prescription(exercise: Exercise, store_path: Path, person: str | None) -> Exercise:
    """The exercise with the prescription its professional set for this person (`hiptrack people`)."""
    with SessionStore.open(store_path) as store:
        known = {p.name: p for p in store.list_people()}
    who = known.get(person or DEFAULT_PERSON)
    fields = dict(who.prescriptions.get(exercise.id, {})) if who is not None else {}
    if not fields:
        return exercise
    if "hold_s" in fields:
        fields["hold_s"] = tuple(fields["hold_s"])
    return exercise.with_prescription(exercise.prescription.with_overrides(**fields))


def ready_store(store_path: Path, console: Console, minutes: float) -> None:
    """Before anyone exercises: the store opens, can be written and has room for the session; earlier
    sessions cut short by a crash are pointed out."""
    with SessionStore.open(store_path) as store:
        store.check_room(minutes)
        cut = [s.id for s in store.list_sessions() if s.needs_recovery]
    if cut:
        console.print(f"Session(s) {', '.join(map(str, cut))} were cut short (the program stopped while recording); "
                      "'hiptrack recover' closes them and analyses what was kept.")


@dataclass(frozen=True, slots=True)
class ReplayedSensor:
    """A simulated sensor's stream as the live views show it (no link, no battery)."""

    segment: Segment
    model: str
    stats: LinkStats


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    exercise = _with_band(get_exercise(args.exercise), args.band)
    _simulated_motion(exercise)  # says so before anything starts if the simulator cannot play it
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    first = Side(args.side) if args.side else (Side.LEFT if seed % 2 == 0 else Side.RIGHT)
    sides = [first, Side.RIGHT if first is Side.LEFT else Side.LEFT] if args.both_sides else [first]
    ready_store(store_path_of(args), console, minutes=len(sides) * (args.seconds or 120.0 * args.sets) / 60)
    asyncio.run(_demo(args, console, exercise, seed, sides))
    return 0


async def _demo(args: argparse.Namespace, console: Console, exercise: Exercise, seed: int,
                sides: list[Side]) -> None:
    """The demo: a simulated person per leg, replayed in real time, on the terminal and one dashboard."""
    from firmware_bridge.simulator import simulate_session

    motion = _simulated_motion(exercise)
    store_path = store_path_of(args)
    compensations = _parse_compensations(args.compensate)
    stop = asyncio.Event()
    current: dict[str, Any] = {}

    def on_command(cmd: Command) -> str | None:
        if cmd.command == "stop":
            stop.set()
        elif cmd.command in ("start", "pause", "resume"):
            return f"the demo plays a recorded session: it cannot {cmd.command}"
        elif cmd.command == "pain" and cmd.set_no is not None and cmd.value is not None and "sid" in current:
            store.add_pain(current["sid"], cmd.set_no, cmd.value, current["state"].t)
            store.commit()
        return None

    reps_per_set = exercise.prescription.reps if args.reps is None else args.reps
    with SessionStore.open(store_path) as store:
        async with _dashboard(args, console, exercise, on_command, args.person or DEMO_PERSON) as dash, \
                live_state_publisher(args, console, exercise, sides[0].value, sets=args.sets,
                                     reps_per_set=reps_per_set) as pub:
            for n, side in enumerate(sides):
                if stop.is_set():
                    break
                sim = simulate_session(seed=seed + n, side=side, reps=args.reps, max_seconds=args.seconds,
                                       exercise=motion, compensations=compensations,  # type: ignore[arg-type]
                                       with_pelvis_sensor=args.pelvis, sets=args.sets)
                rec = sim.recording
                like = "" if motion == exercise.id else f" (moving as in {motion})"
                console.print(f"Simulated person (seed {seed + n}), {side.value} leg, {exercise.name}{like}: "
                              f"{args.sets} set(s), {len(sim.truth_reps)} reps planned; store {store_path}")
                sid = store.create_session(exercise.id, side, "demo", rec.sample_rate_hz, rec.sensors_info,
                                           {"simulator_seed": seed + n, **_band_meta(exercise)}, person=args.person)
                store.commit()
                best = personal_best_deg(store, exercise, side, person=store.get_session(sid).person, source="demo",
                                         before_session=sid)
                dash.new_leg(best)
                if pub is not None:
                    pub.new_leg(side.value, best)
                state = LiveState(exercise.name, side.value, exercise.prescription.reps if args.reps is None
                                  else args.reps, exercise.prescription.hold_s, sets_total=args.sets,
                                  leg=(n + 1, len(sides)),
                                  sensor_links=[ReplayedSensor(seg, "simulated", LinkStats(
                                      connected=True, rate_hz=rec.sample_rate_hz)) for seg in rec.streams])
                current.update(sid=sid, state=state)

                async def until_stopped(rec: Recording = rec) -> AsyncIterator[list[ImuSample | Marker]]:
                    async for batch in replay(rec, speed=args.speed):
                        if stop.is_set():
                            return
                        yield batch

                pipe = SessionPipeline(exercise, side, rec.sample_rate_hz)
                with TerminalView(console, exercise, best_deg=best) as view:
                    result = await run_live_session(until_stopped(), pipe, store, sid, state,
                                                    _feed_both(view.on_change, dash, pub))
                _end_leg(console, store, sid, exercise, result, state, dash, store_path, sim.truth_reps, pub)


def _feed_both(on_view: OnChange, dash: DashboardServer, pub: LiveStatePublisher | None = None) -> OnChange:
    def on_change(state: LiveState, news: list[str]) -> None:
        on_view(state, news)
        dash.update(state, news)
        if pub is not None:
            pub.update(state, news)
    return on_change


def _end_leg(console: Console, store: SessionStore, sid: int, exercise: Exercise, result: AnalysisResult,
             state: LiveState, dash: DashboardServer, store_path: Path, truth: Sequence[object],
             pub: LiveStatePublisher | None = None) -> None:
    """After a leg's session: its chart, its summary on the page and in the terminal."""
    chart = session_report(store, sid, chart_path(store_path, sid))
    details = store.load_details(sid)
    summary = summary_message(result, details, chart_url=dash.add_chart(sid, chart),
                              report_url=f"/report/{sid}.html" if dash.history else None)
    dash.update(state, summary=summary)
    if pub is not None:
        pub.update(state, summary=summary)
    print_summary(console, sid, result, truth, details)
    if exercise.kind is ExerciseKind.ROM_TEST:
        for line in rom_comparison(store, sid, exercise):
            console.print(line)
    console.print(f"Chart: {chart}")


@contextlib.asynccontextmanager
async def _dashboard(args: argparse.Namespace, console: Console, exercise: Exercise,
                     on_command: OnCommand, person: str) -> AsyncIterator[DashboardServer]:
    """Serve the dashboard for the whole command (every leg). On leaving, keeps serving with --keep-open
    (until Ctrl-C), else gives open pages a moment to receive the summary."""
    async with DashboardServer(exercise, host=args.host, port=args.port, token=args.token, on_command=on_command,
                               history=History(store_path_of(args), person)) as dash:
        console.print(f"Dashboard: {dash.url}")
        _open_browser(dash.url, args.no_browser)
        yield dash
        if args.keep_open:
            console.print("The dashboard stays open for the summary; Ctrl-C ends it.")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        else:
            await asyncio.sleep(0.2)


def _open_browser(url: str, no_browser: bool) -> None:
    """Open the page where there is a screen to show it on; otherwise the printed URL is the way in."""
    if no_browser or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                          or sys.platform in ("darwin", "win32")):
        return
    import webbrowser

    with contextlib.suppress(webbrowser.Error):
        webbrowser.open(url)


def print_summary(console: Console, sid: int, result: AnalysisResult, truth: Sequence[object],
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


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    if args.source is not None:
        return _run_from_broker(args, console)
    if args.bridge is not None:
        raise TrackerError("--bridge goes with --source.", "Add --source mqtt://HOST (the broker the bridge uses).")
    from tracker.live_run import make_link

    asyncio.run(run_guided(args, console, make_link))
    return 0


def _run_from_broker(args: argparse.Namespace, console: Console) -> int:
    """`run --source mqtt://... --bridge ID --side S`: the bridge's sensors, through the broker."""
    from firmware_bridge.mqtt.link import bridge_streams, mqtt_assignments, mqtt_link_factory
    from tracker.bridge_command import settings_from_args

    if not args.bridge or not args.side or args.both_sides:
        raise TrackerError("--source needs --bridge ID and --side left|right (a bridge streams one leg).",
                           "e.g. hiptrack run --source mqtt://pi.local --bridge ht-7f3a9c --side left")
    settings = settings_from_args(args, url=args.source)
    assert settings is not None
    segments = [Segment.THIGH, Segment.SHIN]
    if Segment.PELVIS in asyncio.run(bridge_streams(settings, args.bridge))[0]:
        segments.append(Segment.PELVIS)
    asyncio.run(run_guided(args, console, mqtt_link_factory(settings, args.bridge),
                           assignments=mqtt_assignments(args.bridge, Side(args.side), segments)))
    return 0


async def run_guided(args: argparse.Namespace, console: Console, link_for: Callable[[SensorAssignment], SensorLink],
                     lines: TerminalLines | None = None, plan: GuidePlan | None = None,
                     assignments: Sequence[SensorAssignment] | None = None) -> list[int]:
    """`hiptrack run`: each leg in turn, guided from the page or the terminal; returns the session ids.
    `link_for` makes the driver of an assigned sensor (tests pass one on emulated peripherals); `plan`
    replaces the guide's timing worked out from the prescription and the options; `assignments` replace the
    sensors assigned beside the store (a bridge's streams)."""
    from tracker.live_run import pick_sensors, run_session_with_sensors
    from tracker.sensor_config import config_path, load_assignments

    store_path = store_path_of(args)
    exercise = _with_band(person_prescription(get_exercise(args.exercise), store_path, args.person), args.band)
    p = exercise.prescription
    sets, reps = args.sets or p.sets, args.reps or p.reps
    ready_store(store_path, console, minutes=(2 if args.both_sides else 1) * (
        1 + sets * (max(reps * 20.0, p.hold_s[1]) + p.rest_s) / 60))
    if assignments is None:
        assignments = load_assignments(config_path(store_path))
    first = Side(args.side) if args.side else None
    legs = [pick_sensors(assignments, first)]
    if args.both_sides and p.both_sides:
        other = Side.RIGHT if legs[0][0] is Side.LEFT else Side.LEFT
        legs.append(pick_sensors(assignments, other))
    plan = plan or GuidePlan(reps=args.reps or (1 if exercise.kind is ExerciseKind.STRETCH else p.reps),
                             max_exercise_s=args.seconds or max(600.0, 2 * p.hold_s[1]), sets=args.sets or p.sets,
                             rest_s=p.rest_s)
    lines = lines or TerminalLines()
    page = PageControl()
    sids: list[int] = []
    with SessionStore.open(store_path) as store:
        async with _dashboard(args, console, exercise, page.on_command, args.person or DEFAULT_PERSON) as dash, \
                live_state_publisher(args, console, exercise, legs[0][0].value, sets=sets, reps_per_set=reps) as pub:
            for n, (side, chosen) in enumerate(legs):
                if page.stop.is_set():
                    break
                page.new_leg()
                best = personal_best_deg(store, exercise, side, person=args.person or DEFAULT_PERSON, source="live")
                dash.new_leg(best)
                if pub is not None:
                    pub.new_leg(side.value, best)
                links = [link_for(a) for a in chosen]
                info = {a.segment.value: {"family": a.family, "model": a.family, "address": a.address, "name": a.name}
                        for a in chosen}

                async def ask_pain(set_no: int) -> int | None:
                    """On the page where one is open (the person is on the floor), else in the terminal."""
                    if dash.clients:
                        return await page.pain_from_page(set_no)
                    return await ask_pain_in_terminal(console, lines, set_no)

                with TerminalView(console, exercise, best_deg=best) as view:
                    feed = _feed_both(view.on_change, dash, pub)

                    def on_change(state: LiveState, news: list[str], feed: OnChange = feed) -> None:
                        page.state = state
                        feed(state, news)

                    enter = asyncio.get_running_loop().create_task(page.start_on_enter(lines), name="start-on-enter")
                    try:
                        sid, result = await run_session_with_sensors(
                            links, exercise, side, store, plan, rate_hz=args.rate, sensors_info=info,
                            on_change=on_change, stop=page.stop, ask_pain=None if args.no_pain else ask_pain,
                            start=page.start, leg=(n + 1, len(legs)), person=args.person)
                    finally:
                        enter.cancel()
                for set_no, value in page.late_pains:
                    store.add_pain(sid, set_no, value)
                store.commit()
                sids.append(sid)
                assert page.state is not None
                _end_leg(console, store, sid, exercise, result, page.state, dash, store_path, [], pub)
    return sids
