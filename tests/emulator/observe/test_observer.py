"""The observer on real code, with a stand-in machine (fakemachine.py):
interrupt entry and exit, stack switches named by owner, and a session that
writes the trace and runs the checkers."""

import io

from emulator.observe.context import MachineContext
from emulator.observe.observer import Observer
from emulator.observe.scan import scan_code
from emulator.observe.stacks import StackMap
from emulator.observe.symbols import Symbols
from emulator.observe.view import MachineView
from emulator.trace import Fanout, TraceSink
from tests.emulator.observe.fakemachine import BASE, FakeMachine

# Two stacks, a switch between them, a handler that returns with iret.
PROGRAM = """
start:
    mov esp, 0x9000
    nop
    mov eax, 0x7000
    mov esp, eax
    nop
    nop
handler:
    push eax
    pop eax
    iretd
after:
    nop
"""


def observe(machine, regions):
    view = MachineView(machine)
    syms = Symbols(machine.symbols)
    stacks = StackMap(syms)
    for lo, hi, name in regions:
        stacks.add(lo, hi, name)
    cm = scan_code(machine.code, BASE)
    events = []
    sink = TraceSink(machine.clock, Fanout([events.append]))
    obs = Observer(view, sink, syms, stacks, cm)
    obs.install()
    obs.start()
    return obs, events, MachineContext(view, syms, stacks, cm)


def test_esp_loads_become_stack_switches_named_by_owner():
    m = FakeMachine(PROGRAM)
    obs, events, _ = observe(m, [(0x8000, 0x9000, "boot"), (0x6000, 0x7000, "lwp 1")])
    m.step(5)
    sw = [(e["from"], e["to"], e["t"]) for e in events if e["ev"] == "stack.switch"]
    assert sw == [(None, "boot", 1), ("boot", "lwp 1", 4)]


def test_interrupt_entry_and_iret_give_enter_and_exit_with_the_frame_on_its_stack():
    m = FakeMachine(PROGRAM, handlers={0x25: BASE + 0xf})
    obs, events, _ = observe(m, [(0x8000, 0x9000, "boot"), (0x6000, 0x7000, "lwp 1")])
    m.step(5)                 # on lwp 1's stack, EIP at the first nop after the switch
    m.interrupt(0x25)
    m.step(3)                 # push, pop, iretd
    ent = [e for e in events if e["ev"] == "intr.enter"]
    ex = [e for e in events if e["ev"] == "intr.exit"]
    assert ent[0]["vector"] == 0x25 and ent[0]["owner"] == "lwp 1"
    assert ex[0]["vector"] == 0x25 and ex[0]["owner"] == "lwp 1"
    assert ex[0]["if"] == 0
    assert ex[0]["t"] == ent[0]["t"] + 2


def test_an_iret_with_no_frame_open_on_its_stack_emits_nothing():
    m = FakeMachine("mov esp, 0x9000\nsub esp, 12\niretd\n")
    obs, events, _ = observe(m, [(0x8000, 0x9000, "boot")])
    m.uc.mem_write(0x9000 - 12, (BASE + 9).to_bytes(4, "little") + bytes(8))
    m.step(3)
    assert [e["ev"] for e in events] == ["stack.switch"]


def test_an_esp_in_no_known_stack_is_named_question_mark():
    m = FakeMachine("mov esp, 0x5000\nnop\nnop\n")
    obs, events, _ = observe(m, [(0x8000, 0x9000, "boot")])
    m.step(2)
    assert events[-1]["to"] == "?" and events[-1]["esp"] == 0x5000


CALLS = """
start:
    mov esp, 0x9000
    call f
    nop
f:
    call g
    ret
g:
    nop
    ret
"""


def test_a_backtrace_finds_return_addresses_on_the_stack_and_symbolises_them():
    syms = {"start": BASE, "f": BASE + 11, "g": BASE + 17}
    m = FakeMachine(CALLS, symbols=syms)
    obs, events, ctx = observe(m, [(0x8000, 0x9000, "boot")])
    m.step(3)                 # mov, call f, call g: now at g
    bt = ctx.backtrace(0)
    assert bt[0].startswith("0x00100011 g")
    assert "f+0x5" in bt[1]           # return into f after call g
    assert "start+0xa" in bt[2]       # return into start after call f
    assert ctx.interrupts_enabled(0) is False
    assert ctx.stack_region("boot") == (0x8000, 0x9000)


def test_a_session_on_a_plain_program_traces_and_switches_the_kernel_rules_off(tmp_path):
    from emulator.observe import attach
    from emulator.trace import read_events
    m = FakeMachine(PROGRAM, handlers={0x25: BASE + 0xf})
    err = io.StringIO()
    path = tmp_path / "t.jsonl"
    s = attach(m, trace_path=path, report=err)
    m.step(5)
    m.interrupt(0x25)
    m.step(3)
    assert s.finish() == (0, "checks: 1 of 13 rules on, 0 violations")
    assert s.exit_status(3) == 3
    assert err.getvalue().count("rules off") == 1
    evs = list(read_events(path))
    off = [e for e in evs if e["ev"] == "check.off"]
    assert [e["rule"] for e in off] == [r.name for r in s.checker.rules
                                        if r.name != "intr-nesting"]
    assert all(e["t"] == 0 and ("no kernel symbols" in e["reason"] or "no stacks" in e["reason"])
               for e in off)
    kinds = [e["ev"] for e in evs[len(off):]]
    assert kinds == ["intr.enter", "intr.exit"]     # no symbols: stacks unnamed


def test_a_session_can_run_without_checks_or_trace():
    from emulator.observe import attach
    m = FakeMachine(PROGRAM)
    s = attach(m, checks=False, report=io.StringIO())
    m.step(5)
    assert s.finish() == (0, "checks: off")
    assert [e["ev"] for e in s.events.tail()] == []


def test_a_vector_maps_to_its_pic_line_through_the_programmed_bases():
    from emulator.devices.i8259 import PicPair
    m = FakeMachine("nop\n")
    pic = PicPair()
    pic.master.irq_base, pic.slave.irq_base = 0x20, 0x28
    m.devices = [pic]
    v = MachineView(m)
    assert v.line_of_vector(0x25) == 5
    assert v.line_of_vector(0x2C) == 12
    assert v.line_of_vector(0x0D) is None
