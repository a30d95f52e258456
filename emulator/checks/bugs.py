"""``make check-bugs``: every broken kernel is caught by the rule it targets.

Contract
--------
For each ``--bug`` configuration — listed by guest_kernel/bugs.py (``BUGS``:
a mapping or list giving each bug's name, the scenario that exposes it, the
model it needs and the rule that should catch it), or, while that file is
missing, by ``DEFAULT_BUGS`` below (issue 4's list) — build and run the
scenario with checks on and a trace, and print one line:

    bug                scenario        model     targets          fired                 caught
    lock_order         soak            ithread   lock-order       lock-order            yes

then ``check-bugs: N bugs, K caught``.  Exit status 0 when every bug was
caught by its targeted rule, 1 otherwise (also when a bug could not run).
A rule may be named by its name (``lock-order``) or by its number in issue
5 (``5``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Optional

from emulator.checks.rules import RULE_CLASSES
from emulator.checks.runs import kernel_available, run_config

RULE_NAMES = [cls.name for cls in RULE_CLASSES]


@dataclass
class Bug:
    name: str
    scenario: str
    rule: str
    model: str = "ithread"
    cpus: int = 1


DEFAULT_BUGS = [
    Bug("sleep_in_hardintr", "ithread_block", "hardintr-block", "classic"),
    Bug("spin_then_sleep", "ithread_block", "sleep-spin-ipl", "ithread"),
    Bug("biglock_leak", "biglock", "biglock-sleep", "ithread"),
    Bug("no_unmask", "ithread_block", "line-masked", "ithread"),
    Bug("resume_pinned", "ithread_block", "pinned-run", "ithread"),
    Bug("lock_order", "soak", "lock-order", "ithread"),
    Bug("irq_unsafe", "nested", "irq-safety", "classic"),
    Bug("stack_overflow", "nested", "stack-bounds", "ithread"),
    Bug("lost_wakeup", "ithread_block", "liveness", "ithread"),
]


def rule_name(rule) -> str:
    """A rule given by name or by its issue number, as its name."""
    if isinstance(rule, int) or (isinstance(rule, str) and rule.isdigit()):
        n = int(rule)
        if 1 <= n <= len(RULE_NAMES):
            return RULE_NAMES[n - 1]
    return str(rule)


def _get(entry, key, default=None):
    if isinstance(entry, dict):
        return entry.get(key, default)
    return getattr(entry, key, default)


def load_bugs() -> list:
    try:
        from guest_kernel import bugs as gk_bugs     # the kernel's own list
    except ImportError:
        return list(DEFAULT_BUGS)
    table = getattr(gk_bugs, "BUGS", None)
    if not table:
        return list(DEFAULT_BUGS)
    items = table.items() if isinstance(table, dict) else ((None, e) for e in table)
    out = []
    for name, e in items:
        out.append(Bug(name=name or _get(e, "name"), scenario=_get(e, "scenario"),
                       rule=rule_name(_get(e, "rule")),
                       model=_get(e, "model", "ithread") or "ithread",
                       cpus=int(_get(e, "cpus", 1) or 1)))
    return out


def check_bugs(only=(), build_dir: str = "build/bugs", verbose: bool = False,
               out=None) -> int:
    out = out or sys.stdout
    ok, why = kernel_available()
    if not ok:
        print(f"check-bugs: cannot run: {why}", file=sys.stderr)
        return 1
    bugs = [b for b in load_bugs() if not only or b.name in only]
    os.makedirs(build_dir, exist_ok=True)
    w = max([20] + [len(b.name) + 2 for b in bugs])
    print(f"{'bug':<{w}}{'scenario':<16}{'model':<10}{'targets':<17}{'fired':<44}caught",
          file=out)
    caught = 0
    for b in bugs:
        trace = os.path.join(build_dir, f"{b.name}.jsonl")
        try:
            r = run_config(b.model, b.scenario, bug=b.name, trace_path=trace, cpus=b.cpus)
        except Exception as e:      # the kernel does not build, the machine failed
            print(f"{b.name:<{w}}could not run: {e}", file=out)
            continue
        fired = r.rules
        hit = b.rule in fired
        caught += hit
        note = ""
        if r.status not in (120,) and not fired:
            note = f"  (exit status {r.status})"
        print(f"{b.name:<{w}}{b.scenario:<16}{b.model:<10}{b.rule:<17}"
              f"{(', '.join(fired) or '-'):<44}{'yes' if hit else 'NO'}{note}", file=out)
        if verbose or not hit:
            for line in r.stderr.splitlines():
                if line.startswith(("checks:", "  ")):
                    print("    " + line, file=out)
    print(f"check-bugs: {len(bugs)} bugs, {caught} caught", file=out)
    return 0 if caught == len(bugs) and bugs else 1
