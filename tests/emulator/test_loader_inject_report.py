"""The Multiboot loader, --inject parsing and the crash report."""

from __future__ import annotations

import struct

import pytest

import asm
from emulator import loader
from emulator.inject import InjectError, parse
from emulator.loader import image_symbols
from emulator.machine import Machine

SRC = """
start:
    mov ebp, 0
    call outer
outer:
    push ebp
    mov ebp, esp
    call inner
inner:
    push ebp
    mov ebp, esp
    ud2
"""


def test_flat_image_lands_at_its_load_address_with_multiboot_state():
    img = asm.assemble_text(SRC, entry="start")
    ram = bytearray(4 << 20)
    boot = loader.load(img.flat(), ram, append="x=1", image_path="k.bin")
    assert ram[img.symfile()["base"]:][:4] == struct.pack("<I", loader.MB_MAGIC)
    assert boot.entry == img.symfile()["entry"]
    flags, lower, upper = struct.unpack_from("<3I", ram, boot.ebx)
    assert (flags & 5, lower, upper) == (5, 640, 3 * 1024)
    cmd = struct.unpack_from("<I", ram, boot.ebx + 16)[0]
    assert bytes(ram[cmd:cmd + 10]) == b"k.bin x=1\0"


def test_elf_image_loads_the_same_bytes_as_the_flat_one():
    img = asm.assemble_text(SRC, entry="start")
    a, b = bytearray(4 << 20), bytearray(4 << 20)
    ea = loader.load(img.flat(), a).entry
    eb = loader.load(img.elf(), b).entry
    assert ea == eb
    base = img.symfile()["base"]
    assert a[base + 32:base + 96] == b[base + 32:base + 96]      # the code after the header


def test_image_past_the_end_of_ram_is_an_image_error():
    img = asm.assemble_text(SRC, entry="start", base=0x7FF000)
    with pytest.raises(loader.ImageError, match="outside"):
        loader.load(img.flat(), bytearray(1 << 20))


def test_crash_report_disassembles_and_walks_the_ebp_chain_with_symbols(tmp_path):
    img = asm.assemble_text(SRC, entry="start")
    path = tmp_path / "k.elf"
    path.write_bytes(img.elf())
    m = Machine.from_image(str(path))
    m.symbols = image_symbols(str(path))
    r = m.run(max_instructions=1000)
    assert r.status == 126
    assert "ud2" in r.report
    assert "<outer" in r.report            # return address into outer, from [ebp+4]


@pytest.mark.parametrize("spec,field,value", [
    ("irq=3,at=100", "at", 100),
    ("irq=3,every=50,from=10,count=2", "count", 2),
    ("packet=0xdead,pc=main+4,hit=2", "hit", 2),
    ("key=0x1c,at=7", "key", 0x1C),
])
def test_inject_specs_parse(spec, field, value):
    assert getattr(parse(spec), field) == value


@pytest.mark.parametrize("spec", ["irq=3", "at=5", "irq=3,at=x", "irq=16,at=1",
                                  "irq=1,at=1,every=2", "bogus=1,irq=1,at=1",
                                  "key=256,at=1", "key=-1,at=1"])
def test_bad_inject_specs_are_one_line_errors(spec):
    with pytest.raises(InjectError):
        parse(spec)
