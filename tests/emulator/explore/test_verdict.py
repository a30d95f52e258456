"""emulator/explore/verdict.py: findings, the guest's own verdict, merging."""

from __future__ import annotations

from emulator.checks.core import Violation
from emulator.explore.target import Outcome
from emulator.explore.verdict import (GUEST, Finding, Record, from_violation, guest_finding,
                                      merge, render, verdict)


def _violation(rule="liveness", message="m", where="0x00100010 f+0x4", **fields):
    return Violation(rule, message, t=5, fields=fields,
                     paths=[("x blocking", [where, "0x00100200 caller+0x8"])])


def test_a_violation_is_keyed_by_rule_objects_and_its_innermost_frames():
    a = from_violation(_violation(message="at t=1", lwp="lwp 0"))
    b = from_violation(_violation(message="at t=2", lwp="lwp 0"))
    c = from_violation(_violation(lwp="lwp 3"))
    d = from_violation(_violation(lwp="lwp 0", where="0x00100020 g+0x2"))
    assert a.key == b.key                      # messages (times) do not split
    assert a.where == ("0x00100010 f+0x4",)    # the frame the interrupt came from is not kept
    assert len({a.key, c.key, d.key}) == 3


def test_the_guests_fail_line_is_a_finding_and_a_pass_is_none():
    fail = Outcome(status=1, reason="exit", console="hello\nFAIL x: counts differ\n")
    assert guest_finding(fail, 100) == Finding(GUEST, "FAIL x: counts differ", (("status", 1),))
    assert guest_finding(Outcome(status=0, reason="exit"), 100) is None


def test_a_hang_and_a_crash_are_guest_findings_with_their_place():
    hang = guest_finding(Outcome(status=124, reason="budget"), 777)
    assert hang.fields == (("status", 124),) and "t=777" in hang.message
    report = ("irqlab: deadlock: CPU 0 halted with interrupts disabled (IF=0), CPU 0 at t=99; "
              "eip=0x100a <idle+0x2>: hlt; eax=0")
    crash = guest_finding(Outcome(status=126, reason="deadlock", report=report), 777)
    assert crash.message == "deadlock: CPU 0 halted with interrupts disabled (IF=0)"
    assert crash.where == ("0x100a <idle+0x2>",)


def test_merge_counts_branches_and_points_and_keeps_the_first_in_record_order():
    f = Finding("guest", "FAIL", (("status", 1),))
    g = Finding("liveness", "late", (("lwp", "lwp 0"),))
    records = [Record((), []), Record((10,), [f], 3), Record((20,), [g, f, f], 2),
               Record((30,), [], 5)]
    out = merge(records)
    assert [(d.finding.rule, d.hits, d.points, d.first) for d in out] == \
        [("guest", 2, 5, (10,)), ("liveness", 1, 2, (20,))]


def test_the_report_ends_with_the_summary_line_and_says_how_to_reproduce():
    d = merge([Record((42,), [Finding("guest", "FAIL y", (("status", 1),))])])
    text = render(d, points=9, classes=4, branches=4,
                  command=lambda times: "run " + " ".join(f"--inject irq=5,at={t}" for t in times))
    lines = text.splitlines()
    assert lines[-1] == "explore: 9 points, 4 branches, 1 distinct violations"
    assert "  reproduce: run --inject irq=5,at=42" in lines
    assert "interrupt at t=42" in text and "4 classes" in text


def test_verdict_is_the_rules_then_the_guest():
    out = Outcome([_violation()], status=1, reason="exit", console="FAIL z\n")
    assert [f.rule for f in verdict(out, 10)] == ["liveness", GUEST]
