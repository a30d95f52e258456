"""The machine's run loop, delivery, clock, injections, reports and API.

Guests are tiny Multiboot programs assembled from text; every run is bounded
by an instruction count.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

import asm
from emulator.machine import Machine, MachineError
from tests import guests

ROOT = Path(__file__).resolve().parents[2]

# stack, 0x40 gates to `handler`, PICs at vectors 0x20/0x28 with every line
# masked but IRQ 0 and 5, then `main`; the handler counts into `count`
PROLOGUE = (guests.start() + guests.idt_gates(0x40) + guests.pic_init(0xde, 0xff)
            + guests.lines("jmp main") + guests.counting_handler()
            + guests.idt_data(0x40, counter=True) + "    .text\n")


def build(body: str) -> bytes:
    return asm.assemble_text(PROLOGUE + body, entry="start").flat()


def machine(body: str, native: bool = True) -> Machine:
    m = Machine.from_bytes(build(body), native=native)
    m.console_bytes = bytearray()
    m.console = m.console_bytes.extend
    return m


SPIN = """
main:
    sti
spin:
    inc ebx
    jmp spin
"""


def test_budget_runs_out_at_exactly_the_given_count():
    m = machine(SPIN)
    r = m.run(max_instructions=12345)
    assert (r.status, r.reason) == (124, "budget")
    assert m.clock.now == 12345


def test_guest_exit_value_is_the_status_and_console_keeps_order():
    m = machine("""
main:
    mov al, 'h'
    out 0xe9, al
    mov dx, 0x3f8
    mov al, 'i'
    out dx, al
    mov al, 7
    out 0xf4, al
    hlt
