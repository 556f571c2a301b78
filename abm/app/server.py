"""Serve the explorer page with Solara's Starlette app under uvicorn, on loopback.

Solara loads its JavaScript and CSS from ``/_solara/cdn/...``; with the ``solara-assets``
package installed (pinned in ``pyproject.toml``) every one of those files is served from
the package, so the page works with no internet. Telemetry is switched off, and so is
Solara's "This website runs on Solara" badge (``settings.theme.show_banner``, env
``SOLARA_THEME_SHOW_BANNER``), which is pinned to the window's corner and covered the
charts beneath it.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

__all__ = ["serve", "DEFAULT_HOST", "DEFAULT_PORT", "prepare_environment"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8521


def prepare_environment(config: str | None, experiments: str,
                        results: str = "results") -> None:
    """Environment the page module and Solara read at import (call before importing them)."""
    os.environ["SOLARA_APP"] = "abm.app.page"
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "false")
    os.environ.setdefault("SOLARA_SESSION_HTTPS_ONLY", "false")
    os.environ["SOLARA_THEME_SHOW_BANNER"] = "false"
    os.environ["ABM_APP_EXPERIMENTS"] = str(Path(experiments).resolve())
    os.environ["ABM_APP_RESULTS"] = str(Path(results).resolve())
    if config:
        os.environ["ABM_APP_CONFIG"] = str(Path(config))
    else:
        os.environ.pop("ABM_APP_CONFIG", None)


def serve(config: str | None = None, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          experiments: str = "experiments", results: str = "results") -> None:
    """Serve until interrupted; prints the address first (flushed) on stdout."""
    prepare_environment(config, experiments, results)
    import uvicorn
    from solara.server import settings

    settings.main.mode = "production"
    settings.telemetry.mixpanel_enable = False
    settings.theme.show_banner = False
    warnings.filterwarnings("ignore", message="Cookies with samesite=none")
    from solara.server.starlette import app

    _check_bind(host, port)
    url_host = f"[{host}]" if ":" in host else host
    print(f"abm app: serving on http://{url_host}:{port}/ (Ctrl-C to stop)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"abm app: listening on {host}: anyone who can reach this address can run "
              "and save scenarios here", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _check_bind(host: str, port: int) -> None:
    """Refuse, as bad input (exit 2, one line), an address this machine cannot serve on:
    a port in use or a host that does not resolve, before saying where it serves."""
    import socket

    from ..errors import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError("--host", "host", host, f"cannot be resolved ({exc.strerror or exc})"
                          ) from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            raise ConfigError("--port", "port", port,
                              f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                              "choose another --port") from None
