"""What the monitor knows of each live session on the broker, built from the live-session topics
(docs/mqtt.md): the rows of the monitor page, and each person's full live snapshot for the drill-down
(the dashboard's own page), rebuilt from the state messages (plus the trace of their angles) and the
events.

Only the pseudonymous session id names a person here; nothing else identifying is ever received.
Messages that do not parse are counted and ignored.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from firmware_bridge.mqtt.topics import parse_session_topic
from tracker.dashboard.messages import Trace

RECENT_EVENTS = 20
"""Events kept per person for the monitor's rows (the drill-down page gets every one as it comes)."""
QUIET_S = 3.0
"""A live session with no state for this long is shown as quiet (the person's laptop lost the broker,
or the session is stuck); its last will turns it offline when the broker notices."""
SHOWN_EVENTS = ("calibrated", "rep", "hold_complete", "set_done")
"""Events a row shows as the latest news (compensations show as alerts while they last)."""
KEEP_HOURS = 12.0
"""Sessions no longer live are listed if they started within this many hours (or were seen live by
this monitor); older retained ones are not."""


SHAPES: dict[str, type] = {"exercise": dict, "reps": dict, "set": dict, "leg": dict, "hold": dict,
                           "alerts": list, "summary": dict, "awaiting_start": dict, "sensors": dict}
NUMBERS = ("angle_deg", "knee_deg", "max_deg", "best_deg", "rest_remaining_s")


def well_formed_state(msg: dict[str, Any]) -> bool:
    """Whether a state message has the dashboard snapshot's shape where the monitor reads it."""
    if msg.get("type") != "state" or not _number(msg.get("t")):
        return False
    if any(msg.get(k) is not None and not isinstance(msg[k], kind) for k, kind in SHAPES.items()):
        return False
    if any(msg.get(k) is not None and not _number(msg[k]) for k in NUMBERS):
        return False
    return all(isinstance(a, dict) for a in msg.get("alerts") or [])


def _valid(kind: str, msg: dict[str, Any]) -> bool:
    if kind == "info":
        return isinstance(msg.get("state"), str)
    if kind == "state":
        return well_formed_state(msg)
    if kind == "event":
        return isinstance(msg.get("kind"), str) and isinstance(msg.get("text"), str)
    return True


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


