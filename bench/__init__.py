"""Benchmarks (`python -m bench`, `make bench`). Speed is measured here, never in unit tests."""
