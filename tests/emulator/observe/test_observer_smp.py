"""The observer on two CPUs: each CPU's events carry its index, "cur" and
the stacks are each CPU's own (per-CPU data at ``cpu0 + N * C_SIZE``), an
AP's first ESP load puts it on its LWP's stack, interrupt frames never
cross CPUs, a contended mutex says whether its owner runs on the other CPU
(then ``lock.spin``), an IO APIC entry written is a line mask or unmask,
and a stolen LWP is an ``lwp.migrate`` from the CPU whose queue it left."""

import io

from asm.image import Symbol
from asm.symfile import SymbolTable
from emulator.observe import attach
from emulator.trace import read_events
from tests.emulator.observe.fakemachine import BASE, FakeMachine

CPU0, LWP_TABLE, MUTEX, HELD = 0x40000, 0x41000, 0x50000, 0x51000
C_SIZE, L_SIZE = 64, 32
LWP4, LWP5, IDLE1 = LWP_TABLE + L_SIZE, LWP_TABLE + 2 * L_SIZE, LWP_TABLE + 3 * L_SIZE
LWP5_TOP = 0xa000
LSONPROC, LSBLOCKED = 7, 3

# CPU 0: lwp 4 takes the mutex, then runs nops
BSP = [("mov esp, 0x7f00", 5), ("mov ebx, %d" % MUTEX, 5),
       ("mov ecx, %d" % LWP4, 5), ("obs_lock_acquire: nop", 1)] + [("nop", 1)] * 12
# CPU 1: loads its LWP's stack (obs_ap_stack), comes up, contends on the
# mutex lwp 4 holds while lwp 4 runs on CPU 0, then takes an LWP from CPU 0's
# queue and writes line 5's IO APIC entry (unmasked)
AP = [("mov eax, %d" % (LWP5_TOP - 4), 5), ("obs_ap_stack: mov esp, eax", 2),
      ("mov ebx, 1", 5), ("mov edi, %d" % LWP5, 5), ("obs_cpu_up: nop", 1),
      ("mov ebx, %d" % MUTEX, 5), ("mov ecx, %d" % LWP5, 5), ("mov edx, %d" % LWP4, 5),
      ("mov eax, 1", 5), ("obs_lock_contend: nop", 1),
      ("mov edi, %d" % LWP4, 5), ("mov esi, %d" % CPU0, 5), ("obs_lwp_migrate: nop", 1),
      ("mov edx, 5", 5), ("mov eax, %d" % (0x8000 | 0x40 + 5 * 16 + 5), 5),
      ("obs_ioapic_rte: nop", 1), ("nop", 1)]
HANDLER = [("handler: iretd", 1)]


def layout():
    addrs, off, lines = {}, 0, []
    for text, size in BSP + AP + HANDLER:
        if ":" in text:
            label, text = text.split(":")
            addrs[label] = BASE + off
        if text.strip() == "mov eax, %d" % (LWP5_TOP - 4) and "ap" not in addrs:
            addrs["ap"] = BASE + off
        lines.append(text.strip())
        off += size
    return "\n".join(lines) + "\n", addrs


