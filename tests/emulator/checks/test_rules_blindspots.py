"""The rules of issue 13 on synthetic event streams: each blind spot fires
(naming the lock, LWP or line) and the correct sequence next to it stays
silent.  The planted bugs that rebuild each one in the kernel are in
tests/golden/test_bugs_caught.py."""

from emulator.checks import Checker, all_rules
from tests.emulator.checks.test_rules import START, E, FakeCtx, acq, rel, rules_of, run, sw


class Ctx(FakeCtx):
    """FakeCtx plus what the new rules ask: a thread's line, its stack, alarms."""

    def __init__(self, lines=None, **kw):
        super().__init__(**kw)
        self.lines = lines or {}
        self.alarms = []

    def thread_line(self, name):
        return self.lines.get(name)

    def thread_backtrace(self, name):
        return [f"stack_of_{name.replace(' ', '_')}+0x1 (test.S:2)"]

    def call_at(self, t, fn):
        self.alarms.append((t, fn))
        return True


def pinned_ithread(t, line=1, lwp="lwp 4", ith="ithread 3"):
    """An interrupt on ``lwp`` that its line's interrupt thread serves, borrowing it."""
    return [E(t, "intr.enter", vector=0x20 + line, line=line), E(t + 1, "pic.hold", line=line),
            E(t + 2, "pic.mask", line=line),
            E(t + 3, "stack.switch", **{"from": lwp, "to": ith, "esp": 0}),
            E(t + 4, "lwp.pin", lwp=lwp, by=ith)]


# 1 hardintr-block: an adaptive mutex in hard interrupt context, uncontended
def test_an_uncontended_adaptive_mutex_in_a_hard_handler_fires_once_naming_lock_and_line():
    hard = [E(10, "intr.enter", vector=0x25, line=5), acq(11, "td_stat"), rel(12, "td_stat"),
            E(13, "intr.exit", vector=0x25, line=5, **{"if": 0})]
    vs = run(START + hard + [e | {"t": e["t"] + 10} for e in hard])
    assert rules_of(vs) == ["hardintr-block"] and len(vs) == 1
    assert vs[0].fields == {"lwp": "lwp 1", "lock": "td_stat", "line": 5}
    assert "takes the adaptive mutex td_stat in hard interrupt context" in vs[0].message


def test_a_spin_mutex_in_a_hard_handler_and_an_adaptive_one_in_a_thread_are_fine():
    vs = run(START + [E(10, "intr.enter", vector=0x25, line=5), acq(11, "td_stat", "spin"),
                      rel(12, "td_stat"), E(13, "intr.exit", vector=0x25, line=5, **{"if": 0}),
                      E(14, "pic.mask", line=5), acq(15, "td_lock"), rel(16, "td_lock")])
    assert vs == []


# 2 sleep-spin-ipl: interrupt threads may block on a mutex, never sleep
def test_a_borrowing_interrupt_thread_that_sleeps_fires_naming_it_and_its_line():
    vs = run(START + pinned_ithread(10) + [E(20, "lwp.sleep", lwp="ithread 3", wchan=0x40, ipl=5)],
             ctx=Ctx(lines={"ithread 3": 1}))
    assert rules_of(vs) == ["sleep-spin-ipl"]
    assert vs[0].fields["lwp"] == "ithread 3" and vs[0].fields["line"] == 1
    assert "while it serves irq 1" in vs[0].message


def test_a_handler_thread_at_ipl_none_sleeping_while_its_line_is_held_fires():
    vs = run(START + [E(5, "pic.hold", line=1), sw(6, "lwp 1", "ithread 3"),
                      E(9, "lwp.sleep", lwp="ithread 3", wchan=0x40, ipl=0)],
             ctx=Ctx(lines={"ithread 3": 1}))
    assert rules_of(vs) == ["sleep-spin-ipl"] and vs[0].fields["line"] == 1


def test_an_interrupt_thread_blocking_on_a_mutex_or_idling_after_done_is_fine():
    ctx = Ctx(lines={"ithread 3": 1})
    vs = run(START + pinned_ithread(10) + [
        E(20, "lock.block", lock="kbd_lock", owner="lwp 4", ipl=5),
        E(21, "ithread.block", ithread="ithread 3", line=1, lock="kbd_lock"),
        E(22, "lwp.unpin", lwp="lwp 4", by="ithread 3"), sw(23, "ithread 3", "lwp 4"),
        rel(30, "kbd_lock"), sw(31, "lwp 4", "ithread 3"),
        E(40, "ithread.done", ithread="ithread 3", line=1),
        E(41, "pic.release", line=1, held=0), E(42, "pic.unmask", line=1),
        E(43, "lwp.sleep", lwp="ithread 3", wchan=0x40, ipl=0)], ctx=ctx)
    assert "sleep-spin-ipl" not in rules_of(vs)


