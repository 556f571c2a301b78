"""Ctrl-C and SIGTERM for the command line: one line and exit 130 or 143, never a
traceback, wherever the signal lands (docs/errors.md)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import Any

from ..errors import Terminated

__all__ = ["signal_handlers", "by_interrupt", "interrupted"]

#: The last interrupt that arrived (a Ctrl-C or SIGTERM): one inside an extension
#: module's import surfaces as an ImportError ("initialization failed"), not as itself.
_SEEN: list[KeyboardInterrupt | None] = [None]


def _on_sigterm(signum: int, frame: Any) -> None:
    _SEEN[0] = Terminated()
    raise Terminated()


def _on_sigint(signum: int, frame: Any) -> None:
    _SEEN[0] = KeyboardInterrupt()
    signal.default_int_handler(signum, frame)


@contextlib.contextmanager
def signal_handlers() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated`; Ctrl-C still raises KeyboardInterrupt and is
    remembered (an ignored SIGINT, as in a background job, stays ignored). Only the main
    thread may set handlers: elsewhere nothing is changed."""
    _SEEN[0] = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        prev_int = (signal.signal(signal.SIGINT, _on_sigint)
                    if signal.getsignal(signal.SIGINT) is signal.default_int_handler
                    else None)
    except ValueError:
        previous = prev_int = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if prev_int is not None:
            signal.signal(signal.SIGINT, prev_int)


def by_interrupt(exc: BaseException) -> KeyboardInterrupt | None:
    """The interrupt (Ctrl-C, or :class:`Terminated` for SIGTERM) that ``exc`` came from:
    one in its chain, else, for an ImportError only, one that arrived while the command
    ran (an extension module's import turns it into an ImportError with no chain); None
    if none did (any other error stays an error, even after a Ctrl-C)."""
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return _SEEN[0] if isinstance(exc, ImportError) else None


def interrupted(args: argparse.Namespace, exc: KeyboardInterrupt) -> int:
    what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
    # a run writes its directory under a temporary name, removed on the way out
    done = ("; nothing was written" if args.command in ("run", "validate", "show", "discover")
            else "")
    print(f"abm {args.command}: {what}{done}", file=sys.stderr)
    return 143 if isinstance(exc, Terminated) else 130
