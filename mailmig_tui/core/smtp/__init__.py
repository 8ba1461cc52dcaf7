"""The shared SMTP layer: sessions with the project's TLS policy and AUTH (session.py)."""
