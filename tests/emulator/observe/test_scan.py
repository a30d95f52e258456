"""The capstone scan that finds iret sites, ESP loads and return addresses."""

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.observe.scan import scan_code, scan_code_full

BASE = 0x100000


def code(*hexes):
    return bytes.fromhex("".join(h.replace(" ", "") for h in hexes))


def test_mov_pop_xchg_lss_into_esp_are_esp_loads_hooked_at_the_next_instruction():
    c = code("89c4",          # mov esp, eax          @0
             "8b6304",        # mov esp, [ebx+4]      @2
             "5c",            # pop esp               @5
             "87e0",          # xchg eax, esp         @6
             "0fb22500100000",  # lss esp, [0x1000]   @8
             "90")            #                      @15
    cm = scan_code(c, BASE)
    assert cm.esp_loads == {BASE: BASE + 2, BASE + 2: BASE + 5, BASE + 5: BASE + 6,
                            BASE + 6: BASE + 8, BASE + 8: BASE + 15}


def test_esp_adjustments_are_not_stack_switches():
    c = code("83ec10",        # sub esp, 0x10
             "8d6424f0",      # lea esp, [esp-0x10]
             "c9",            # leave
             "50", "58")      # push eax; pop eax
    assert scan_code(c, BASE).esp_loads == {}


def test_iret_sites_and_return_addresses_are_found():
    c = code("e800000000",    # call +0      @0, returns to 5
             "ffd0",          # call eax     @5, returns to 7
             "cf")            # iretd        @7
    cm = scan_code(c, BASE)
    assert cm.iret == {BASE + 7}
    assert cm.returns == {BASE + 5, BASE + 7}


def test_the_sweep_resynchronises_after_bytes_that_do_not_decode():
    c = code("0fff", "cf")     # an invalid opcode, then iretd
    cm = scan_code(c, BASE)
    assert BASE + 2 in cm.iret


def test_line_table_starts_find_instructions_the_sweep_missed():
    # data byte b8 swallows the next 4 bytes as mov eax, imm32 in the sweep
    c = code("b8", "89c4", "90", "90")
    cm = scan_code(c, BASE)
    assert BASE + 1 not in cm.esp_loads
    cm = scan_code(c, BASE, starts=[BASE + 1])
    assert cm.esp_loads[BASE + 1] == BASE + 3


# -- the fast sweep against the all-detail reference --------------------------

def test_the_fast_scan_finds_exactly_what_the_full_detail_scan_finds_on_every_kernel():
    from emulator.loader import image_symbols
    from emulator.machine import Machine
    from emulator.observe.symbols import Symbols
    from guest_kernel.catalog import MODELS
    from guest_kernel.harness import kernel_image
    for model in MODELS:
        image = kernel_image(model)
        m = Machine.from_image(image)
        lines = Symbols(image_symbols(image)).lines()
        base, end = min(lines), max(lines) + 16
        data = m.mem_read(base, end - base)
        fast, full = scan_code(data, base, lines), scan_code_full(data, base, lines)
        assert fast == full, model
        assert full.iret and full.esp_loads and full.returns


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=400))
def test_the_fast_scan_equals_the_full_scan_on_any_bytes(data):
    starts = [BASE + i for i in range(0, len(data), 7)]
    assert scan_code(data, BASE, starts) == scan_code_full(data, BASE, starts)


def test_the_fast_scan_equals_the_full_scan_over_every_two_byte_opcode():
    # every first byte with a sixteenth of the second bytes (a different
    # sixteenth for each), padded so ModRM/SIB/immediate forms decode
    for a in range(256):
        data = b"".join(bytes([a, b, 0x24, 0, 0, 0, 0, 0]) for b in range(a % 16, 256, 16))
        assert scan_code(data, BASE) == scan_code_full(data, BASE), hex(a)
