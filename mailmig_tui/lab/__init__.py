"""A real-server test lab: Debian's Dovecot as the old and new providers on 127.0.0.1.

Not part of `core`: tests, benchmarks and `mailmig lab` use it; the engines never do.
"""