@dataclass
class Person:
    """One live session as the monitor sees it."""

    sid: str
    info: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] | None = None
    state_at: float | None = None
    """When the newest state arrived (monotonic s)."""
    summary: dict[str, Any] | None = None
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))
    trace: Trace = field(default_factory=Trace)
    states: int = 0
    states_missed: int = 0
    """State messages never received (gaps in their `seq`; QoS 0, so a few may be lost)."""
    events: int = 0
    seen_live: bool = False
    _leg: Any = None
    _seq: int = 0

    @property
    def status(self) -> str:
        """live | finished | offline, as the session's info says (live if only its state was seen)."""
        state = self.info.get("state")
        if state in ("live", "finished", "offline"):
            return str(state)
        return "live" if self.state is not None else "offline"

    def take_state(self, state: dict[str, Any], now: float) -> None:
        leg = state.get("leg")
        t = state.get("t")
        if leg != self._leg or (isinstance(t, int | float) and self.state is not None
                                and t < float(self.state.get("t") or 0.0)):
            self.trace = Trace()  # a new leg: a fresh trace (its session time starts again)
        self._leg = leg
        angle = state.get("angle_deg")
        if isinstance(t, int | float) and isinstance(angle, int | float):
            self.trace.add(float(t), float(angle))
        seq = state.get("seq")
        if isinstance(seq, int):
            if self._seq and seq > self._seq + 1:
                self.states_missed += seq - self._seq - 1
            self._seq = seq
        self.state, self.state_at = state, now
        self.states += 1
        self.seen_live = True

    def page_snapshot(self) -> dict[str, Any] | None:
        """The drill-down's snapshot: the dashboard's own, with the trace from the received angles, marked
        watch-only (the page shows no Start, Pause, Stop or pain question: the monitor only watches)."""
        if self.state is None:
            return None
        snap = {**self.state, "trace": self.trace.as_json(), "watch_only": True}
        if snap.get("summary") is None and snap.get("finished") and self.summary is not None:
            snap["summary"] = self.summary  # the last state (QoS 0) may be lost; the summary is not
        return snap

    def row(self, now: float) -> dict[str, Any]:
        """The monitor page's row: who (the pseudonymous id), what, the live numbers, the status."""
        s = self.state or {}
        info = self.info
        exercise = s.get("exercise") or {"id": info.get("exercise"), "name": info.get("exercise_name")}
        status = self.status
        quiet = None
        if status == "live" and self.state_at is not None and now - self.state_at >= QUIET_S:
            quiet = round(now - self.state_at)
        last = next((e["text"] for e in reversed(self.recent) if e["kind"] in SHOWN_EVENTS), "")
        return {
            "id": self.sid, "status": status, "quiet_s": quiet, "exercise": exercise,
            "side": s.get("side") or info.get("side"), "leg": s.get("leg"), "set": s.get("set"),
            "angle_deg": s.get("angle_deg"), "max_deg": s.get("max_deg"), "reps": s.get("reps"),
            "hold": s.get("hold"), "rest_remaining_s": s.get("rest_remaining_s"),
            "alerts": [a.get("message") or a.get("kind") for a in s.get("alerts") or [] if isinstance(a, dict)],
            "phase": s.get("phase"), "awaiting_start": s.get("awaiting_start") is not None,
            "paused": bool(s.get("paused")), "finished": bool(s.get("finished")),
            "last_event": last, "started": info.get("started"),
        }

    def listed(self, now_utc: datetime, keep_hours: float) -> bool:
        if self.status == "live" or self.seen_live:
            return True
        try:
            started = datetime.fromisoformat(str(self.info.get("started")))
        except ValueError:
            return False
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        return (now_utc - started).total_seconds() <= keep_hours * 3600


class Roster:
    """Every session seen on the broker under `prefix`, from their messages."""

    def __init__(self, prefix: str, keep_hours: float = KEEP_HOURS) -> None:
        self.prefix = prefix
        self.keep_hours = keep_hours
        self.people: dict[str, Person] = {}
        self.bad_messages = 0
        """Messages on the session topics that did not parse (counted, ignored)."""

    def receive(self, topic: str, payload: bytes | str, now: float | None = None) -> tuple[Person, str] | None:
        """Take one message; returns (person, kind) when it changed something, None if it was ignored."""
        parsed = parse_session_topic(topic, self.prefix)
        if parsed is None:
            return None
        sid, kind = parsed
        if not payload:  # a retained message cleared (a new session clears its id's old summary)
            person = self.people.get(sid)
            if person is None or kind != "summary":
                return None
            person.summary = None
            return person, kind
        try:
            msg = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            msg = None
        if not isinstance(msg, dict):
            self.bad_messages += 1
            return None
        if not _valid(kind, msg):
            self.bad_messages += 1
            return None
        now = time.monotonic() if now is None else now
        person = self.people.get(sid)
        if person is None:
            person = self.people[sid] = Person(sid)
        if kind == "info":
            person.info = {**person.info, **msg}  # the last will says only {"state": "offline"}
            if msg["state"] == "live":
                person.seen_live = True
        elif kind == "state":
            person.take_state(msg, now)
        elif kind == "event":
            person.recent.append(msg)
            person.events += 1
        else:
            person.summary = msg
        return person, kind

    def rows(self, now: float | None = None) -> list[dict[str, Any]]:
        """The listed sessions: live ones first, then by id."""
        now = time.monotonic() if now is None else now
        now_utc = datetime.now(UTC)
        listed = [p for p in self.people.values() if p.listed(now_utc, self.keep_hours)]
        listed.sort(key=lambda p: (p.status != "live", p.sid))
        return [p.row(now) for p in listed]
