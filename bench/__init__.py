"""pinnace's benchmarks: each command timed side by side with its peers in one run.

Run ``python -m bench.runner --list`` from the repository root; bench/README.md says more.
"""
