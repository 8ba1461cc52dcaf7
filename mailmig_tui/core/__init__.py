"""Domain model and engines. Nothing here imports textual or rich (tests/test_architecture.py checks)."""
