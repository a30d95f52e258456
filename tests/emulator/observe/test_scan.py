"""The capstone scan that finds iret sites, ESP loads and return addresses."""

from emulator.observe.scan import scan_code

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
