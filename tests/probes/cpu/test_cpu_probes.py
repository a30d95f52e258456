"""CPU delivery-rule probes (tests/probes/cpu/*.S) on irqlab and on QEMU.

Each probe prints what it observed about one rule of Intel SDM vol. 3A
ch. 6 (tsc.S: the time-stamp counter as virtual time) on port 0xE9; the expected text is derived from the SDM (the probe
sources say why).  irqlab must print exactly that, on both block-hook paths,
and exactly what QEMU prints, with the same exit status.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

import asm
from emulator.machine import Machine
from tests.qemu import run_qemu

HERE = Path(__file__).resolve().parent
DEVICES = HERE.parent / "devices"           # probe.inc: _start, PIC init, printing

EXPECTED = {
    "shadow": "sti_cli_hits 00\nsti_nop_hits 01\nret_after_nop 01\n"
              "movss_hits 02\nret_after_movss 01\n",
    "eoi": "unmask_hits 01\nret_after_unmask 01\neoi_hits 01\nret_after_eoi 01\n",
    "gates": "int_gate_if 00\nint_ret_after 01\nint_frame_words 03\ntrap_gate_if 01\n"
             "ud_eip_ok 01\nde_eip_ok 01\ngp_error 08 00\ngp_eip_ok 01\ndf_error 00\n",
    "tsc": "tsc_straight 07\ntsc_loop 66\n",
}


@lru_cache(maxsize=None)
def image(name: str) -> bytes:
    return asm.assemble([HERE / f"{name}.S"], include_dirs=[HERE, DEVICES]).flat()


def run_irqlab(name: str, native: bool):
    m = Machine.from_bytes(image(name), native=native)
    out = bytearray()
    m.console = out.extend
    result = m.run(max_instructions=5_000_000)
    return out.decode("latin-1"), result.status


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_probe_on_irqlab_prints_what_the_sdm_predicts(name, native):
    console, status = run_irqlab(name, native)
    assert console == EXPECTED[name]
    assert status == 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_probe_on_irqlab_prints_exactly_what_qemu_prints(name, tmp_path):
    path = tmp_path / f"{name}.bin"
    path.write_bytes(image(name))
    q = run_qemu(str(path))
    console, status = run_irqlab(name, native=True)
    assert console == q.console
    assert status == q.status
