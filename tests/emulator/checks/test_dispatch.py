"""The checker hands each rule only the event kinds it declares (``kinds``),
and a rule that declares them really ignores every other kind: filtering is
an optimisation, never a change of verdict."""

from emulator.checks import Checker, all_rules
from emulator.checks.core import Rule
from tests.emulator.checks.test_rules import E, FakeCtx

KINDS_SEEN = ("lwp.switch", "lock.acquire", "lock.release", "lock.block", "lwp.sleep",
              "intr.enter", "intr.exit", "stack.switch", "lwp.pin", "cpu.idle", "pic.mask")


class Recorder(Rule):
    name = "recorder"
    kinds = frozenset({"lock.acquire", "lwp.sleep"})

    def __init__(self):
        self.seen = []

    def on(self, ev, st, ctx):
        self.seen.append(ev["ev"])


def test_a_rule_with_kinds_receives_only_those_kinds():
    rec = Recorder()
    ch = Checker([rec], FakeCtx(), kernel=True)
    for i, kind in enumerate(KINDS_SEEN):
        ch(E(i + 1, kind, lock="m", lwp="lwp 1", line=0, vector=32))
    assert rec.seen == ["lock.acquire", "lwp.sleep"]


def test_every_rule_that_declares_kinds_ignores_all_other_kinds():
    # handed every other kind directly, bypassing the dispatch: no verdict,
    # whatever state the stream has built up
    ch = Checker(all_rules(), FakeCtx(), kernel=True)
    for i, kind in enumerate(KINDS_SEEN):
        ch(E(i + 1, kind, lock="m", lwp="lwp 1", line=0, vector=32))
    for rule in all_rules():
        if rule.kinds is None:
            continue
        for i, kind in enumerate(KINDS_SEEN):
            if kind not in rule.kinds:
                ev = E(100 + i, kind, lock="m", lwp="lwp 1", line=0, vector=32,
                       **{"from": "lwp 1", "to": "lwp 2"})
                assert not rule.on(ev, ch.state, ch.ctx), (rule.name, kind)