""")
    r = m.run(max_instructions=100_000)
    assert (r.status, r.reason) == (7, "exit")
    assert bytes(m.console_bytes) == b"hi"


def test_cli_hlt_is_a_deadlock_with_a_report():
    m = machine("main:\n cli\n hlt\n")
    r = m.run(max_instructions=100_000)
    assert (r.status, r.reason) == (126, "deadlock")
    assert "IF=0" in r.report and "eip=" in r.report


def test_fault_without_idt_is_a_triple_fault():
    m = Machine.from_bytes(asm.assemble_text("start:\n ud2\n", entry="start").flat())
    r = m.run(max_instructions=1000)
    assert (r.status, r.reason) == (126, "triple-fault")
    assert "triple fault" in r.report


def test_injection_at_a_time_is_delivered_at_that_boundary():
    m = machine(SPIN)
    m.inject("irq=5,at=5000")
    times = []
    m.on_interrupt.append(lambda cpu, v, kind, eip, err: times.append((m.clock.now, v, kind)))
    m.run(max_instructions=20_000)
    assert times == [(5000, 0x25, "irq")]


def test_periodic_injection_delivers_count_edges():
    m = machine(SPIN)
    m.inject("irq=5,every=1000,from=3000,count=4")
    times = []
    m.on_interrupt.append(lambda cpu, v, kind, eip, err: times.append(m.clock.now))
    m.run(max_instructions=20_000)
    assert times == [3000, 4000, 5000, 6000]
    assert int.from_bytes(m.mem_read(symbol(SPIN, "count"), 4), "little") == 4


def symbol(body: str, name: str) -> int:
    img = asm.assemble_text(PROLOGUE + body, entry="start")
    return [s["value"] for s in img.symfile()["symbols"] if s["name"] == name][0]


def test_pc_injection_is_taken_before_that_instruction():
    body = SPIN
    img = asm.assemble_text(PROLOGUE + body, entry="start")
    spin = [s["value"] for s in img.symfile()["symbols"] if s["name"] == "spin"][0]
    m = Machine.from_bytes(img.flat())
    m.inject(f"irq=5,pc={spin:#x},hit=3")
    seen = []
    m.on_interrupt.append(lambda cpu, v, kind, eip, err: seen.append(eip))
    m.run(max_instructions=5_000)
    assert seen == [spin]


def test_packet_injection_fills_the_test_device():
    m = machine(SPIN)
    m.inject("packet=0x1234,at=100")
    m.run(max_instructions=1000)
    assert m.devices["testdev"].fifo and list(m.devices["testdev"].fifo)[0] == 0x1234


def test_step_retires_exactly_n_instructions():
    m = machine(SPIN)
    m.step(10)
    assert m.clock.now == 10
    m.step(1)
    assert m.clock.now == 11


def test_hlt_lets_time_jump_to_the_next_injection():
    m = machine("main:\n sti\nidle:\n hlt\n jmp idle\n")
    m.inject("irq=5,at=1000000")
    seen = []
    m.on_interrupt.append(lambda cpu, v, kind, eip, err: seen.append(m.clock.now))
    r = m.run(max_instructions=2_000_000)
    assert seen == [1000000]
    assert (r.reason, m.clock.now) == ("budget", 2_000_000)     # halted to the end


def test_snapshot_and_restore_replay_the_same_run():
    m = machine(SPIN)
    m.inject("irq=5,every=700")
    m.run(max_instructions=3000)
    snap = m.snapshot()
    m.run(max_instructions=5000)
    regs = m.cpus[0].registers()
    m.restore(snap)
    assert m.clock.now == 3000
    m.run(max_instructions=5000)
    assert m.cpus[0].registers() == regs


def test_stop_from_an_exec_hook_ends_the_run_as_stopped():
    img = asm.assemble_text(PROLOGUE + SPIN, entry="start")
    spin = [s["value"] for s in img.symfile()["symbols"] if s["name"] == "spin"][0]
    m = Machine.from_bytes(img.flat())
    m.add_exec_hook(spin, lambda mach, cpu: mach.stop())
    r = m.run(max_instructions=100_000)
    assert r.reason == "stopped"
    assert m.cpus[0].eip == spin


class Boom(Exception):
    pass


@pytest.mark.parametrize("native", [True, False])
def test_an_exception_in_an_exec_hook_stops_the_engine_and_the_run_raises_it(native):
    # emulator/hooks.py guards its own hooks as the binding does: the first
    # exception stops the engine there and emu_start raises it
    img = asm.assemble_text(PROLOGUE + SPIN, entry="start")
    spin = [s["value"] for s in img.symfile()["symbols"] if s["name"] == "spin"][0]
    m = Machine.from_bytes(img.flat(), native=native)
    seen = []

    def hook(mach, cpu):
        seen.append(mach.clock.now)
        raise Boom(f"at {mach.clock.now}")
    m.add_exec_hook(spin, hook)
    with pytest.raises(Boom) as e:
        m.run(max_instructions=100_000)
    assert len(seen) == 1 and str(e.value) == f"at {seen[0]}"
    assert m.cpus[0].eip == spin


def test_an_exception_in_a_port_device_is_raised_by_the_run():
    m = machine("""
main:
    mov al, 1
    out 0x80, al
    hlt
""")
    written = []

    class Device:
        def io_write(self, port, size, value):
            written.append((port, value))
            raise Boom("port 0x80")

        def io_read(self, port, size):
            return 0

        def advance(self, now):
            pass
    m._ports[0x80] = Device()
    with pytest.raises(Boom, match="port 0x80"):
        m.run(max_instructions=100_000)
    assert written == [(0x80, 1)]


def test_stop_from_another_thread_ends_the_run():
    m = machine(SPIN)
    t = threading.Timer(0.2, m.stop)
    t.start()
    r = m.run()
    t.join()
    assert r.reason == "stopped"


class Recorder:
    def __init__(self):
        self.events = []

    def emit(self, ev, cpu=0, /, **fields):
        self.events.append((ev, cpu, tuple(sorted(fields.items()))))


def test_native_and_python_block_hooks_give_identical_traces():
    body = """
