"""Real-server labs on loopback for tests, rehearsals and benchmarks: Dovecot (IMAP) and NSD/Unbound (DNS).

Not part of `core`: tests, benchmarks and `mailmig lab` use them; the engines never do.
"""
