"""Issue 16: a wide write to port 0xF4 is never a pass; rdtsc reads virtual time.

Guests are a few instructions long, assembled from text; every run is
bounded by an instruction count.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import asm
from emulator.devices.debugcon import STATUS_TOO_WIDE, DebugExit, exit_status
from emulator.machine import Machine


def machine(body: str, native: bool = True) -> Machine:
    img = asm.assemble_text("_start:\n" + body + "\nspin: jmp spin\n")
    return Machine.from_bytes(img.flat(), native=native)


# ---- port 0xF4 (isa-debug-exit) -------------------------------------------------
def test_a_byte_written_to_the_exit_port_is_the_status():
    dev = DebugExit()
    seen = []
    dev.on_exit = seen.append
    dev.io_write(0xF4, 1, 0)
    dev.io_write(0xF4, 1, 0xFF)
    assert seen == [0, 0xFF] and dev.written == 0xFF


@pytest.mark.parametrize("size,value", [(2, 0x100), (4, 0x12345600), (2, 0xFF00), (4, 0x100)])
def test_a_wide_value_whose_low_byte_is_zero_never_reads_as_a_pass(size, value):
    # QEMU exits with (value << 1) | 1 for these: an odd status, never 0
    dev = DebugExit()
    seen = []
    dev.on_exit = seen.append
    dev.io_write(0xF4, size, value)
    assert seen == [STATUS_TOO_WIDE] and dev.written == value
    assert exit_status(value) == 255


def test_a_wide_value_that_fits_in_a_byte_is_that_status():
    dev = DebugExit()
    seen = []
    dev.on_exit = seen.append
    dev.io_write(0xF4, 4, 3)
    assert seen == [3]


def test_reset_and_a_restored_snapshot_forget_the_value_written():
    dev = DebugExit()
    saved = dev.save_state()
    dev.io_write(0xF4, 2, 0x100)
    dev.load_state(saved)
    assert dev.written is None
    dev.io_write(0xF4, 2, 0x100)
    dev.reset()
    assert dev.written is None


@pytest.mark.parametrize("body", ["mov dx, 0xf4\nmov ax, 0x100\nout dx, ax",
                                  "mov dx, 0xf4\nmov eax, 0x12345600\nout dx, eax"])
def test_a_guest_writing_a_wide_zero_low_byte_value_exits_255(body):
    result = machine(body).run(1000)
    assert (result.status, result.reason) == (255, "exit")


def test_run_says_the_wide_value_and_exits_255(tmp_path):
    img = asm.assemble_text("_start:\nmov dx, 0xf4\nmov ax, 0x100\nout dx, ax\nhlt\n")
    (tmp_path / "w.bin").write_bytes(img.flat())
    r = subprocess.run([sys.executable, "-m", "emulator", "run", str(tmp_path / "w.bin"),
                        "--no-checks", "--max-instructions", "1000"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 255
    assert ("irqlab: the guest wrote 0x100 to port 0xf4, which does not fit in an exit "
            "status: status 255") in r.stderr


# ---- rdtsc / rdtscp ------------------------------------------------------------------
def test_rdtsc_returns_the_instructions_retired_before_it():
    # rdtsc is the first instruction: nothing retired before it
    m = machine("rdtsc\nmov ecx, edx\nout 0xf4, al")
    assert m.run(100).status == 0
    assert m.cpus[0]["ecx"] == 0


@pytest.mark.parametrize("native", [True, False], ids=["native-hook", "python-hook"])
def test_rdtsc_counts_exactly_across_a_block_boundary(native):
    # rdtsc, mov, jmp (ends the block), nop retire between the two readings
    m = machine("nop\nnop\nrdtsc\nmov ebx, eax\njmp 1f\n1: nop\nrdtsc\n"
                "sub eax, ebx\nout 0xf4, al", native=native)
    assert m.run(100).status == 4
    assert m.cpus[0]["ebx"] == 2                 # two nops before the first reading


def test_rdtscp_returns_the_same_clock_and_tsc_aux_zero():
    m = machine("mov ecx, 0x55\nrdtscp\nmov ebx, ecx\nout 0xf4, al")
    assert m.run(100).status == 1              # mov retired before it
    assert m.cpus[0]["ebx"] == 0 and m.cpus[0]["edx"] == 0


def test_rdtsc_gives_the_same_values_on_every_run():
    body = "mov ecx, 2000\n1: loop 1b\nrdtsc\nmov ebx, eax\nrdtsc\nout 0xf4, al"
    runs = []
    for _ in range(2):
        m = machine(body)
        m.run(10_000)
        runs.append((m.cpus[0]["ebx"], m.cpus[0]["eax"]))
    assert runs[0] == runs[1] == (2001, 2003)
