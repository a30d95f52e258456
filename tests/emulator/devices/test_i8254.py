"""8254 PIT: each test names the datasheet (Intel 231164) rule it checks.

Time is virtual: one instruction is one nanosecond, the PIT counts at
1.193182 MHz, so a count of N ends after muldiv(N, 1e9, 1193182) ns plus
QEMU's one-nanosecond rounding guard where the product is not exact.
"""

from emulator.clock import Clock, muldiv
from emulator.devices.i8254 import PIT_FREQ, Pit

CH0, CH2, CTRL, P61 = 0x40, 0x42, 0x43, 0x61


def ns_for(ticks):
    return muldiv(ticks, 1_000_000_000, PIT_FREQ)


def changes(record, start=0):
    """A sink that records the level only when it changes (the PIT, like
    QEMU's, re-drives IRQ0 at every timer event, changed or not)."""
    state = {"level": start}

    def sink(level):
        if level != state["level"]:
            state["level"] = level
            record(level)
    return sink


def make():
    clock = Clock()
    pit = Pit(clock)
    levels = []
    pit.irq.sink = changes(levels.append)
    return pit, clock, levels


def run_to(pit, clock, t):
    """Advance like the machine: stop at every deadline up to t."""
    while True:
        d = pit.next_deadline()
        if d is None or d > t:
            break
        clock.now = d
        pit.advance(d)
    clock.now = t
    pit.advance(t)


def program(pit, ch, mode, count, access=3):
    pit.io_write(CTRL, 1, (ch << 6) | (access << 4) | (mode << 1))
    port = 0x40 + ch
    if access == 1:
        pit.io_write(port, 1, count & 0xFF)
    elif access == 2:
        pit.io_write(port, 1, count >> 8)
    else:
        pit.io_write(port, 1, count & 0xFF)
        pit.io_write(port, 1, count >> 8)


def read_word(pit, ch):
    lo = pit.io_read(0x40 + ch, 1)
    return lo | (pit.io_read(0x40 + ch, 1) << 8)


def test_after_reset_channel0_runs_mode3_at_65536_without_driving_the_line_at_time_0():
    pit, clock, levels = make()
    assert levels == []                                  # QEMU's reset only arms the timer
    run_to(pit, clock, ns_for(0x10000) + 2)
    # the first timer finds OUT high (first half of the square wave), then it
    # falls at half the count and rises again at the full count
    assert levels == [1, 0, 1]


def test_mode0_out_goes_high_at_terminal_count_and_stays_high():
    pit, clock, levels = make()
    program(pit, 0, 0, 100)
    assert pit.irq.level == 0                             # OUT low after the count is written
    run_to(pit, clock, ns_for(100))
    assert pit.irq.level == 0                             # 99.99 clocks: not yet
    run_to(pit, clock, ns_for(100) + 1)
    assert pit.irq.level == 1
    assert pit.next_deadline() is None                    # mode 0 does not repeat
    run_to(pit, clock, 10 * ns_for(100))
    assert levels == [1]


def test_mode0_counter_reads_count_down_from_loaded_value():
    pit, clock, _ = make()
    program(pit, 0, 0, 1000)
    clock.now = ns_for(10) + 1
    assert read_word(pit, 0) == 990


def rise_times(pit, clock, until):
    times = []
    pit.irq.sink = changes(lambda level: times.append((clock.now, level)), pit.irq.level)
    run_to(pit, clock, until)
    return times


def test_mode2_rate_generator_pulses_once_every_count():
    pit, clock, _ = make()
    program(pit, 0, 2, 50)
    times = rise_times(pit, clock, ns_for(50 * 4 + 2))
    # one rising edge per period; QEMU's floor arithmetic lowers OUT one
    # clock before the next terminal count and raises it at the count
    assert [lvl for _, lvl in times] == [1, 0, 1, 0, 1, 0, 1]
    rises = [t for t, lvl in times if lvl]
    # QEMU's timer lands on the first ns at which k*count clocks have elapsed
    for k, t in enumerate(rises, 1):
        assert muldiv(t, PIT_FREQ, 1_000_000_000) == 50 * k
        assert muldiv(t - 1, PIT_FREQ, 1_000_000_000) < 50 * k or t == ns_for(50 * k + 1)


def test_mode2_count_reload_is_periodic():
    pit, clock, _ = make()
    program(pit, 0, 2, 100)
    clock.now = ns_for(250) + 1
    assert read_word(pit, 0) == 50                        # 250 mod 100 = 50 clocks into a period


def test_mode3_square_wave_high_for_half_the_count():
    pit, clock, levels = make()
    program(pit, 0, 3, 100)
    assert pit.irq.level == 1
    run_to(pit, clock, ns_for(49))
    assert pit.irq.level == 1
    run_to(pit, clock, ns_for(51))
    assert pit.irq.level == 0
    run_to(pit, clock, ns_for(101))
    assert pit.irq.level == 1


def test_mode4_software_strobe_pulses_once_at_terminal_count():
    pit, clock, levels = make()
    program(pit, 0, 4, 30)
    run_to(pit, clock, ns_for(200))
    assert levels[-2:] == [1, 0]
    assert levels.count(1) == 1
    assert pit.next_deadline() is None


