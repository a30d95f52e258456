"""A branch's verdict, and the distinct violations over all branches.

Contract
--------
A branch's verdict is a list of ``Finding``s: every rule violation
(emulator/checks: rule, message, the objects it names, the code locations
of its backtraces), plus one from the **guest** itself when its run did not
end well, as rule ``guest``:

- the guest exited with a status other than 0 (irqlab's scenarios print
  ``FAIL name: reason`` and exit 1 when their own self-check fails — a lost
  count, a wrong sum): the message is that FAIL line;
- it crashed, triple-faulted or deadlocked (the machine's report's first
  clause, and the instruction it stopped at);
- it had not ended ``limit`` instructions in (a hang): status 124.

Two findings are the same violation when rule, objects (``fields``) and
code locations (``where``: the innermost frame of each backtrace, so the
place the interrupt came in from does not make a new one) are equal; the
message and times are the first hit's.

``Record(times, findings, weight)`` is one branch: the injection times (one
for depth 1, two for a pair), its findings, and the points its class has;
records are small and pickle.
``merge(records)`` groups them in record order into ``Distinct``s: the
finding, how many branches hit it and how many points those stand for
(a branch runs one class of points: emulator/explore/points.py), and the
first one's times.
``render(...)`` gives the text report, ``to_json(...)`` the same as a dict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

GUEST = "guest"
_WHAT = re.compile(r"^irqlab: (.*?), CPU \d+ at t=\d+; eip=(\S+(?: <[^>]*>)?)")


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    fields: tuple = ()             # sorted (name, value) pairs: the objects
    where: tuple = ()              # innermost frame of each backtrace

    @property
    def key(self) -> tuple:
        return (self.rule, self.fields, self.where)


@dataclass
class Record:
    times: tuple
    findings: list = field(default_factory=list)
    weight: int = 1                # the points (pairs) its class stands for


@dataclass
class Distinct:
    finding: Finding
    hits: int                      # branches that found it
    points: int                    # the points (pairs) those branches stand for
    first: tuple                   # injection times of the first branch (() = the base run)


def from_violation(v) -> Finding:
    fields = tuple(sorted((k, _plain(val)) for k, val in v.fields.items()
                          if k not in ("rule", "message", "t") and val is not None))
    where = tuple(frames[0] if frames else "" for _title, frames in v.paths)
    return Finding(v.rule, v.message, fields, where)


def _plain(value):
    return value if isinstance(value, (int, str, bool)) else str(value)


def guest_finding(outcome, limit: int) -> Optional[Finding]:
    """The guest's own verdict as a finding (None when it exited 0)."""
    if outcome.reason == "exit":
        if outcome.status == 0:
            return None
        fail = [ln for ln in outcome.console.splitlines() if ln.startswith("FAIL")]
        msg = fail[-1] if fail else f"the guest exited with status {outcome.status}"
        return Finding(GUEST, msg, (("status", outcome.status),))
    if outcome.reason == "budget":
        return Finding(GUEST, f"the guest had not ended at t={limit} (a hang)",
                       (("status", 124),))
    m = _WHAT.match(outcome.report or "")
    what, where = (m.group(1), (m.group(2),)) if m else (outcome.reason, ())
    return Finding(GUEST, what, (("status", outcome.status), ("reason", outcome.reason)), where)


def verdict(outcome, limit: int) -> list:
    found = [from_violation(v) for v in outcome.violations]
    g = guest_finding(outcome, limit)
    return found + ([g] if g is not None else [])


def merge(records) -> list:
    seen: dict = {}
    for rec in records:
        here: set = set()
        for f in rec.findings:
            if f.key in here:                           # once per branch
                continue
            here.add(f.key)
            d = seen.get(f.key)
            if d is None:
                seen[f.key] = Distinct(f, 1, rec.weight, tuple(rec.times))
            else:
                d.hits += 1
                d.points += rec.weight
    return list(seen.values())


def _fields_text(f: Finding) -> str:
    return " ".join(f"{k}={v}" for k, v in f.fields)


def render(distinct, points: int, classes: int, branches: int, command) -> str:
    """The report: each distinct violation, then the last line."""
    out = []
    for i, d in enumerate(distinct, 1):
        f = d.finding
        out.append(f"violation {i}: {f.rule}: {f.message}")
        if f.fields:
            out.append(f"  objects: {_fields_text(f)}")
        for w in f.where:
            if w:
                out.append(f"  at: {w}")
        if d.first:
            when = " and ".join(f"t={t}" for t in d.first)
            out.append(f"  hit by {d.points} point{'s' if d.points != 1 else ''} "
                       f"({d.hits} branch{'es' if d.hits != 1 else ''}); first: interrupt at {when}")
        else:
            out.append("  in the base run itself (no interrupt added)")
        out.append(f"  reproduce: {command(d.first)}")
    if classes != points:
        out.append(f"explore: the points fall in {classes} classes (same instruction, "
                   f"no event between), one branch each")
    out.append(f"explore: {points} points, {branches} branches, {len(distinct)} distinct violations")
    return "\n".join(out) + "\n"


def to_json(distinct, points: int, branches: int, command, about: dict) -> dict:
    return {**about, "points": points, "branches": branches,
            "violations": [{"rule": d.finding.rule, "message": d.finding.message,
                            "objects": dict(d.finding.fields), "where": list(d.finding.where),
                            "branches": d.hits, "points": d.points, "first": list(d.first),
                            "reproduce": command(d.first)} for d in distinct]}
