"""Where chunks of work run: this process, a local process pool, or Dask; one layer for
runs and sweeps alike.

A task is a module-level function and its arguments; results come back with their task
index and callers merge them in task order, so a result never depends on the executor,
the worker count or the order of completion.

Local pools stop at once on Ctrl-C. Workers are started by ``spawn`` (a clean interpreter,
the same on every platform; no start method is set globally) with SIGINT ignored from
their first instruction: Ctrl-C reaches the whole process group, and only the parent
should act on it (keep checkpoints, remove temporary files, say how to resume). If the
parent is interrupted or the consumer stops early, the pool is terminated: queued work is
dropped, running work is killed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

__all__ = ["pool_map", "Executor", "EXECUTOR_KINDS"]


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


def thread_map(fn: Callable[..., Any], tasks: list[tuple], threads: int
               ) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, fn(*tasks[index]))`` as results arrive, from ``threads`` threads.

    At most ``threads`` tasks are in flight, so results are consumed (and their memory
    freed) as the work goes. If the consumer stops (Ctrl-C, an error), tasks not yet
    started are cancelled; running ones finish their chunk, which is short.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="abm")
    pending: dict[Any, int] = {}
    nxt = 0
    try:
        while nxt < len(tasks) or pending:
            while nxt < len(tasks) and len(pending) < threads:
                pending[pool.submit(fn, *tasks[nxt])] = nxt
                nxt += 1
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=pending.get):
                yield pending.pop(f), f.result()
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


EXECUTOR_KINDS = ("inprocess", "threads", "pool", "dask")


@dataclass
class Executor:
    """Where chunks run: ``inprocess``; ``threads`` (``workers`` threads of this process,
    for work that releases the GIL, as the compiled kernel does); ``pool`` (local
    processes); or ``dask`` (a ``LocalCluster`` of ``workers`` processes on loopback, or the
    scheduler at ``scheduler``, ``tcp://HOST:PORT``)."""

    kind: str = "pool"
    workers: int = 1
    scheduler: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self.workers, "scheduler": self.scheduler}

    def map(self, fn: Callable[..., Any], tasks: list[tuple]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(*tasks[index]))`` as results arrive."""
        if (self.kind == "inprocess"
                or (self.kind in ("pool", "threads") and (self.workers == 1 or len(tasks) <= 1))):
            for i, args in enumerate(tasks):
                yield i, fn(*args)
            return
        if self.kind == "threads":
            yield from thread_map(fn, tasks, self.workers)
            return
        if self.kind == "pool":
            stream = pool_map(fn, tasks, min(self.workers, len(tasks)))
            try:
                yield from stream
            finally:
                stream.close()
            return
        from distributed import Client, LocalCluster, as_completed

        cluster = None
        if self.scheduler:
            client = Client(self.scheduler, timeout="20s")
        else:
            cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                   processes=True, host="127.0.0.1", dashboard_address=None)
            client = Client(cluster)
        try:
            futs = [client.submit(fn, *args, pure=False) for args in tasks]
            index = {f.key: i for i, f in enumerate(futs)}
            for f in as_completed(futs):
                yield index[f.key], f.result()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
