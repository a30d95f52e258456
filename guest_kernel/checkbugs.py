"""``make check-bugs`` (``python -m guest_kernel bugs``): every broken kernel
is caught by the rule it targets, naming what it should, and the same kernel
without the bug is clean.

Contract
--------
The bugs are guest_kernel/bugs.py's ``BUGS``: each bug's name, the model it
is built with, the scenario that exposes it, its CPU count, the rule that
must catch it, the fields that rule's report must carry (``names``: the
lock, LWP or line) and the other rules it is expected to make fire
(``extras``).  For each bug ``check_bugs`` runs, with checks on and a trace
in ``build_dir``:

- the bug's configuration: the bug is *caught* when its target rule fired
  with a violation whose fields include every one of ``names``;
- its control: the same model, scenario and CPU count without the bug,
  which must show no violation at all (one control run serves every bug
  that shares it);

and prints one line per bug::

    bug              scenario       model     target        named extra rules        control caught
    early_unmask     ithread_block  threaded  line-masked   yes   -                  0       yes

``named`` says whether a target violation carried ``names``; ``extra
rules`` lists every other rule that fired, an unexpected one marked ``*``
and an expected one that did not fire as ``-NAME``; ``control`` is the
control run's violation count.  Then ``check-bugs: N bugs, K caught, C
controls clean``.  A bug counts as caught only when its target fired and
named its objects, its extras are exactly the expected ones and its control
is clean.  Exit status 0 when every bug is caught, 1 otherwise (also when a
run failed).  ``jobs`` spreads the runs over processes (emulator/pool.py);
the output does not depend on it.  A rule may be named by its name
(``lock-order``) or by its number (``5``).

A bug marked ``explore`` is a race the scenario's own injections never hit:
its own run must print PASS with no rule firing, and then ``explore``
(emulator/explore: an interrupt on ``line``, ``irq=N``, ``packet=V`` or ``key=B``, at
every point of that run) must find its target rule, which may be ``guest``
(the scenario's own self-check failing in a branch).  Its row reads the
same, over explore's distinct findings; ``named`` is ``-`` when the table
names nothing for it.

``rules_markdown()`` (``python -m guest_kernel.checkbugs --rules-markdown``,
which ``python -m emulator.checks rules --markdown`` hands over to) is
RULES.md: each rule's paragraph with the planted bugs of this table that
prove it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from emulator.checks import all_rules
from emulator.checks.__main__ import markdown
from emulator.checks.rules import RULE_CLASSES
from guest_kernel.bugs import BUGS
from guest_kernel.harness import run_config

RULE_NAMES = [cls.name for cls in RULE_CLASSES]


@dataclass
class Bug:
    name: str
    scenario: str
    rule: str
    model: str = "ithread"
    cpus: int = 1
    names: dict = field(default_factory=dict)
    extras: tuple = ()
    explore: bool = False          # a race only explore finds (its own run is clean)
    line: str = "irq=0"            # what explore raises: irq=N, packet=V or key=B


def rule_name(rule) -> str:
    """A rule given by name or by its number, as its name."""
    if isinstance(rule, int) or (isinstance(rule, str) and rule.isdigit()):
        n = int(rule)
        if 1 <= n <= len(RULE_NAMES):
            return RULE_NAMES[n - 1]
    return str(rule)


def load_bugs() -> list:
    """guest_kernel/bugs.py's table as ``Bug``s, in its order."""
    return [Bug(name=name, scenario=e.scenario, rule=rule_name(e.rule), model=e.model,
                cpus=e.cpus, names=dict(e.names), extras=tuple(rule_name(r) for r in e.extras),
                explore=bool(getattr(e, "explore", False)), line=getattr(e, "line", "irq=0"))
            for name, e in BUGS.items()]


@dataclass
class Outcome:
    """What one run showed (picklable: it may come back from a worker)."""
    status: int
    passed: bool
    violations: list
    stderr: str
    error: str = ""
    note: str = ""                 # what explore did, for a race

    @property
    def rules(self) -> list:
        return sorted({v["rule"] for v in self.violations})


def _run(_state, item) -> Outcome:
    """One run of the pool: (model, scenario, bug, cpus, trace path)."""
    model, scenario, bug, cpus, trace = item
    try:
        r = run_config(model, scenario, bug=bug, trace_path=trace, cpus=cpus)
    except Exception as e:      # noqa: BLE001 -- the kernel does not build, the machine failed
        return Outcome(0, False, [], "", f"{type(e).__name__}: {e}")
    return Outcome(r.status, f"PASS {scenario}" in r.stdout, r.violations, r.stderr)


