"""emulator/cpu.py: the state an AP starts in (INIT, start-up IPI)."""

from unicorn import UC_ARCH_X86, UC_MODE_32, Uc
from unicorn import x86_const as X

from emulator.cpu import enter_real_mode, init_registers, sipi_registers


def test_sipi_state_is_real_mode_at_vector_times_4k():
    regs = sipi_registers(0x9A)
    assert regs["CS"] == 0x9A00 and regs["EIP"] == 0 and regs["CR0"] & 1 == 0
    assert init_registers()["EIP"] == 0xFFF0 and init_registers()["EFLAGS"] == 2


def test_enter_real_mode_runs_16_bit_code_at_the_sipi_address_on_a_32_bit_engine():
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 0x100000)
    # mov ax, cs ; mov bx, 0x1234 ; mov ecx, 0x12345678 (66 prefix) at 0x8000
    uc.mem_write(0x8000, bytes.fromhex("8cc8" "bb3412" "66b978563412"))
    uc.reg_write(X.UC_X86_REG_EAX, 0xDEAD0000)
    enter_real_mode(uc, 0x08)
    uc.emu_start(0, 0xFFFFFFFF, count=3)
    assert uc.reg_read(X.UC_X86_REG_AX) == 0x0800
    assert uc.reg_read(X.UC_X86_REG_BX) == 0x1234
    assert uc.reg_read(X.UC_X86_REG_ECX) == 0x12345678
    assert uc.reg_read(X.UC_X86_REG_EIP) == 11
