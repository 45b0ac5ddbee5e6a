"""The guided flow: sets, rest timer and pain ratings, on a fast clock with a person who does reps."""

import asyncio

from imu_core.types import Marker, MarkerLabel
from tracker.analysis import Rep
from tracker.guide import GuidePlan, guide_session
from tracker.session import LiveState


def test_sets_with_rest_and_pain_after_each() -> None:
    plan = GuidePlan(lead_in_s=0.01, still_s=0.01, swing_s=0.01, settle_s=0.01, reps=3, sets=3, rest_s=0.3,
                     after_last_rep_s=0.01, max_exercise_s=5.0)
    state = LiveState("seated", "left", 3, (2.0, 5.0))
    markers: list[tuple[float, str]] = []
    asked: list[int] = []
    rest_seen: list[float] = []

    async def person() -> None:
        # a rep every 20 ms while a set is on
        while True:
            await asyncio.sleep(0.02)
            if markers and markers[-1][1] == MarkerLabel.EXERCISE_START:
                state.reps.append(Rep(0.0, 0.0, 0.0, 30.0, 2.0))

    async def ask_pain(set_no: int) -> int | None:
        asked.append(set_no)
        return None if set_no == 2 else set_no + 1

    async def main() -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        def add(label: str) -> Marker:
            markers.append((loop.time() - t0, label))
            return Marker(loop.time() - t0, label)

        task = asyncio.create_task(person())
        await guide_session(plan, state, add, poll_s=0.005, ask_pain=ask_pain,
                            on_change=lambda: rest_seen.append(state.rest_remaining_s or 0.0))
        task.cancel()

    asyncio.run(main())
    labels = [m[1] for m in markers]
    assert labels == [MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING,
                      *[MarkerLabel.EXERCISE_START, MarkerLabel.EXERCISE_END] * 3]
    assert asked == [1, 2, 3]
    assert state.pain == [2, None, 4]
    assert state.sets_total == 3 and state.rest_remaining_s is None
    # two rests of 0.3 s between the three sets, counted down
    ends = [t for t, lab in markers if lab == MarkerLabel.EXERCISE_END]
    starts = [t for t, lab in markers if lab == MarkerLabel.EXERCISE_START]
    assert all(0.28 <= s - e < 0.6 for e, s in zip(ends[:2], starts[1:], strict=True))
    assert rest_seen and max(rest_seen) <= 0.3 and min(rest_seen) >= 0.0
    # each set ended once its 3 reps were in
    assert len(state.reps) >= 9


def test_stop_during_a_set_ends_the_session_without_asking() -> None:
    plan = GuidePlan(lead_in_s=0.01, still_s=0.01, swing_s=0.01, settle_s=0.01, reps=3, sets=2, rest_s=0.2)
    state = LiveState("seated", "left", 3, (2.0, 5.0))
    labels: list[str] = []
    asked: list[int] = []

    async def ask_pain(set_no: int) -> int | None:
        asked.append(set_no)
        return 0

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        def add(label: str) -> Marker:
            labels.append(label)
            return Marker(0.0, label)

        await guide_session(plan, state, add, stop, poll_s=0.005, ask_pain=ask_pain)

    asyncio.run(main())
    assert labels[-1] == MarkerLabel.EXERCISE_END
    assert labels.count(MarkerLabel.EXERCISE_START) == 1
    assert asked == []
