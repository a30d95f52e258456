"""``make bless`` (``python -m tests.golden.bless [MODEL/SCENARIO ...]``):
rerun every scenario under every model and rewrite its golden trace.

The only code that writes tests/golden/*; a test never does.  Prints one
line per golden: events kept, form, size, and whether it changed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from emulator.checks.runs import kernel_available, run_config
from emulator.trace import read_events
from tests.golden import golden


def bless_one(model: str, scenario: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace.jsonl")
        r = run_config(model, scenario, trace_path=trace)
        if not os.path.exists(trace):
            raise RuntimeError(f"{model}/{scenario}: no trace (exit {r.status}): "
                               f"{r.stderr.strip().splitlines()[-1:] or ''}")
        events = list(read_events(trace))
    form = "full"
    data = golden.encode(events)
    if len(data) > golden.LIMIT_BYTES:
        form = "filtered"
        data = golden.encode(golden.form_events(events, form))
    dest = golden.path(model, scenario)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    old = open(dest, "rb").read() if os.path.exists(dest) else None
    with open(dest, "wb") as f:
        f.write(data)
    kept = sum(1 for _ in golden.form_events(events, form))
    return {"form": form, "events": kept, "status": r.status,
            "violations": len(r.violations), "changed": old != data, "bytes": len(data)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.golden.bless")
    p.add_argument("only", nargs="*", help="MODEL/SCENARIO pairs (default: all)")
    args = p.parse_args(argv)
    ok, why = kernel_available()
    if not ok:
        print(f"bless: cannot run scenarios: {why}", file=sys.stderr)
        return 1
    index = golden.load_index()
    pairs = golden.matrix()
    if args.only:
        pairs = [tuple(x.split("/", 1)) for x in args.only]
    failed = 0
    for model, scenario in pairs:
        try:
            info = bless_one(model, scenario)
        except Exception as e:      # a kernel that does not build, a machine error
            print(f"bless: {model}/{scenario}: {e}", file=sys.stderr)
            failed += 1
            continue
        index[f"{model}/{scenario}"] = {k: info[k] for k in ("form", "events", "status")}
        print(f"{model + '/' + scenario:<28}{info['events']:>9} events  {info['form']:<9}"
              f"{info['bytes']:>9} bytes  {'changed' if info['changed'] else 'same'}"
              + (f"  ({info['violations']} violations!)" if info["violations"] else ""))
    with open(golden.INDEX, "w", encoding="utf-8") as f:
        json.dump(dict(sorted(index.items())), f, indent=1)
        f.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
