"""The spinout rule on the real kernel: a hard handler that spins forever on
a spin mutex whose owner cannot run (the deadlock of issue 13's third blind
spot: a spin mutex shared with a thread at too low an IPL).  The owner word
of kbd_stat is set by hand before the run, so the keyboard's top half,
interrupting the holder LWP, finds it taken and spins; the run ends on its
budget.  The report must come at the bound, not at the end of the run, name
the lock, its owner and the spinner, and show both stacks: the spinner's
across the interrupt frame into the code it interrupted, the owner's from
where it was switched out."""

import struct

import pytest

from guest_kernel.harness import kernel_image

LIMIT = 300_000


def spin_forever(owner_slot: int):
    import io

    from emulator.loader import image_symbols
    from emulator.machine import Machine
    from emulator.observe import attach
    from guest_kernel.catalog import injection_specs
    image = kernel_image("classic")
    m = Machine.from_image(image, append="scenario=ithread_block")
    m.symbols = image_symbols(image)
    m.console = lambda data: None
    for spec in injection_specs("ithread_block"):
        m.inject(spec)
    err = io.StringIO()
    s = attach(m, report=err, limits={"spinout": LIMIT})
    sym = s.symbols
    owner = sym.addr("lwp_table") + owner_slot * sym.const("L_SIZE")
    m.mem_write(sym.addr("kbd_stat") + sym.const("MTX_OWNER"), struct.pack("<I", owner))
    result = m.run(3 * LIMIT)
    s.finish()
    return result, s.violations, err.getvalue()


def test_a_handler_spinning_on_a_lock_whose_owner_sleeps_is_reported_at_the_bound():
    result, vs, err = spin_forever(0)           # lwp 0, main: asleep in lwp_wait
    assert result.reason == "budget"
    spins = [v for v in vs if v.rule == "spinout"]
    assert len(spins) == 1, err
    v = spins[0]
    assert v.fields["lock"] == "kbd_stat" and v.fields["owner"] == "lwp 0"
    assert v.fields["lwp"] == "lwp 4"           # the holder the handler interrupted
    assert v.t - LIMIT - 1 < 3 * LIMIT // 2     # at the bound, not at the end
    assert "its owner lwp 0 is not running" in v.message
    (t1, mine), (t2, theirs) = v.paths
    assert t1 == "lwp 4 on cpu0" and t2 == "lwp 0, the owner"
    assert any("kbd_intr" in f for f in mine) and any("ib_holder" in f for f in mine)
    assert any("[irq 1, vector 0x21, interrupted lwp 4]" in f for f in mine)
    assert any("lwp_wait" in f for f in theirs) and any("scen_ithread_block" in f for f in theirs)


def test_a_handler_spinning_on_a_lock_its_interrupted_thread_holds_says_so():
    _result, vs, err = spin_forever(4)          # lwp 4, the holder it interrupts
    v = [v for v in vs if v.rule == "spinout"][0]
    assert v.fields["owner"] == "lwp 4" == v.fields["lwp"]
    assert "is the thread it interrupted" in v.message
    assert len(v.paths) == 1                    # one stack: the handler over its owner's code
