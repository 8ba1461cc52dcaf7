"""Staff notices sent by mail, one message per member of staff, with a per-recipient log.

`plan_sending()` says who gets what (merged per user, through which provider's SMTP); `send_notice()`
sends it at a rate within the provider's limits, recording every recipient in a SQLite log beside the
project *before* the message goes out, so a re-run — after a crash or `kill -9` too — never mails anyone
twice: a recipient whose send was interrupted is "uncertain" until their INBOX shows the message.
"""

from mailmig_tui.core.mailout.log import SendLog, sendlog_path
from mailmig_tui.core.mailout.send import (
    MailoutConfig,
    Outcome,
    SendOptions,
    SendPlan,
    SendSummary,
    parse_mailout_section,
    plan_sending,
    send_notice,
)

__all__ = ["MailoutConfig", "Outcome", "SendLog", "SendOptions", "SendPlan", "SendSummary", "parse_mailout_section",
           "plan_sending", "send_notice", "sendlog_path"]
