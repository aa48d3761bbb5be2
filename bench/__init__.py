"""Benchmarks run by `make bench`: each measures a baseline and ours in the same run."""
