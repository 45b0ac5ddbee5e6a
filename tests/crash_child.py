"""A process that records a simulated live session into a store and says after each commit how many
samples the store holds, until it is killed (tests/test_durability.py). Run as
`python tests/crash_child.py STORE SEED SPEED`."""

import asyncio
import sys

from firmware_bridge.replay import replay
from firmware_bridge.simulator import simulate_session
from imu_core.frames import Side
from tracker.exercises import get_exercise
from tracker.pipeline import SessionPipeline
from tracker.session import LiveState, run_live_session
from tracker.store import SessionStore


class CommitReportingStore(SessionStore):
    """The real store; after each commit it prints the session's committed sample count."""

    session_id = 0

    def commit(self) -> None:
        super().commit()
        if self.session_id:
            print(f"committed {self.get_session(self.session_id).n_samples}", flush=True)


async def main(store_path: str, seed: int, speed: float) -> None:
    sim = simulate_session(seed=seed, side=Side.LEFT, reps=6)
    exercise = get_exercise("seated-ir")
    with CommitReportingStore.open(store_path) as store:
        sid = store.create_session(exercise.id, Side.LEFT, "live", 100.0, sim.recording.sensors_info)
        store.session_id = sid
        print(f"session {sid}", flush=True)
        state = LiveState(exercise.name, "left", 6, exercise.prescription.hold_s)
        await run_live_session(replay(sim.recording, speed=speed), SessionPipeline(exercise, Side.LEFT, 100.0),
                               store, sid, state, commit_interval_s=1.0)
    print("finished", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
