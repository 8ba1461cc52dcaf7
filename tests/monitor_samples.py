"""Fixed health results for the Health tab's snapshot and screenshot (no server needed).

Drawn from what the monitor reports on a real lab run: every kind of status once, with latency history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mailmig_tui.core.monitor.checks import FAIL, INFO, OK, UNKNOWN, WARN, Health


def results(at: datetime) -> list[Health]:
    return [
        Health("dns:mx", OK, "DNS MX corp.example", "published as it should be: 5 mx1.qiye.aliyun.com., 10 mx2…", at=at),
        Health("dns:spf", OK, "DNS TXT corp.example", "published as it should be: v=spf1 include:spf.qiye.aliyun.com "
               "include:spf.mail.qq.com ~all", at=at),
        Health("dns:dkim:default", FAIL, "DNS TXT default._domainkey.corp.example",
               "differs from what the new provider needs: now nothing",
               "set it back to: v=DKIM1; k=rsa; p=… (the key from the new provider's console)", at=at),
        Health("dns:dmarc", OK, "DNS TXT _dmarc.corp.example", "published as it should be: v=DMARC1; p=none", at=at),
        Health("imap", OK, "New provider's IMAP (imap.qiye.aliyun.com:993 (ssl))",
               "li.na@corp.example logged in and opened INBOX in 182 ms", value=182.0, at=at),
        Health("smtp", UNKNOWN, "New provider's SMTP (smtp.qiye.aliyun.com:465 (ssl))",
               "no new-provider password stored for li.na@corp.example",
               "store the canary's new-provider password", at=at),
        Health("tls:imap", WARN, "TLS certificate of imap.qiye.aliyun.com:993 (ssl)",
               "expires in 12 days, on 2026-12-09 08:00 UTC", "renew it before it expires (or ask the provider)",
               12.0, at=at),
        Health("tls:smtp", OK, "TLS certificate of smtp.qiye.aliyun.com:465 (ssl)",
               "valid until 2027-06-30 23:59 UTC (215 days)", value=215.0, at=at),
        Health("stragglers", WARN, "Mail still arriving at the old provider",
               "3 new messages for 2 users since 2026-12-12 22:00: li.na@corp.example (2), wang.fang@corp.example (1)",
               "copy them across with the copy engine's delta (`mailmig copy PROJECT`); look for senders with stale "
               "DNS and for forwarding rules at the old provider", 3.0, at=at),
        Health("advice:spf", INFO, "SPF still includes the old provider",
               "go-live was on 2026-12-14; the old provider no longer sends for the domain",
               "drop include:spf.mail.qq.com from the SPF record", at=at),
    ]


def latency() -> dict[str, list[float | None]]:
    imap = [170.0, 176.0, 181.0, 169.0, 240.0, 420.0, None, 190.0, 178.0, 175.0, 182.0]
    return {"imap": imap}


def when(now: datetime) -> datetime:
    return now - timedelta(seconds=42)
