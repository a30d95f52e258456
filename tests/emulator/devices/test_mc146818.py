"""MC146818A RTC: each test names the datasheet rule it checks."""

import datetime

from emulator.clock import Clock
from emulator.devices.mc146818 import Rtc

SEC = 1_000_000_000


def make(**kw):
    clock = Clock()
    rtc = Rtc(clock, **kw)
    levels = []                                    # the wire's changes (edges)

    def sink(level):
        if not levels or levels[-1] != level:
            if levels or level:
                levels.append(level)
    rtc.irq.sink = sink
    rtc.levels = levels
    return rtc, clock


def rd(rtc, index):
    rtc.io_write(0x70, 1, index)
    return rtc.io_read(0x71, 1)


def wr(rtc, index, value):
    rtc.io_write(0x70, 1, index)
    rtc.io_write(0x71, 1, value)


def run_to(rtc, clock, t):
    while True:
        d = rtc.next_deadline()
        if d is None or d > t:
            break
        clock.now = d
        rtc.advance(d)
    clock.now = t
    rtc.advance(t)


def test_time_starts_at_the_fixed_epoch_in_bcd_24h():
    rtc, _ = make()
    assert [rd(rtc, i) for i in (0, 2, 4, 6, 7, 8, 9, 0x32)] == [0, 0, 0, 7, 1, 1, 0, 0x20]


def test_epoch_is_a_constructor_argument():
    rtc, _ = make(epoch=datetime.datetime(2024, 2, 29, 23, 59, 58))
    assert [rd(rtc, i) for i in (0, 2, 4, 7, 8, 9)] == [0x58, 0x59, 0x23, 0x29, 0x02, 0x24]


def test_update_cycle_advances_seconds_and_carries_into_the_date():
    rtc, clock = make(epoch=datetime.datetime(1999, 12, 31, 23, 59, 59))
    clock.now = SEC
    assert [rd(rtc, i) for i in (0, 2, 4, 7, 8, 9, 0x32)] == [0, 0, 0, 1, 1, 0, 0x20]
    assert rd(rtc, 6) == 7                         # Friday -> Saturday


def test_binary_and_12_hour_modes_per_register_b():
    rtc, _ = make(epoch=datetime.datetime(2000, 1, 1, 13, 5, 9))
    wr(rtc, 11, 0x04)                              # DM=1 binary, 24/12=0: 12-hour
    wr(rtc, 4, 0x81)                               # 1 PM in binary 12-hour
    wr(rtc, 2, 59)
    wr(rtc, 0, 59)
    rtc.clock.now = SEC
    assert rd(rtc, 4) == 0x82                      # 2 PM
    assert rd(rtc, 2) == 0 and rd(rtc, 0) == 0


def test_changing_dm_or_24_12_shows_the_same_time_in_the_new_format():
    # The datasheet leaves the bytes' meaning open after a format change made
    # without setting the time again; QEMU formats its clock at every read, so
    # the time reads in the new format (tests/probes/devices/rtc_date.S).
    rtc, _ = make(epoch=datetime.datetime(2019, 6, 30, 23, 45, 12))
    wr(rtc, 11, 0x06)                              # binary, 24-hour
    assert [rd(rtc, i) for i in (0, 2, 4, 7, 8, 9, 0x32)] == [12, 45, 23, 30, 6, 19, 20]
    wr(rtc, 11, 0x04)                              # binary, 12-hour: 11 PM
    assert rd(rtc, 4) == 0x80 | 11
    wr(rtc, 11, 0x00)                              # BCD, 12-hour
    assert [rd(rtc, 4), rd(rtc, 0x32)] == [0x80 | 0x11, 0x20]
    wr(rtc, 11, 0x02)                              # back to BCD, 24-hour
    assert [rd(rtc, i) for i in (0, 2, 4, 7, 8, 9)] == [0x12, 0x45, 0x23, 0x30, 0x06, 0x19]


def test_a_format_change_with_set_leaves_the_bytes_for_the_guest_to_rewrite():
    rtc, _ = make(epoch=datetime.datetime(2019, 6, 30, 23, 45, 12))
    wr(rtc, 11, 0x86)                              # SET, binary: the bytes stay as they were
    assert rd(rtc, 0) == 0x12


def test_set_bit_stops_updates_and_clears_uie():
    rtc, clock = make()
    wr(rtc, 11, 0x80 | 0x10 | 0x02)
    assert rd(rtc, 11) == 0x82
    clock.now = 3 * SEC
    assert rd(rtc, 0) == 0


