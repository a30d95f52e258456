"""The rules across CPUs, on synthetic two-CPU streams: what one CPU does
never counts against another's frames, stack or idleness, and the
cross-CPU breakages (a pinned LWP run elsewhere, an LWP halted holding the
big lock, an AP that blocks forever) are caught."""

from emulator.checks import Checker, all_rules
from emulator.checks.core import State
from tests.emulator.checks.test_rules import FakeCtx, E, acq, rel, rules_of, run, sw

# CPU 0 runs lwp 1, CPU 1 is AP 1 running its bound LWP
START = [sw(1, None, "lwp 1"),
         E(2, "stack.switch", 1, **{"from": None, "to": "ap cpu1", "esp": 0x9000}),
         E(3, "cpu.up", 1, apic=1, lwp="ap cpu1")]


class PerCpuCtx(FakeCtx):
    def __init__(self, esp, regions):
        super().__init__(regions=regions)
        self.esps = esp

    def esp(self, cpu):
        return self.esps.get(cpu)


def test_cpu_up_makes_the_aps_lwp_current_and_running_there():
    st = State()
    for ev in START:
        st.update(ev)
    assert st.current == {0: "lwp 1", 1: "ap cpu1"}
    assert st.running["ap cpu1"] == 1
    st.update(E(4, "lock.block", 1, lock="m", by="ap cpu1"))
    assert "ap cpu1" in st.asleep
    st.update(E(5, "lock.wakeup", 1, lock="m", lwp="ap cpu1", by="ap cpu1"))
    assert "ap cpu1" not in st.asleep          # it woke itself


def test_the_same_line_open_on_another_cpu_is_not_nesting():
    vs = run(START + [E(10, "intr.enter", 0, vector=0x25, line=5),
                      E(11, "intr.enter", 1, vector=0x25, line=5),
                      E(12, "intr.exit", 1, vector=0x25, line=5),
                      E(13, "intr.exit", 0, vector=0x25, line=5)])
    assert "intr-nesting" not in rules_of(vs)


def test_the_same_line_nested_on_one_cpu_still_fires_with_two_cpus():
    vs = run(START + [E(10, "intr.enter", 1, vector=0x25, line=5),
                      E(11, "intr.enter", 1, vector=0x25, line=5)])
    v = [v for v in vs if v.rule == "intr-nesting"]
    assert len(v) == 1 and v[0].cpu == 1 and "cpu1" in v[0].message
    assert v[0].fields["lwp"] == "ap cpu1"


def test_a_pinned_lwp_run_on_the_other_cpu_fires_pinned_run():
    vs = run(START + [E(10, "lwp.pin", 0, lwp="lwp 1", by="ithread 7"),
                      sw(11, "lwp 1", "ithread 7"),
                      sw(12, "lwp 2", "lwp 1", cpu=1)])
    v = [v for v in vs if v.rule == "pinned-run"]
    assert len(v) == 1 and v[0].fields["lwp"] == "lwp 1" and v[0].cpu == 1


def test_stack_bounds_reads_each_cpus_own_esp_and_owner():
    regions = {"lwp 1": (0x7000, 0x8000), "ap cpu1": (0x8800, 0x9000)}
    ok = PerCpuCtx({0: 0x7f00, 1: 0x8f00}, regions)
    assert "stack-bounds" not in rules_of(run(START + [acq(10, "m", cpu=0), acq(11, "n", cpu=1)],
                                              ctx=ok))
    bad = PerCpuCtx({0: 0x7f00, 1: 0x8700}, regions)
    vs = run(START + [acq(10, "m", cpu=0), acq(11, "n", cpu=1)], ctx=bad)
    v = [v for v in vs if v.rule == "stack-bounds"]
    assert len(v) == 1 and v[0].cpu == 1 and v[0].fields["owner"] == "ap cpu1"
    assert "overflows by 256 bytes" in v[0].message


IDLE = [sw(1, None, "lwp 1"), E(2, "stack.switch", 1, **{"from": None, "to": "ap cpu1"}),
        E(3, "cpu.up", 1, apic=1, lwp="ap cpu1"),
        E(4, "lwp.sleep", 0, lwp="lwp 1", wchan=0x1234), sw(5, "lwp 1", "idle cpu0")]


def test_every_cpu_idle_with_a_sleeper_fires_liveness_counting_an_ap_that_said_so():
    vs = run(IDLE + [E(6, "cpu.idle", 1), E(200, "cpu.idle", 0)], liveness=100)
    v = [v for v in vs if v.rule == "liveness"]
    assert len(v) == 1 and v[0].fields["lwp"] == "lwp 1"


def test_an_ap_doing_work_after_its_idle_keeps_the_machine_busy():
    vs = run(IDLE + [E(6, "cpu.idle", 1), acq(7, "m", cpu=1), E(200, "cpu.idle", 0)],
             liveness=100)
    assert "liveness" not in rules_of(vs)


