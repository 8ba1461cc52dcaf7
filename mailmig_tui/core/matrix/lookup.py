"""DNS questions with the project's own resolvers (`[dns] resolvers`), from worker threads.

Each question goes to the configured resolvers in order until one answers (an answer may be negative);
answers are cached for the run, since every user's row asks the same names.
"""

from __future__ import annotations

import asyncio
import threading

from mailmig_tui.core.dns.config import DnsConfig
from mailmig_tui.core.dns.query import Answer, ask


class Lookup:
    def __init__(self, config: DnsConfig) -> None:
        self.servers = list(config.resolvers)
        self.timeout = config.timeout
        self._cache: dict[tuple[str, str], Answer] = {}
        self._lock = threading.Lock()

    async def aask(self, qname: str, rdtype: str) -> Answer:
        key = (qname.lower().rstrip("."), rdtype.upper())
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        answer: Answer | None = None
        for server in self.servers:
            answer = await ask(server, key[0], key[1], timeout=self.timeout)
            if not answer.failed:
                break
        if answer is None:
            answer = Answer("-", key[0], key[1], "error", detail="no resolver configured")
        if not answer.failed:
            with self._lock:
                self._cache[key] = answer
        return answer

    def ask(self, qname: str, rdtype: str) -> Answer:
        return asyncio.run(self.aask(qname, rdtype))

    def addresses(self, host: str) -> list[str]:
        """A and AAAA of `host` (an IP literal is returned as it is)."""
        import ipaddress

        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        out: list[str] = []
        for rdtype in ("A", "AAAA"):
            answer = self.ask(host, rdtype)
            out += list(answer.values) if answer.status == "ok" else []
        return out
