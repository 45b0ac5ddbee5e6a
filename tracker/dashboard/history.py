"""The dashboard's pages about what is stored: the person's sessions, each session's report, their
progress over the weeks. Built from the store on request (a second connection: WAL lets it read while a
session writes), off the event loop, so a live session never waits for them."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

from tracker.store import SessionStore

STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:64rem;padding:0 1rem;color:#111}
h1{font-size:1.6rem} table{border-collapse:collapse;width:100%} th,td{padding:.35rem .6rem;text-align:left;
border-bottom:1px solid #ddd} th{background:#f3f3f3} .warn{color:#a40} nav a{margin-right:1.2rem}
</style>"""


@dataclass(frozen=True, slots=True)
class History:
    """Where the dashboard finds the stored sessions, and whose they are."""

    store_path: Path
    person: str

    def sessions_page(self, token: str | None) -> str:
        q = f"?token={escape(token)}" if token else ""
        with SessionStore.open(self.store_path) as store:
            sessions = [s for s in store.list_sessions() if s.person == self.person]
        rows = []
        for s in reversed(sessions):
            status = "cut short: run 'hiptrack recover'" if s.needs_recovery else s.status
            best = "--" if s.max_ir_deg is None else f"{s.max_ir_deg:.1f}°"
            rows.append(
                f"<tr><td>{s.id}</td><td>{s.created_at:%Y-%m-%d %H:%M}</td><td>{escape(s.exercise)}</td>"
                f"<td>{s.side.value}</td><td>{s.n_reps}</td><td>{best}</td>"
                f"<td{' class=warn' if s.status != 'complete' else ''}>{escape(status)}</td>"
                f"<td><a href='/report/{s.id}.html{q}'>report</a></td></tr>")
        table = ("<table><tr><th>session</th><th>started (UTC)</th><th>exercise</th><th>leg</th><th>reps</th>"
                 "<th>max IR</th><th>status</th><th></th></tr>" + "".join(rows) + "</table>") if rows else \
            "<p>No sessions yet.</p>"
        return (f"<!doctype html><html lang=en><meta charset=utf-8><title>hiptrack: sessions of "
                f"{escape(self.person)}</title>{STYLE}<nav><a href='/{q}'>live</a>"
                f"<a href='/progress.html{q}'>progress over the weeks</a></nav>"
                f"<h1>Sessions of {escape(self.person)}</h1>{table}</html>")

    def report_page(self, session_id: int) -> str | None:
        """The session's report as a self-contained page; None if the store has no such session."""
        from tracker.report_data import build_report
        from tracker.report_html import report_html

        with SessionStore.open(self.store_path) as store:
            if session_id not in {s.id for s in store.list_sessions() if s.person == self.person}:
                return None
            return report_html(build_report(store, session_id))

    def progress_page(self) -> str:
        from tracker.progress import compute_progress
        from tracker.progress_chart import progress_html

        with SessionStore.open(self.store_path) as store:
            prog = compute_progress(store, person=self.person)
        if prog.empty:
            return (f"<!doctype html><html lang=en><meta charset=utf-8><title>hiptrack: progress</title>{STYLE}"
                    f"<p>{escape(prog.message or '')}</p></html>")
        return progress_html(prog)