def test_lobyte_only_access_loads_and_reads_one_byte():
    pit, clock, _ = make()
    program(pit, 0, 0, 0x80, access=1)
    clock.now = ns_for(0x10) + 1
    assert pit.io_read(CH0, 1) == 0x70
    assert pit.io_read(CH0, 1) == 0x70                    # every read is the LSB


def test_hibyte_only_access_loads_count_times_256():
    pit, clock, _ = make()
    program(pit, 0, 0, 0x0200, access=2)
    assert pit.io_read(CH0, 1) == 0x02


def test_count_of_zero_means_65536():
    pit, clock, _ = make()
    program(pit, 0, 2, 0)
    clock.now = ns_for(1) + 1
    assert read_word(pit, 0) == 0xFFFF


def test_counter_latch_freezes_the_value_until_both_bytes_are_read():
    pit, clock, _ = make()
    program(pit, 0, 0, 1000)
    clock.now = ns_for(100) + 1
    pit.io_write(CTRL, 1, 0x00)                           # latch counter 0
    clock.now = ns_for(300) + 1
    pit.io_write(CTRL, 1, 0x00)                           # a second latch is ignored
    assert read_word(pit, 0) == 900
    assert read_word(pit, 0) == 700                       # the latch is gone


def test_read_back_latches_status_with_out_rw_mode_bcd():
    pit, clock, _ = make()
    program(pit, 2, 0, 10)
    pit.io_write(CTRL, 1, 0xC0 | 0x20 | 0x08)             # read-back: status only, counter 2
    assert pit.io_read(CH2, 1) == (0 << 7) | (3 << 4) | (0 << 1)
    clock.now = ns_for(11)
    pit.io_write(CTRL, 1, 0xE8)
    assert pit.io_read(CH2, 1) & 0x80                     # OUT is now high


def test_read_back_can_latch_status_and_count_together_status_first():
    pit, clock, _ = make()
    program(pit, 0, 2, 500)
    program(pit, 2, 0, 400)
    clock.now = ns_for(100) + 1
    pit.io_write(CTRL, 1, 0xC0 | 0x02 | 0x08)             # count+status, counters 0 and 2
    clock.now = ns_for(200) + 1
    assert pit.io_read(CH0, 1) == (3 << 4) | (2 << 1)
    assert read_word(pit, 0) == 400
    assert pit.io_read(CH2, 1) == (3 << 4) | (0 << 1)
    assert read_word(pit, 2) == 300


def test_port61_reports_gate_and_out_of_counter2():
    pit, clock, _ = make()
    assert pit.io_read(P61, 1) & 0x01 == 0                # gate 2 off after reset
    pit.io_write(P61, 1, 0x01)
    program(pit, 2, 0, 20)
    assert pit.io_read(P61, 1) & 0x21 == 0x01             # gate on, OUT low
    clock.now = ns_for(21)
    assert pit.io_read(P61, 1) & 0x20 == 0x20             # OUT high at terminal count


def test_port61_refresh_bit_toggles_on_every_read():
    pit, _, _ = make()
    a = pit.io_read(P61, 1) & 0x10
    b = pit.io_read(P61, 1) & 0x10
    assert a != b


def test_rising_gate_restarts_mode2_counting():
    pit, clock, _ = make()
    program(pit, 2, 2, 100)
    clock.now = ns_for(60) + 1
    pit.io_write(P61, 1, 0x01)                            # gate rises: reload
    clock.now += ns_for(10) + 1
    assert read_word(pit, 2) == 90


def test_control_port_reads_zero():
    pit, _, _ = make()
    assert pit.io_read(CTRL, 1) == 0


def test_deadlines_match_qemu_rounding_for_1khz_tick():
    pit, clock, levels = make()
    program(pit, 0, 2, 1193)                              # ~1 kHz
    times = rise_times(pit, clock, 3_100_000)
    rises = [t for t, lvl in times if lvl]
    # QEMU schedules the rise at muldiv(k*1193 + 1, 1e9, PIT_FREQ): the last ns
    # before k*1193 + 1 clocks, at which k*1193 clocks have elapsed
    assert rises == [ns_for(k * 1193 + 1) for k in (1, 2, 3)]


def test_irq0_is_driven_at_every_timer_event_even_unchanged_as_qemu_set_irq():
    pit, clock, _ = make()
    calls = []
    pit.irq.sink = calls.append
    program(pit, 0, 0, 100)
    run_to(pit, clock, ns_for(100) + 1)
    assert calls == [0, 0, 1]        # at the load, at the rounded deadline, at the count


def test_irq_control_off_stops_irq0_and_on_drives_out_as_of_now():
    # QEMU's pit_irq_control, which the HPET's LEG_RT_CNF drives: counting
    # goes on, but no transition is scheduled or driven while it is off
    pit, clock, levels = make()
    pit.io_write(CTRL, 1, 0x34)                     # counter 0, mode 2
    pit.io_write(CH0, 1, 100)
    pit.io_write(CH0, 1, 0)
    pit.irq_control(0)
    assert pit.next_deadline() is None
    run_to(pit, clock, ns_for(350))
    assert levels == []
    pit.irq_control(1)                              # mid-period: OUT is low in QEMU's mode 2
    assert pit.irq.level == 0 and pit.next_deadline() is not None
    run_to(pit, clock, ns_for(402))
    assert levels == [1]                            # the terminal count at 400 comes through