main:
    mov al, 0x34
    out 0x43, al
    mov al, 0xa9
    out 0x40, al
    mov al, 0x04
    out 0x40, al
    sti
work:
    mov ecx, 5000
inner:
    loop inner
    mov eax, [count]
    add al, '0'
    out 0xe9, al
    cmp dword ptr [count], 8
    jb work
    mov al, 0
    out 0xf4, al
"""
    runs = []
    for native in (True, False):
        m = machine(body, native=native)
        rec = Recorder()
        m.set_trace(rec)
        m.inject("irq=5,every=777")
        r = m.run(max_instructions=3_000_000)
        runs.append((r.status, bytes(m.console_bytes), m.clock.now, rec.events))
    assert runs[0][0] == 0
    assert len(runs[0][3]) > 20
    assert runs[0] == runs[1]


def cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "emulator", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_bad_image_is_status_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a kernel")
    p = cli("run", str(bad))
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "Multiboot" in p.stderr


def test_cli_bad_inject_is_status_2(tmp_path):
    img = tmp_path / "k.bin"
    img.write_bytes(build(SPIN))
    p = cli("run", str(img), "--inject", "irq=99,at=1")
    assert p.returncode == 2 and "irq" in p.stderr and "Traceback" not in p.stderr


def test_cli_budget_is_124_and_crash_is_126(tmp_path):
    img = tmp_path / "k.bin"
    img.write_bytes(build(SPIN))
    assert cli("run", str(img), "--max-instructions", "1000").returncode == 124
    img.write_bytes(build("main:\n cli\n hlt\n"))
    p = cli("run", str(img))
    assert p.returncode == 126 and "deadlock" in p.stderr and "Traceback" not in p.stderr


def test_bad_argument_to_from_bytes_is_a_machine_error():
    with pytest.raises(MachineError):
        Machine.from_bytes(b"\0" * 100)


def test_cli_trace_file_gets_delivery_events(tmp_path):
    img = tmp_path / "k.bin"
    img.write_bytes(build(SPIN))
    trace = tmp_path / "t.jsonl"
    p = cli("run", str(img), "--max-instructions", "20000", "--inject", "irq=5,every=5000",
            "--trace", str(trace))
    assert p.returncode == 124
    lines = [ln for ln in trace.read_text().splitlines() if '"intr.enter"' in ln]
    assert [ln.split(",")[0] for ln in lines] == ['{"t":5000', '{"t":10000', '{"t":15000']


def test_unknown_subcommand_is_status_2():
    p = cli("frobnicate")
    assert p.returncode == 2 and "unknown command" in p.stderr


def test_ctrl_c_stops_a_guest_that_never_leaves_unicorn(tmp_path):
    import signal
    img = tmp_path / "k.bin"
    img.write_bytes(build("main:\n mov al, 'R'\n out 0xe9, al\n cli\nspin2:\n jmp spin2\n"))
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "run", str(img)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(1) == b"R"   # the guest runs (and spins) before the signal
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert b"interrupted" in err and b"Traceback" not in err


def test_write_watch_sees_the_guest_store_with_its_value():
    m = machine(SPIN)
    m.inject("irq=5,at=4000")
    seen = []
    m.add_write_watch(symbol(SPIN, "count"), 4,
                      lambda mach, cpu, addr, size, value: seen.append((addr, size, value)))
    m.run(max_instructions=10_000)
    assert seen == [(symbol(SPIN, "count"), 4, 1)]


def test_exec_hook_sees_the_exact_instruction_count():
    m = machine(SPIN)
    spin = symbol(SPIN, "spin")
    times = []
    m.add_exec_hook(spin, lambda mach, cpu: times.append(mach.clock.now))
    m.run(max_instructions=2_000)
    assert len(times) >= 3
    assert times[1] - times[0] == 2 and times[2] - times[1] == 2     # inc ebx; jmp spin


def test_exec_hook_at_a_block_where_a_deadline_stopped_the_engine_still_runs():
    # regression: a stop at the block hook (before the hook's instruction ran)
    # was mistaken for a resume after the hook had fired, and the hook skipped
    m = machine(SPIN)
    spin = symbol(SPIN, "spin")
    times = []
    m.add_exec_hook(spin, lambda mach, cpu: times.append(mach.clock.now))
    for _ in range(7):
        m.run(max_instructions=1_000)          # even budgets: every stop lands on spin
    assert {b - a for a, b in zip(times, times[1:])} == {2}
    assert times[-1] == 6_998                  # spin at 7000 runs in the next run:
    m.run(max_instructions=1)
    assert times[-1] == 7_000                  # the hook fires there first


def test_exec_hook_fires_again_after_restore_to_an_earlier_time():
    m = machine(SPIN)
    spin = symbol(SPIN, "spin")
    times = []
    snap = m.snapshot()
    m.add_exec_hook(spin, lambda mach, cpu: (times.append(mach.clock.now), mach.stop()))
    m.run(max_instructions=1_000)
    m.restore(snap)
    m.run(max_instructions=1_000)
    assert len(times) == 2 and times[0] == times[1]


def test_snapshot_keeps_the_loop_state_a_restore_would_otherwise_lose():
    m = machine(SPIN)
    m.run(max_instructions=1000)
    cpu = m.cpus[0]
    cpu.pending_exc, cpu.shadow_spent = (13, "exception", 0), True
    snap = m.snapshot()
    cpu.pending_exc, cpu.shadow_spent = None, False
    m.restore(snap)
    assert cpu.pending_exc == (13, "exception", 0)
    assert cpu.shadow_spent is True


def test_restore_keeps_the_devices_and_their_wiring_to_this_machine():
    m = machine(SPIN)
    pic = m.devices["pic"]
    snap = m.snapshot()
    m.run(max_instructions=500)
    m.restore(snap)
    assert m.devices["pic"] is pic
    assert pic.output_changed == m.platform.pic_output


STI_SHADOW = """
main:
    cli
    mov ecx, 50
