"""`mailmig serve PROJECT`: the TUI in a web browser, through textual-serve.

Each browser tab runs its own `mailmig open PROJECT` (the second one opens the project read-only, as a
second terminal would). It binds 127.0.0.1 by default: there is no login, so anyone who can reach the
port can drive the migration; reach it from your own machine through an SSH tunnel
(`ssh -L 8000:localhost:8000 jumphost`).
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import socket
import sys
from pathlib import Path

from mailmig_tui.core.errors import UsageError
from mailmig_tui.core.i18n import _, current_language
from mailmig_tui.core.store import load_project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help=_("serve the TUI to a web browser (on localhost; use an SSH tunnel)"),
                       description=_("Serve the TUI over HTTP with textual-serve. It listens on 127.0.0.1 unless "
                                     "--host says otherwise; there is no login, so keep it on localhost and reach "
                                     "it with `ssh -L 8000:localhost:8000 jumphost`, then open http://localhost:8000."))
    p.add_argument("project", type=Path)
    p.add_argument("--host", default="127.0.0.1", help=_("address to listen on (default 127.0.0.1)"))
    p.add_argument("--port", type=int, default=8000, help=_("port to listen on (default 8000)"))
    p.add_argument("--public-url", default=None,
                   help=_("the address the browser uses, if not http://HOST:PORT (e.g. behind a proxy)"))
    p.set_defaults(func=cmd_serve)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_port(host: str, port: int) -> None:
    if not 0 < port <= 65535:
        raise UsageError(_("--port must be 1-65535, not {port}").format(port=port))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(_("cannot listen on {host}:{port}: {error}").format(
                host=host, port=port, error=exc.strerror or exc)) from None


def serve_command(project: Path, language: str) -> str:
    """The command each browser session runs (a fresh `mailmig open`, with the web driver)."""
    return shlex.join([sys.executable, "-m", "mailmig_tui", "--lang", language, "open", str(project.absolute())])


def cmd_serve(args: argparse.Namespace) -> int:
    project = load_project(args.project)  # a missing or malformed file: exit 3 now, not in the browser
    _check_port(args.host, args.port)
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UsageError(_("textual-serve is not installed (pip install textual-serve)")) from None
    if not is_loopback(args.host):
        print(_("warning: listening on {host}: anyone who can reach it can drive this migration (there is no "
                "login); prefer 127.0.0.1 and an SSH tunnel").format(host=args.host), file=sys.stderr)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    url = args.public_url or f"http://{shown_host}:{args.port}"
    print(_("Serving {domain} at {url} (Ctrl+C stops). From your machine: ssh -L {port}:localhost:{port} "
            "THIS-HOST, then open http://localhost:{port}").format(domain=project.domain, url=url, port=args.port),
          flush=True)
    server = Server(serve_command(args.project, args.lang or current_language()), host=args.host, port=args.port,
                    title=f"mailmig · {project.domain}", public_url=url)
    server.serve()
    return 0