def test_an_ap_blocked_by_halting_while_the_bsp_idles_is_a_deadlock():
    vs = run(IDLE + [E(6, "lock.block", 1, lock="m", by="ap cpu1", owner="lwp 1"),
                     E(200, "cpu.idle", 0)], liveness=100)
    v = [v for v in vs if v.rule == "liveness"]
    assert sorted(x.fields["lwp"] for x in v) == ["ap cpu1", "lwp 1"]


def test_an_ap_that_halts_blocked_holding_the_big_lock_fires_biglock_sleep():
    vs = run(START + [E(10, "biglock.acquire", 1, depth=1, lwp="ap cpu1"),
                      E(11, "lock.block", 1, lock="m", by="ap cpu1", owner="lwp 1"),
                      E(50, "lock.wakeup", 1, lock="m", lwp="ap cpu1", by="ap cpu1")])
    v = [v for v in vs if v.rule == "biglock-sleep"]
    assert len(v) == 1 and v[0].fields["lwp"] == "ap cpu1" and v[0].fields["depth"] == 1


def test_an_ap_that_blocks_without_the_big_lock_is_fine():
    vs = run(START + [E(10, "biglock.acquire", 1, depth=1, lwp="ap cpu1"),
                      E(11, "biglock.release", 1, depth=0, lwp="ap cpu1"),
                      E(12, "lock.block", 1, lock="m", by="ap cpu1", owner="lwp 1"),
                      E(50, "lock.wakeup", 1, lock="m", lwp="ap cpu1", by="ap cpu1")])
    assert "biglock-sleep" not in rules_of(vs)


def test_a_lock_taken_on_a_cpu_no_line_reaches_is_not_irq_unsafe():
    hard = [E(10, "intr.enter", 0, vector=0x24, line=4), acq(11, "m", cpu=0, by="lwp 1"),
            rel(12, "m", cpu=0, by="lwp 1"), E(13, "intr.exit", 0, vector=0x24, line=4)]
    vs = run(START + hard + [acq(20, "m", cpu=1, by="ap cpu1"), rel(21, "m", cpu=1,
                                                                      by="ap cpu1")])
    assert "irq-safety" not in rules_of(vs)
    # once line 4 is delivered to CPU 1 too, taking m there with it enabled is unsafe
    vs = run(START + [E(5, "intr.enter", 1, vector=0x24, line=4),
                      E(6, "intr.exit", 1, vector=0x24, line=4)] + hard
             + [acq(20, "m", cpu=1, by="ap cpu1")])
    v = [v for v in vs if v.rule == "irq-safety"]
    assert len(v) == 1 and v[0].fields["lock"] == "m" and v[0].fields["line"] == 4


def test_a_mutex_released_on_another_cpu_by_a_non_owner_fires_mutex_owner():
    vs = run(START + [acq(10, "m", cpu=1, by="ap cpu1"), rel(11, "m", cpu=0, by="lwp 1")])
    v = [v for v in vs if v.rule == "mutex-owner"]
    assert len(v) == 1 and v[0].fields["owner"] == "ap cpu1" and v[0].fields["lwp"] == "lwp 1"


def test_checker_counts_each_rule_once_per_cpu_stream():
    ch = Checker(all_rules(), FakeCtx())
    for ev in START:
        ch(ev)
    assert ch.state.current[1] == "ap cpu1" and ch.violations == []


def _ioapic_line4():
    """Line 4 through the IO APIC (IPL 7), its handler taking m on CPU 0."""
    return [E(4, "pic.unmask", 0, line=4, via="ioapic", vector=0x40 + 7 * 16 + 4, ipl=7),
            E(10, "intr.enter", 0, vector=0xb4, line=4), acq(11, "m", kind="spin", cpu=0,
                                                               by="lwp 1"),
            rel(12, "m", cpu=0, by="lwp 1"), E(13, "intr.exit", 0, vector=0xb4, line=4)]


def test_through_the_io_apic_a_cpu_at_the_lines_ipl_takes_its_lock_safely():
    # the IPL is each CPU's LAPIC TPR, not a mask at the line: at IPL 7 (its
    # cpu.ipl) CPU 0 cannot be interrupted by line 4, whose entry is open
    vs = run(START + _ioapic_line4() + [E(19, "cpu.ipl", 0, ipl=7),
                                        acq(20, "m", kind="spin", cpu=0, by="lwp 1")])
    assert "irq-safety" not in rules_of(vs)


def test_through_the_io_apic_a_cpu_below_the_lines_ipl_taking_its_lock_fires():
    vs = run(START + _ioapic_line4() + [E(19, "cpu.ipl", 0, ipl=5),
                                        acq(20, "m", kind="spin", cpu=0, by="lwp 1")])
    v = [v for v in vs if v.rule == "irq-safety"]
    assert len(v) == 1 and v[0].fields["line"] == 4
