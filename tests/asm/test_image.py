"""Images (flat with the a.out kludge, ELF32), the symbol file, listing and
line table, and booting both images on QEMU."""

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import asm
from asm.symfile import load_symbols
from tests.qemu import run_qemu

from .helpers import build

HELLO = Path(__file__).resolve().parents[1] / "probes" / "asm_hello" / "hello.S"

SRC = """\
.equ PORT, 0xe9
.equ NEG, -2
_start: mov esp, stack_top
        call work
        hlt
work:   mov al, 'x'
        out PORT, al
        ret
.data
value:  .long work
.bss
        .space 256
stack_top:
"""


@pytest.fixture(scope="module")
def image():
    return asm.assemble_text(SRC, "src.S")


def test_flat_image_starts_with_a_multiboot_header_using_the_aout_kludge(image):
    flat = image.flat()
    magic, flags, checksum, header, load, load_end, bss_end, entry = struct.unpack_from("<8I", flat)
    assert magic == 0x1BADB002
    assert flags == 0x00010003                 # page-align, memory info, a.out kludge
    assert (magic + flags + checksum) & 0xFFFFFFFF == 0
    assert header == load == image.base == 0x100000
    assert load_end == image.load_end == image.base + len(flat)
    assert bss_end == image.bss_end == image.symbols["stack_top"].value
    assert entry == image.entry == image.symbols["_start"].value == 0x100020


def test_flat_image_holds_text_and_data_at_their_addresses(image):
    flat = image.flat()
    off = image.symbols["value"].value - image.base
    assert flat[off:off + 4] == image.symbols["work"].value.to_bytes(4, "little")
    assert flat[image.entry - image.base] == 0xBC          # mov esp, imm32


def test_base_option_moves_everything(image):
    moved = asm.assemble_text(SRC, "src.S", base=0x200000)
    assert moved.entry == image.entry + 0x100000
    assert struct.unpack_from("<I", moved.flat(), 12)[0] == 0x200000


def elf_parts(data):
    ident, etype, machine, _v, entry, phoff, shoff = struct.unpack_from("<16sHHIIII", data)
    ptype, off, vaddr, paddr, filesz, memsz, flags, _al = struct.unpack_from("<8I", data, phoff)
    return dict(ident=ident, etype=etype, machine=machine, entry=entry, ptype=ptype, off=off,
                vaddr=vaddr, paddr=paddr, filesz=filesz, memsz=memsz)


def test_elf_has_one_load_segment_with_the_same_bytes_and_no_kludge_flag(image):
    data = image.elf()
    p = elf_parts(data)
    assert p["ident"][:5] == b"\x7fELF\x01" and p["etype"] == 2 and p["machine"] == 3
    assert p["entry"] == image.entry
    assert p["ptype"] == 1 and p["vaddr"] == p["paddr"] == image.base
    assert p["filesz"] == image.load_end - image.base
    assert p["memsz"] == image.bss_end - image.base
    seg = data[p["off"]:p["off"] + p["filesz"]]
    flat = image.flat()
    assert seg[32:] == flat[32:]                            # same code and data
    magic, flags, checksum = struct.unpack_from("<3I", seg)
    assert magic == 0x1BADB002 and flags == 0x3 and (magic + flags + checksum) & 0xFFFFFFFF == 0
    assert p["off"] + 12 <= 8192                           # Multiboot: header in the first 8 KiB


def test_elf_symtab_holds_every_label_and_constant(image, tmp_path):
    path = tmp_path / "k.elf"
    path.write_bytes(image.elf())
    table = load_symbols(path)                              # no .sym.json: reads .symtab
    for name in ("_start", "work", "value", "stack_top"):
        assert table.get(name).kind == "label" and table.addr(name) == image.symbols[name].value
    assert table.constants()["PORT"] == 0xE9
    assert table.constants()["NEG"] == (-2) & 0xFFFFFFFF


def test_symbol_file_format(image, tmp_path):
    image.write(tmp_path / "k.bin", sym=tmp_path / "k.sym.json")
    d = json.loads((tmp_path / "k.sym.json").read_text())
    assert d["format"] == "irqlab-sym-1" and d["base"] == 0x100000 and d["entry"] == image.entry
    by_name = {s["name"]: s for s in d["symbols"]}
    assert by_name["work"] == {"name": "work", "value": image.symbols["work"].value, "kind": "label",
                               "file": "src.S", "line": 6}
    assert by_name["NEG"] == {"name": "NEG", "value": -2, "kind": "const", "file": "src.S", "line": 2}
    assert [image.entry, "src.S", 3] in d["lines"]
    assert set(d["sources"]) == {"src.S"}