def _explored(b: Bug, r: Outcome, jobs: int) -> Outcome:
    """A race: its own run ``r`` must pass with no rule firing; then what
    explore finds on ``b.line``, as an Outcome whose violations are explore's
    distinct findings (the guest's own failure as rule ``guest``)."""
    if r.error or not r.passed or r.violations:
        return Outcome(r.status, False, r.violations, r.stderr, r.error,
                       "the run itself must pass with no rule firing")
    from emulator.explore import Plan, explore  # (lazy: only a race needs explore)
    from guest_kernel.explore import target_for  # (lazy: only a race needs explore; tests replace it)
    result = explore(target_for(b.model, b.scenario, b.name, b.line), Plan(), jobs=jobs)
    found = [{"rule": d.finding.rule, "message": d.finding.message, **dict(d.finding.fields)}
             for d in result.distinct]
    note = (f"explore --{b.line.replace('=', ' ')}: {result.points} points, "
            f"{result.branches} branches")
    return Outcome(r.status, True, found, result.text(), note=note)


def named(bug: Bug, out: Outcome) -> bool:
    """Whether a violation of the target rule carries every expected field."""
    return any(v["rule"] == bug.rule and all(v.get(k) == want for k, want in bug.names.items())
               for v in out.violations)


def extras_text(bug: Bug, out: Outcome) -> tuple:
    """(text, as expected?) for the rules that fired besides the target."""
    fired = [r for r in out.rules if r != bug.rule]
    parts = [r if r in bug.extras else r + "*" for r in fired]
    parts += ["-" + r for r in bug.extras if r not in fired]
    return (", ".join(parts) or "-"), set(fired) == set(bug.extras)


def check_bugs(only=(), build_dir: str = "build/bugs", verbose: bool = False,
               out=None, jobs: int = 1) -> int:
    from emulator.pool import run_ordered  # (lazy: looked up at call time, tests replace it)
    out = out or sys.stdout
    bugs = [b for b in load_bugs() if not only or b.name in only]
    os.makedirs(build_dir, exist_ok=True)
    controls = sorted({(b.model, b.scenario, b.cpus) for b in bugs})
    items = [(b.model, b.scenario, b.name, b.cpus, os.path.join(build_dir, f"{b.name}.jsonl"))
             for b in bugs]
    items += [(m, s, None, c, os.path.join(build_dir, f"control-{m}-{s}-{c}.jsonl"))
              for m, s, c in controls]
    results = list(run_ordered(_run, items, jobs=jobs, desc="check-bugs"))
    for i, b in enumerate(bugs):
        if b.explore:
            results[i] = _explored(b, results[i], jobs)
    control = dict(zip(controls, results[len(bugs):]))
    w = max([18] + [len(b.name) + 2 for b in bugs])
    print(f"{'bug':<{w}}{'scenario':<15}{'model':<10}{'target':<16}{'named':<6}"
          f"{'extra rules':<30}{'control':<8}caught", file=out)
    caught = clean = 0
    for b, r in zip(bugs, results):
        c = control[(b.model, b.scenario, b.cpus)]
        model = b.model + (f"/{b.cpus}" if b.cpus > 1 else "")
        if r.error or c.error:
            print(f"{b.name:<{w}}could not run: {r.error or c.error}", file=out)
            continue
        hit = named(b, r)
        extra, expected = extras_text(b, r)
        nc = len(c.violations)
        clean += nc == 0
        why = [what for what, bad in (("not named", b.rule in r.rules and not hit),
                                      ("target silent", b.rule not in r.rules),
                                      ("extras differ", not expected),
                                      ("control not clean", nc != 0),
                                      ("no PASS", not r.passed)) if bad]
        caught += not why
        verdict = "yes" if not why else "NO (" + ", ".join(why) + ")"
        shown = ("yes" if hit else "NO") if b.names else ("-" if hit else "NO")
        print(f"{b.name:<{w}}{b.scenario:<15}{model:<10}{b.rule:<16}"
              f"{shown:<6}{extra:<30}{nc:<8}{verdict}"
              + (f"  ({r.note})" if r.note else ""), file=out)
        if verbose or why:
            for line in (r.stderr + (c.stderr if nc else "")).splitlines():
                if line.startswith(("checks:", "  ")):
                    print("    " + line, file=out)
    print(f"check-bugs: {len(bugs)} bugs, {caught} caught, {clean} controls clean "
          f"(* = an extra rule the table does not expect)", file=out)
    return 0 if caught == len(bugs) and bugs else 1


def rules_markdown() -> str:
    """RULES.md: every rule with the planted bugs that prove it (the rules
    themselves may not import this table: emulator/checks/__main__.py)."""
    return markdown(all_rules(), load_bugs())


if __name__ == "__main__":      # python -m guest_kernel.checkbugs --rules-markdown
    if sys.argv[1:] != ["--rules-markdown"]:
        sys.exit("usage: python -m guest_kernel.checkbugs --rules-markdown "
                 "(check-bugs itself is python -m guest_kernel bugs)")
    print(rules_markdown(), end="")
