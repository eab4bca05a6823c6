"""The messaging process's last step: tasks left after its stop are cancelled, and one that
ignores its cancellation is named and left behind instead of being waited for forever.

Each test runs in an event loop of its own (`asyncio.run`): the helper cancels every other
task of its loop, and the suite's shared loop has tasks of its fixtures."""

from __future__ import annotations

import asyncio
import time


def test_a_task_ignoring_cancellation_is_named_and_the_others_are_cancelled() -> None:
    from subgraph.messaging.runtime import cancel_leftover_tasks

    async def scenario() -> tuple[list[str], bool, bool]:
        release = asyncio.Event()

        async def stubborn() -> None:
            while not release.is_set():
                try:
                    await release.wait()
                except asyncio.CancelledError:
                    continue  # what a library's task did to a killed serve's messaging process

        ignoring = asyncio.create_task(stubborn(), name="stubborn")
        obeying = asyncio.create_task(asyncio.sleep(3600), name="polite")
        await asyncio.sleep(0)
        stuck = await cancel_leftover_tasks(0.2)
        still_running = not ignoring.done()
        release.set()
        await ignoring
        return stuck, obeying.cancelled(), still_running

    stuck, polite_cancelled, stubborn_left_running = asyncio.run(scenario())
    assert [name.split(" ")[0] for name in stuck] == ["stubborn"]
    assert polite_cancelled and stubborn_left_running


def test_nothing_left_returns_at_once() -> None:
    from subgraph.messaging.runtime import cancel_leftover_tasks

    started = time.monotonic()
    assert asyncio.run(cancel_leftover_tasks(30.0)) == []
    assert time.monotonic() - started < 1.0
