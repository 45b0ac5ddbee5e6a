"""`hiptrack reanalyze`: analyse stored sessions again from their raw samples, after a custom exercise's
thresholds or target changed or hiptrack was updated.

Which sessions: complete ones and interrupted ones closed by `hiptrack recover`, that have samples,
narrowed by --person, --exercise, --session and --since. A session still being recorded by a running
hiptrack is skipped, and so is one cut short but not yet closed (`hiptrack recover` closes and analyses
it); the output says which and why.

Each session's samples are loaded from the store and analysed as `hiptrack analyze` would
(`analyse_recording_in_detail`), in `--jobs` worker processes (each opens its own read connection; the
store is in WAL mode, so readers do not wait for the writer). Only this process writes: a session whose
analysis or details came out different gets them replaced, each session committed on its own, so
stopping half-way loses nothing already done. A session whose new analysis is the same as the stored one
is not written at all. Pain ratings, calibrations, people, sensors and gaps are never touched. A session
that cannot be analysed is reported with the reason and keeps its stored analysis; the others go on.

Exit code: 0, unless sessions were tried and not one of them could be analysed (then 1).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from calibration.errors import CalibrationError
from firmware_bridge.errors import BridgeError
from imu_core.errors import ImuCoreError
from tracker.analysis import AnalysisResult
from tracker.errors import TrackerError, UnknownSessionError
from tracker.offline import analyse_recording_in_detail
from tracker.paths import store_path_of
from tracker.store import SessionInfo, SessionStore

MAX_DEFAULT_JOBS = 4
"""--jobs defaults to the CPUs this process may use, at most this many."""

ANALYSIS_ERRORS = (TrackerError, BridgeError, CalibrationError, ImuCoreError)
"""Errors that say why a recording cannot be analysed (no swing, unknown exercise, ...)."""


@dataclass(frozen=True, slots=True)
class Selection:
    """Which stored sessions to re-analyse; None (or empty) selects all."""

    person: str | None = None
    exercise: str | None = None
    session_ids: tuple[int, ...] = ()
    since: date | None = None
    """Sessions started on this day (UTC) or later."""

    def matches(self, info: SessionInfo) -> bool:
        return ((not self.session_ids or info.id in self.session_ids)
                and (self.person is None or info.person == self.person)
                and (self.exercise is None or info.exercise == self.exercise)
                and (self.since is None or info.created_at.date() >= self.since))


@dataclass(frozen=True, slots=True)
class Skipped:
    info: SessionInfo
    reason: str


def choose_sessions(sessions: Sequence[SessionInfo], selection: Selection) -> tuple[list[SessionInfo], list[Skipped]]:
    """(the sessions to re-analyse, those selected but left out with why), oldest first."""
    chosen: list[SessionInfo] = []
    skipped: list[Skipped] = []
    for info in sessions:
        if not selection.matches(info):
            continue
        if info.needs_recovery:
            skipped.append(Skipped(info, "it was cut short and is not closed yet; 'hiptrack recover' closes and "
                                         "analyses it"))
        elif info.status == "recording":
            skipped.append(Skipped(info, "it is still being recorded by a running hiptrack; run this again once "
                                         "that session has ended"))
        elif info.n_samples == 0:
            skipped.append(Skipped(info, "it has no samples to analyse"))
        else:
            chosen.append(info)
    return chosen, skipped


# --------------------------------------------------------------------------------- one session


@dataclass(frozen=True, slots=True)
class Outcome:
    """A session analysed again (in a worker process: everything here is sent back to the writer)."""

    session_id: int
    result: AnalysisResult | None = None
    details: dict[str, Any] | None = None
    changed: tuple[str, ...] = ()
    """What differs from the stored analysis: 'reps', 'holds', 'compensations', 'max IR', 'details'; or
    'first analysis' when none was stored."""
    error: str | None = None
    """Why it could not be analysed (then `result` is None and the stored analysis stays)."""
    load_s: float = 0.0
    """Loading the samples and the stored analysis from the store."""
    analysis_s: float = 0.0


_REPORTED_PARTS = (("reps", "reps"), ("holds", "holds"), ("compensations", "compensations"),
                   ("max_ir_deg", "max IR"))
"""(key in the analysis JSON, name in the output) of each part of an analysis compared."""


def what_changed(before: AnalysisResult | None, before_details: dict[str, Any] | None,
                 after: AnalysisResult, after_details: dict[str, Any]) -> tuple[str, ...]:
    """The parts of the stored analysis that the new one changes, at the precision hiptrack reports them
    (the analysis JSON of recording-format.md: times to the millisecond, degrees to the hundredth; the
    details are rounded alike). A live session is worked in 20 ms blocks and `analyze` in whole phases:
    their results agree to about 1e-14 deg, not always to the last bit, and that is not a change."""
    if before is None:
        return ("first analysis",)
    new, old = after.to_json_dict(), before.to_json_dict()
    changed = [name for key, name in _REPORTED_PARTS if old[key] != new[key]]
    if before_details is None or json.dumps(before_details) != json.dumps(after_details):
        changed.append("details")
    return tuple(changed)


def analyse_stored(store: SessionStore, session_id: int) -> Outcome:
    """Load one session from the store and analyse it again; never raises for a session that cannot be
    analysed (the reason is in the outcome)."""
    t0 = time.perf_counter()
    try:
        rec = store.load_recording(session_id)
        before = store.load_analysis(session_id)
        before_details = store.load_details(session_id)
    except ANALYSIS_ERRORS as e:
        return Outcome(session_id, error=f"it could not be read from the store: {e}",
                       load_s=time.perf_counter() - t0)
    t1 = time.perf_counter()
    try:
        result, _, _, details = analyse_recording_in_detail(rec)
    except ANALYSIS_ERRORS as e:
        return Outcome(session_id, error=str(e), load_s=t1 - t0, analysis_s=time.perf_counter() - t1)
    except Exception as e:  # a fault in hiptrack itself: report it, go on with the other sessions
        return Outcome(session_id, error=f"hiptrack failed on it ({type(e).__name__}: {e}). Please report this "
                                         "with the session's export ('hiptrack export').",
                       load_s=t1 - t0, analysis_s=time.perf_counter() - t1)
    t2 = time.perf_counter()
    return Outcome(session_id, result, details, what_changed(before, before_details, result, details),
                   load_s=t1 - t0, analysis_s=t2 - t1)


def _worker_start() -> None:
    # The modules (and, forked, the parent's objects) outlive every analysis: the collector's full
    # passes need not walk them (as `hiptrack analyze` does).
    gc.freeze()


def _analyse_in_worker(store_path: str, session_id: int) -> Outcome:
    """In a worker process: its own connection to the store, for reading only."""
    with SessionStore.open(store_path) as store:
        return analyse_stored(store, session_id)


def _pool_context() -> multiprocessing.context.BaseContext:
    """Fork (workers start at once with everything imported) where it is safe: a POSIX process with no
    other threads. Otherwise fresh interpreters."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def default_jobs() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_JOBS))


