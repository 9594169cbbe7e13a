"""Benchmarks of the distributor: overhead, throughput against the wallet, scale, start-up, recording.

Plain scripts, not tests: the test suite never times anything.  Run them all
with ``make bench`` (or ``python3 -m bench``); each part writes its figures to
``bench/results/<part>.json`` and ``bench/report.py`` turns them into
``docs/benchmarks.md``.  One part alone: ``python3 -m bench --only 3``.
"""
