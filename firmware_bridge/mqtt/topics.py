"""Topic names of docs/mqtt.md, as small pure functions.

`{p}` is the prefix (default `hiptrack/v1`, may hold several levels), `{b}` a bridge's id, `{s}` a live
session's id; both ids are pseudonymous (`firmware_bridge.mqtt.settings.pseudonymous_id`). An id is one
topic level: not empty, no '/', '+', '#', no whitespace or control characters; ids and prefixes are
checked here (`MqttConfigError`), so a bad one never reaches a broker.
"""

from __future__ import annotations

from firmware_bridge.errors import MqttConfigError
from imu_core.frames import Segment

DEFAULT_PREFIX = "hiptrack/v1"
STREAM_KINDS = ("desc", "data", "gap")
"""The last level of a bridge's per-sensor topics."""
SESSION_KINDS = ("info", "state", "event", "summary")
MAX_ID_LENGTH = 64


def _bad_char(text: str) -> str | None:
    for ch in text:
        if ch in "+#/" or ch.isspace() or not ch.isprintable():
            return ch
    return None


def validate_id(value: str, what: str = "id") -> str:
    """`value` if it can be one topic level (see the module docstring), else MqttConfigError."""
    if not isinstance(value, str) or not value:
        raise MqttConfigError(f"the MQTT {what} is empty", "Give a short id such as 'ht-7f3a9c' (--mqtt-id).")
    if len(value) > MAX_ID_LENGTH:
        raise MqttConfigError(f"the MQTT {what} {value[:20]!r}... is longer than {MAX_ID_LENGTH} characters",
                              "Give a short id such as 'ht-7f3a9c' (--mqtt-id).")
    bad = _bad_char(value)
    if bad is not None:
        raise MqttConfigError(f"the MQTT {what} {value!r} contains {bad!r}",
                              "An id is one topic level: letters, digits, '-', '_' or '.', no '/', '+', '#' or "
                              "spaces (--mqtt-id).")
    return value


def validate_prefix(prefix: str) -> str:
    """`prefix` if it is one or more topic levels without wildcards, else MqttConfigError."""
    advice = "The prefix is one or more topic levels separated by '/', e.g. 'hiptrack/v1' (--mqtt-prefix)."
    if not prefix or prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        raise MqttConfigError(f"the MQTT topic prefix {prefix!r} is empty or has an empty level", advice)
    for level in prefix.split("/"):
        bad = _bad_char(level)
        if bad is not None:
            raise MqttConfigError(f"the MQTT topic prefix {prefix!r} contains {bad!r}", advice)
    return prefix


def _segment(segment: Segment | str) -> str:
    try:
        return Segment(segment).value
    except ValueError:
        raise MqttConfigError(f"{segment!r} is not a segment",
                              f"Use one of {', '.join(s.value for s in Segment)}.") from None


# ----------------------------------------------------------------------------------- bridge topics
def bridge_root(prefix: str, bridge: str) -> str:
    return f"{validate_prefix(prefix)}/bridge/{validate_id(bridge, 'bridge id')}"


def bridge_status(prefix: str, bridge: str) -> str:
    """`{p}/bridge/{b}/status`: retained JSON, also the last will."""
    return f"{bridge_root(prefix, bridge)}/status"


def _stream(prefix: str, bridge: str, segment: Segment | str, kind: str) -> str:
    return f"{bridge_root(prefix, bridge)}/{_segment(segment)}/{kind}"


def stream_desc(prefix: str, bridge: str, segment: Segment | str) -> str:
    """`{p}/bridge/{b}/{seg}/desc`: retained JSON description of the stream."""
    return _stream(prefix, bridge, segment, "desc")


def stream_data(prefix: str, bridge: str, segment: Segment | str) -> str:
    """`{p}/bridge/{b}/{seg}/data`: binary batches (hiptrack-imu-batch/1), QoS 1."""
    return _stream(prefix, bridge, segment, "data")


def stream_gap(prefix: str, bridge: str, segment: Segment | str) -> str:
    """`{p}/bridge/{b}/{seg}/gap`: JSON gaps, QoS 1."""
    return _stream(prefix, bridge, segment, "gap")


def bridge_filter(prefix: str, bridge: str = "+") -> str:
    """Subscription to everything of one bridge (or, with '+', of every bridge): `{p}/bridge/{b}/#`."""
    b = bridge if bridge == "+" else validate_id(bridge, "bridge id")
    return f"{validate_prefix(prefix)}/bridge/{b}/#"


def parse_stream_topic(topic: str, prefix: str | None = None) -> tuple[str, Segment, str] | None:
    """(bridge, segment, kind) of a `{p}/bridge/{b}/{seg}/{desc|data|gap}` topic, else None.

    Without `prefix` any prefix is accepted (the last four levels decide)."""
    levels = topic.split("/")
    if len(levels) < 5 or levels[-4] != "bridge" or levels[-1] not in STREAM_KINDS:
        return None
    if prefix is not None and "/".join(levels[:-4]) != prefix:
        return None
    bridge, seg, kind = levels[-3], levels[-2], levels[-1]
    if not bridge or _bad_char(bridge) is not None:
        return None
    try:
        segment = Segment(seg)
    except ValueError:
        return None
    return bridge, segment, kind


def parse_status_topic(topic: str, prefix: str | None = None) -> str | None:
    """The bridge id of a `{p}/bridge/{b}/status` topic, else None."""
    levels = topic.split("/")
    if len(levels) < 4 or levels[-3] != "bridge" or levels[-1] != "status":
        return None
    if prefix is not None and "/".join(levels[:-3]) != prefix:
        return None
    bridge = levels[-2]
    return bridge if bridge and _bad_char(bridge) is None else None


# ---------------------------------------------------------------------------------- session topics
def session_root(prefix: str, sid: str) -> str:
    return f"{validate_prefix(prefix)}/session/{validate_id(sid, 'session id')}"


def session_info(prefix: str, sid: str) -> str:
    """`{p}/session/{s}/info`: retained JSON, last will `{"state": "offline"}`."""
    return f"{session_root(prefix, sid)}/info"


def session_state(prefix: str, sid: str) -> str:
    """`{p}/session/{s}/state`: live snapshot, QoS 0."""
    return f"{session_root(prefix, sid)}/state"


def session_event(prefix: str, sid: str) -> str:
    """`{p}/session/{s}/event`: one event, QoS 1."""
    return f"{session_root(prefix, sid)}/event"


def session_summary(prefix: str, sid: str) -> str:
    """`{p}/session/{s}/summary`: retained summary when the session ends."""
    return f"{session_root(prefix, sid)}/summary"


def session_filter(prefix: str, sid: str = "+") -> str:
    """Subscription to everything of one session (or, with '+', of every session): `{p}/session/{s}/#`."""
    s = sid if sid == "+" else validate_id(sid, "session id")
    return f"{validate_prefix(prefix)}/session/{s}/#"


def parse_session_topic(topic: str, prefix: str | None = None) -> tuple[str, str] | None:
    """(session id, kind) of a `{p}/session/{s}/{info|state|event|summary}` topic, else None."""
    levels = topic.split("/")
    if len(levels) < 4 or levels[-3] != "session" or levels[-1] not in SESSION_KINDS:
        return None
    if prefix is not None and "/".join(levels[:-3]) != prefix:
        return None
    sid = levels[-2]
    if not sid or _bad_char(sid) is not None:
        return None
    return sid, levels[-1]