wait:
    dec ecx
    jnz wait
    sti
after_sti:
    nop
    nop
spin:
    jmp spin
"""


@pytest.mark.parametrize("native", [True, False])
def test_a_restore_right_after_sti_keeps_its_interrupt_shadow(native):
    # SDM 6.8.3 / sti: an interrupt pending when sti sets IF is taken only
    # after the next instruction.  A snapshot taken between the two must
    # replay that, although the restore forgets the decoded blocks that told
    # the live run which instruction came before.
    m = machine(STI_SHADOW, native=native)
    after = symbol(STI_SHADOW, "after_sti")
    stopped = []

    def at_after_sti(mach, cpu):
        if not stopped:
            stopped.append(mach.clock.now)
            mach.raise_irq(5)
            mach.stop()
    m.add_exec_hook(after, at_after_sti)
    taken = []
    m.on_interrupt.append(lambda cpu, vector, kind, eip, err:
                          taken.append((m.clock.now, vector, eip)))
    m.run(max_instructions=10_000)
    assert stopped and not taken
    snap = m.snapshot()
    m.run(max_instructions=stopped[0] + 20)
    live = taken[:1]
    assert live and live[0][1] == 0x25 and live[0][2] == after + 1   # after the nop
    taken.clear()
    m.restore(snap)
    m.run(max_instructions=stopped[0] + 20)
    assert taken[:1] == live


PATCHED = """
main:
    xor ebx, ebx
again:
patch:
    inc ebx
    inc ebx
    jmp again
