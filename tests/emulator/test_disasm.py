"""emulator/disasm.py decodes as the capstone package does, and a checked
``run`` starts without importing the package (issue 17: 80 ms of start-up)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import capstone

from emulator import disasm
from emulator.disasm import Disasm
from guest_kernel import harness

ROOT = Path(__file__).resolve().parents[2]


def test_the_library_is_opened_directly_not_through_the_capstone_package():
    assert disasm._library() is not None
    assert (disasm.CS_ARCH_X86, disasm.CS_MODE_32, disasm.CS_MODE_16) == \
        (capstone.CS_ARCH_X86, capstone.CS_MODE_32, capstone.CS_MODE_16)


def test_lite_gives_capstones_disasm_lite_on_kernel_code_and_random_bytes():
    ours, ours16 = Disasm(), Disasm(mode16=True)
    ref = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
    ref16 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_16)
    code = Path(harness.kernel_image("classic")).with_suffix(".bin").read_bytes()
    assert len(ours.lite(code, 0x100000)) > 100
    for off in range(0, len(code), 7):
        chunk = code[off:off + 48]
        assert ours.lite(chunk, 0x100000 + off) == list(ref.disasm_lite(chunk, 0x100000 + off))
        assert ours16.lite(chunk, off, 2) == list(ref16.disasm_lite(chunk, off, 2))
    rnd = random.Random(17)
    for _ in range(500):
        blob = bytes(rnd.randrange(256) for _ in range(32))
        assert ours.lite(blob, 0x1000) == list(ref.disasm_lite(blob, 0x1000))


def test_bytes_that_do_not_decode_give_no_instruction():
    assert Disasm().lite(b"\x0f\x04", 0x1000) == []       # no such opcode
    assert Disasm().lite(b"", 0x1000) == []
    assert Disasm().lite(b"\x90\x0f\x04\x90", 0x1000) == [(0x1000, 1, "nop", "")]


def test_a_checked_run_of_hello_does_not_import_the_capstone_package():
    image = harness.kernel_image("ithread")
    # emulator.__main__'s main, not the module run as __main__: ``python -m
    # emulator run`` ends with os._exit, before a probe's last line could run
    probe = ("import sys\n"
             "from emulator.__main__ import main\n"
             f"status = main(['run', {image!r}, '--append', 'scenario=hello'])\n"
             "sys.stderr.write('capstone imported' if 'capstone' in sys.modules else 'no capstone')\n"
             "sys.exit(status)\n")
    p = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert "PASS hello" in p.stdout
    assert p.stderr.endswith("no capstone")


def test_find_gives_every_address_and_size_and_the_instructions_naming_a_word():
    md = Disasm()
    code = Path(harness.kernel_image("classic")).with_suffix(".bin").read_bytes()
    rnd = random.Random(19)
    blobs = [code] + [bytes(rnd.randrange(256) for _ in range(64)) for _ in range(200)]
    for blob in blobs:
        for words in (("call", "ret", "sys", "sp", "lss"), ("esp",), ()):
            insns = md.lite(blob, 0x100000)
            addresses, sizes, hits = md.find(blob, 0x100000, words)
            assert addresses == [i[0] for i in insns] and sizes == [i[1] for i in insns]
            assert hits == [i for i in insns if any(w in i[2] or w in i[3] for w in words)]
