"""The whole product from the command line: a short demo into a temporary store, then every command
on what it stored, checked against what the simulated person actually did."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_bridge.simulator import simulate_session
from firmware_bridge.simulator.truth_measures import banded_hold_s
from tracker.cli import main
from tracker.store import SessionStore

SEED, REPS = 17, 3


def hiptrack(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HIPTRACK_STORE": str(store), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "tracker.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("store") / "hiptrack.sqlite3"
    code = main(["--store", str(store), "demo", "--speed", "200", "--reps", str(REPS), "--seed", str(SEED)])
    assert code == 0
    return store


def test_demo_finds_the_reps_the_person_did(demo_store: Path) -> None:
    with SessionStore.open(demo_store) as store:
        (info,) = store.list_sessions()
        result = store.load_analysis(info.id)
    sim = simulate_session(seed=SEED, side=info.side, reps=REPS)
    truth = sim.truth_reps
    assert info.status == "complete" and info.source == "demo"
    assert result is not None
    assert len(result.reps) == len(truth) == REPS
    for rep, true in zip(result.reps, truth, strict=True):
        assert abs(rep.peak_ir_deg - true.peak_ir_deg) <= 3.0
        assert abs(rep.hold_s - banded_hold_s(sim.script, true)) <= 0.25
    assert (demo_store.parent / "reports" / f"session-{info.id}.png").stat().st_size > 20_000


def test_export_then_analyze_agrees_with_the_live_session(demo_store: Path, tmp_path: Path) -> None:
    rec_dir = tmp_path / "rec"
    assert hiptrack("export", "1", str(rec_dir), store=demo_store).returncode == 0
    assert sorted(p.name for p in rec_dir.iterdir()) == ["markers.csv", "meta.json", "samples.csv"]
    out_json, out_csv = tmp_path / "a.json", tmp_path / "a.csv"
    run = hiptrack("analyze", str(rec_dir), "--json", str(out_json), "--angles", str(out_csv), store=demo_store)
    assert run.returncode == 0, run.stderr
    offline = json.loads(out_json.read_text())
    assert offline["format"] == "hiptrack-analysis/1"
    assert set(offline) >= {"exercise", "side", "max_ir_deg", "reps", "holds", "compensations"}
    with SessionStore.open(demo_store) as store:
        live = store.load_analysis(1)
    assert live is not None
    assert len(offline["reps"]) == len(live.reps) == REPS
    for off, liv in zip(offline["reps"], live.reps, strict=True):
        assert abs(off["peak_ir_deg"] - liv.peak_ir_deg) <= 0.5
        assert abs(off["start"] - liv.start) <= 0.05 and abs(off["end"] - liv.end) <= 0.05
    lines = out_csv.read_text().splitlines()
    assert lines[0] == "t,hip_ir_deg,knee_flexion_deg"
    ts = [float(line.split(",")[0]) for line in lines[1:]]
    assert len(ts) / (ts[-1] - ts[0]) >= 50.0


def test_import_sessions_and_report(demo_store: Path, tmp_path: Path) -> None:
    rec_dir = tmp_path / "rec"
    assert hiptrack("export", "1", str(rec_dir), store=demo_store).returncode == 0
    imported = hiptrack("import", str(rec_dir), store=demo_store)
    assert imported.returncode == 0, imported.stderr
    assert f"{REPS} reps" in imported.stdout
    listing = hiptrack("sessions", store=demo_store)
    assert listing.returncode == 0
    assert "demo" in listing.stdout and "import" in listing.stdout
    png = tmp_path / "chart.png"
    rep = hiptrack("report", "2", "--out", str(png), store=demo_store)
    assert rep.returncode == 0, rep.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def one_line_error(run: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_bad_input_gets_one_clear_line(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite3"
    one_line_error(hiptrack("analyze", str(tmp_path / "nope"), "--json", str(tmp_path / "o.json"), store=store),
                   "nope")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "meta.json").write_text("{not json")
    one_line_error(hiptrack("import", str(broken), store=store), "meta.json")
    one_line_error(hiptrack("report", "42", store=store), "no session '42'")
    one_line_error(hiptrack("export", "abc", str(tmp_path / "x"), store=store), "no session 'abc'")
    one_line_error(hiptrack("demo", "--exercise", "handstand", store=store), "unknown exercise 'handstand'")
    assert not (tmp_path / "o.json").exists()


def test_recording_of_an_unknown_exercise_is_refused(demo_store: Path, tmp_path: Path) -> None:
    rec_dir = tmp_path / "rec"
    assert hiptrack("export", "1", str(rec_dir), store=demo_store).returncode == 0
    meta = json.loads((rec_dir / "meta.json").read_text())
    meta["exercise"] = "cartwheel"
    (rec_dir / "meta.json").write_text(json.dumps(meta))
    one_line_error(hiptrack("analyze", str(rec_dir), "--json", str(tmp_path / "o.json"), store=demo_store),
                   "unknown exercise 'cartwheel'")
    before = hiptrack("sessions", store=demo_store).stdout
    one_line_error(hiptrack("import", str(rec_dir), store=demo_store), "unknown exercise")
    assert hiptrack("sessions", store=demo_store).stdout == before


def test_sensor_assignment_commands_and_run_without_sensors(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite3"
    one_line_error(hiptrack("run", store=store), "no thigh and shin sensors are assigned")
    ok = hiptrack("sensors", "assign", "C0:FF:EE:00:00:01", "thigh", "--side", "right", "--family", "nano33",
                  store=store)
    assert ok.returncode == 0, ok.stderr
    listing = hiptrack("sensors", "list", store=store)
    assert "C0:FF:EE:00:00:01" in listing.stdout and "thigh" in listing.stdout and "right" in listing.stdout
    one_line_error(hiptrack("run", "--side", "right", store=store), "right leg")
    (tmp_path / "sensors.json").write_text('{"format": "hiptrack-sensors/1", "sensors": [], "extra": 1}')
    one_line_error(hiptrack("sensors", "list", store=store), "unknown key")