"""


def test_restore_counts_the_snapshots_code_after_the_code_was_changed():
    # the two 1-byte incs become one 2-byte xchg ax, ax: the block at `again`
    # keeps its size and loses an instruction, so counting it with the
    # rewritten code's decoding would put every later event off
    m = machine(PATCHED)
    main, patch = symbol(PATCHED, "main"), symbol(PATCHED, "patch")
    while m.cpus[0].eip != main:
        m.step(1)
    snap = m.snapshot()                            # the code says inc; inc
    m.run(max_instructions=17)
    first = (m.cpus[0].eip, m.cpus[0].read("ebx"))
    m.mem_write(patch, b"\x66\x90")             # xchg ax, ax
    m.run(max_instructions=30)                     # decoded and run as changed
    m.restore(snap)                                # the RAM says inc; inc again
    m.run(max_instructions=17)
    assert (m.cpus[0].eip, m.cpus[0].read("ebx")) == first
    assert first == (patch + 1, 11)


def test_a_restore_keeps_the_decoded_blocks_of_code_it_does_not_change():
    m = machine(SPIN)
    m.inject("irq=5,every=700")
    m.run(max_instructions=3000)
    snap = m.snapshot()
    m.run(max_instructions=5000)
    after = (m.clock.now, m.cpus[0].read("ebx"))
    decoded = len(m.icount.decoded)
    m.restore(snap)
    assert len(m.icount.decoded) == decoded              # nothing to decode again
    m.run(max_instructions=5000)
    assert (m.clock.now, m.cpus[0].read("ebx")) == after


def test_a_snapshot_with_a_ram_limit_restores_only_the_ram_below_it():
    m = machine(SPIN)
    m.run(max_instructions=100)
    snap = m.snapshot(ram_limit=1 << 20)
    assert len(snap["ram"]) == 1 << 20
    m.mem_write(0x1000, b"low")
    m.mem_write(3 << 20, b"high")
    m.restore(snap)
    assert m.mem_read(0x1000, 3) == bytes(3)       # put back
    assert m.mem_read(3 << 20, 4) == b"high"       # the caller's to keep unchanged


def test_an_exec_hook_with_an_end_runs_before_every_instruction_of_the_range():
    m = machine(SPIN)
    spin = symbol(SPIN, "spin")
    seen = []
    m.add_exec_hook(spin, lambda mm, cpu: seen.append((mm.clock.now, cpu.eip)), end=spin + 2)
    m.run(max_instructions=2000)
    start = seen[0][0]
    assert seen[:4] == [(start, spin), (start + 1, spin + 1), (start + 2, spin), (start + 3, spin + 1)]


def test_calls_due_at_one_time_run_in_seq_order():
    m = machine(SPIN)
    order = []
    m.schedule(500, lambda mm: order.append("first scheduled"))
    m.schedule(500, lambda mm: order.append("given seq 0.5"), seq=0.5)
    m.run(max_instructions=1000)
    assert order == ["given seq 0.5", "first scheduled"]


def test_scheduled_calls_run_by_time_then_seq_then_the_order_they_were_made():
    # Thousands of calls pending at once (the spin-out rule's alarms on a
    # storm): each runs at its time, ties by seq, then in the order of the
    # schedule() calls; one made from a call, due already, runs in that pass.
    m = machine(SPIN)
    order, want = [], []
    for i in range(3000):
        t = 100 + (i * 7919) % 600
        m.schedule(t, lambda mm, i=i: order.append(i))
        want.append((t, i))
    m.schedule(400, lambda mm: order.append("tie, seq 0"), seq=0)
    m.schedule(400, lambda mm: order.append("tie, seq 0, made later"), seq=0)
    m.schedule(300, lambda mm: mm.schedule(mm.clock.now, lambda m2: order.append("from a call")),
               seq=0.5)
    m.run(max_instructions=1000)
    numbers = [x for x in order if isinstance(x, int)]
    assert numbers == [i for _t, i in sorted(want)]
    at_400 = [x for x in order if x in (min(i for t, i in want if t == 400), "tie, seq 0",
                                         "tie, seq 0, made later")]
    assert at_400[:2] == ["tie, seq 0", "tie, seq 0, made later"]
    assert order.index("from a call") < order.index(min(i for t, i in want if t == 301))