def machine():
    asm, at = layout()
    labels = {n: a for n, a in at.items() if n.startswith("obs_")}
    syms = [Symbol(n, a, "label", "k.S", i) for i, (n, a) in enumerate(sorted(labels.items()))]
    syms += [Symbol(n, a, "label", "k.S", 90) for n, a in
             (("start", BASE), ("cpu0", CPU0), ("lwp_table", LWP_TABLE), ("sc_lock", MUTEX),
              ("intr_held", HELD))]
    syms += [Symbol(k, v, "const", "k.S", 1) for k, v in dict(
        L_ID=0, L_FLAGS=4, L_STACK_LO=8, L_STACK_HI=12, L_STATE=16, L_SIZE=L_SIZE, NLWP=4,
        LF_ITHREAD=2, LF_IDLE=1, LSONPROC=LSONPROC, LSBLOCKED=LSBLOCKED, MTX_OWNER=0,
        MTX_KIND=4, MUTEX_SPIN=2, MUTEX_BIT_WAITERS=1, C_SIZE=C_SIZE, C_CURLWP=8, C_IPL=12,
        C_IDLELWP=20, MAX_CPUS=8, LINE_CLASS_BASE=0x40).items()]
    m = FakeMachine(asm, handlers={0x25: at["handler"], 0x55: at["handler"]}, cpus=2)
    m.symbols = SymbolTable(syms)
    m.start(1, at["ap"])
    w = m.uc.mem_write

    def u32(*vals):
        return b"".join(v.to_bytes(4, "little") for v in vals)
    w(CPU0 + 8, u32(LWP4))                                   # CPU 0's cur = lwp 4
    w(CPU0 + C_SIZE + 8, u32(LWP5))                          # CPU 1's cur = lwp 5
    w(LWP4, u32(4, 0, 0x7000, 0x8000, LSONPROC))
    w(LWP5, u32(5, 0, 0x9000, LWP5_TOP, LSONPROC))
    w(MUTEX, u32(LWP4, 1))                                   # adaptive, lwp 4's
    return m


def observed(tmp_path):
    m = machine()
    err = io.StringIO()
    s = attach(m, trace_path=tmp_path / "t.jsonl", report=err)
    return m, s, err


def events(tmp_path):
    return list(read_events(tmp_path / "t.jsonl"))


def test_an_aps_first_esp_load_puts_it_on_its_lwps_stack(tmp_path):
    m, s, err = observed(tmp_path)
    m.step(3, cpu=1)                 # mov eax; mov esp, eax; (hook after it)
    assert s.finish() == (0, "checks: 13 rules, 0 violations"), err.getvalue()
    sw = [e for e in events(tmp_path) if e["ev"] == "stack.switch"]
    assert [(e["cpu"], e["to"]) for e in sw] == [(1, "lwp 5")]


def test_labels_are_stamped_with_the_acting_cpu_and_read_its_own_cur(tmp_path):
    m, s, err = observed(tmp_path)
    m.step(5, cpu=0)                 # lwp 4 takes sc_lock on CPU 0
    m.step(10, cpu=1)                # CPU 1 comes up and contends
    assert s.finish() == (0, "checks: 13 rules, 0 violations"), err.getvalue()
    evs = [e for e in events(tmp_path) if e["ev"] not in ("stack.switch", "stack.usage")]
    assert [(e["cpu"], e["ev"]) for e in evs] == [
        (0, "lock.acquire"), (1, "cpu.up"), (1, "lock.contend"), (1, "lock.spin")]
    up, contend = evs[1], evs[2]
    assert up["apic"] == 1 and up["lwp"] == "lwp 5"
    assert contend["lock"] == "sc_lock" and contend["by"] == "lwp 5"
    assert contend["owner"] == "lwp 4" and contend["owner_running"] is True


def test_an_lwp_runs_when_it_is_some_cpus_current_lwp(tmp_path):
    m, s, err = observed(tmp_path)
    k = s.kernel
    assert k.cpu_base(0) == CPU0 and k.cpu_base(1) == CPU0 + C_SIZE
    assert k.running(LWP4) and k.running(LWP5)
    m.uc.mem_write(CPU0 + C_SIZE + 8, IDLE1.to_bytes(4, "little"))   # CPU 1 switched away
    assert not k.running(LWP5)


def test_interrupt_frames_are_each_cpus_own(tmp_path):
    m, s, err = observed(tmp_path)
    m.step(5, cpu=0)
    m.step(3, cpu=1)
    m.interrupt(0x25, cpu=0)         # CPU 0 interrupted on lwp 4's stack
    m.interrupt(0x55, cpu=1)         # CPU 1 on lwp 5's
    m.step(1, cpu=1)                 # CPU 1's iret: its own frame, not CPU 0's
    m.step(1, cpu=0)
    assert s.finish() == (0, "checks: 13 rules, 0 violations"), err.getvalue()
    got = [(e["cpu"], e["ev"], e["vector"], e["owner"]) for e in events(tmp_path)
           if e["ev"].startswith("intr.")]
    assert got == [(0, "intr.enter", 0x25, "lwp 4"), (1, "intr.enter", 0x55, "lwp 5"),
                   (1, "intr.exit", 0x55, "lwp 5"), (0, "intr.exit", 0x25, "lwp 4")]


