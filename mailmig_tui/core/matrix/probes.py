"""Probe messages: built with a unique token in their own header, found by that token over IMAP, and
deleted once seen so users' mailboxes are not littered."""

from __future__ import annotations

import contextlib
import time
import uuid
from email.utils import format_datetime, make_msgid

from imapclient import IMAPClient

from mailmig_tui.core import clock

HEADER = "X-Mailmig-Probe"


def new_token() -> str:
    return uuid.uuid4().hex


def make_probe(token: str, kind: str, sender: str, recipient: str) -> bytes:
    """A small plain-text message; `kind` ("internal", "mx") says which check sent it."""
    domain = sender.rpartition("@")[2] or "mailmig.invalid"
    lines = [
        f"From: mailmig test <{sender}>",
        f"To: <{recipient}>",
        f"Subject: mailmig test probe ({kind}) {token[:8]}",
        f"Date: {format_datetime(clock.now())}",
        f"Message-ID: {make_msgid('mailmig-probe', domain=domain)}",
        f"{HEADER}: {token}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Auto-Submitted: auto-generated",
        "",
        "This message was sent by mailmig to test mail delivery during a migration.",
        "It is deleted automatically once it is found; if you see it, you may delete it.",
        f"Token: {token}",
        "",
    ]
    return "\r\n".join(lines).encode()


def search(client: IMAPClient, token: str) -> list[int]:
    return list(client.search(["HEADER", HEADER, token]))


def wait_for(clients: dict[str, tuple[IMAPClient, str]], token: str, timeout: float, interval: float,
             cancelled: object = None) -> tuple[str, int] | None:
    """Poll each (client, folder) until the token shows up in one: (name, uid), or None on timeout.
    Folders are selected read-write so the probe can be deleted afterwards."""
    deadline = time.monotonic() + timeout
    selected: dict[str, bool] = {}
    while True:
        for name, (client, folder) in clients.items():
            if not selected.get(name):
                client.select_folder(folder)
                selected[name] = True
            else:
                client.noop()
            uids = search(client, token)
            if uids:
                return name, uids[0]
        if time.monotonic() >= deadline or (cancelled is not None and cancelled.is_set()):  # type: ignore[attr-defined]
            return None
        time.sleep(interval)


def fetch(client: IMAPClient, uid: int) -> bytes:
    data = client.fetch([uid], ["BODY.PEEK[]"])
    entry = data.get(uid, {})
    return bytes(entry.get(b"BODY[]", b""))


def delete(client: IMAPClient, uids: list[int]) -> None:
    if not uids:
        return
    client.delete_messages(uids)
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)
    else:
        client.expunge()


def delete_stale(client: IMAPClient, folder: str, active: set[str]) -> int:
    """Remove probes of earlier runs (ones that arrived after their cell timed out) from `folder`,
    leaving those of probes still being waited for. Returns how many were removed."""
    with contextlib.suppress(Exception):
        client.select_folder(folder)
        uids = list(client.search(["HEADER", HEADER, ""]))
        if not uids:
            return 0
        headers = client.fetch(uids, [f"BODY.PEEK[HEADER.FIELDS ({HEADER})]"])
        stale = []
        for uid, entry in headers.items():
            raw = next((v for k, v in entry.items() if k.startswith(b"BODY[HEADER")), b"")
            token = raw.decode("ascii", "replace").partition(":")[2].strip()
            if token not in active:
                stale.append(uid)
        delete(client, stale)
        return len(stale)
    return 0
