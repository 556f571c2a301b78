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
from dataclasses import dataclass, field
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
    #: the pool or Dask client kept by :meth:`session` (None outside one)
    _live: Any = field(default=None, repr=False, compare=False)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self.workers, "scheduler": self.scheduler}

    @contextlib.contextmanager
    def session(self) -> Iterator[Executor]:
        """Keep one process pool or Dask client (and local cluster) for every :meth:`map`
        inside the block, for callers that map many short rounds (a calibration maps once
        per Metropolis-Hastings step); without it each call starts its own. The pool is
        terminated (queued work dropped) if the block ends by an exception, or as soon as
        a map's consumer stops before the end."""
        if self._live is not None or self.kind in ("inprocess", "threads") or (
                self.kind == "pool" and self.workers == 1):
            yield self
            return
        if self.kind == "pool":
            self._live = ["pool", None]  # the pool starts at the first map
            try:
                yield self
            finally:
                pool, self._live = self._live[1], None
                if pool is not None:
                    pool.terminate()
                    pool.join()
            return
        client, cluster = self._dask_client()
        self._live = ["dask", client]
        try:
            yield self
        finally:
            self._live = None
            client.close()
            if cluster is not None:
                cluster.close()

    def _dask_client(self) -> tuple[Any, Any]:
        from distributed import Client, LocalCluster

        if self.scheduler:
            return Client(self.scheduler, timeout="20s"), None
        cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                               processes=True, host="127.0.0.1", dashboard_address=None)
        return Client(cluster), cluster

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
        if self.kind == "pool" and self._live is not None:
            yield from self._live_pool_map(fn, tasks)
            return
        if self.kind == "pool":
            stream = pool_map(fn, tasks, min(self.workers, len(tasks)))
            try:
                yield from stream
            finally:
                stream.close()
            return
        from distributed import as_completed

        shared = self._live is not None  # the session's client, kept after this map
        if shared:
            client, cluster = self._live[1], None
        else:
            client, cluster = self._dask_client()
        futs = []
        try:
            futs = [client.submit(fn, *args, pure=False) for args in tasks]
            index = {f.key: i for i, f in enumerate(futs)}
            for f in as_completed(futs):
                yield index[f.key], f.result()
        finally:
            if shared:
                client.cancel([f for f in futs if not f.done()])
            else:
                client.close()
                if cluster is not None:
                    cluster.close()

    def _live_pool_map(self, fn: Callable[..., Any], tasks: list[tuple]
                       ) -> Iterator[tuple[int, Any]]:
        """:func:`pool_map` on the session's pool; a consumer that stops early (Ctrl-C, an
        error, ``close()``) terminates it, and the next map in the session starts a new
        one."""
        live = self._live  # this session's slot (the generator may outlive the session)
        if live[1] is None:
            with _children_ignore_sigint():
                live[1] = get_context("spawn").Pool(processes=self.workers,
                                                    initializer=_ignore_sigint)
        pool = live[1]
        finished = False
        try:
            yield from pool.imap_unordered(_call, [(i, fn, a) for i, a in enumerate(tasks)])
            finished = True
        finally:
            if not finished:
                pool.terminate()
                pool.join()
                if live[1] is pool:
                    live[1] = None