def test_an_esp_outside_its_stack_on_the_second_cpu_is_reported_naming_its_lwp(tmp_path):
    m, s, err = observed(tmp_path)
    m.step(3, cpu=1)
    m.cpus[1].uc.reg_write(__import__("unicorn").x86_const.UC_X86_REG_ESP, 0x9000 - 8)
    m.step(3, cpu=1)                 # obs_cpu_up: an event on CPU 1
    count, _ = s.finish()
    assert count == 1
    v = s.violations[0]
    assert v.rule == "stack-bounds" and v.cpu == 1 and v.fields["owner"] == "lwp 5"
    assert "overflows by 8 bytes" in v.message


def test_a_stolen_lwp_is_a_migration_from_the_cpu_whose_queue_it_left(tmp_path):
    m, s, err = observed(tmp_path)
    m.step(13, cpu=1)                # ... obs_lwp_migrate on CPU 1, ESI = CPU 0's data
    s.finish()
    mig = [e for e in events(tmp_path) if e["ev"] == "lwp.migrate"]
    assert [(e["cpu"], e["lwp"], e["from_cpu"], e["to_cpu"]) for e in mig] == [(1, "lwp 4", 0, 1)]


def test_an_io_apic_entry_written_is_an_unmask_only_when_its_mask_bit_changes(tmp_path):
    m, s, err = observed(tmp_path)
    m.step(17, cpu=1)                # line 5's entry written unmasked, IPL 5
    s.kernel._on_rte(m, 1)           # the same entry again: nothing new
    s.finish()
    got = [(e["cpu"], e["ev"], e["line"], e["via"], e["vector"], e["ipl"])
           for e in events(tmp_path) if e["ev"].startswith("pic.")]
    assert got == [(1, "pic.unmask", 5, "ioapic", 0x40 + 5 * 16 + 5, 5)]


def test_lines_through_the_io_apic_are_named_by_their_vector_class():
    m = machine()
    s = attach(m, report=io.StringIO())
    k = s.kernel
    assert k.line_of_vector(0x40 + 6 * 16 + 0) == 0       # a LAPIC timer: the clock
    assert k.line_of_vector(0x40 + 4 * 16 + 5) == 5
    assert k.line_of_vector(0xc1) is None                 # the reschedule IPI
    assert s.observer.kernel_line == k.line_of_vector


def test_an_idle_lwp_is_named_after_the_cpu_it_idles_even_when_not_running(tmp_path):
    m = machine()
    s = attach(m, report=io.StringIO())
    m.uc.mem_write(IDLE1, (7).to_bytes(4, "little") + (1).to_bytes(4, "little"))
    m.uc.mem_write(CPU0 + C_SIZE + 20, IDLE1.to_bytes(4, "little"))    # CPU 1's C_IDLELWP
    assert s.kernel.lwp_name(IDLE1) == "idle cpu1"


def test_the_ap_stack_load_is_hooked_even_when_the_scanned_code_leaves_it_out(tmp_path):
    m = machine()
    _, at = layout()
    m.image.data = m.code[:at["obs_ap_stack"] - BASE]      # the scan stops before it
    s = attach(m, trace_path=tmp_path / "t.jsonl", report=io.StringIO())
    assert at["obs_ap_stack"] in s.codemap.esp_loads
    m.step(3, cpu=1)
    s.finish()
    sw = [e for e in events(tmp_path) if e["ev"] == "stack.switch"]
    assert [(e["cpu"], e["to"]) for e in sw] == [(1, "lwp 5")]
