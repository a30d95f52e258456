"""The kernel on several CPUs (smp.S, smp_lock.S, scen_smp.S).

On qemu-system-i386 -smp N: every scenario that needs no injections passes
under every model on 1, 2 and 4 CPUs, the smp_* scenarios show adaptive
spin vs block decisions and the big-lock wait, and a one-CPU run of an smp_*
scenario says it skipped.  On irqlab: the earlier scenarios print exactly
what QEMU prints on 2 and 4 CPUs (storm: irqlab only), with zero checker
violations; with several CPUs the clock is each CPU's LAPIC timer and the
device lines reach the BSP through the IO APIC (smp_intr.S), cross-calls
and reschedule IPIs go between any two CPUs (smp_xcall.S, smp_ipi), and idle
APs take work items from the busiest run queue (smp_wq.S, smp_balance).  The UP
image layout is guarded too: the SMP blob has its fixed size, so no UP
address moved (the goldens check the rest).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from emulator.loader import image_symbols
from emulator.machine import Machine
from emulator.trace import TraceSink
from guest_kernel.catalog import QEMU_SCENARIOS, SMP_SCENARIOS, models_for
from guest_kernel.harness import injection_specs, injections, kernel_cmdline
from tests.qemu import run_qemu

MODELS = models_for(2)
EARLIER = tuple(s for s in QEMU_SCENARIOS if s not in SMP_SCENARIOS)


@pytest.mark.parametrize("cpus", (1, 2, 4))
@pytest.mark.parametrize("scenario", QEMU_SCENARIOS)
@pytest.mark.parametrize("model", MODELS)
def test_every_scenario_passes_on_qemu_with_1_2_and_4_cpus(kernel, model, scenario, cpus):
    r = run_qemu(kernel(model), smp=cpus, append=kernel_cmdline(scenario, cpus))
    assert f"PASS {scenario}\n" in r.console, r.console
    assert r.status == 0
    if cpus > 1:
        assert f"smp: {cpus} cpus up\n" in r.console


def test_the_command_line_names_the_cpus_only_when_there_are_several():
    assert kernel_cmdline("hello", 1) == "scenario=hello"
    assert kernel_cmdline("preempt", 4) == "scenario=smp:preempt cpus=4"


@pytest.mark.parametrize("scenario", SMP_SCENARIOS)
def test_an_smp_scenario_on_one_cpu_says_it_skipped_and_passes(kernel, scenario):
    r = run_qemu(kernel("ithread"), append=f"scenario={scenario}")
    assert f"{scenario}: one CPU (skipped; use cpus=N)\n" in r.console
    assert r.console.endswith(f"PASS {scenario}\n")


@pytest.mark.parametrize("cpus", (2, 4))
def test_smp_contend_spins_while_the_owner_runs_and_blocks_while_it_sleeps(kernel, cpus):
    r = run_qemu(kernel("ithread"), smp=cpus, append=kernel_cmdline("smp_contend", cpus))
    running = re.search(r"owner running: (\d+) spin iterations, (\d+) blocks", r.console)
    asleep = re.search(r"owner asleep: (\d+) spin iterations, (\d+) blocks", r.console)
    assert running and asleep, r.console
    assert int(running.group(1)) > 0 and int(running.group(2)) == 0
    assert int(asleep.group(2)) == cpus - 1          # every AP blocked once


@pytest.mark.parametrize("cpus", (2, 4))
def test_a_spin_mutex_taken_from_every_cpu_loses_no_update(kernel, cpus):
    # 20 read-modify-writes per CPU under smp_spin: the BSP through mutex_enter
    # (IPL), the APs with their interrupts off; any overlap would lose one
    r = run_qemu(kernel("threaded"), smp=cpus, append=kernel_cmdline("smp_contend", cpus))
    assert f"smp_contend: spin mutex from every cpu: {20 * cpus} updates\n" in r.console, r.console
    assert r.status == 0


@pytest.mark.parametrize("cpus", (2, 4))
def test_smp_biglock_waits_only_for_handlers_that_are_not_mpsafe(kernel, cpus):
    r = run_qemu(kernel("classic"), smp=cpus, append=kernel_cmdline("smp_biglock", cpus))
    locked = re.search(r"handlers: big-lock wait (\d+) spin iterations \(per cpu ([\d ]+)\)", r.console)
    mpsafe = re.search(r"handlers MPSAFE: big-lock wait (\d+) spin iterations \(per cpu ([\d ]+)\)",
                       r.console)
    assert locked and mpsafe, r.console
    per_cpu = [int(x) for x in locked.group(2).split()]
    assert len(per_cpu) == cpus and sum(per_cpu) == int(locked.group(1)) > 0
    assert int(mpsafe.group(1)) == 0


def test_smp_biglock_states_the_wait_in_virtual_nanoseconds_six_per_spin_iteration(kernel):
    r = run_qemu(kernel("classic"), smp=2, append=kernel_cmdline("smp_biglock", 2))
    figures = re.findall(r"big-lock wait (\d+) spin iterations \(per cpu [\d ]+\) = (\d+) ns\n", r.console)
    assert len(figures) == 2, r.console                 # non-MPSAFE, then MPSAFE
    assert all(int(ns) == 6 * int(spins) for spins, ns in figures)
    assert int(figures[0][1]) > 0 and figures[1] == ("0", "0")


def test_an_ap_that_does_not_start_fails_the_scenario_with_a_reason(kernel):
    # cpus=4 asked for, only 2 CPUs present: APIC IDs 2 and 3 never answer
    r = run_qemu(kernel("ithread"), smp=2, append="scenario=smp_contend cpus=4")
    assert "FAIL smp_contend: an AP did not start" in r.console
    assert r.status == 1


def test_the_smp_blob_keeps_every_up_address_where_it_was(kernel):
    syms = {s["name"]: s["value"] for s in
            json.load(open(kernel("ithread").replace(".elf", ".sym.json")))["symbols"]}
    blob = syms["SMP_BLOB"]
    assert blob % 16 == 0
    # the blob is the last thing in .data; .bss (the boot stack first: the IDT
    # moved to the end of .bss and left its room) starts right after it
    assert syms["smp_blob_start"] + blob > syms["smp_blob_end"]
    assert syms["boot_stack"] == (syms["smp_blob_start"] + blob + 15) // 16 * 16
    assert syms["boot_stack_top"] - syms["boot_stack"] == \
        syms["BOOTSTACK_SIZE"] + 8 * syms["NVECTORS"] - blob >= 32   # boot uses 12
    assert syms["idt"] > syms["lwp_table"]               # after every UP address


def _irqlab(elf, cpus, scenario, checks=True):
    cmd = [sys.executable, "-m", "emulator", "run", elf, "--append", kernel_cmdline(scenario, cpus),
           "--max-instructions", "200000000"] + injections(scenario)
    if cpus > 1:
        cmd += ["--cpus", str(cpus)]
    if not checks:
        cmd += ["--no-checks"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("scenario", ("smp_contend", "smp_biglock"))
def test_an_smp_scenario_on_one_irqlab_cpu_skips_and_passes(kernel, scenario):
    r = _irqlab(kernel("ithread"), 1, scenario)
    assert f"PASS {scenario}\n" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0


@pytest.mark.parametrize("cpus", (2, 4))
@pytest.mark.parametrize("scenario", ("smp_contend", "smp_biglock", "smp_ipi", "nested"))
def test_scenarios_pass_on_irqlab_with_several_cpus_and_no_checker_violation(kernel, scenario, cpus):
    r = _irqlab(kernel("ithread"), cpus, scenario)
    assert f"PASS {scenario}\n" in r.stdout, r.stdout + r.stderr
    assert f"smp: {cpus} cpus up\n" in r.stdout
    assert r.stderr.strip().splitlines()[-1] == "checks: 12 rules, 0 violations", r.stderr
    assert r.returncode == 0


@pytest.mark.parametrize("cpus", (2, 4))
@pytest.mark.parametrize("scenario", EARLIER)
@pytest.mark.parametrize("model", MODELS)
def test_earlier_scenarios_print_the_same_on_irqlab_and_qemu_with_several_cpus(kernel, model,
                                                                               scenario, cpus):
    # irqlab's run is its own (checks off here: the goldens check the traces);
    # QEMU gets no injections, and the scenarios print nothing that depends on them
    r = _irqlab(kernel(model), cpus, scenario, checks=False)
    q = run_qemu(kernel(model), smp=cpus, append=kernel_cmdline(scenario, cpus))
    assert r.returncode == 0 and f"PASS {scenario}\n" in r.stdout, r.stdout + r.stderr
    assert r.stdout == q.console


@pytest.mark.parametrize("model", MODELS)
def test_storm_loses_no_packet_on_two_cpus_with_the_line_through_the_io_apic(kernel, model):
    r = _irqlab(kernel(model), 2, "storm", checks=False)
    assert "PASS storm\n" in r.stdout, r.stdout + r.stderr


def _machine_run(elf, scenario, cpus, budget=60_000_000, hooks=()):
    """Run on irqlab in-process: (result, console, the machine's events, symbols, word(), machine)."""
    m = Machine.from_image(elf, append=kernel_cmdline(scenario, cpus), cpus=cpus)
    m.symbols = image_symbols(elf)
    syms = {name: s.value for name, s in m.symbols.symbols.items()}
    for label, fn in hooks:
        m.add_exec_hook(syms[label], fn)
    out = []
    m.console = out.append
    events = []
    m.set_trace(TraceSink(m.clock, events.append))
    for spec in injection_specs(scenario):
        m.inject(spec)
    r = m.run(max_instructions=budget)
    word = lambda name, off=0: int.from_bytes(m.mem_read(syms[name] + off, 4), "little")
    return r, b"".join(out).decode("latin-1"), events, syms, word, m


def test_with_two_cpus_the_clock_is_the_lapic_timer_and_devices_come_through_the_io_apic(kernel):
    r, console, events, syms, word, _ = _machine_run(kernel("classic"), "nested", 2)
    assert r.status == 0 and "PASS nested\n" in console, console
    up = next(i for i, e in enumerate(events) if e["ev"] == "apic.sipi")
    after = events[up:]
    clock_vector = syms["LINE_CLASS_BASE"] + 16 * syms["IPL_SCHED"]          # line 0
    testdev_vector = syms["LINE_CLASS_BASE"] + 16 * syms["IPL_VM"] + syms["TESTDEV_IRQ"]
    bsp_timer = [e for e in after if e["ev"] == "apic.timer" and e["apic"] == 0]
    assert len(bsp_timer) > 10 and all(e["vector"] == clock_vector for e in bsp_timer)
    assert any(e["ev"] == "ioapic.deliver" and e["vector"] == testdev_vector for e in after)
    routed = max(i for i, e in enumerate(events) if e["ev"] == "pic.ack")
    assert routed < len(events) - 100 and word("smp_routed") == 1
    # the 8259 pair is masked for good, the LAPIC timer was calibrated against
    # one PIT tick (119 counts of 1.193182 MHz = 99733 ns, one count per ns)
    assert word("cpu0", syms["C_PICMASK"]) == 0xFFFF
    assert 99_000 < word("lapic_tick") < 100_500
    # every CPU ticks: the BSP's clock and the AP's own LAPIC timer
    assert word("cpu0", syms["C_TICKS"]) > 10
    assert word("smp_cpus", syms["C_SIZE"] + syms["C_TICKS"]) > 10


def test_the_line_mask_follows_the_ipl_through_the_tpr_and_holds_at_the_io_apic(kernel):
    # after the run: IPL_NONE, nothing held, so the TPR is 0x40 (class 4 + 0) and
    # every established line's entry is open; a line with no handler stays masked
    writes = []                                  # (line, entry) at each IO APIC write
    rte = ("obs_ioapic_rte", lambda m, cpu: writes.append((cpu["edx"], cpu["eax"])))
    r, console, events, syms, word, m = _machine_run(kernel("ithread"), "ithread_block", 2,
                                                     hooks=[rte])
    assert "PASS ithread_block" in console, console
    assert word("cpu0", syms["C_IPL"]) == syms["IPL_NONE"] and m.platform.lapics[0].tpr == 0x40
    assert m.platform.lapics[1].tpr == 0                            # APs keep no IPL
    assert word("smp_linemask") & (1 << syms["TESTDEV_IRQ"]) == 0
    rte = word("smp_rte", 4 * syms["TESTDEV_IRQ"])
    assert rte & 0x10000 == 0 and rte & 0xFF == syms["LINE_CLASS_BASE"] + 16 * syms["IPL_VM"] + 5
    assert rte & 0x8000                                            # level-triggered
    assert word("smp_rte", 4 * 3) & 0x10000                        # COM2: no handler
    # the interrupt LWP (which blocked and converted) held its line masked at
    # the IO APIC entry, and opened it when the handler was done
    line5 = [masked for line, e in writes if line == syms["TESTDEV_IRQ"]
             for masked in [bool(e & 0x10000)]]
    assert word("ithread_blocks") >= 1
    assert line5[-2:] == [True, False] and line5.count(True) >= 1


@pytest.mark.parametrize("cpus", (2, 4))
def test_smp_ipi_cross_calls_both_ways_and_wakes_main_by_ipi_on_qemu_and_irqlab(kernel, cpus):
    expected = ("smp_ipi: 0 -> APs ok\n"          # cpu 0 cross-called each AP, which ran it
                "smp_ipi: APs -> 0 ok\n"          # each AP cross-called cpu 0, which ran it
                "smp_ipi: IPI woke main from cpu 1\n"
                "PASS smp_ipi\n")
    q = run_qemu(kernel("threaded"), smp=cpus, append=kernel_cmdline("smp_ipi", cpus))
    r = _irqlab(kernel("threaded"), cpus, "smp_ipi")
    assert q.console.endswith(expected) and r.stdout == q.console, q.console + r.stdout


def test_an_smp_run_on_qemu_prints_the_same_figures_every_time(kernel):
    runs = [run_qemu(kernel("threaded"), smp=4, append=kernel_cmdline("smp_biglock", 4)).console
            for _ in range(2)]
    assert runs[0] == runs[1] and "PASS smp_biglock" in runs[0]


@pytest.mark.parametrize("cpus", (2, 4))
def test_idle_aps_take_work_from_the_busiest_run_queue(kernel, cpus):
    # 12 work items queued on AP 1 alone: with 2 CPUs it runs them all, with
    # 4 the two idle APs steal from its queue; every item runs either way
    r, console, events, syms, word, _ = _machine_run(kernel("classic"), "smp_balance", cpus)
    assert "PASS smp_balance\n" in console, console
    ran = [word("wq_ran", 4 * i) for i in range(cpus)]
    assert sum(ran) == 12 == word("wq_done") and ran[0] == 0
    stolen = int(re.search(r"smp_balance: stolen (\d+)\n", console).group(1))
    assert stolen == word("wq_stolen") == 12 - ran[1]
    assert (stolen > 0 and min(ran[2:]) > 0) if cpus > 2 else stolen == 0
    q = run_qemu(kernel("classic"), smp=cpus, append=kernel_cmdline("smp_balance", cpus))
    assert "PASS smp_balance\n" in q.console and ("stolen 0\n" in q.console) == (cpus == 2)


@pytest.mark.parametrize("cpus", (1, 2))
def test_the_up_interrupt_code_is_rewritten_only_when_there_are_several_cpus(kernel, cpus):
    # pic_apply / pic_eoi start with a jmp rel32 (0xE9) into the SMP blob only
    # after smp_route; a one-CPU run executes the UP bytes, untouched
    elf = kernel("ithread")
    image = open(elf.replace(".elf", ".bin"), "rb").read()
    r, console, events, syms, word, m = _machine_run(elf, "hello", cpus)
    assert "PASS hello\n" in console, console
    base = m.symbols.base                                # kernel.bin's load address
    for name, target in (("pic_apply", "smp_pic_apply"), ("pic_eoi", "smp_eoi")):
        now = m.mem_read(syms[name], 5)
        if cpus == 1:
            assert now == image[syms[name] - base:syms[name] - base + 5] and now[0] != 0xE9
        else:
            assert now[0] == 0xE9
            assert syms[name] + 5 + int.from_bytes(now[1:], "little", signed=True) == syms[target]
    assert word("smp_routed") == (cpus > 1)