def test_any_thread_that_sleeps_at_raised_ipl_fires_even_an_interrupt_thread():
    vs = run(START + [sw(5, "lwp 1", "softint 2"),
                      E(9, "lwp.sleep", lwp="softint 2", wchan=0x40, ipl=3)])
    assert rules_of(vs) == ["sleep-spin-ipl"] and "raised IPL 3" in vs[0].message


# 5 lock-order with the big lock
def test_a_mutex_and_the_big_lock_in_opposite_orders_close_a_cycle_through_kernel_lock():
    vs = run(START + [acq(5, "kbd_lock"), E(6, "biglock.acquire", depth=1, lwp="lwp 1"),
                      E(7, "biglock.release", depth=0, lwp="lwp 1"), rel(8, "kbd_lock"),
                      sw(9, "lwp 1", "lwp 2"), E(10, "biglock.acquire", depth=1, lwp="lwp 2"),
                      acq(11, "kbd_lock")])
    v = [v for v in vs if v.rule == "lock-order"]
    assert len(v) == 1 and v[0].fields == {"lock": "kbd_lock", "held": "kernel_lock",
                                           "lwp": "lwp 2"}
    assert "kernel_lock -> kbd_lock -> kernel_lock" in v[0].message


def test_the_big_lock_taken_again_and_a_handler_taking_it_over_a_thread_add_no_order():
    vs = run(START + [E(5, "biglock.acquire", depth=1, lwp="lwp 1"), acq(6, "a"),
                      # re-entry of the recursive big lock while holding a: no a -> kernel_lock
                      E(7, "biglock.acquire", depth=2, lwp="lwp 1"),
                      E(8, "biglock.release", depth=1, lwp="lwp 1"), rel(9, "a"),
                      E(10, "biglock.release", depth=0, lwp="lwp 1"),
                      # a hard handler takes it over a thread that holds b: another context
                      acq(11, "b"), E(12, "intr.enter", vector=0x21, line=1),
                      E(13, "biglock.acquire", depth=1, lwp="lwp 1"),
                      E(14, "biglock.release", depth=0, lwp="lwp 1"),
                      E(15, "intr.exit", vector=0x21, line=1, **{"if": 0}), rel(16, "b"),
                      E(17, "biglock.acquire", depth=1, lwp="lwp 1"), acq(18, "b")])
    assert "lock-order" not in rules_of(vs)


# 6 irq-safety for interrupt threads, and at the attempt
def test_a_spin_mutex_an_interrupt_thread_takes_and_a_thread_takes_with_its_line_on_fires():
    ctx = Ctx(lines={"ithread 3": 1})
    vs = run(START + pinned_ithread(10) + [
        acq(20, "kbd_stat", "spin"), rel(21, "kbd_stat"),
        E(22, "lwp.unpin", lwp="lwp 4", by="ithread 3"),
        E(23, "stack.switch", **{"from": "ithread 3", "to": "lwp 4", "esp": 0}),
        E(24, "ithread.done", ithread="ithread 3", line=1),
        E(25, "pic.release", line=1, held=0), E(26, "pic.unmask", line=1),
        acq(30, "kbd_stat", "spin")], ctx=ctx)
    v = [v for v in vs if v.rule == "irq-safety"]
    assert len(v) == 1 and v[0].fields == {"lock": "kbd_stat", "line": 1, "lwp": "lwp 4"}
    assert "in its interrupt thread ithread 3" in v[0].message


def test_an_adaptive_mutex_an_interrupt_thread_takes_is_thread_context():
    ctx = Ctx(lines={"ithread 3": 1})
    vs = run(START + pinned_ithread(10) + [acq(20, "kbd_lock"), rel(21, "kbd_lock"),
                                           E(22, "pic.unmask", line=1), acq(30, "kbd_lock")],
             ctx=ctx)
    assert "irq-safety" not in rules_of(vs)


def test_a_handler_that_only_spins_on_the_lock_its_thread_holds_is_a_use_already():
    vs = run(START + [acq(5, "kbd_stat", "spin"), E(6, "intr.enter", vector=0x21, line=1),
                      E(7, "lock.spin", lock="kbd_stat", kind="spin", owner="lwp 1")])
    assert "irq-safety" in rules_of(vs)


# 8 line-masked: ONESHOT
def test_releasing_a_line_before_its_handler_is_done_fires_the_first_time():
    ctx = Ctx(lines={"ithread 3": 1})
    vs = run(START + [E(5, "pic.hold", line=1), E(6, "pic.mask", line=1),
                      sw(7, "lwp 1", "ithread 3"), E(8, "pic.release", line=1, held=0),
                      E(9, "pic.unmask", line=1),
                      E(10, "lock.block", lock="kbd_lock", owner="lwp 1"),
                      sw(11, "ithread 3", "lwp 1")], ctx=ctx)
    v = [v for v in vs if v.rule == "line-masked"]
    assert [x.fields for x in v] == [{"line": 1, "ithread": "ithread 3"}] * 2
    assert "released by ithread 3 before its handler finished" in v[0].message
    assert "not masked while its handler thread ithread 3 blocks on kbd_lock" in v[1].message


