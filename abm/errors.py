"""The project's own exceptions.

Every problem with user input is a :class:`ConfigError`: the command line turns it into
exit code 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

__all__ = ["ConfigError", "ResultsError", "Terminated", "unknown", "display_path"]


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ConfigError(ValueError):
    """A scenario, override or command-line value that cannot be accepted.

    Parameters
    ----------
    source : str
        Where the value came from: a file path, ``--set`` or ``--<option>``.
    key : str
        Dotted key, e.g. ``russia.pressure`` or ``states.TJK.legal_bar``; empty if the
        whole file is at fault (e.g. malformed TOML).
    value : object
        The offending value (shown with ``repr``, shortened).
    allowed : str
        What would have been accepted.
    """

    def __init__(self, source: str, key: str, value: object, allowed: str):
        self.source = str(source)
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.key} = {_short(self.value)}" if self.key else _short(self.value)
        return f"{self.source}: {where}: {self.allowed}"


class ResultsError(Exception):
    """A results directory that is missing, incomplete or has been tampered with."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same clean-up runs (temporary results
    directories are removed on the way out); the command line exits 143 for it."""


def unknown(key: str, allowed: list[str] | tuple[str, ...], what: str = "key") -> str:
    """The ``allowed`` part of a message for an unknown name, with a "did you mean" for a
    near miss: ``unknown key; did you mean 'pressure'? allowed: pressure, ...``."""
    allowed = [str(a) for a in allowed]
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return f"unknown {what}{hint} allowed: {', '.join(allowed)}"


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as messages show it: relative to the working directory when it lies below
    it, so that no message (nor the docs generated from messages) depends on where the
    repository was cloned; otherwise as given."""
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)
