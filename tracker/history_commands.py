"""The commands about what is stored: `sessions`, `recover` (close and analyse sessions cut short by a
crash), `reanalyze` (tracker/reanalyze.py), `people` (whom sessions belong to, their prescriptions),
`report` and `progress`."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from tracker.errors import TrackerError, UnknownSessionError
from tracker.offline import analyse_recording_in_detail
from tracker.paths import store_path_of
from tracker.reanalyze import add_reanalyze_command
from tracker.store import SessionStore
from tracker.store_schema import DEFAULT_PERSON


def session_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UnknownSessionError(text) from None


def cmd_sessions(args: argparse.Namespace, console: Console) -> int:
    with SessionStore.open(store_path_of(args)) as store:
        sessions = [s for s in store.list_sessions() if args.person is None or s.person == args.person]
    if not sessions:
        console.print("No sessions yet. Try 'hiptrack demo'.")
        return 0
    table = Table()
    for col in ("id", "started (UTC)", "person", "exercise", "side", "source", "status", "duration", "reps",
                "max IR"):
        table.add_column(col)
    for s in sessions:
        status = "interrupted: run 'hiptrack recover'" if s.needs_recovery else s.status
        table.add_row(str(s.id), f"{s.created_at:%Y-%m-%d %H:%M}", s.person, s.exercise, s.side.value, s.source,
                      status, f"{s.duration_s:.0f} s", str(s.n_reps),
                      "--" if s.max_ir_deg is None else f"{s.max_ir_deg:.1f}°")
    console.print(table)
    return 0


def cmd_recover(args: argparse.Namespace, console: Console) -> int:
    """Close sessions whose recording process is gone, and analyse what they kept."""
    with SessionStore.open(store_path_of(args)) as store:
        ids = [session_id(args.session)] if args.session else [s.id for s in store.list_sessions() if s.needs_recovery]
        if not ids:
            console.print("Nothing to recover: no session was cut short.")
            return 0
        for sid in ids:
            store.close_interrupted(sid)
            info = store.get_session(sid)
            kept = f"{info.n_samples} samples ({info.duration_s:.0f} s) kept"
            try:
                result, _, _, details = analyse_recording_in_detail(store.load_recording(sid))
            except TrackerError as e:
                console.print(f"Session {sid}: closed as interrupted; {kept}; not analysed: {e}")
                continue
            store.save_results(sid, result, details)
            console.print(f"Session {sid}: closed as interrupted; {kept}; {len(result.reps)} reps analysed.")
    return 0


def cmd_people(args: argparse.Namespace, console: Console) -> int:
    """List people, or set one's profile and prescription."""
    with SessionStore.open(store_path_of(args)) as store:
        if args.name:
            profile: dict[str, Any] = {}
            if args.sides:
                profile["sides"] = args.sides
            if args.notes is not None:
                profile["notes"] = args.notes
            prescription = None
            if args.exercise:
                from tracker.exercises import get_exercise

                exercise = get_exercise(args.exercise)  # an unknown id is an error
                fields = {k: v for k, v in (("sets", args.sets), ("reps", args.reps), ("rest_s", args.rest))
                          if v is not None}
                if args.hold is not None:
                    fields["hold_s"] = [args.hold, args.hold]
                try:  # refuses what no prescription can be
                    exercise.prescription.with_overrides(**{k: tuple(v) if k == "hold_s" else v
                                                            for k, v in fields.items()})
                except ValueError as e:
                    raise TrackerError(f"that prescription cannot be used: {e}.",
                                       "Give at least 1 set of 1 rep, and holds and rests of 0 s or more.") from e
                prescription = (exercise.id, fields)
            store.update_person(args.name, profile=profile, prescription=prescription)
        people = store.list_people()
        counts = {p.name: 0 for p in people}
        for s in store.list_sessions():
            counts[s.person] = counts.get(s.person, 0) + 1
    table = Table(title="People (sessions stay on this machine)")
    for col in ("name", "sessions", "sides", "prescriptions", "notes"):
        table.add_column(col)
    for p in people:
        presc = "; ".join(f"{ex}: " + ", ".join(f"{k} {v}" for k, v in f.items()) for ex, f in p.prescriptions.items())
        table.add_row(p.name, str(counts.get(p.name, 0)), str(p.profile.get("sides", "")), presc,
                      str(p.profile.get("notes", "")))
    console.print(table)
    return 0


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from tracker.report import default_report_path, report_format, write_report

    store_path = store_path_of(args)
    sid = session_id(args.session)
    fmt = report_format(args.format, args.out)
    with SessionStore.open(store_path) as store:
        path = write_report(store, sid, args.out or default_report_path(store_path, sid, fmt), fmt)
    console.print(f"Report: {path}")
    return 0


def cmd_progress(args: argparse.Namespace, console: Console) -> int:
    from tracker.progress import default_progress_path, progress_report

    store_path = store_path_of(args)
    person = args.person or DEFAULT_PERSON
    with SessionStore.open(store_path) as store:
        out = args.out or default_progress_path(store_path, person, args.exercise, args.format)
        prog, path = progress_report(store, out, person=person, exercise=args.exercise, weeks=args.weeks,
                                     fmt=args.format)
    for line in prog.summary_lines():
        console.print(line)
    if path is not None:
        console.print(f"Progress: {path}")
    return 0


def add_history_commands(sub: Any) -> None:
    """The commands' parsers, on the `hiptrack` subparsers."""
    ses = sub.add_parser("sessions", help="list stored sessions (of --person if given)")
    ses.set_defaults(func=cmd_sessions)

    rec = sub.add_parser("recover", help="close sessions cut short by a crash and analyse what they kept")
    rec.add_argument("session", nargs="?", help="one session (default: every one that needs it)")
    rec.set_defaults(func=cmd_recover)

    add_reanalyze_command(sub)

    ppl = sub.add_parser("people", help="list people, or set one's profile and prescription")
    ppl.add_argument("name", nargs="?", help="the person to create or change (any name or pseudonym)")
    ppl.add_argument("--sides", choices=["left", "right", "both"], help="the side(s) being rehabbed")
    ppl.add_argument("--notes", help="a note for the record (free text)")
    ppl.add_argument("--exercise", help="set this exercise's prescription for the person")
    ppl.add_argument("--sets", type=int)
    ppl.add_argument("--reps", type=int)
    ppl.add_argument("--hold", type=float, help="hold, s")
    ppl.add_argument("--rest", type=float, help="rest between sets, s")
    ppl.set_defaults(func=cmd_people)

    pg = sub.add_parser("progress", help="IR range per side, holds, clean reps, pain and left/right over the weeks "
                                         "(of --person, default 'me')")
    pg.add_argument("--exercise", default=None, help="only this exercise or test id (default: all)")
    pg.add_argument("--weeks", type=int, default=8, help="weeks up to the newest session (default 8)")
    pg.add_argument("--format", choices=["png", "html"], default="png")
    pg.add_argument("--out", type=_path, help="output path (default: reports/ beside the store)")
    pg.set_defaults(func=cmd_progress)

    rep = sub.add_parser("report", help="a session's report: the trace with reps, holds and compensations, per-rep "
                                        "bars against the target, the set's table")
    rep.add_argument("session")
    rep.add_argument("--format", choices=("png", "html", "pdf"), default=None,
                     help="png (default), html or pdf; without it, taken from --out's suffix")
    rep.add_argument("--out", type=_path, help="file to write (default: reports/session-N.FORMAT beside the store)")
    rep.set_defaults(func=cmd_report)


def _path(text: str) -> Any:
    from pathlib import Path

    return Path(text)
