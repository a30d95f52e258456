"""emulator/firmware.py in the machine: the tables are in RAM from the start,
the new devices go back and forth with snapshots, ACPI sleep ends the run."""

from pathlib import Path

import asm
from emulator import acpi
from emulator.machine import Machine

PROBES = Path(__file__).resolve().parents[1] / "probes"


def probe_image(name: str) -> bytes:
    return asm.assemble([PROBES / "firmware" / f"{name}.S"],
                        include_dirs=[PROBES / "firmware", PROBES / "apic"]).flat()


def run(m: Machine, budget: int):
    out = bytearray()
    m.console = out.extend
    return m.run(budget), out.decode()


def test_the_rsdp_and_a_madt_naming_every_cpu_are_in_ram_before_the_guest_runs():
    m = Machine(cpus=3)
    assert m.mem_read(acpi.RSDP_ADDR, 8) == b"RSD PTR "
    madt = m.firmware.tables.addresses["APIC"]
    length = int.from_bytes(m.mem_read(madt + 4, 4), "little")
    assert m.mem_read(madt, length) == acpi.madt(3)


def test_a_restored_snapshot_runs_the_hpet_probe_to_the_same_output():
    m = Machine.from_bytes(probe_image("hpet"))
    first, _ = run(m, 100_000)                   # inside the periodic test: a deadline armed
    snap = m.snapshot()
    result, rest = run(m, 50_000_000)
    assert result.reason == "exit" and "periodic: 20 interrupts" in rest
    m.restore(snap)
    again, rest_again = run(m, 50_000_000)
    assert (again.reason, rest_again) == ("exit", rest)


def test_s5_through_pm1a_cnt_powers_off_with_status_0():
    m = Machine.from_bytes(probe_image("poweroff"))
    result, out = run(m, 10_000_000)
    assert (result.status, result.reason) == (0, "poweroff") and out.endswith("powering off\n")


def test_s3_ends_the_run_with_a_report_saying_the_wake_is_not_modelled():
    image = asm.assemble_text("""
        .text
_start: mov dx, 0x604
        mov ax, 0x2400                # SLP_TYP 1 (S3) | SLP_EN
        out dx, ax
1:      hlt
        jmp 1b
""").flat()
    result, _ = run(Machine.from_bytes(image), 1_000_000)
    assert (result.status, result.reason) == (126, "suspend") and "S3" in result.report
