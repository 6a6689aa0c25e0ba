"""A coroutine run to its end on an event loop of its own, its shutdown bounded: ``asyncio.run`` waits for ever for
the tasks left when its coroutine ends (one deaf to its cancel, or one whose wake-up a signal's KeyboardInterrupt
lost inside the loop's ``call_soon``), and a process stuck there uses no CPU and ignores a second SIGTERM until a
supervisor's SIGKILL; and one awaitable given a bound (``within``): ``asyncio.wait_for`` waits for the one it
cancelled at its timeout to end, however long that takes. ``twin serve`` and the live agent's run both use these."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


def run_bounded(loop: asyncio.AbstractEventLoop, coro: Coroutine, cut_short_s: float, grace_s: float = 1.0) -> Any:
    """``coro`` run on ``loop`` (closed on return); then the tasks left are cancelled and waited for ``grace_s`` at
    most, or ``cut_short_s`` when ``coro`` itself did not end (a KeyboardInterrupt out of the loop: a caller
    in-process; its own shutdown's time), and the async generators' and default executor's shutdown ``grace_s``."""
    main = None
    try:
        asyncio.set_event_loop(loop)
        main = loop.create_task(coro)
        return loop.run_until_complete(main)
    finally:
        try:
            left = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.wait(left, timeout=grace_s if main is not None and main.done()
                                                     else cut_short_s))
            ends = [loop.create_task(loop.shutdown_asyncgens()), loop.create_task(loop.shutdown_default_executor())]
            loop.run_until_complete(asyncio.wait(ends, timeout=grace_s))
        finally:
            asyncio.set_event_loop(None)
            loop.close()


async def within(aw: Any, seconds: float, what: str, grace_s: float = 1.0) -> bool:
    """``aw`` run to its end, or for ``seconds`` and then cancelled, and given ``grace_s`` more to end; left running
    past that, said in the log (``what`` names it). Whether it ended (its exception, other than a cancel, raised)."""
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=grace_s)
    if not done:
        log.warning("%s did not end within %g s of its cancel: left", what, grace_s)
        return False
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()
    return True
