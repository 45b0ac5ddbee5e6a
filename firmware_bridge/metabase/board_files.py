"""Which MetaBase files belong to which board and segment.

Files are grouped by MAC and signal. The caller says which MAC is the thigh, the shin and optionally the
pelvis; a board in the files that is not in that mapping, or a mapped board without files, is an error
listing the MACs found. Each board needs an ``Accelerometer`` and a ``Gyroscope`` file; a ``Magnetometer``
file is used when present. Other MetaBase signals (temperature, pressure, sensor-fusion outputs...) are
skipped with a note, as are CSV files in a given folder whose names are not MetaBase's; two files of the
same board and signal are an error (import one MetaBase session at a time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from firmware_bridge.metabase.csv_file import ACCELEROMETER, GYROSCOPE, SIGNALS
from firmware_bridge.metabase.errors import MetabaseBoardError, MetabaseError, MetabaseFileError
from firmware_bridge.metabase.names import MetabaseFile, format_mac, normalise_mac, parse_file_name
from imu_core.frames import Segment


def collect_files(paths: Sequence[Path | str] | Path | str, notes: list[str]) -> list[MetabaseFile]:
    """The MetaBase files among the given folders and files, each once."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise MetabaseError("no MetaBase files were given.", "Give the folder MetaBase exported or its CSV files.")
    found: list[MetabaseFile] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            csvs = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() == ".csv")
            for q in csvs:
                f = parse_file_name(q)
                if f is None:
                    notes.append(f"{q.name}: not a MetaBase file name; skipped.")
                else:
                    found.append(f)
            if not csvs:
                raise MetabaseError(f"{p}: the folder holds no CSV files.",
                                    "Give the folder MetaBase exported the session's CSV files into.")
        elif p.is_file():
            f = parse_file_name(p)
            if f is None:
                raise MetabaseFileError(
                    p, "the name does not follow MetaBase's pattern <name>_<date>_<MAC>_<Signal>_<rate>Hz_<fw>.csv.",
                    "Keep the file names MetaBase gave: the board address (MAC) and the signal are read from them.")
            found.append(f)
        else:
            raise MetabaseError(f"{p}: no such file or folder.", "Check the path.")
    unique = {f.path.resolve(): f for f in found}  # a file given both itself and in its folder counts once
    found = list(unique.values())
    if not found:
        raise MetabaseError("none of the CSV files has a MetaBase file name.",
                            "Keep the file names MetaBase gave (…_<MAC>_Accelerometer_100.000Hz_….csv).")
    return found


def board_mapping(segments: Mapping[str, Segment | str]) -> dict[str, Segment]:
    """The caller's board address -> segment mapping, addresses normalised, one board per segment."""
    out: dict[str, Segment] = {}
    seen: dict[Segment, str] = {}
    for mac_text, seg_text in segments.items():
        mac = normalise_mac(mac_text)
        try:
            seg = Segment(seg_text)
        except ValueError:
            raise MetabaseBoardError(f"{seg_text!r} is not a segment.",
                                     f"Segments are {', '.join(s.value for s in Segment)}.", []) from None
        if seg in seen and seen[seg] != mac:
            raise MetabaseBoardError(f"two boards are given for the {seg.value}: {format_mac(seen[seg])} and "
                                     f"{format_mac(mac)}.", "Give one board per segment.", [])
        seen[seg] = mac
        out[mac] = seg
    return out


def group_files(files: list[MetabaseFile], mapping: dict[str, Segment],
                notes: list[str]) -> dict[Segment, dict[str, MetabaseFile]]:
    """Segment -> signal name -> file; checks that the boards match the mapping and have what is needed."""
    macs = sorted({f.mac for f in files})
    found = ", ".join(format_mac(m) for m in macs)
    usage = ("Say which board is which, e.g. --thigh C4:A3:E9:E2:E5:F3 --shin D1:F4:CF:B8:F6:E0 "
             "(the address is in each file name).")
    unknown = [m for m in macs if m not in mapping]
    missing = [(mac, seg) for mac, seg in mapping.items() if mac not in macs]
    no_files = "no files of the " + ", ".join(f"{seg.value} board {format_mac(mac)}" for mac, seg in missing)
    if unknown:
        raise MetabaseBoardError(
            f"the files hold board{'s' if len(unknown) > 1 else ''} {', '.join(format_mac(m) for m in unknown)} "
            f"that {'are' if len(unknown) > 1 else 'is'} not assigned to a segment"
            + (f", and there are {no_files}" if missing else "") + f" (boards found: {found}).",
            usage + " Leave out the files of boards you do not want.", macs)
    if missing:
        raise MetabaseBoardError(f"there are {no_files} (boards found: {found}).",
                                 "Check the addresses, or add that board's files.", macs)
    for seg in (Segment.THIGH, Segment.SHIN):
        if seg not in mapping.values():
            raise MetabaseBoardError(f"no board is assigned to the {seg.value} (boards found: {found}).", usage, macs)
    grouped: dict[Segment, dict[str, MetabaseFile]] = {}
    for f in files:
        seg = mapping[f.mac]
        if f.signal not in SIGNALS:
            notes.append(f"{f.path.name}: MetaBase signal {f.signal!r} is not used; skipped.")
            continue
        board = grouped.setdefault(seg, {})
        if f.signal in board:
            raise MetabaseBoardError(
                f"two {f.signal} files of the {seg.value} board {format_mac(f.mac)}: {board[f.signal].path.name} "
                f"and {f.path.name}.", "Import one MetaBase session at a time: give only that session's files.",
                macs)
        board[f.signal] = f
    for seg, mac in ((s, m) for m, s in mapping.items()):
        board = grouped.get(seg, {})
        for spec in (ACCELEROMETER, GYROSCOPE):
            if spec.name not in board:
                have = ", ".join(sorted(board)) or "no accelerometer, gyroscope or magnetometer files"
                raise MetabaseBoardError(
                    f"the {seg.value} board {format_mac(mac)} has no {spec.name} file (it has {have}).",
                    "Record Accelerometer and Gyroscope in MetaBase (not sensor fusion, which replaces them) and "
                    "export all of the session's files.", macs)
    return grouped
