"""The checker's short cuts (issue 17) change no verdict.

The checker hands a rule only the kinds it declares, a rule returns at once
where it tracks nothing (biglock-sleep with no CPU armed, line-masked with
no line done, spinout with no spin going on), lock-order looks only at
held/lock pairs it has not seen, irq-safety only at lines not yet recorded
for a lock, and stack-bounds no more at an owner it already reported.  The
differential test runs random streams through the checker as it is and
through one with those short cuts switched off (every rule handed every
event, the gates open), and the violations must be the same; the others
pin each cut's edge: the case just past what it skips is still caught."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from emulator.checks import Checker, all_rules
from emulator.checks.rules.interrupts import MaskedWhileHandlerBlocked
from emulator.checks.rules.locks import BigLockAcrossSleep, LockOrder
from emulator.checks.rules.spinout import Spinout
from emulator.checks.rules.threads import Liveness
from tests.emulator.checks.test_rules import START, E, FakeCtx, acq, rel, rules_of, run, sw

# the rules that declared their kinds with the short cuts (the others' kinds
# were there before, and their ``on`` may assume them: these streams put
# every field in every event)
KINDS_ADDED = ("mutex-owner", "ithread-unpin", "intr-nesting")
LWPS = ("lwp 1", "lwp 2", "ithread 3", "idle cpu0", "ap cpu1")
LOCKS = ("a", "b", "c")


class Ctx(FakeCtx):
    """FakeCtx plus a thread's line, alarms and a red zone that is clean."""

    def __init__(self, **kw):
        super().__init__(esp=0x1800, regions={n: (0x1000, 0x2000) for n in LWPS}, **kw)
        self.alarms = []

    def thread_line(self, name):
        return 1 if name == "ithread 3" else None

    def thread_backtrace(self, name):
        return [f"stack_of_{name}"]

    def guard_dirty(self, owner):
        return None

    def call_at(self, t, fn):
        self.alarms.append((t, fn))
        return True


def _event(draw, t):
    kind = draw(hs.sampled_from((
        "lock.acquire", "lock.release", "lock.contend", "lock.spin", "lock.block",
        "lwp.sleep", "lwp.wakeup", "lock.wakeup", "wchan.wakeup", "lwp.switch",
        "stack.switch", "intr.enter", "intr.exit", "lwp.pin", "lwp.unpin", "ithread.block",
        "ithread.done", "pic.hold", "pic.release", "pic.mask", "pic.unmask", "cpu.ipl",
        "biglock.acquire", "biglock.release", "biglock.contend", "cpu.idle", "irq.raise")))
    who = draw(hs.sampled_from(LWPS))
    other = draw(hs.sampled_from(LWPS))
    line = draw(hs.sampled_from((0, 1, 5)))
    fields = {"lock": draw(hs.sampled_from(LOCKS)), "kind": draw(hs.sampled_from(("adaptive", "spin"))),
              "by": who, "lwp": who, "ithread": who, "line": line, "vector": 0x20 + line,
              "from": other, "to": who, "esp": 0x1800, "depth": draw(hs.integers(0, 2)),
              "wchan": 0x40, "ipl": draw(hs.sampled_from((0, 6))), "held": draw(hs.booleans()),
              "if": 0}
    if kind == "biglock.release":
        fields["saved"] = draw(hs.integers(0, 2))
    return E(t, kind, draw(hs.sampled_from((0, 0, 1))), **fields)


@hs.composite
def streams(draw):
    t, out = 0, list(START)
    for _ in range(draw(hs.integers(5, 60))):
        t += draw(hs.sampled_from((1, 3, 400, 3000)))
        out.append(_event(draw, t))
    return out


def _verdicts(events, open_gates: bool) -> list:
    with pytest.MonkeyPatch.context() as mp:
        if open_gates:
            every = frozenset(e["ev"] for e in events)
            mp.setattr(BigLockAcrossSleep, "STEPS", every)
            mp.setattr(MaskedWhileHandlerBlocked, "STEPS", every)
            mp.setattr(Spinout, "ENDS", frozenset())
            mp.setattr(LockOrder, "_novel", lambda self, *a: True)
            full_on = Liveness.on

            def every_entry(self, ev, st, ctx):
                st.runnable_floor = -(1 << 62)      # the floor says nothing: look every time
                return full_on(self, ev, st, ctx)
            mp.setattr(Liveness, "on", every_entry)
        rules = all_rules(liveness=2000, masked=2000, spinout=2000)
        for r in rules if open_gates else ():
            if r.name in KINDS_ADDED:
                r.kinds = None          # handed every event, as before they declared kinds
        ch = Checker(rules, Ctx())
        for ev in events:
            ch(ev)
        ch.finish()
    return [(v.rule, v.t, v.cpu, v.message, sorted(v.fields.items(), key=str))
            for v in ch.violations]


@settings(max_examples=60, deadline=None)
@given(streams())
def test_the_short_cuts_give_the_verdicts_of_the_full_evaluation(events):
    assert _verdicts(events, False) == _verdicts(events, True)


def test_liveness_past_its_floor_reports_the_lwp_just_over_the_limit_only():
    # lwp 1 runnable from t=10, lwp 2 from t=60 (limit 100): at t=111 the
    # floor is 10 and lwp 1 is over; at t=160 lwp 2 is not yet, at t=161 it is
    vs = run(START + [sw(10, "lwp 1", "lwp 3"), sw(60, "lwp 2", "lwp 3"),
                      E(110, "irq.raise", line=0), E(111, "irq.raise", line=0),
                      E(160, "irq.raise", line=0), E(161, "irq.raise", line=0)], liveness=100)
    assert [(v.t, v.fields["lwp"]) for v in vs] == [(111, "lwp 1"), (161, "lwp 2")]