# --------------------------------------------------------------------------------- the run


@dataclass(slots=True)
class Report:
    """What a run did, in the order of the sessions."""

    rows: list[tuple[SessionInfo, Outcome]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    elapsed_s: float = 0.0
    jobs: int = 1
    dry_run: bool = False

    @property
    def analysed(self) -> list[tuple[SessionInfo, Outcome]]:
        return [(i, o) for i, o in self.rows if o.error is None]

    @property
    def failed(self) -> list[tuple[SessionInfo, Outcome]]:
        return [(i, o) for i, o in self.rows if o.error is not None]

    @property
    def recorded_s(self) -> float:
        """The analysed sessions' length together, s."""
        return sum(i.duration_s for i, _ in self.analysed)

    @property
    def exit_code(self) -> int:
        return 1 if self.rows and not self.analysed else 0


def reanalyse(store_path: Path, selection: Selection, *, jobs: int, dry_run: bool,
              on_start: Callable[[list[SessionInfo], int], None] | None = None) -> Report:
    """Re-analyse the selected sessions of the store at `store_path` (writing the changed ones unless
    `dry_run`); `on_start(sessions, workers)` is called once they are known."""
    t_start = time.perf_counter()
    with SessionStore.open(store_path) as store:
        sessions = store.list_sessions()
        known = {s.id for s in sessions}
        for sid in selection.session_ids:
            if sid not in known:
                raise UnknownSessionError(str(sid))
    chosen, skipped = choose_sessions(sessions, selection)
    workers = max(1, min(jobs, len(chosen)))
    report = Report(skipped=skipped, jobs=workers, dry_run=dry_run)
    if on_start is not None:
        on_start(chosen, workers)
    if not chosen:
        report.elapsed_s = time.perf_counter() - t_start
        return report

    def keep(store: SessionStore, info: SessionInfo, outcome: Outcome) -> None:
        report.rows.append((info, outcome))
        if dry_run or outcome.result is None or outcome.details is None or not outcome.changed:
            return
        store.save_results(info.id, outcome.result, outcome.details)  # one transaction, committed

    if workers == 1:
        gc.freeze()
        with SessionStore.open(store_path) as store:
            for info in chosen:
                keep(store, info, analyse_stored(store, info.id))
    else:
        # The workers start before this process opens the store again, so none inherits a connection.
        pool = ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=_worker_start)
        try:
            futures: list[Future[Outcome]] = [pool.submit(_analyse_in_worker, str(store_path), info.id)
                                              for info in chosen]
            with SessionStore.open(store_path) as store:
                for info, future in zip(chosen, futures, strict=True):
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        outcome = Outcome(info.id, error="the worker process analysing it stopped (out of memory?). "
                                                         "Try again with fewer --jobs.")
                    keep(store, info, outcome)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    report.elapsed_s = time.perf_counter() - t_start
    return report


# --------------------------------------------------------------------------------- the command


def _hours_minutes(seconds: float) -> str:
    hours, minutes = divmod(round(seconds / 60.0), 60)
    return f"{hours} h {minutes} min"


