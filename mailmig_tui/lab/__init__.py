"""Real-server labs for tests, rehearsals and benchmarks (loopback only)."""