def test_load_symbols_prefers_the_symbol_file_beside_the_image(image, tmp_path):
    image.write(tmp_path / "kernel.bin", elf=tmp_path / "kernel.elf", sym=tmp_path / "kernel.sym.json")
    for img in ("kernel.bin", "kernel.elf"):
        table = load_symbols(tmp_path / img)
        assert table.line_of(image.symbols["work"].value) == ("src.S", 6)
        assert table.symbolize(image.symbols["work"].value + 2) == "work+0x2"
        assert table.symbolize(0x10) == "0x10"
        assert "PORT" in table.constants() and "PORT" in table.names()
        with pytest.raises(KeyError, match="did you mean.*work"):
            table.addr("wrok")


@pytest.mark.parametrize("bad", [[0x100000, "a.S"], [-1, "a.S", 1], [0x100000, 7, 1],
                                 [0x100000, "a.S", True], [0x100000, "a.S", -2], "row"])
def test_a_bad_line_row_anywhere_is_named_by_its_index(tmp_path, bad):
    # the rows are checked in one pass; a bad one is then found row by row
    rows = [[0x100000 + i, "a.S", i + 1] for i in range(6)]
    rows[4] = bad
    (tmp_path / "k.sym.json").write_text(json.dumps(
        {"format": "irqlab-sym-1", "symbols": [], "lines": rows}))
    with pytest.raises(ValueError, match="line-table row 4 is not"):
        load_symbols(tmp_path / "k.bin")


def test_good_line_rows_give_each_address_its_line_up_to_the_next_row(tmp_path):
    rows = [[0x100004, "a.S", 2], [0x100000, "a.S", 1], [0x100009, "b.S", 7]]
    (tmp_path / "k.sym.json").write_text(json.dumps(
        {"format": "irqlab-sym-1", "symbols": [], "lines": rows}))
    table = load_symbols(tmp_path / "k.bin")
    assert [table.line_of(0x100000 + i) for i in (0, 3, 4, 8, 9, 24, 25)] == [
        ("a.S", 1), ("a.S", 1), ("a.S", 2), ("a.S", 2), ("b.S", 7), ("b.S", 7), None]


def test_load_symbols_of_a_flat_image_without_symbol_file_is_empty(image, tmp_path):
    (tmp_path / "k.bin").write_bytes(image.flat())
    table = load_symbols(tmp_path / "k.bin")
    assert len(table) == 0 and table.symbolize(0x100020) == "0x100020"


def test_symbolize_never_uses_constants():
    table = load_symbols_of(build(".equ BIG, 0x100021\n_start: nop\nnop\n"))
    assert table.symbolize(0x100021) == "_start+0x1"


def test_symbolize_stops_at_the_images_end_in_every_symbol_source(image, tmp_path):
    # an MMIO or heap address past the image (bss included) is no label's
    # offset: the debugger and reports showed 0xfee00000 as last_label+0xfe...
    image.write(tmp_path / "kernel.bin", elf=tmp_path / "kernel.elf", sym=tmp_path / "kernel.sym.json")
    (tmp_path / "alone.elf").write_bytes((tmp_path / "kernel.elf").read_bytes())
    tables = [load_symbols(tmp_path / "kernel.bin"), load_symbols(tmp_path / "alone.elf"),
              load_symbols_of(image)]
    assert image.symbols["stack_top"].value == image.bss_end
    for table in tables:
        assert table.symbolize(image.bss_end - 1).startswith("value+")   # in the bss
        assert table.symbolize(image.bss_end) == "stack_top"     # a label at the end
        assert table.symbolize(image.bss_end + 1) == f"{image.bss_end + 1:#x}"
        assert table.symbolize(0xFEE00000) == "0xfee00000"


def load_symbols_of(img):
    from asm.symfile import from_image
    return from_image(img)


def test_source_line_reads_the_file_named_in_sources(tmp_path):
    (tmp_path / "s.S").write_text("_start:\n    cli\n    hlt\n")
    img = asm.assemble([tmp_path / "s.S"])
    img.write(tmp_path / "s.bin", sym=tmp_path / "s.sym.json")
    table = load_symbols(tmp_path / "s.bin")
    f, line = table.line_of(img.entry + 1)
    assert line == 3 and table.source_line(f, line) == "    hlt"


