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


def test_a_pause_holds_the_set_time_cap_and_the_rest_timer_and_calibration_shows_progress() -> None:
    plan = GuidePlan(lead_in_s=0.01, still_s=0.1, swing_s=0.1, settle_s=0.01, reps=99, sets=2, rest_s=0.3,
                     max_exercise_s=0.3)
    state = LiveState("seated", "left", 99, (2.0, 5.0))
    marks: list[tuple[float, str]] = []
    progress: list[tuple[float | None, float | None]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        def add(label: str) -> Marker:
            marks.append((loop.time() - t0, label))
            return Marker(loop.time() - t0, label)

        async def person() -> None:
            while not marks or marks[-1][1] != MarkerLabel.EXERCISE_START:
                progress.append((state.phase_started_at, state.phase_duration_s))
                await asyncio.sleep(0.01)
            state.paused = True  # 0.4 s pause early in set 1
            await asyncio.sleep(0.4)
            state.paused = False
            while marks[-1][1] != MarkerLabel.EXERCISE_END:
                await asyncio.sleep(0.01)
            state.paused = True  # 0.4 s pause at the start of the rest
            await asyncio.sleep(0.4)
            state.paused = False

        task = asyncio.create_task(person())
        await guide_session(plan, state, add, poll_s=0.005)
        await task

    asyncio.run(main())
    t = {label: [m[0] for m in marks if m[1] == label] for label in {m[1] for m in marks}}
    set1 = t[MarkerLabel.EXERCISE_END][0] - t[MarkerLabel.EXERCISE_START][0]
    rest = t[MarkerLabel.EXERCISE_START][1] - t[MarkerLabel.EXERCISE_END][0]
    assert 0.65 <= set1 < 0.95  # 0.3 s of cap + the 0.4 s pause
    assert 0.55 <= rest < 0.95  # the rest timer ticks in 0.1 s steps: a pause is held to within one
    durations = sorted({round(d, 3) for _, d in progress if d is not None})
    assert durations == [0.1, 0.11]  # the still phase, then the swings with their settle
    assert state.phase_started_at is None and state.phase_duration_s is None


def test_with_a_start_the_guide_waits_in_the_start_position_and_times_the_phases_from_it() -> None:
    plan = GuidePlan(lead_in_s=0.05, still_s=0.05, swing_s=0.05, settle_s=0.0, reps=1, sets=1,
                     after_last_rep_s=0.0, max_exercise_s=0.05)
    state = LiveState("seated", "left", 1, (2.0, 5.0))
    markers: list[tuple[float, str]] = []
    prompts: list[str | None] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        start = asyncio.Event()

        def add(label: str) -> Marker:
            markers.append((loop.time() - t0, label))
            return Marker(loop.time() - t0, label)

        guide = asyncio.create_task(guide_session(plan, state, add, poll_s=0.005, start=start,
                                                  ready_prompt="Left leg: sit down. Press Start.",
                                                  on_change=lambda: prompts.append(state.awaiting_start)))
        await asyncio.sleep(0.3)
        assert markers == [] and state.awaiting_start == "Left leg: sit down. Press Start."
        pressed = loop.time() - t0
        start.set()
        await guide
        return pressed

    pressed = asyncio.run(main())
    assert state.awaiting_start is None and prompts[0] == "Left leg: sit down. Press Start."
    assert markers[0][1] == MarkerLabel.CALIBRATION_STATIC
    assert 0.04 <= markers[0][0] - pressed < 0.15  # the lead-in counts from Start, not from the call
    assert [m[1] for m in markers][-1] == MarkerLabel.EXERCISE_END


def test_stop_while_waiting_for_start_ends_without_a_phase() -> None:
    state = LiveState("seated", "left", 1, (2.0, 5.0))
    markers: list[str] = []

    async def main() -> None:
        start, stop = asyncio.Event(), asyncio.Event()
        guide = asyncio.create_task(guide_session(GuidePlan(), state, lambda label: (
            markers.append(label), Marker(0.0, label))[1], stop, start=start))
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(guide, 1.0)

    asyncio.run(main())
    assert markers == [] and state.awaiting_start is None
