"""Sessions are never lost. A recording process is killed with SIGKILL at a random moment, and the store
is then opened and checked: it is consistent, it holds every sample committed, the session is listed as
interrupted, and `hiptrack recover` closes it and analyses what was kept. Read-only and full stores
are reported at once, in plain words."""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.simulator import simulate_session
from imu_core.frames import Segment, Side
from tracker.cli import main as hiptrack
from tracker.errors import StoreError
from tracker.store import SessionStore

CHILD = Path(__file__).with_name("crash_child.py")
SEED = 5


def _kill_mid_session(store: Path, after_s: float) -> tuple[int, int]:
    """Start the recording process, SIGKILL it `after_s` after its first commit; returns (session id,
    samples it had reported committed before the kill)."""
    child = subprocess.Popen([sys.executable, str(CHILD), str(store), str(SEED), "4"], stdout=subprocess.PIPE,
                             text=True, bufsize=1)
    assert child.stdout is not None
    sid, committed, first_commit = 0, 0, None
    try:
        for line in child.stdout:
            word, _, value = line.strip().partition(" ")
            if word == "session":
                sid = int(value)
            elif word == "committed":
                committed = int(value)
                first_commit = first_commit or time.monotonic()
            assert word != "finished", "the session ended before the kill"
            if first_commit is not None and time.monotonic() - first_commit >= after_s:
                break
        os.kill(child.pid, signal.SIGKILL)
        # what it printed between our last read and the kill also counts
        rest = child.stdout.read()
    finally:
        child.wait(timeout=10)
        child.stdout.close()
    for line in rest.splitlines():
        if line.startswith("committed "):
            committed = int(line.split()[1])
    assert child.returncode == -signal.SIGKILL
    return sid, committed


@pytest.mark.timeout(60)
def test_a_session_killed_mid_set_keeps_every_committed_sample_and_is_recovered(tmp_path: Path) -> None:
    after_s = random.uniform(1.5, 6.0)  # the session lasts ~10 s at 4x; kill somewhere in the set
    store_path = tmp_path / "crash.sqlite3"
    sid, committed = _kill_mid_session(store_path, after_s)
    where = f"killed {after_s:.2f} s after the first commit"
    assert committed > 0, where

    conn = sqlite3.connect(store_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", where
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == [], where
    stored_rows = conn.execute("SELECT count(*) FROM samples WHERE session_id = ?", (sid,)).fetchone()[0]
    conn.close()

    truth = simulate_session(seed=SEED, side=Side.LEFT, reps=6).recording
    with SessionStore.open(store_path) as store:
        info = store.get_session(sid)
        assert info.needs_recovery and info.status == "interrupted", where
        assert info.n_samples == stored_rows >= committed, where
        rec = store.load_recording(sid)
    # exactly the session's first samples, as they were recorded: nothing lost before the last commit,
    # nothing half-written after it
    for seg in (Segment.THIGH, Segment.SHIN):
        kept, true = rec.streams[seg], truth.streams[seg]
        n = len(kept)
        assert 0 < n < len(true), where
        np.testing.assert_array_equal(kept.t, true.t[:n])
        np.testing.assert_array_equal(kept.acc, true.acc[:n])
        np.testing.assert_array_equal(kept.gyr, true.gyr[:n])

    assert hiptrack(["--store", str(store_path), "sessions"]) == 0
    assert hiptrack(["--store", str(store_path), "recover"]) == 0
    with SessionStore.open(store_path) as store:
        info = store.get_session(sid)
        assert info.status == "interrupted" and not info.needs_recovery and info.ended_at is not None
        assert info.n_samples == stored_rows
        result = store.load_analysis(sid)
    # what was kept is analysed, if the kill came after the calibration; its reps are the person's reps
    if result is not None:
        true_peaks = [r.peak_ir_deg for r in simulate_session(seed=SEED, side=Side.LEFT, reps=6).truth_reps]
        for rep, peak in zip(result.reps, true_peaks, strict=False):
            assert rep.peak_ir_deg == pytest.approx(peak, abs=1.5), where
    assert hiptrack(["--store", str(store_path), "recover"]) == 0  # nothing left to recover


def _without_privileges() -> list[str]:
    """File permissions do not stop root (CAP_DAC_OVERRIDE): as root, run the child with no capabilities
    (util-linux's setpriv, essential on Debian), so they apply to it as to anyone."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root, the test needs util-linux's setpriv to drop root's capabilities"
    return [setpriv, "--bounding-set", "-all"]


def test_a_read_only_store_is_refused_before_anything_starts() -> None:
    folder = Path(tempfile.mkdtemp(prefix="hiptrack-ro-"))
    try:
        store_path = folder / "store.sqlite3"
        with SessionStore.open(store_path) as store:
            sid = store.create_session("seated-ir", Side.LEFT, "live", 100.0, {})
            store.finish_session(sid)
        for p in folder.iterdir():
            p.chmod(0o444)
        folder.chmod(0o555)
        for command in (["demo", "--speed", "50", "--no-browser"], ["run", "--no-browser"]):
            started = time.monotonic()
            out = subprocess.run([*_without_privileges(), sys.executable, "-m", "tracker.cli", "--store",
                                  str(store_path), *command], capture_output=True, text=True, timeout=60)
            assert out.returncode == 1, out.stderr
            assert "read-only" in out.stderr and str(store_path) in out.stderr, out.stderr
            assert "Simulated person" not in out.stdout and "Dashboard" not in out.stdout  # nothing started
            assert time.monotonic() - started < 20
    finally:
        folder.chmod(0o755)
        for p in folder.iterdir():
            p.chmod(0o644)
    with SessionStore.open(store_path) as store:
        assert [s.status for s in store.list_sessions()] == ["complete"]  # untouched


def _limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.timeout(90)
def test_a_disk_filling_up_mid_session_stops_it_with_a_plain_error_and_keeps_what_was_committed(
        tmp_path: Path) -> None:
    store_path = tmp_path / "full.sqlite3"
    with SessionStore.open(store_path) as store:
        store.commit()
    limit = 1_500_000  # bytes: the file (and its write-ahead log) fill up a few seconds into the session
    out = subprocess.run([sys.executable, "-m", "tracker.cli", "--store", str(store_path), "demo", "--speed", "8",
                          "--no-browser", "--seed", "3"], capture_output=True, text=True, timeout=80,
                         preexec_fn=lambda: _limit_file_size(limit))
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr
    # (a file size limit fails writes as EFBIG, which the database reports as an I/O error; a full disk,
    # ENOSPC, as full: both are said in plain words)
    assert "full" in out.stderr and "hiptrack recover" in out.stderr and "Traceback" not in out.stderr, out.stderr
    with SessionStore.open(store_path) as store:
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (info,) = store.list_sessions()
        assert info.n_samples > 1000 and info.status == "interrupted"
        rec = store.load_recording(info.id)
    truth = simulate_session(seed=3, side=Side.LEFT if 3 % 2 == 0 else Side.RIGHT).recording
    kept = rec.streams[Segment.SHIN]
    np.testing.assert_array_equal(kept.gyr, truth.streams[Segment.SHIN].gyr[:len(kept)])


def test_a_disk_without_room_for_the_session_is_refused_before_it_starts(tmp_path: Path) -> None:
    with SessionStore.open(tmp_path / "s.sqlite3") as store:
        store.check_room(minutes=10)
        with pytest.raises(StoreError, match="MB are free") as refused:
            store.check_room(minutes=1e9)
    assert "another disk" in refused.value.advice
