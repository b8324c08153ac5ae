"""Benchmarks of the gateway: ``python -m bench`` (``make bench``); see BENCHMARKS.md."""
