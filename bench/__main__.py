"""`python3 -m bench`: run the benchmark parts, each in a process of its own, then write docs/benchmarks.md.

    python3 -m bench                 # everything (what `make bench` runs)
    python3 -m bench --only 1,3      # some parts; the others keep their last results
    python3 -m bench --quick         # smaller sizes and fewer repetitions (a smoke run; the doc says so)
    python3 -m bench --report-only   # rewrite the doc from bench/results/latest.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback

from bench.common import PROJECT_ROOT, machine_info, progress
from bench.report import PARTS, render

RESULTS = PROJECT_ROOT / "bench" / "results"
DOC = PROJECT_ROOT / "docs" / "benchmarks.md"


def run_part(part: str, quick: bool, out: str) -> int:
    """In the child: one part's figures, rows and tables (or why it failed) as JSON in `out`."""
    try:
        result, code = importlib.import_module(f"bench.{PARTS[part][0]}").run(quick), 0
    except Exception as exc:  # noqa: BLE001 - reported in the doc as "not measured", with the traceback here
        traceback.print_exc()
        result, code = {"failed": f"{type(exc).__name__}: {exc}"[:300]}, 1
    with open(out, "w") as f:
        json.dump(result, f)
    return code


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma-separated part numbers (1-7)")
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--part", help=argparse.SUPPRESS)  # internal: the child process of one part
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.part:
        return run_part(args.part, args.quick, args.out)
    parts = [x.strip() for x in args.only.split(",")] if args.only else list(PARTS)
    if set(parts) - set(PARTS):
        p.error(f"unknown part(s) {sorted(set(parts) - set(PARTS))}; choose from {', '.join(PARTS)}")
    latest = RESULTS / "latest.json"
    results = json.loads(latest.read_text()) if latest.exists() else {"parts": {}}
    failed = []
    if not args.report_only:
        results["run"] = {"machine": machine_info(), "load_start": os.getloadavg(), "quick": args.quick,
                          "command": "make bench" if not argv and not args.only and not args.quick
                          else "python3 -m bench " + " ".join(argv or sys.argv[1:])}
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT)] + [os.environ.get("PYTHONPATH", "")])}
        for part in parts:
            progress(f"part {part}: {PARTS[part][1]}")
            load, t0 = os.getloadavg()[0], time.monotonic()
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                code = subprocess.run([sys.executable, "-m", "bench", "--part", part, "--out", out.name]
                                      + ["--quick"] * args.quick, cwd=PROJECT_ROOT, env=env).returncode
                result = json.loads(out.read() or b'{"failed": "the part\'s process died (see its output)"}')
            if code:
                failed.append(part)
            results["parts"][part] = {**result, "finished_at": time.time(), "duration_s": time.monotonic() - t0,
                                      "load": [load, os.getloadavg()[0]], "quick": args.quick}
        results["parts"] = dict(sorted(results["parts"].items()))
        results["run"].update(finished_at=time.time(), load_end=os.getloadavg())
        latest.write_text(json.dumps(results, indent=1) + "\n")
    previous = json.loads((RESULTS / "previous.json").read_text())
    control = json.loads((RESULTS / "control.json").read_text()) if (RESULTS / "control.json").exists() else {}
    DOC.write_text(render(results, previous, control))
    progress(f"wrote {DOC.relative_to(PROJECT_ROOT)}" + (f"; part(s) {', '.join(failed)} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
