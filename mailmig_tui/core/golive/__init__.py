"""Go-live: the switch-off gate (every condition with its evidence), the override that records who went
ahead against a failing gate, the final delta and the rollback plan."""

from mailmig_tui.core.golive.gate import (
    FAIL,
    PASS,
    WARN,
    Condition,
    GateResult,
    check_gate,
    gate_passed,
    record_gate,
)
from mailmig_tui.core.golive.override import mark_done

__all__ = ["FAIL", "PASS", "WARN", "Condition", "GateResult", "check_gate", "gate_passed", "mark_done", "record_gate"]