def test_periodic_rate_sets_pf_every_period_and_irq_with_pie():
    rtc, clock = make()
    wr(rtc, 10, 0x26)                              # 1024 Hz: 32 ticks of 32.768 kHz
    wr(rtc, 11, 0x42)                              # PIE
    first = rtc.next_deadline()
    assert first == -(-32 * SEC // 32768)          # 976563 ns, rounded up
    run_to(rtc, clock, first - 1)
    assert rtc.irq.level == 0
    run_to(rtc, clock, first)
    assert rtc.irq.level == 1
    assert rd(rtc, 12) == 0xC0                     # IRQF | PF
    assert rtc.irq.level == 0


def test_register_c_is_cleared_by_reading_it():
    rtc, clock = make()
    wr(rtc, 11, 0x42)
    run_to(rtc, clock, SEC // 100)
    assert rd(rtc, 12) & 0x40
    assert rd(rtc, 12) == 0


def test_line_stays_high_until_c_is_read_so_later_periods_give_no_new_edge():
    rtc, clock = make()
    wr(rtc, 11, 0x42)
    run_to(rtc, clock, SEC // 100)                 # ten periods at 1024 Hz
    assert rtc.levels == [1]
    rd(rtc, 12)
    run_to(rtc, clock, SEC // 50)
    assert rtc.levels == [1, 0, 1]


def test_periodic_rate_table_rate_3_is_8192_hz_and_rate_15_is_2_hz():
    for rate, period_ticks in ((3, 4), (15, 16384), (1, 128), (2, 256)):
        rtc, clock = make()
        wr(rtc, 10, 0x20 | rate)
        wr(rtc, 11, 0x42)
        assert rtc.next_deadline() == -(-period_ticks * SEC // 32768)


def test_pf_is_set_without_pie_and_raises_no_irq():
    rtc, clock = make()
    clock.now = SEC // 100
    assert rd(rtc, 12) == 0x40
    assert rtc.levels == []


def test_update_ended_interrupt_once_a_second():
    rtc, clock = make()
    wr(rtc, 11, 0x12)                              # UIE
    assert rtc.next_deadline() == SEC
    run_to(rtc, clock, SEC)
    assert rtc.irq.level == 1
    assert rd(rtc, 12) & 0x90 == 0x90              # IRQF | UF


def test_alarm_interrupt_with_dont_care_bytes():
    rtc, clock = make()
    wr(rtc, 1, 5)                                  # seconds alarm = 05
    wr(rtc, 3, 0xFF)                               # any minute
    wr(rtc, 5, 0xC0)                               # any hour
    wr(rtc, 11, 0x22)                              # AIE
    run_to(rtc, clock, 4 * SEC)
    assert rtc.irq.level == 0
    run_to(rtc, clock, 5 * SEC)
    assert rtc.irq.level == 1
    assert rd(rtc, 12) & 0xA0 == 0xA0              # IRQF | AF


def test_uip_is_set_244_us_before_the_update():
    rtc, clock = make()
    clock.now = SEC - 244_140 - 1
    assert rd(rtc, 10) & 0x80 == 0
    clock.now = SEC - 244_000
    assert rd(rtc, 10) & 0x80


def test_divider_reset_stops_the_clock_and_first_update_is_half_a_second_later():
    rtc, clock = make()
    wr(rtc, 10, 0x76)                              # DV = 111: divider reset
    clock.now = 5 * SEC
    assert rd(rtc, 0) == 0
    wr(rtc, 10, 0x26)
    clock.now = 5 * SEC + SEC // 2 - 1
    assert rd(rtc, 0) == 0
    clock.now = 5 * SEC + SEC // 2
    assert rd(rtc, 0) == 1


def test_register_d_reads_valid_ram_and_time():
    rtc, _ = make()
    assert rd(rtc, 13) == 0x80


def test_cmos_ram_bytes_hold_values():
    rtc, _ = make()
    wr(rtc, 0x40, 0xA5)
    assert rd(rtc, 0x40) == 0xA5


def test_port_70_bit_7_is_the_nmi_mask_and_reads_ff():
    rtc, _ = make()
    rtc.io_write(0x70, 1, 0x8F)
    assert rtc.nmi_masked == 1
    assert rtc.index == 0x0F
    assert rtc.io_read(0x70, 1) == 0xFF


def test_reset_clears_interrupt_enables_and_flags_but_keeps_time_and_ram():
    rtc, clock = make()
    wr(rtc, 0x40, 0x11)
    wr(rtc, 11, 0x72)
    clock.now = 2 * SEC
    rtc.reset()
    assert rd(rtc, 11) == 0x02
    assert rd(rtc, 0x40) == 0x11
    assert rd(rtc, 0) == 2
    assert rd(rtc, 12) == 0


def test_periodic_event_re_raises_the_line_every_period_as_qemu():
    rtc, clock = make()
    calls = []
    wr(rtc, 11, 0x42)
    rtc.irq.sink = calls.append
    run_to(rtc, clock, 3 * (SEC // 1024) + SEC // 2048)
    assert calls == [1, 1, 1]                      # one raise per period, IRQF still set


def test_memory_size_bytes_follow_the_pc_bios_layout():
    rtc, _ = make()
    rtc.set_memory_size(32 << 20)
    assert [rd(rtc, i) for i in (0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35)] == [
        0x80, 0x02,            # 640 KiB base memory
        0x00, 0x7C,            # 31 MiB = 31744 KiB above 1 MiB
        0x00, 0x7C,
        0x00, 0x01]            # 16 MiB above 16 MiB = 256 blocks of 64 KiB


def test_pc_config_puts_qemus_equipment_boot_order_and_cpu_count_in_cmos():
    # QEMU pc_cmos_init: FPU + PS/2 mouse, boot c-a-d, CPUs - 1; 0x37 is the
    # century byte under its PS/2 name
    rtc = Rtc(Clock())
    rtc.set_pc_config(4)
    cmos = []
    for index in (0x14, 0x3D, 0x38, 0x37, 0x5F):
        rtc.io_write(0x70, 1, index)
        cmos.append(rtc.io_read(0x71, 1))
    assert cmos == [0x06, 0x12, 0x30, 0x20, 3]


def test_the_ps2_century_byte_is_the_century_byte_under_another_name():
    rtc = Rtc(Clock())
    rtc.io_write(0x70, 1, 0x37)
    rtc.io_write(0x71, 1, 0x21)
    rtc.io_write(0x70, 1, 0x32)
    assert rtc.io_read(0x71, 1) == 0x21
