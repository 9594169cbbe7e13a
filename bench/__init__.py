"""Benchmarks of the distributor: cycle overhead, throughput against the wallet, scale, start-up, recording.

Plain timing, not tests (the test suite never times anything): `make bench` or
`python3 -m bench` runs each part (bench/<part>.py, a `run(quick)` that returns
its figures, headline rows and tables) in a process of its own, keeps the
results in bench/results/latest.json and writes docs/benchmarks.md from them.
"""
