"""The debugger on irqlab's kernel: info threads while an interrupt thread is
blocked, info locks, bt across the borrowed stack, catch switch."""

import io

import pytest

from emulator.debugger import open_debugger
from tests.emulator.debugger.conftest import drive


@pytest.fixture(scope="module")
def kernel_elf(tmp_path_factory):
    from guest_kernel.build import Config, build
    out = tmp_path_factory.mktemp("kernel")
    return str(build(Config("ithread", "shared", "thread", None), out))


def test_info_threads_while_an_interrupt_thread_is_blocked(kernel_elf):
    d = open_debugger(kernel_elf, append="scenario=ithread_block", mem=32,
                      max_run=5_000_000, report=io.StringIO())
    out = drive(d, "b obs_ithread_block\nc\ninfo threads\ninfo locks\nbt\n")
    assert "Breakpoint 1, obs_ithread_block" in out
    threads = out[out.index("LWP "):out.index("MUTEX")]
    ith = next(l for l in threads.splitlines() if "ithread 3" in l and l.startswith("*"))
    assert "blocked" in ith and "lock kbd_lock" in ith and "irq 1" in ith
    holder = next(l for l in threads.splitlines() if "(holder)" in l)
    assert "pinned" in holder and "ithread 3 (kbd)" in holder
    locks = out[out.index("MUTEX"):]
    assert any(l.startswith("kbd_lock") and "lwp 4 (holder)" in l and "ithread 3" in l
               for l in locks.splitlines())
    assert "<irq 1, vector 0x21, from lwp 4>" in out


def test_catch_switch_stops_at_the_next_lwp_switch(kernel_elf):
    d = open_debugger(kernel_elf, append="scenario=ithread_block", mem=32,
                      max_run=5_000_000, report=io.StringIO())
    out = drive(d, "b obs_ithread_block\nc\ncatch switch\nc\ntrace tail 3\nchecks\n")
    assert "Catchpoint 2 (switch ithread 3 -> lwp 4)" in out
    assert "lwp.switch from='ithread 3' to='lwp 4'" in out
    assert "no violations so far" in out
