"""ACPI fixed hardware (emulator/devices/acpi_pm.py): ACPI 1.0b section 4.7
and QEMU 7.2's PIIX4 behaviour (hw/acpi/core.c)."""

from emulator.clock import Clock
from emulator.devices.acpi_pm import AcpiPm

PM1_STS, PM1_EN, PM1_CNT, PM_TMR, GPE0_STS, GPE0_EN = 0x600, 0x602, 0x604, 0x608, 0xAFE0, 0xAFE2


def make():
    clock = Clock()
    return AcpiPm(clock), clock


def test_pm_timer_counts_at_3_579545_mhz_of_virtual_time():
    pm, clock = make()
    clock.now = 1_000_000                         # 1 ms
    assert pm.io_read(PM_TMR, 4) == 3579          # floor(3579.545)
    clock.now = 1_000_000_000
    assert pm.io_read(PM_TMR, 4) == 3_579_545


def test_pm_timer_is_24_bits_wide():
    pm, clock = make()
    clock.now = 5_000_000_000                     # 17,897,725 counts: past 2^24
    assert pm.io_read(PM_TMR, 4) == 17_897_725 & 0xFFFFFF


def test_tmr_sts_reads_set_after_reset_and_clearing_it_arms_the_next_bit23_change():
    pm, clock = make()
    assert pm.io_read(PM1_STS, 2) & 1             # overflow mark 0 after reset
    pm.io_write(PM1_STS, 2, 1)
    assert not pm.io_read(PM1_STS, 2) & 1
    clock.now = 0x800000 * 1_000_000_000 // 3_579_545          # one ns short of count 2^23
    assert not pm.io_read(PM1_STS, 2) & 1
    clock.now += 1
    assert pm.io_read(PM1_STS, 2) & 1


def test_tmr_en_raises_sci_when_the_msb_changes_and_next_deadline_says_when():
    pm, clock = make()
    pm.io_write(PM1_STS, 2, 1)
    pm.io_write(PM1_EN, 2, 1)
    assert pm.sci.level == 0
    t = pm.next_deadline()
    assert t == -(-0x800000 * 1_000_000_000 // 3_579_545)
    clock.now = t
    pm.advance(t)
    assert pm.sci.level == 1
    pm.io_write(PM1_STS, 2, 1)                    # write 1 to clear: SCI falls
    assert pm.sci.level == 0


def test_status_bits_are_write_one_to_clear_and_enables_read_back():
    pm, clock = make()
    pm.wake("rtc")
    assert pm.io_read(PM1_STS, 2) & 0x8400 == 0x8400
    pm.io_write(PM1_STS, 2, 0x8000)
    assert pm.io_read(PM1_STS, 2) & 0x8400 == 0x0400
    pm.io_write(PM1_EN, 2, 0x0521)
    assert pm.io_read(PM1_EN, 2) == 0x0521


def test_sci_en_is_set_and_cleared_through_smi_cmd_not_by_writing_it():
    pm, _ = make()
    assert pm.io_read(PM1_CNT, 2) == 0
    pm.io_write(0xB2, 1, 0xF1)
    assert pm.io_read(PM1_CNT, 2) & 1 and pm.io_read(0xB2, 1) == 0xF1
    pm.io_write(0xB2, 1, 0xF0)
    assert not pm.io_read(PM1_CNT, 2) & 1


def test_slp_en_reports_the_sleep_state_its_slp_typ_names_and_reads_back_clear():
    pm, _ = make()
    seen = []
    pm.on_sleep = seen.append
    for typ in (0, 1, 2, 5):
        pm.io_write(PM1_CNT, 2, (typ << 10) | 0x2000)
    assert seen == ["S5", "S3", "S4"]             # SLP_TYP 5 means nothing
    assert pm.io_read(PM1_CNT, 2) == 5 << 10      # SLP_EN is write-only


def test_byte_accesses_are_widened_at_their_own_offset_as_qemu_does():
    pm, _ = make()
    pm.io_write(PM1_EN, 2, 0x0401)
    assert pm.io_read(PM1_EN + 1, 1) == 0           # odd event offset: reads 0
    pm.io_write(PM1_EN + 1, 1, 0x05)                # ... and writes nothing
    assert pm.io_read(PM1_EN, 2) == 0x0401
    pm.io_write(PM1_EN, 1, 0x20)                    # the other byte is written as 0
    assert pm.io_read(PM1_EN, 2) == 0x0020
    assert pm.io_read(PM1_STS, 4) == pm.io_read(PM1_STS, 2) | 0x0020 << 16


def test_pm1_cnt_high_byte_alone_keeps_the_low_byte_and_can_sleep():
    pm, _ = make()
    seen = []
    pm.on_sleep = seen.append
    pm.io_write(0xB2, 1, 0xF1)
    pm.io_write(PM1_CNT + 1, 1, 0x24)               # SLP_EN | SLP_TYP 1
    assert seen == ["S3"] and pm.io_read(PM1_CNT, 2) == 0x0401


def test_gpe0_registers_are_bytes():
    pm, _ = make()
    pm.io_write(GPE0_EN, 1, 0x12)
    pm.io_write(GPE0_EN + 1, 1, 0x34)
    assert pm.io_read(GPE0_EN, 2) == 0x3412


def test_gpe0_enable_reads_back_and_no_gpe_is_ever_pending():
    pm, _ = make()
    pm.io_write(GPE0_EN, 2, 0xFFFF)
    assert pm.io_read(GPE0_EN, 2) == 0xFFFF and pm.io_read(GPE0_STS, 2) == 0
    assert pm.sci.level == 0
