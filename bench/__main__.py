"""`python3 -m bench`: run every benchmark part, each in its own process, then write docs/benchmarks.md.

    python3 -m bench                 # everything (what `make bench` runs)
    python3 -m bench --only 1,3      # some parts; the others keep their last results
    python3 -m bench --quick         # smaller sizes, a smoke run (the doc says so)
    python3 -m bench --report-only   # re-render the doc from bench/results/*.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from bench.common import DOC, PROJECT_ROOT, RESULTS_DIR, dump_progress, machine_info, write_result

PARTS = {
    "1": "b1_cycle",
    "2": "b2_throughput",
    "3": "b3_discovery",
    "4": "b4_startup",
    "5": "b5_recording",
    "6": "b6_scale",
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma-separated part numbers (1-6)")
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.only.split(",")] if args.only else list(PARTS)
    unknown = [x for x in parts if x not in PARTS]
    if unknown:
        p.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    failures = []
    if not args.report_only:
        info = machine_info()
        t0 = time.monotonic()
        durations = {}
        env = dict(os.environ)
        extra = [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []
        env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT)] + extra)
        for part in parts:
            module = PARTS[part]
            (RESULTS_DIR / f"{module}.json").unlink(missing_ok=True)  # never report a stale figure as new
            dump_progress(f"part {part}: python3 -m bench.{module}")
            started = time.monotonic()
            code = subprocess.run([sys.executable, "-m", f"bench.{module}"] + (["--quick"] if args.quick else []),
                                  cwd=PROJECT_ROOT, env=env).returncode
            durations[module] = time.monotonic() - started
            if code != 0:
                failures.append(f"part {part} ({module}) exited with status {code}")
                dump_progress(failures[-1])
        write_result("run", {"machine": info, "loadavg_end": os.getloadavg(), "parts": parts,
                             "quick": args.quick, "durations": durations, "total_s": time.monotonic() - t0,
                             "failures": failures, "command": "make bench" if not args.only and not args.quick
                             else "python3 -m bench " + " ".join(argv or sys.argv[1:])})
    from bench.report import render
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render())
    dump_progress(f"wrote {DOC.relative_to(PROJECT_ROOT)}")
    for failure in failures:
        print(f"bench: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
