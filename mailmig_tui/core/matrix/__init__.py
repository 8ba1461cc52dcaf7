"""The test-user matrix: users as rows, checks as columns, every cell a real test against the real servers.

`checks.py` names the columns, `config.py` reads `[matrix]`, `engine.py` runs cells (in parallel, within
the providers' limits, cancellable, with events), `results.py` keeps every cell in SQLite next to the
project and writes the summary the dashboard shows.
"""
