"""The debugger on several CPUs: info lapic [CPU], info ioapic, cpu N."""

from pathlib import Path

import asm
from emulator.debugger.control import Debugger
from emulator.loader import image_symbols
from emulator.machine import Machine
from tests.emulator.debugger.conftest import drive

PROBES = Path(__file__).resolve().parents[2] / "probes" / "apic"


def smp_debugger(tmp_path, probe="ap_start", cpus=2):
    img = asm.assemble([PROBES / f"{probe}.S"], include_dirs=[PROBES], defines={"NCPUS": cpus})
    elf = tmp_path / f"{probe}.elf"
    img.write(str(tmp_path / f"{probe}.bin"), elf=str(elf), sym=str(tmp_path / f"{probe}.sym.json"))
    m = Machine.from_image(str(elf), cpus=cpus)
    m.symbols = image_symbols(str(elf))
    m.console = lambda data: None
    return Debugger(m, max_run=100_000), {n: s.value for n, s in img.symbols.items()}


def test_info_lapic_shows_the_selected_cpus_apic_and_takes_a_cpu_number(tmp_path):
    d, _ = smp_debugger(tmp_path)
    out = drive(d, "info lapic\ninfo lapic 1\n")
    assert "cpu 0:\n  apic id 0 (BSP)" in out
    assert "cpu 1:\n  apic id 1 (AP)" in out
    assert "lvt timer" in out


def test_info_lapic_for_a_cpu_the_machine_lacks_is_one_error_line(tmp_path):
    d, _ = smp_debugger(tmp_path)
    out = drive(d, "info lapic 5\n")
    assert out.count("error:") == 1 and "no CPU 5" in out


def test_info_ioapic_lists_the_24_redirection_entries(tmp_path):
    d, _ = smp_debugger(tmp_path)
    out = drive(d, "info ioapic\n")
    assert "ioapic id 0 version 0x00170020" in out
    assert sum(1 for line in out.splitlines() if line.startswith("pin ")) == 24


def test_cpu_n_switches_registers_to_that_cpu(tmp_path):
    d, syms = smp_debugger(tmp_path)
    drive(d, "b ap_hello\nc\n")
    assert d.cpu == 1                                  # the AP hit it
    assert d.pc == syms["ap_hello"]
    out = drive(d, "cpu 0\ninfo registers\ncpu 1\ninfo registers\n")
    assert "cpu 0 of 2" in out and "cpu 1 of 2" in out
    regs = out.split("cpu 1 of 2")
    assert f"{syms['ap_hello']:#010x}" in regs[1]
    assert d.t.reg("eip", 0) != syms["ap_hello"]
    assert "[cpu 1]" in out


def test_an_ap_started_by_init_and_sipi_has_no_latch_left_pending(tmp_path):
    d, _ = smp_debugger(tmp_path)
    drive(d, "b ap_hello\nc\n")
    out = drive(d, "info lapic 1\n")
    assert "pending -" in out and "wait-for-sipi" not in out