def test_an_lwp_made_runnable_earlier_than_the_floor_lowers_it():
    # the floor rises to lwp 2's t=600 at t=750; an event dated t=520 (before
    # the floor) makes lwp 1 runnable and lowers it, so at t=660 lwp 1 is
    # found starved (with the floor left at 600, 660 looked too early)
    ch = Checker(all_rules(liveness=100), FakeCtx())
    for ev in START + [sw(600, "lwp 2", "lwp 3"), E(750, "irq.raise", line=0)]:
        ch(ev)
    assert ch.state.runnable_floor == 600
    assert [v.fields["lwp"] for v in ch.violations] == ["lwp 2"]
    ch(sw(520, "lwp 1", "lwp 3"))
    assert ch.state.runnable_floor == 520
    ch(E(660, "irq.raise", line=0))
    assert [(v.t, v.fields["lwp"]) for v in ch.violations] == [(750, "lwp 2"), (660, "lwp 1")]


def test_a_new_pair_in_a_held_set_whose_other_pairs_are_known_still_closes_a_cycle():
    # lwp 1 holds a and b and takes c: a -> c is known, b -> c is new
    vs = run(START + [acq(1, "a", by="lwp 1"), acq(2, "c", by="lwp 1"), rel(3, "c", by="lwp 1"),
                      acq(4, "b", by="lwp 1"), acq(5, "c", by="lwp 1"), rel(6, "c", by="lwp 1"),
                      rel(7, "b", by="lwp 1"), rel(8, "a", by="lwp 1"),
                      acq(9, "c", by="lwp 1"), acq(10, "b", by="lwp 1")])
    assert rules_of(vs) == ["lock-order"]
    assert "lock order cycle c -> b -> c" in vs[0].message


def test_taking_locks_again_in_a_known_order_adds_no_edge():
    ch = Checker(all_rules(), FakeCtx())
    for i in range(3):
        for ev in (acq(10 * i + 1, "a", by="lwp 1"), acq(10 * i + 2, "b", by="lwp 1"),
                   rel(10 * i + 3, "b", by="lwp 1"), rel(10 * i + 4, "a", by="lwp 1")):
            ch(ev)
    order = next(r for r in ch.rules if r.name == "lock-order")
    assert list(order.edges) == [("a", "b")] and order.edges[("a", "b")][0] == 2


def test_a_lock_seen_with_every_unmasked_line_still_counts_a_line_unmasked_later():
    # lwp 1 takes m with line 1 masked (every other line recorded), then with
    # line 1 unmasked; the irq 1 handler takes m: that pairing is the second use
    vs = run(START + [E(1, "pic.mask", line=1), acq(2, "m", by="lwp 1"), rel(3, "m", by="lwp 1"),
                      acq(4, "m", by="lwp 1"), rel(5, "m", by="lwp 1"),
                      E(6, "pic.unmask", line=1), acq(7, "m", by="lwp 1"), rel(8, "m", by="lwp 1"),
                      E(9, "intr.enter", vector=0x21, line=1), acq(10, "m", kind="spin"),
                      rel(11, "m"), E(12, "intr.exit", vector=0x21, line=1, **{"if": 0})])
    v = [v for v in vs if v.rule == "irq-safety"]
    assert len(v) == 1 and v[0].fields["line"] == 1
    assert "with irq 1 enabled at t=7" in v[0].paths[1][0]


class CountingCtx(FakeCtx):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.esp_reads = 0

    def esp(self, cpu):
        self.esp_reads += 1
        return super().esp(cpu)


def test_an_owner_reported_once_is_not_looked_at_again_and_another_still_is():
    regions = {"lwp 1": (0x1000, 0x2000), "lwp 2": (0x3000, 0x4000)}
    ctx = CountingCtx(esp=0x2F00, regions=regions)      # below lwp 2's, above lwp 1's
    ch = Checker(all_rules(), ctx)
    ch(E(0, "stack.switch", **{"from": "boot", "to": "lwp 1", "esp": 0x1800}))
    ch(acq(1, "m", by="lwp 1"))
    reads = ctx.esp_reads
    for t in range(2, 6):
        ch(rel(t, "m", by="lwp 1") if t % 2 == 0 else acq(t, "m", by="lwp 1"))
    assert ctx.esp_reads == reads           # lwp 1 was reported at t=1: no more reads
    ch(E(6, "stack.switch", **{"from": "lwp 1", "to": "lwp 2", "esp": 0x3800}))
    ch(acq(7, "n", by="lwp 2"))
    owners = [v.fields["owner"] for v in ch.violations if v.rule == "stack-bounds"]
    assert owners == ["lwp 1", "lwp 2"]


def test_a_restored_checker_dispatches_to_the_rules_state_it_restored():
    # an edge learnt after the snapshot is gone once restored: the opposite
    # order taken then is no cycle, as in a run that never took the first
    ch = Checker(all_rules(), FakeCtx())
    for ev in START:
        ch(ev)
    saved = ch.save_state()
    for ev in (acq(1, "a", by="lwp 1"), acq(2, "b", by="lwp 1"), rel(3, "b", by="lwp 1"),
               rel(4, "a", by="lwp 1")):
        ch(ev)
    ch.restore_state(saved)
    for ev in (acq(5, "b", by="lwp 1"), acq(6, "a", by="lwp 1")):
        ch(ev)
    assert ch.violations == []
    order = next(r for r in ch.rules if r.name == "lock-order")
    assert list(order.edges) == [("b", "a")]
