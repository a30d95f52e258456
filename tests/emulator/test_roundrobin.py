"""emulator/roundrobin.py: deterministic turns of 1..N CPUs."""

import pytest

from emulator.roundrobin import ALONE, CpuState, RoundRobin, Slice


def drain(rr, now=0, deadline=None, turns=6):
    """Run every slice to its end; the sequence of (cpu, count)."""
    out = []
    for _ in range(turns):
        s = rr.next_slice(now, deadline)
        out.append((s.cpu, s.count))
        if s.cpu is not None:
            rr.retired(s.count)
            now += s.count
    return out


def test_cpus_take_turns_in_index_order_one_quantum_each():
    rr = RoundRobin(3, quantum=100)
    rr.start(1)
    rr.start(2)
    assert drain(rr) == [(0, 100), (1, 100), (2, 100), (0, 100), (1, 100), (2, 100)]


def test_aps_wait_for_their_startup_ipi_and_the_bsp_runs_alone():
    rr = RoundRobin(3, quantum=50)
    assert rr.state == [CpuState.RUNNING, CpuState.WAIT_SIPI, CpuState.WAIT_SIPI]
    assert drain(rr, turns=3) == [(0, 50), (0, 50), (0, 50)]


def test_a_turn_cut_short_by_a_deadline_resumes_with_the_rest_of_its_quantum():
    rr = RoundRobin(2, quantum=100)
    rr.start(1)
    s = rr.next_slice(now=0, deadline=30)
    assert s == Slice(0, 30)
    rr.retired(30)
    assert rr.next_slice(now=30, deadline=None) == Slice(0, 70)
    rr.retired(70)
    assert rr.next_slice(now=100, deadline=None) == Slice(1, 100)


def test_a_halted_cpu_ends_its_turn_and_is_skipped_until_woken():
    rr = RoundRobin(3, quantum=10)
    rr.start(1)
    rr.start(2)
    assert rr.next_slice(0, None) == Slice(0, 10)
    rr.retired(4)
    rr.halt(0)
    assert drain(rr, now=4, turns=4) == [(1, 10), (2, 10), (1, 10), (2, 10)]
    rr.wake(0)
    assert drain(rr, turns=3) == [(0, 10), (1, 10), (2, 10)]


def test_with_every_cpu_halted_time_jumps_to_the_next_deadline():
    rr = RoundRobin(2, quantum=10)
    rr.halt(0)
    assert rr.next_slice(5, 1234) == Slice(None, until=1234)
    assert rr.next_slice(5, None) == Slice(None, until=None)
    rr.wake(0)
    assert rr.next_slice(1234, None) == Slice(0, 10)


def test_wake_does_not_start_an_ap_waiting_for_sipi():
    rr = RoundRobin(2)
    rr.wake(1)
    assert rr.state[1] is CpuState.WAIT_SIPI
    rr.start(1)
    assert rr.runnable(1)


def test_quantum_must_be_positive():
    with pytest.raises(ValueError):
        RoundRobin(2, quantum=0)


def test_the_same_events_give_the_same_schedule():
    def schedule():
        rr = RoundRobin(4, quantum=7)
        for i in (1, 2, 3):
            rr.start(i)
        seq, now = [], 0
        for step in range(40):
            s = rr.next_slice(now, 1000 if step < 20 else None)
            seq.append((s.cpu, s.count))
            n = min(s.count, 3 + step % 5)
            rr.retired(n)
            now += n
            if step == 9:
                rr.halt(2)
            if step == 25:
                rr.wake(2)
        return seq
    assert schedule() == schedule()


def test_a_lone_cpus_turn_never_ends_so_only_events_cut_its_run():
    rr = RoundRobin(1)
    assert rr.quantum == ALONE
    assert rr.next_slice(0, None) == Slice(0, ALONE)
    rr.retired(5_000)
    assert rr.next_slice(5_000, 5_100) == Slice(0, 100)     # the deadline cuts it
    assert rr.turns == 0


def test_a_lone_halted_cpu_lets_time_jump_and_takes_a_fresh_turn_when_woken():
    rr = RoundRobin(1)
    rr.halt(0)
    assert rr.next_slice(0, 700) == Slice(None, until=700)
    rr.wake(0)
    assert rr.next_slice(700, None) == Slice(0, ALONE)
