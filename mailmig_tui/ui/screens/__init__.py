"""One screen per phase, plus the dashboard."""
