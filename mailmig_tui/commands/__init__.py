"""Headless commands: one module per engine, each with `register(subparsers)`. See cli.py."""
