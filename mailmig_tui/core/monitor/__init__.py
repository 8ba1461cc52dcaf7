"""After-care health monitor: scheduled checks of the new setup, with their history kept next to the project.

`run_checks()` runs every check once and returns `Health` results (ok / warn / fail / unknown, each with
what to do); `History` keeps them in SQLite beside the project file so the TUI can draw latency over
time and a cron job can compare runs. A check that could not run is `unknown`, never `ok`.
"""

from mailmig_tui.core.monitor.checks import FAIL, OK, UNKNOWN, WARN, Health, MonitorConfig, parse_monitor_section
from mailmig_tui.core.monitor.history import History, history_path
from mailmig_tui.core.monitor.runner import run_checks

__all__ = ["FAIL", "OK", "UNKNOWN", "WARN", "Health", "History", "MonitorConfig", "history_path",
           "parse_monitor_section", "run_checks"]
