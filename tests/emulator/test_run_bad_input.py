"""Issue 16: a bad image, symbol file or output is one line with README's status.

Loader cases are checked on loader.load / Machine.from_image (cheap); the
command-line cases run `python -m emulator run` once each, bounded by
--max-instructions (the timeout only detects a hang).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest

import asm
from emulator import loader
from emulator.machine import Machine, MachineError

SRC = "_start:\n    mov eax, 1\n    out 0xf4, al\n.data\nword: .long 7\n.bss\nbuf: .space 64\n"


@pytest.fixture(scope="module")
def image():
    return asm.assemble_text(SRC)


def load(data: bytes, mib: int = 4):
    return loader.load(data, bytearray(mib << 20))


def patched(data: bytes, fmt: str, off: int, value: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, off, value)
    return bytes(b)


def run(*args, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "emulator", "run", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, **kw)


def one_line_error(r, status=2):
    assert r.returncode == status, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


# ---- the ELF, field by field
def test_an_elf_cut_short_is_an_image_error(image):
    elf = image.elf()
    for n in (5, 40, 60, 100, 0x1000):
        with pytest.raises(loader.ImageError, match="cut short|outside|runs past"):
            load(elf[:n])


@pytest.mark.parametrize("field,fmt,off,value,match", [
    ("e_phoff", "<I", 28, 0x7FFFFFFF, "program header table"),
    ("e_shoff", "<I", 32, 0x7FFFFFFF, "section header table"),
    ("e_shnum", "<H", 48, 0xFFFF, "section header table"),
    ("e_phnum", "<H", 44, 0xFFFF, "program header table"),
    ("e_phentsize", "<H", 42, 4, "entries are 4 bytes"),
    ("e_shentsize", "<H", 46, 8, "entries are 8 bytes"),
    ("e_shstrndx", "<H", 50, 0xFFF0, "section-name index"),
])
def test_a_bogus_elf_header_field_is_an_image_error(image, field, fmt, off, value, match):
    with pytest.raises(loader.ImageError, match=match):
        load(patched(image.elf(), fmt, off, value))


def test_a_segment_with_memsz_below_filesz_is_an_image_error(image):
    elf = image.elf()
    filesz = struct.unpack_from("<I", elf, 52 + 16)[0]
    with pytest.raises(loader.ImageError, match="p_memsz .* smaller than its p_filesz"):
        load(patched(elf, "<I", 52 + 20, filesz - 4))


def test_a_segment_with_memsz_4_gib_is_refused_before_any_memory_is_used(image):
    with pytest.raises(loader.ImageError, match="outside the machine's 4 MiB"):
        load(patched(image.elf(), "<I", 52 + 20, 0xFFFFFFFF))


def test_a_section_outside_the_file_is_an_image_error(image):
    elf = image.elf()
    shoff = struct.unpack_from("<I", elf, 32)[0]
    symtab = shoff + 5 * 40                      # null, .multiboot, .text, .data, .bss, .symtab
    assert struct.unpack_from("<I", elf, symtab + 4)[0] == 2
    with pytest.raises(loader.ImageError, match="section .* runs past the end"):
        load(patched(elf, "<I", symtab + 20, 0x7FFFFFFF))


def test_a_multiboot_bss_end_of_4_gib_is_refused_before_any_memory_is_used(image):
    with pytest.raises(loader.ImageError, match="the bss at .* outside"):
        load(patched(image.flat(), "<I", 24, 0xFFFFFFFF))


def test_a_good_elf_and_flat_image_still_load(image):
    assert load(image.elf()).entry == load(image.flat()).entry == image.entry


# ---- files: devices, directories, symbol files
def test_running_dev_zero_is_a_one_line_error():
    assert one_line_error(run("/dev/zero")) == "irqlab run: /dev/zero is not a regular file"


def test_running_a_directory_is_a_one_line_error(tmp_path):
    assert "Is a directory" in one_line_error(run(tmp_path))


def test_an_image_larger_than_ram_is_an_image_error(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(bytes((1 << 20) + 1))
    with pytest.raises(MachineError, match="larger than the machine's 1 MiB"):
        Machine.from_image(path, mem_mib=1)


@pytest.mark.parametrize("content,match", [
    ("[]", "not an irqlab-sym-1 symbol file"),
    ("{", "not an irqlab-sym-1 symbol file"),
    ("[" * 100000 + "]" * 100000, "not an irqlab-sym-1 symbol file"),
    ('{"format": "irqlab-sym-1", "symbols": [{"name": "", "value": 1, "kind": "label"}]}',
     "symbol 0 has no usable name"),
    ('{"format": "irqlab-sym-1", "symbols": [{"name": "x", "value": "1", "kind": "label"}]}',
     "symbol 'x' has no usable value"),
    ('{"format": "irqlab-sym-1", "symbols": [], "lines": [[1, 2]]}', "line-table row 0"),
    ('{"format": "irqlab-sym-1", "symbols": 5}', "'symbols' must be a list"),
])
def test_a_broken_symbol_file_is_an_image_error(tmp_path, image, content, match):
    (tmp_path / "k.bin").write_bytes(image.flat())
    (tmp_path / "k.sym.json").write_text(content)
    with pytest.raises(loader.ImageError, match=match):
        loader.image_symbols(tmp_path / "k.bin")


def test_a_symbol_file_of_an_empty_list_is_a_one_line_error_on_the_command_line(tmp_path, image):
    (tmp_path / "k.bin").write_bytes(image.flat())
    (tmp_path / "k.sym.json").write_text("[]")
    line = one_line_error(run(tmp_path / "k.bin", "--max-instructions", 100))
    assert line == f"irqlab run: {tmp_path / 'k.sym.json'}: not an irqlab-sym-1 symbol file"


def test_the_symbol_file_the_assembler_writes_still_loads(tmp_path, image):
    image.write(str(tmp_path / "k.bin"), sym=str(tmp_path / "k.sym.json"))
    assert loader.image_symbols(tmp_path / "k.bin").addr("word") == image.symbols["word"].value
    assert json.loads((tmp_path / "k.sym.json").read_text())["format"] == "irqlab-sym-1"


# ---- inputs and outputs of the run
def test_serial_input_from_dev_zero_is_a_one_line_error(tmp_path, image):
    (tmp_path / "k.bin").write_bytes(image.flat())
    line = one_line_error(run(tmp_path / "k.bin", "--serial-in", "/dev/zero"))
    assert line.startswith("irqlab run: --serial-in /dev/zero holds more than 16 MiB")


def test_a_negative_instruction_budget_is_a_one_line_error(tmp_path, image):
    (tmp_path / "k.bin").write_bytes(image.flat())
    assert "must not be negative" in one_line_error(run(tmp_path / "k.bin", "--max-instructions", -5))


@pytest.mark.parametrize("target", ["/dev/full", "/dev/full.gz"])
def test_a_trace_onto_a_full_disk_is_one_line_and_status_74_not_a_pass(tmp_path, image, target):
    (tmp_path / "k.bin").write_bytes(image.flat())
    if target.endswith(".gz"):                   # a gzip writer onto the full device
        (tmp_path / "t.gz").symlink_to("/dev/full")
        target = tmp_path / "t.gz"
    r = run(tmp_path / "k.bin", "--max-instructions", 1000, "--trace", target)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 74, r.stderr
    assert lines[-1] == f"irqlab run: cannot write --trace {target}: No space left on device"
    assert "Traceback" not in r.stderr


def test_a_trace_that_cannot_be_opened_is_status_2(tmp_path, image):
    (tmp_path / "k.bin").write_bytes(image.flat())
    r = run(tmp_path / "k.bin", "--trace", tmp_path / "no" / "such" / "dir.jsonl")
    assert "cannot write --trace" in one_line_error(r)


def test_a_debug_session_tracing_onto_a_full_disk_ends_with_one_line_and_status_74(tmp_path):
    # the PIC writes give the trace events (the writer only fails when it writes)
    guest = asm.assemble_text("_start:\n mov al, 0xfe\n out 0x21, al\n mov al, 1\n out 0xf4, al\n")
    (tmp_path / "k.bin").write_bytes(guest.flat())
    r = subprocess.run([sys.executable, "-m", "emulator", "debug", str(tmp_path / "k.bin"),
                        "--max-instructions", "1000", "--trace", "/dev/full"],
                       input="continue\nquit\n", capture_output=True, text=True, timeout=120)
    assert r.returncode == 74, r.stderr
    assert r.stderr.strip().splitlines()[-1] == \
        "debug: cannot write --trace /dev/full: No space left on device"
    assert "Traceback" not in r.stderr
