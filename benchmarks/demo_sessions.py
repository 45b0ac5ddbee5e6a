"""Live-path check: N `hiptrack demo` sessions (simulated person, live pipeline, real store), each
compared with what the simulated person did.

    .venv/bin/python benchmarks/demo_sessions.py [--sessions N] [--speed X]

Prints reps found vs performed and the rep peak and hold errors (measured - simulated).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware_bridge.simulator import simulate_session
from firmware_bridge.simulator.truth_measures import banded_hold_s
from tracker.cli import main as hiptrack
from tracker.store import SessionStore


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--speed", type=float, default=100.0, help="times real time (default 100)")
    args = ap.parse_args()
    peak_err: list[float] = []
    hold_err: list[float] = []
    found = performed = exact = 0
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.sqlite3"
        for seed in range(1, args.sessions + 1):
            with contextlib.redirect_stdout(io.StringIO()):
                if hiptrack(["--store", str(store), "demo", "--speed", str(args.speed), "--seed", str(seed)]) != 0:
                    raise SystemExit(f"demo failed for seed {seed}")
        with SessionStore.open(store) as st:
            for info in st.list_sessions():
                result = st.load_analysis(info.id)
                assert result is not None
                seed = int(st.load_recording(info.id).extra_meta["simulator_seed"])
                sim = simulate_session(seed=seed, side=info.side, reps=8)
                truth = sim.truth_reps
                found += len(result.reps)
                performed += len(truth)
                exact += len(result.reps) == len(truth)
                for rep, true in zip(result.reps, truth, strict=False):
                    peak_err.append(rep.peak_ir_deg - true.peak_ir_deg)
                    hold_err.append(rep.hold_s - banded_hold_s(sim.script, true))
    pe, he = np.array(peak_err), np.array(hold_err)
    print(f"{'sessions':<26}{args.sessions}")
    print(f"{'reps found / performed':<26}{found} / {performed} ({exact} of {args.sessions} sessions exact)")
    for label, e in (("peak error (deg)", pe), ("hold error (s)", he)):
        print(f"{label:<26}mean {e.mean():+.2f}   mean |e| {np.abs(e).mean():.2f}   max |e| {np.abs(e).max():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