def test_line_table_maps_each_byte_of_a_statement_to_its_line(image):
    start = image.entry
    assert image.lines.lookup(start) == ("src.S", 3)
    assert image.lines.lookup(start + 4) == ("src.S", 3)    # inside the 5-byte mov
    assert image.lines.lookup(start + 5) == ("src.S", 4)
    assert image.lines.lookup(image.base) is None           # the header is not source
    assert image.lines.entries()[0] == (start, "src.S", 3)


def test_listing_shows_address_bytes_file_line_and_source(image):
    lst = image.listing()
    work = image.symbols["work"].value
    assert f"{work:08x}  b0 78" in lst
    line = next(l for l in lst.splitlines() if l.startswith(f"{work:08x}  b0 78"))
    assert "src.S:6" in line and "mov al, 'x'" in line
    assert "= 0xe9" in lst and "Multiboot" in lst


def test_cli_writes_every_output(tmp_path):
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-m", "asm", "build", str(HELLO), "-o", str(out / "h.bin"),
                           "--elf", str(out / "h.elf"), "--sym", str(out / "h.sym.json"),
                           "--lst", str(out / "h.lst"), "-D", "EXIT_CODE=5", "--base", "0x100000"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in ("h.bin", "h.elf", "h.sym.json", "h.lst"):
        assert (out / name).stat().st_size > 0
    assert json.loads((out / "h.sym.json").read_text())["format"] == "irqlab-sym-1"


@pytest.mark.parametrize("kind", ["flat", "elf"])
def test_hello_boots_on_qemu_and_exits_through_the_debug_exit_port(kind, tmp_path):
    img = asm.assemble([HELLO], defines={"EXIT_CODE": 3})
    path = tmp_path / ("hello.bin" if kind == "flat" else "hello.elf")
    path.write_bytes(img.flat() if kind == "flat" else img.elf())
    result = run_qemu(str(path), timeout=60)
    assert result.console == "hello from asm\n"
    assert result.status == 3 and result.raw_status == 7


def test_gdb_resolves_a_label_from_the_elf(tmp_path):
    gdb = shutil.which("gdb")
    if gdb is None:
        if os.environ.get("CI"):
            pytest.fail("gdb is not installed")
        pytest.skip("gdb is not installed")
    img = asm.assemble([HELLO])
    path = tmp_path / "hello.elf"
    path.write_bytes(img.elf())
    proc = subprocess.run([gdb, "-batch", "-nx", str(path), "-ex", "info address puts",
                           "-ex", "info address KERNEL_CS"], capture_output=True, text=True, timeout=60)
    assert f'Symbol "puts" is at {img.symbols["puts"].value:#x}' in proc.stdout
    assert 'Symbol "KERNEL_CS" is at 0x8' in proc.stdout


def test_gdb_maps_addresses_to_source_lines_through_the_elf_line_table(tmp_path):
    gdb = shutil.which("gdb")
    if gdb is None:
        if os.environ.get("CI"):
            pytest.fail("gdb is not installed")
        pytest.skip("gdb is not installed")
    img = asm.assemble([HELLO])
    path = tmp_path / "hello.elf"
    path.write_bytes(img.elf())
    puts = img.symbols["puts"].value
    file, line = img.lines.lookup(puts)
    proc = subprocess.run([gdb, "-batch", "-nx", str(path), "-ex", f"info line *{puts:#x}"],
                          capture_output=True, text=True, timeout=60)
    assert f'Line {line} of "{HELLO}"' in proc.stdout


def test_outputs_are_renamed_into_place_but_a_link_is_written_where_it_points(image, tmp_path):
    # each file goes through a temporary beside it (a reader never sees half
    # of one); a path that is a link keeps being one, its target rewritten
    target = tmp_path / "real.bin"
    target.write_bytes(b"old")
    (tmp_path / "link.bin").symlink_to(target)
    image.write(str(tmp_path / "link.bin"), elf=str(tmp_path / "k.elf"))
    assert (tmp_path / "link.bin").is_symlink()
    assert target.read_bytes() == image.flat()
    assert (tmp_path / "k.elf").read_bytes()[:4] == b"\x7fELF"
    assert not list(tmp_path.glob("*.tmp"))