def test_a_threaded_handler_that_blocks_with_its_line_held_and_releases_after_done_is_fine():
    ctx = Ctx(lines={"ithread 3": 1})
    vs = run(START + [E(5, "pic.hold", line=1), E(6, "pic.mask", line=1),
                      sw(7, "lwp 1", "ithread 3"),
                      E(10, "lock.block", lock="kbd_lock", owner="lwp 1"),
                      sw(11, "ithread 3", "lwp 1"), rel(12, "kbd_lock"),
                      sw(13, "lwp 1", "ithread 3"),
                      E(14, "ithread.done", ithread="ithread 3", line=1),
                      E(15, "pic.release", line=1, held=0), E(16, "pic.unmask", line=1)],
             ctx=ctx)
    assert "line-masked" not in rules_of(vs)


# 11 liveness: timed wake-ups are events
def test_a_sleep_that_only_its_timeout_ends_after_an_unheard_wakeup_is_a_lost_wakeup():
    vs = run(START + [E(5, "wchan.wakeup", wchan=0x40, by="lwp 1"),
                      E(9, "lwp.sleep", lwp="lwp 1", wchan=0x40),
                      sw(10, "lwp 1", "idle cpu0"),
                      E(800, "lwp.wakeup", lwp="lwp 1", wchan=0x40, how="timeout")])
    assert rules_of(vs) == ["liveness"] and "only its timeout woke it at t=800" in vs[0].message


def test_an_lwp_its_timeout_made_runnable_that_never_runs_is_starved():
    vs = run(START + [E(9, "lwp.sleep", lwp="lwp 2", wchan=0x40),
                      E(20, "lwp.wakeup", lwp="lwp 2", wchan=0x40, how="timeout"),
                      E(5000, "irq.raise", line=0)], liveness=1000)
    assert rules_of(vs) == ["liveness"] and "lwp 2 is runnable" in vs[0].message


# 13 spinout
def test_a_spin_that_never_ends_is_reported_at_the_alarm_with_lock_owner_and_both_stacks():
    ctx = Ctx()
    ch = Checker(all_rules(spinout=1000), ctx)
    for ev in START + [sw(1, "lwp 1", "lwp 2"), acq(2, "td_stat", "spin", by="lwp 2"),
                       sw(3, "lwp 2", "lwp 1"),
                       E(10, "lock.spin", lock="td_stat", kind="spin", owner="lwp 2",
                         by="lwp 1")]:
        ch(ev)
    assert [t for t, _ in ctx.alarms] == [1011]
    ctx.alarms[0][1]()                      # the machine reaches t=1011
    v = ch.violations
    assert [x.rule for x in v] == ["spinout"] and v[0].t == 1011
    assert v[0].fields["lock"] == "td_stat" and v[0].fields["owner"] == "lwp 2"
    assert "lwp 1 on cpu0 has spun on td_stat for 1001 instructions" in v[0].message
    assert [title for title, _ in v[0].paths] == ["lwp 1 on cpu0", "lwp 2, the owner"]
    assert v[0].paths[1][1] == ["stack_of_lwp_2+0x1 (test.S:2)"]
    assert ch.finish() == v                 # said once


def test_a_spin_that_ends_in_time_is_fine_and_one_too_long_without_alarms_is_said_at_its_end():
    spin = [E(10, "biglock.contend", lwp="lwp 1", owner="ap cpu1", owner_cpu=1)]
    assert run(START + spin + [E(500, "biglock.acquire", depth=1, lwp="lwp 1")],
               spinout=1000) == []
    vs = run(START + spin + [E(2000, "biglock.acquire", depth=1, lwp="lwp 1")], spinout=1000)
    assert rules_of(vs) == ["spinout"] and vs[0].fields["lock"] == "kernel_lock"
    assert "its owner ap cpu1" in vs[0].message


def test_a_hard_handler_that_runs_too_long_fires_but_one_handing_over_to_its_thread_does_not():
    long = [E(10, "intr.enter", vector=0x21, line=1), E(20, "intr.enter", vector=0x20, line=0),
            E(30, "intr.exit", vector=0x20, line=0, **{"if": 0}),
            E(3000, "intr.exit", vector=0x21, line=1, **{"if": 0})]
    vs = run(START + long, spinout=1000)
    assert rules_of(vs) == ["spinout"] and vs[0].fields == {"line": 1, "lwp": "lwp 1"}
    borrowed = [E(10, "intr.enter", vector=0x21, line=1),
                E(12, "stack.switch", **{"from": "lwp 1", "to": "ithread 3", "esp": 0}),
                E(2990, "stack.switch", **{"from": "ithread 3", "to": "lwp 1", "esp": 0}),
                E(3000, "intr.exit", vector=0x21, line=1, **{"if": 0})]
    assert run(START + borrowed, spinout=1000) == []
