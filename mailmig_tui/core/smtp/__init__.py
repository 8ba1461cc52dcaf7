"""The shared SMTP layer: submission with the project's TLS and login policy, and delivery to an MX on port 25."""
