"""Fixed sample data that only the tests and scripts/screenshots.py use, kept out of the installed package."""
