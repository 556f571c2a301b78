"""Local process pools that stop at once on Ctrl-C.

Workers are started by ``spawn`` (a clean interpreter, the same on every platform; no start
method is set globally) with SIGINT ignored from their first instruction: Ctrl-C reaches the
whole process group, and only the parent should act on it (keep checkpoints, remove
temporary files, say how to resume). If the parent is interrupted or the consumer stops
early, the pool is terminated: queued work is dropped, running work is killed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from multiprocessing import get_context
from typing import Any

__all__ = ["pool_map"]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """Ignore SIGINT while workers start: an ignored signal stays ignored across ``exec``,
    which covers the seconds a spawned worker spends importing before its initializer."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _call(item: tuple[int, Callable[..., Any], tuple]) -> tuple[int, Any]:
    i, fn, args = item
    return i, fn(*args)


def pool_map(fn: Callable[..., Any], tasks: list[tuple], workers: int
             ) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, fn(*tasks[index]))`` as results arrive, from ``workers`` processes.

    ``fn`` must be importable (a module-level function). Results arrive in completion
    order; callers that need a fixed order sort by index.
    """
    with _children_ignore_sigint():
        pool = get_context("spawn").Pool(processes=workers, initializer=_ignore_sigint)
    try:
        yield from pool.imap_unordered(_call, [(i, fn, a) for i, a in enumerate(tasks)])
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.terminate()
        pool.join()
