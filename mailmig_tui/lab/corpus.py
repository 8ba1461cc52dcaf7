"""Fill lab mailboxes over IMAP APPEND, as a real provider would receive mail.

`hostile_corpus` is small and nasty (names, headers, flags, dates, big attachments); `bulk_corpus` is
the benchmark's plain mail of realistic sizes. Both are deterministic for a given seed.

The truth for content checks, independent of mailmig: every `Message` records the sha256 of its bytes
when it is made, before any mailmig code sees it, and `fill_mailbox` remembers which messages went into
which folder of which mailbox. `expected_hashes(user)` gives that back as {folder path: Counter of
sha256}; `mailbox_hashes(...)` reads the same shape from a live IMAP mailbox (the copy's destination),
so tests compare what was archived or copied with what was generated, byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from imapclient import IMAPClient

TZ = timezone(timedelta(hours=8))


@dataclass
class Message:
    raw: bytes
    flags: tuple[str, ...] = ()
    date: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=TZ))
    # Recorded when the message is made: the independent truth archived and copied messages must match.
    sha256: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.raw).hexdigest()


def _message(n: int, subject: str, body: str, *, msgid: str | None = "auto", extra_headers: bytes = b"",
             date: datetime | None = None) -> bytes:
    date = date or datetime(2024, 1, 1, tzinfo=TZ)
    head = [f"From: Sender {n} <sender{n}@old.example>", "To: someone@corp.example",
            f"Subject: {subject}", f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S %z')}"]
    if msgid == "auto":
        msgid = f"<m{n}.{date.timestamp():.0f}@lab.example>"
    if msgid is not None:
        head.append(f"Message-ID: {msgid}")
    head += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    return ("\r\n".join(head)).encode() + b"\r\n" + extra_headers + b"\r\n" + body.replace("\n", "\r\n").encode()


def _with_attachment(n: int, size: int, date: datetime) -> bytes:
    rng = random.Random(n)
    payload = base64.encodebytes(rng.randbytes(size)).replace(b"\n", b"\r\n")
    return (f"From: big{n}@old.example\r\nTo: someone@corp.example\r\nSubject: attachment {n}\r\n"
            f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S %z')}\r\nMessage-ID: <big{n}@lab.example>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
            "Content-Type: text/plain\r\n\r\nSee attached.\r\n--XX\r\n"
            f"Content-Type: application/octet-stream; name=\"f{n}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            ).encode() + payload + b"--XX--\r\n"


def hostile_folders(separator: str) -> list[list[str]]:
    """Folder paths (lists of hierarchy parts) that break naive backups, legal for `separator`."""
    folders = [["INBOX"], ["Sent"], ["已发送"], ["客户", "华东"], ["Projects", "2024", "Q1"], ["con"], ["x:y"],
               ["Trash"], ["A&B ~%#"], ["草稿" * 10 + "x" * 180], ["INBOX", "sub"]]
    if separator != ".":
        folders += [[".."], ["a.b"], ["."]]
    if separator != "/":
        folders += [["a/b"], ["/etc/passwd"]]
    return folders


def hostile_corpus(seed: int = 1, big_attachments: bool = True) -> dict[tuple[str, ...], list[Message]]:
    rng = random.Random(seed)
    out: dict[tuple[str, ...], list[Message]] = {}
    for folder in hostile_folders("/") + hostile_folders("."):
        key = tuple(folder)
        if key in out:
            continue
        msgs = []
        for i in range(3):
            n = rng.randrange(10**9)
            date = datetime(2012 + rng.randrange(14), 1 + rng.randrange(12), 1 + rng.randrange(28), 9, 30, tzinfo=TZ)
            msgs.append(Message(_message(n, f"{'/'.join(folder)} #{i}", f"hello {n}\n", date=date), date=date,
                                flags=tuple(rng.sample(["\\Seen", "\\Flagged", "\\Answered"], rng.randrange(3)))))
        out[key] = msgs
    inbox = out[("INBOX",)]
    d = datetime(2015, 6, 1, 8, 0, tzinfo=TZ)
    inbox += [
        Message(_message(1, "no message id", "no id here\n", msgid=None, date=d), date=d),
        Message(_message(2, "dup one", "first body\n", msgid="<dup@lab.example>", date=d), date=d),
        Message(_message(3, "dup two", "second, different body\n", msgid="<dup@lab.example>", date=d), date=d),
        Message(_message(4, "8bit", "body\n", extra_headers="X-Note: 中文头部 ünïcode\r\n".encode(), date=d)
                .replace(b"Subject: 8bit", "Subject: 八位头部 8bit".encode()), date=d),
        Message(_message(5, "keywords", "kw\n", date=d), flags=("\\Seen", "$Label1", "Work", "$Forwarded", "\\Draft"),
                date=d),
        Message(_message(6, "old", "old\n", date=datetime(2001, 2, 3, 4, 5, 6, tzinfo=TZ)),
                date=datetime(2001, 2, 3, 4, 5, 6, tzinfo=TZ)),
        Message(_message(7, "new", "new\n", date=datetime(2026, 11, 1, tzinfo=UTC)),
                date=datetime(2026, 11, 1, tzinfo=UTC)),
    ]
    if big_attachments:
        inbox += [Message(_with_attachment(100, 3 * 1024 * 1024, d), ("\\Seen",), d),
                  Message(_with_attachment(101, 5 * 1024 * 1024 + 17, d), (), d)]
    return out


def bulk_corpus(messages: int, seed: int = 7) -> dict[tuple[str, ...], list[Message]]:
    """Plain mail in INBOX, Sent and Archive with sizes like real office mail (mostly 2-30 kB, a few 100s of kB)."""
    rng = random.Random(seed)
    folders = [("INBOX",), ("Sent",), ("Archive", "2024")]
    out: dict[tuple[str, ...], list[Message]] = {f: [] for f in folders}
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "mail", "migration", "backup", "邮件", "迁移", "备份"]
    for i in range(messages):
        folder = folders[0] if i % 10 < 6 else folders[1] if i % 10 < 9 else folders[2]
        r = rng.random()
        size = rng.randrange(100_000, 400_000) if r < 0.02 else rng.randrange(2_000, 30_000)
        body = " ".join(rng.choice(words) for _ in range(size // 6))
        date = datetime(2020, 1, 1, tzinfo=TZ) + timedelta(minutes=rng.randrange(3_000_000))
        out[folder].append(Message(_message(seed * 10**6 + i, f"message {i}", body, date=date), date=date,
                                   flags=("\\Seen",) if rng.random() < 0.8 else ()))
    return out


def _chunks(msgs: list[Message], max_bytes: int = 4 << 20) -> Iterator[list[Message]]:
    batch: list[Message] = []
    size = 0
    for m in msgs:
        if batch and size + len(m.raw) > max_bytes:
            yield batch
            batch, size = [], 0
        batch.append(m)
        size += len(m.raw)
    if batch:
        yield batch


def fill_mailbox(host: str, port: int, login: str, password: str, corpus: dict[tuple[str, ...], list[Message]]) -> int:
    """APPEND the corpus (creating folders with the server's own separator); returns messages appended."""
    count = 0
    with IMAPClient(host, port, ssl=False, timeout=60) as client:
        client.login(login, password)
        separator = client.list_folders()[0][1].decode()
        legal = {tuple(f) for f in hostile_folders(separator)}
        caps = client.capabilities()
        for path, msgs in corpus.items():
            if path not in legal and not _plain(path):
                continue  # e.g. `..` where `.` is the separator
            name = separator.join(path)
            if name != "INBOX" and not client.folder_exists(name):
                client.create_folder(name)
            for batch in _chunks(msgs):
                if b"MULTIAPPEND" in caps:
                    client.multiappend(name, [{"msg": m.raw, "flags": m.flags, "date": m.date} for m in batch])
                else:
                    for m in batch:
                        client.append(name, m.raw, m.flags, m.date)
                _record(port, login, path, batch)
                count += len(batch)
    return count


# --- the expected content of every mailbox filled here --------------------------------------------

FolderHashes = dict[tuple[str, ...], Counter[str]]
_filled: dict[tuple[int, str], FolderHashes] = {}
_filled_lock = threading.Lock()


def _record(port: int, login: str, path: tuple[str, ...], msgs: list[Message]) -> None:
    with _filled_lock:
        _filled.setdefault((port, login), {}).setdefault(path, Counter()).update(m.sha256 for m in msgs)


def corpus_hashes(corpus: dict[tuple[str, ...], list[Message]]) -> FolderHashes:
    """{folder path: Counter of sha256} of a corpus as generated (every folder, legal or not)."""
    return {path: Counter(m.sha256 for m in msgs) for path, msgs in corpus.items()}


def expected_hashes(user: str, port: int | None = None) -> FolderHashes:
    """What `fill_mailbox` put into `user`'s mailbox: {folder path (hierarchy parts): Counter of the
    sha256 of each message's bytes, as recorded when the message was generated}.

    Folder paths are tuples of parts (`("客户", "华东")`), so they do not depend on the server's separator;
    folders the server could not hold (`..` where `.` separates) are absent, as they were never filled.
    `port` picks the server when the same login was filled on two. Messages a test appends later are
    not included: that test adds its own. A copy, so callers may change it.
    """
    with _filled_lock:
        found = {key: hashes for key, hashes in _filled.items()
                 if key[1] == user and (port is None or key[0] == port)}
        if not found:
            raise KeyError(f"no mailbox of {user!r} was filled by lab.corpus.fill_mailbox in this process")
        if len(found) > 1:
            raise KeyError(f"{user!r} was filled on several servers (ports {sorted(k[0] for k in found)}): pass port=")
        ((_key, hashes),) = found.items()
        return {path: Counter(counter) for path, counter in hashes.items()}


def mailbox_hashes(host: str, port: int, login: str, password: str) -> FolderHashes:
    """The same shape as `expected_hashes`, read from a live mailbox over plain IMAP (BODY.PEEK[] of
    every message in every selectable folder, split by the server's own separator)."""
    out: FolderHashes = {}
    with IMAPClient(host, port, ssl=False, timeout=60) as client:
        client.login(login, password)
        for flags, delimiter, name in client.list_folders():
            if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                continue
            info = client.select_folder(name, readonly=True)
            path = tuple(name.split(delimiter.decode())) if delimiter else (name,)
            counter: Counter[str] = Counter()
            if info[b"EXISTS"]:
                uids = client.search("ALL")
                for i in range(0, len(uids), 200):
                    for data in client.fetch(uids[i:i + 200], ["BODY.PEEK[]"]).values():
                        counter[hashlib.sha256(data[b"BODY[]"]).hexdigest()] += 1
            if counter:
                out[path] = counter
    return out


def nonempty(hashes: FolderHashes) -> FolderHashes:
    """`hashes` without empty folders (an archive or copy may hold folders the corpus left empty)."""
    return {path: counter for path, counter in hashes.items() if sum(counter.values())}


def _plain(path: tuple[str, ...]) -> bool:
    """Bulk corpus folders are legal everywhere."""
    return all(part.replace(" ", "").isalnum() for part in path)
