"""The Textual interface: one screen per phase plus the dashboard. Engines come from mailmig_tui.core."""
