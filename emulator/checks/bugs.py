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

A bug marked ``explore`` (a race the scenario's own injections never hit)
is caught when its run passes with no rule firing and ``explore`` (every
point, its ``line``: emulator/explore) finds the rule; the rule ``guest``
is the scenario's own self-check failing in a branch.
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
    explore: bool = False          # a race only explore finds (the run must pass)
    line: str = "irq=0"            # what explore raises


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
                       cpus=int(_get(e, "cpus", 1) or 1),
                       explore=bool(_get(e, "explore", False)),
                       line=_get(e, "line", "irq=0") or "irq=0"))
    return out


def _explored(b: Bug, r) -> tuple:
    """A race for explore: the scenario's own run must pass with no rule
    firing, and ``python -m guest_kernel explore`` on it must find the rule
    (``guest``: the scenario's self-check failing in a branch)."""
    from emulator.explore import Plan, explore
    from guest_kernel.explore import target_for
    if r.status != 0 or r.rules:
        return r.rules, False, f"  (the run itself: status {r.status}; explore wants it to pass)"
    result = explore(target_for(b.model, b.scenario, b.name, b.line), Plan())
    fired = sorted({d.finding.rule for d in result.distinct})
    first = next((d.first for d in result.distinct if d.finding.rule == b.rule), None)
    where = f", first at t={first[0]}" if first else ""
    return fired, b.rule in fired, (f"  (explore --{b.line.replace('=', ' ')}: run passes; "
                                    f"{result.points} points, {result.branches} branches{where})")


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
        note = ""
        if b.explore:
            fired, hit, note = _explored(b, r)
        else:
            fired = r.rules
            hit = b.rule in fired
            if r.status not in (120,) and not fired:
                note = f"  (exit status {r.status})"
        caught += hit
        print(f"{b.name:<{w}}{b.scenario:<16}{b.model:<10}{b.rule:<17}"
              f"{(', '.join(fired) or '-'):<44}{'yes' if hit else 'NO'}{note}", file=out)
        if verbose or not hit:
            for line in r.stderr.splitlines():
                if line.startswith(("checks:", "  ")):
                    print("    " + line, file=out)
    print(f"check-bugs: {len(bugs)} bugs, {caught} caught", file=out)
    return 0 if caught == len(bugs) and bugs else 1