def _min_s(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _deg(x: float | None) -> str:
    return "--" if x is None or not math.isfinite(x) else f"{x:.1f}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def print_report(report: Report, console: Console) -> None:
    if report.rows:
        table = Table(title="Re-analysed" + (" (dry run: nothing written)" if report.dry_run else ""),
                      box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False)
        for col in ("id", "date", "person", "exercise", "side", "min:s", "reps", "max IR deg", "changed"):
            table.add_column(col, overflow="fold", no_wrap=col not in ("person", "exercise"))
        for info, o in report.rows:
            if o.result is None:
                reps, max_ir, mark = f"{info.n_reps}", _deg(info.max_ir_deg), "failed"
            else:
                reps = f"{info.n_reps} -> {len(o.result.reps)}"
                max_ir = f"{_deg(info.max_ir_deg)} -> {_deg(o.result.max_ir_deg)}"
                mark = "*" if o.changed else ""
            table.add_row(str(info.id), f"{info.created_at:%Y-%m-%d}", escape(info.person), escape(info.exercise),
                          info.side.value, _min_s(info.duration_s), reps, max_ir, escape(mark))
        console.print(table)
    parts: dict[str, int] = {}
    for _, o in report.analysed:
        for part in o.changed:
            parts[part] = parts.get(part, 0) + 1
    if parts:
        console.print(("What would change: " if report.dry_run else "What changed: ")
                      + ", ".join(f"{part} in {_plural(n, 'session')}" for part, n in parts.items()) + ".",
                      soft_wrap=True, highlight=False)
    for info, o in report.failed:
        console.print(f"Session {info.id} ({info.created_at:%Y-%m-%d}, {escape(info.exercise)}) was not "
                      f"re-analysed: {escape(o.error or '')} Its stored analysis is kept.", soft_wrap=True)
    for s in report.skipped:
        console.print(f"Skipped session {s.info.id} ({s.info.created_at:%Y-%m-%d}, {escape(s.info.exercise)}): "
                      f"{escape(s.reason)}.", soft_wrap=True)
    analysed = report.analysed
    if not report.rows:
        console.print("No stored session to re-analyse matches." if not report.skipped
                      else "Nothing re-analysed.")
        return
    n_changed = sum(1 for _, o in analysed if o.changed)
    elapsed = max(report.elapsed_s, 1e-9)
    line = (f"{_plural(len(analysed), 'session')} ({_hours_minutes(report.recorded_s)} of recordings) re-analysed "
            f"in {report.elapsed_s:.1f} s ({report.recorded_s / elapsed:.0f} times real time); {n_changed} "
            + ("would change" if report.dry_run else "changed"))
    if report.failed:
        line += f"; {len(report.failed)} could not be analysed"
    if report.dry_run:
        line += " (dry run: nothing was written)"
    console.print(line, soft_wrap=True, highlight=False)
    load_s = sum(o.load_s for _, o in report.rows)
    analysis_s = sum(o.analysis_s for _, o in report.rows)
    where = "in this process" if report.jobs == 1 else f"summed over {report.jobs} worker processes"
    console.print(f"Time spent loading from the store {load_s:.1f} s, analysing {analysis_s:.1f} s ({where}).",
                  soft_wrap=True, highlight=False)


def cmd_reanalyze(args: argparse.Namespace, console: Console) -> int:
    selection = Selection(person=args.person, exercise=args.exercise, session_ids=tuple(args.session or ()),
                          since=args.since)

    def started(sessions: list[SessionInfo], workers: int) -> None:
        if sessions:
            total = sum(s.duration_s for s in sessions)
            how = "in this process" if workers == 1 else f"in {workers} worker processes"
            console.print(f"Re-analysing {_plural(len(sessions), 'session')} ({_hours_minutes(total)} of "
                          f"recordings) {how}...", soft_wrap=True, highlight=False)

    report = reanalyse(store_path_of(args), selection, jobs=args.jobs, dry_run=args.dry_run, on_start=started)
    print_report(report, console)
    return report.exit_code


def _session_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a session id: give the number 'hiptrack sessions' "
                                         "shows") from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day: give it as YYYY-MM-DD, e.g. 2024-03-01") from None


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes: give 1 or more")
    return n


def add_reanalyze_command(sub: Any) -> None:
    """The `reanalyze` parser, on the `hiptrack` subparsers."""
    rea = sub.add_parser(
        "reanalyze", help="analyse stored sessions again from their samples (after a custom exercise or hiptrack "
                          "changed) and store the new results")
    rea.add_argument("--exercise", help="only sessions of this exercise id")
    rea.add_argument("--session", type=_session_id, nargs="+", metavar="ID", help="only these sessions")
    rea.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="only sessions started that day (UTC) or later")
    rea.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
    rea.add_argument("--jobs", type=_jobs, default=default_jobs(), metavar="N",
                     help=f"worker processes (default: the CPUs, at most {MAX_DEFAULT_JOBS}; 1: in this process)")
    rea.set_defaults(func=cmd_reanalyze)
