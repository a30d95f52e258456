"""``make bless`` (``python -m tests.golden.bless [MODEL/SCENARIO | cpusN/MODEL/SCENARIO ...]``):
rerun every scenario under every model on 1, 2 and 4 CPUs and rewrite its
golden trace (layout: tests/golden/golden.py).

The only code that writes tests/golden/*; a test never does.  Prints one
line per golden: events kept, form, size, and whether it changed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from guest_kernel.harness import run_config
from emulator.trace import read_events
from tests.golden import golden


def bless_one(model: str, scenario: str, cpus: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace.jsonl")
        r = run_config(model, scenario, trace_path=trace, cpus=cpus,
                       max_instructions=golden.budget(scenario, cpus))
        if not os.path.exists(trace):
            raise RuntimeError(f"{golden.key(model, scenario, cpus)}: no trace (exit {r.status}): "
                               f"{r.stderr.strip().splitlines()[-1:] or ''}")
        events = list(golden.form_events(read_events(trace), "full", golden.symbolizer(model)))
    form = "full"
    data = golden.encode(events)
    if len(data) > golden.LIMIT_BYTES:
        form = "filtered"
        data = golden.encode(golden.form_events(events, form))
    dest = golden.path(model, scenario, cpus)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    old = open(dest, "rb").read() if os.path.exists(dest) else None
    with open(dest, "wb") as f:
        f.write(data)
    kept = sum(1 for _ in golden.form_events(events, form))
    return {"form": form, "events": kept, "status": r.status, "console": r.stdout,
            "violations": len(r.violations), "changed": old != data, "bytes": len(data)}


def _bless_safe(cfg):
    try:
        return bless_one(*cfg)
    except Exception as e:          # reported by main, one line per configuration
        return str(e) or type(e).__name__


def _bless_all(configs, jobs: int):
    """bless_one over ``configs``, in order, ``jobs`` processes at a time
    (the pool shut down before the interpreter exits: left to atexit, its
    wake-up pipe was already closed and Python printed a traceback)."""
    if jobs <= 1:
        yield from (_bless_safe(c) for c in configs)
        return
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(jobs) as pool:
        yield from pool.map(_bless_safe, configs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.golden.bless")
    p.add_argument("-j", "--jobs", type=int, default=1,
                   help="run this many configurations at once (default 1)")
    p.add_argument("only", nargs="*",
                   help="MODEL/SCENARIO (one CPU) or cpusN/MODEL/SCENARIO (default: all)")
    args = p.parse_args(argv)
    index = golden.load_index()
    configs = golden.matrix()
    if args.only:
        try:
            configs = [golden.parse_key(x) for x in args.only]
        except ValueError as e:
            print(f"bless: {e}", file=sys.stderr)
            return 2
    else:
        # a full bless drops goldens of configurations no longer run
        index = {}
    failed = 0
    for (model, scenario, cpus), info in zip(configs, _bless_all(configs, args.jobs)):
        name = golden.key(model, scenario, cpus)
        if isinstance(info, str):   # a kernel that does not build, a machine error
            print(f"bless: {name}: {info}", file=sys.stderr)
            failed += 1
            continue
        index[name] = {k: info[k] for k in ("form", "events", "status", "console")}
        print(f"{name:<34}{info['events']:>9} events  {info['form']:<9}"
              f"{info['bytes']:>9} bytes  {'changed' if info['changed'] else 'same'}"
              + (f"  ({info['violations']} violations!)" if info["violations"] else "")
              + (f"  (exit {info['status']}: the scenario failed!)"
                 if info["status"] not in (0, golden.TRUNCATED) else ""))
    with open(golden.INDEX, "w", encoding="utf-8") as f:
        json.dump(dict(sorted(index.items())), f, indent=1)
        f.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
