"""The floor launcher for benchmarks/launch.py."""
