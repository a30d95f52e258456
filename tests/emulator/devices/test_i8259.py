"""8259A pair: each test names the datasheet (Intel 231468) or PIIX rule it checks.

Vectors: the master is initialised at 0x20, the slave at 0x28, as a PC kernel does.
"""

import pytest

from emulator.devices.i8259 import PicPair

M_CMD, M_DATA, S_CMD, S_DATA = 0x20, 0x21, 0xA0, 0xA1
EOI, SEOI = 0x20, 0x60          # OCW2 non-specific / specific EOI


def make(auto_eoi=False, sfnm=False):
    pic = PicPair()
    events = []
    pic.trace = lambda kind, **f: events.append((kind, f))
    levels = []
    pic.output_changed = levels.append
    icw4 = 0x01 | (0x02 if auto_eoi else 0) | (0x10 if sfnm else 0)
    for cmd, data, base, icw3 in ((M_CMD, M_DATA, 0x20, 0x04), (S_CMD, S_DATA, 0x28, 0x02)):
        pic.io_write(cmd, 1, 0x11)          # ICW1: edge, cascade, ICW4 needed
        pic.io_write(data, 1, base)         # ICW2
        pic.io_write(data, 1, icw3)         # ICW3
        pic.io_write(data, 1, icw4)         # ICW4: 8086 mode
    pic.events, pic.levels = events, levels
    return pic


def edge(pic, line):
    pic.set_irq(line, 1)
    pic.set_irq(line, 0)


def read_isr(pic, cmd):
    pic.io_write(cmd, 1, 0x0B)              # OCW3: read ISR
    value = pic.io_read(cmd, 1)
    pic.io_write(cmd, 1, 0x0A)              # back to IRR
    return value


def test_icw2_sets_vector_base_and_ack_returns_base_plus_line():
    pic = make()
    edge(pic, 3)
    assert pic.intr_level() == 1
    assert pic.acknowledge() == 0x23
    edge(pic, 10)
    pic.io_write(M_CMD, 1, EOI)
    assert pic.acknowledge() == 0x2A


def test_edge_sets_irr_and_inta_moves_it_to_isr():
    pic = make()
    edge(pic, 4)
    assert pic.io_read(M_CMD, 1) == 0x10         # IRR (read after ICW: IRR selected)
    pic.acknowledge()
    assert pic.io_read(M_CMD, 1) == 0x00
    assert read_isr(pic, M_CMD) == 0x10


def test_output_changed_reports_intr_rising_and_falling():
    pic = make()
    pic.set_irq(0, 1)
    assert pic.levels == [1]
    pic.acknowledge()
    assert pic.levels == [1, 0]                  # ISR bit 0 blocks everything


def test_imr_read_back_and_masked_line_does_not_raise_intr():
    pic = make()
    pic.io_write(M_DATA, 1, 0xFB)
    assert pic.io_read(M_DATA, 1) == 0xFB
    edge(pic, 0)
    assert pic.io_read(M_CMD, 1) & 1 == 1        # IRR still latches a masked request
    assert pic.intr_level() == 0
    pic.io_write(M_DATA, 1, 0xFA)                # unmask: delivered now
    assert pic.intr_level() == 1


def test_imr_changes_are_traced_bit_by_bit():
    pic = make()
    pic.events.clear()
    pic.io_write(S_DATA, 1, 0x05)
    assert ("pic.mask", {"line": 8}) in pic.events
    assert ("pic.mask", {"line": 10}) in pic.events
    pic.io_write(S_DATA, 1, 0x04)
    assert pic.events[-1] == ("pic.unmask", {"line": 8})


def test_fully_nested_higher_priority_preempts_lower_in_service():
    pic = make()
    edge(pic, 5)
    assert pic.acknowledge() == 0x25
    edge(pic, 6)
    assert pic.intr_level() == 0                 # lower priority waits for EOI
    edge(pic, 1)
    assert pic.intr_level() == 1                 # higher priority nests
    assert pic.acknowledge() == 0x21


def test_non_specific_eoi_clears_highest_priority_isr_bit():
    pic = make()
    edge(pic, 5)
    pic.acknowledge()
    edge(pic, 1)
    pic.acknowledge()
    assert read_isr(pic, M_CMD) == 0x22
    pic.io_write(M_CMD, 1, EOI)
    assert read_isr(pic, M_CMD) == 0x20          # IR1 cleared, IR5 stays


def test_specific_eoi_clears_only_that_isr_bit():
    pic = make()
    edge(pic, 5)
    pic.acknowledge()
    edge(pic, 1)
    pic.acknowledge()
    pic.io_write(M_CMD, 1, SEOI | 5)             # EOI for IR5 although IR1 is higher
    assert read_isr(pic, M_CMD) == 0x02
    assert ("pic.eoi", {"line": 5}) in pic.events


def test_eoi_uncovering_a_lower_request_raises_intr_at_once():
    pic = make()
    edge(pic, 1)
    pic.acknowledge()
    edge(pic, 6)
    assert pic.intr_level() == 0
    pic.io_write(M_CMD, 1, EOI)
    assert pic.intr_level() == 1
    assert pic.acknowledge() == 0x26


def test_poll_returns_highest_request_and_acts_as_inta():
    pic = make()
    edge(pic, 6)
    edge(pic, 3)
    pic.io_write(M_CMD, 1, 0x0C)                 # OCW3: poll
    assert pic.io_read(M_CMD, 1) == 0x83         # I=1, W2-0 = 3
    assert read_isr(pic, M_CMD) == 0x08
    assert pic.io_read(M_CMD, 1) == 0x40         # IR6 still requested


def test_poll_on_a_masked_line_reports_no_interrupt():
    pic = make()
    pic.io_write(M_DATA, 1, 0x08)                # mask IR3
    edge(pic, 3)
    pic.io_write(M_CMD, 1, 0x0C)
    assert pic.io_read(M_CMD, 1) == 0x00         # I=0: nothing unmasked is requesting
    assert read_isr(pic, M_CMD) == 0x00
    assert pic.io_read(M_CMD, 1) == 0x08         # the request is still in IRR


def test_poll_is_one_shot_next_read_is_a_register_again():
    pic = make()
    edge(pic, 3)
    pic.io_write(M_CMD, 1, 0x0C)
    pic.io_read(M_CMD, 1)
    assert pic.io_read(M_DATA, 1) == 0x00        # IMR, not a poll


def test_rotate_on_non_specific_eoi_makes_serviced_line_lowest():
    pic = make()
    edge(pic, 3)
    pic.acknowledge()
    pic.io_write(M_CMD, 1, 0xA0)                 # OCW2: rotate on non-specific EOI
    # IR3 is now lowest, IR4 highest: requests on 3, 4 and 0 come out 4, 0, 3
    for line in (3, 4, 0):
        edge(pic, line)
    order = []
    for _ in range(3):
        vector = pic.acknowledge()
        order.append(vector - 0x20)
        pic.io_write(M_CMD, 1, EOI)
    assert order == [4, 0, 3]


def test_set_priority_command_makes_given_line_lowest():
    pic = make()
    pic.io_write(M_CMD, 1, 0xC0 | 5)             # OCW2: set priority, IR5 lowest
    for line in (5, 6, 1):
        edge(pic, line)
    assert pic.acknowledge() == 0x26             # IR6 is now highest


def test_rotate_on_specific_eoi_sets_priority_from_the_named_line():
    pic = make()
    edge(pic, 0)
    pic.acknowledge()
    pic.io_write(M_CMD, 1, 0xE0 | 0)             # rotate on specific EOI, IR0
    assert read_isr(pic, M_CMD) == 0
    edge(pic, 0)
    edge(pic, 7)
    assert pic.acknowledge() == 0x27             # IR1 highest ... IR0 lowest


def test_auto_eoi_leaves_isr_clear():
    pic = make(auto_eoi=True)
    edge(pic, 3)
    assert pic.acknowledge() == 0x23
    assert read_isr(pic, M_CMD) == 0
    edge(pic, 5)
    assert pic.intr_level() == 1                 # nothing in service blocks it


def test_rotate_in_auto_eoi_mode_rotates_at_inta():
    pic = make(auto_eoi=True)
    pic.io_write(M_CMD, 1, 0x80)                 # OCW2: set rotate in AEOI mode
    edge(pic, 1)
    pic.acknowledge()                            # IR1 becomes lowest
    edge(pic, 1)
    edge(pic, 3)
    assert pic.acknowledge() == 0x23


def test_special_mask_mode_lets_lower_lines_nest_under_a_masked_in_service_line():
    pic = make()
    edge(pic, 3)
    pic.acknowledge()                            # IR3 in service
    pic.io_write(M_DATA, 1, 0x08)                # mask IR3
    edge(pic, 5)
    assert pic.intr_level() == 0                 # normal nesting: IR5 waits
    pic.io_write(M_CMD, 1, 0x68)                 # OCW3: set special mask mode
    assert pic.intr_level() == 1
    assert pic.acknowledge() == 0x25             # IR5 nests under IR3
    assert read_isr(pic, M_CMD) == 0x28
    pic.io_write(M_CMD, 1, 0x48)                 # reset special mask mode
    edge(pic, 6)
    assert pic.intr_level() == 0                 # back to fully nested


def test_special_fully_nested_mode_lets_slave_nest_on_itself():
    for sfnm, expect in ((False, 0), (True, 1)):
        pic = make(sfnm=sfnm)
        edge(pic, 12)
        assert pic.acknowledge() == 0x2C         # master ISR bit 2 set
        edge(pic, 9)                              # higher priority on the slave
        assert pic.intr_level() == expect


def test_spurious_inta_on_master_returns_ir7_without_isr():
    pic = make()
    pic.set_irq(4, 1)
    pic.io_write(M_DATA, 1, 0x10)                # request withdrawn by masking
    assert pic.acknowledge() == 0x27
    assert read_isr(pic, M_CMD) == 0
    assert pic.events[-1][1].get("spurious") is True


def test_spurious_inta_on_slave_returns_ir15_and_master_cascade_in_service():
    pic = make()
    edge(pic, 11)                                 # slave raises master IR2
    pic.io_write(S_DATA, 1, 0x08)                 # then the slave request is masked
    assert pic.intr_level() == 1                  # master IRR2 is latched (edge)
    assert pic.acknowledge() == 0x2F
    assert read_isr(pic, S_CMD) == 0
    assert read_isr(pic, M_CMD) == 0x04           # the master still needs an EOI


def test_elcr_bits_fixed_to_edge_by_piix_cannot_be_set():
    pic = make()
    pic.io_write(0x4D0, 1, 0xFF)
    pic.io_write(0x4D1, 1, 0xFF)
    assert pic.io_read(0x4D0, 1) == 0xF8         # IRQ 0, 1, 2 edge only
    assert pic.io_read(0x4D1, 1) == 0xDE         # IRQ 8, 13 edge only


def test_level_line_is_redelivered_after_eoi_while_still_high():
    pic = make()
    pic.io_write(0x4D0, 1, 0x20)                  # IRQ5 level-triggered
    pic.set_irq(5, 1)
    assert pic.acknowledge() == 0x25
    assert pic.io_read(M_CMD, 1) & 0x20           # IRR stays set while the pin is high
    pic.io_write(M_CMD, 1, EOI)
    assert pic.intr_level() == 1                  # delivered again
    assert pic.acknowledge() == 0x25


def test_level_line_withdrawn_before_inta_gives_no_request():
    pic = make()
    pic.io_write(0x4D0, 1, 0x20)
    pic.set_irq(5, 1)
    pic.set_irq(5, 0)
    assert pic.intr_level() == 0
    assert pic.io_read(M_CMD, 1) & 0x20 == 0


def test_edge_line_held_high_is_delivered_once():
    pic = make()
    pic.set_irq(5, 1)
    pic.acknowledge()
    pic.io_write(M_CMD, 1, EOI)
    assert pic.intr_level() == 0                  # no new edge, no new request


def test_irq_raise_and_lower_are_traced_on_input_changes_only():
    pic = make()
    pic.events.clear()
    pic.set_irq(9, 1)
    pic.set_irq(9, 1)
    pic.set_irq(9, 0)
    kinds = [(k, f) for k, f in pic.events if k.startswith("irq.")]
    assert kinds == [("irq.raise", {"line": 9}), ("irq.lower", {"line": 9})]


def test_ack_and_eoi_are_traced_with_global_line_numbers():
    pic = make()
    edge(pic, 14)
    pic.events.clear()
    pic.acknowledge()
    assert pic.events[0] == ("pic.ack", {"line": 14, "vector": 0x2E})
    pic.io_write(S_CMD, 1, EOI)
    assert ("pic.eoi", {"line": 14}) in pic.events


def test_icw1_clears_imr_isr_and_edge_requests_but_not_elcr():
    pic = make()
    pic.io_write(0x4D0, 1, 0x20)
    edge(pic, 3)
    pic.acknowledge()
    pic.io_write(M_DATA, 1, 0xFF)
    pic.io_write(M_CMD, 1, 0x11)
    pic.io_write(M_DATA, 1, 0x20)
    pic.io_write(M_DATA, 1, 0x04)
    pic.io_write(M_DATA, 1, 0x01)
    assert pic.io_read(M_DATA, 1) == 0
    assert read_isr(pic, M_CMD) == 0
    assert pic.io_read(0x4D0, 1) == 0x20


def test_single_mode_without_icw4_skips_icw3_and_icw4():
    pic = PicPair()
    pic.io_write(M_CMD, 1, 0x12)                  # ICW1: single, no ICW4
    pic.io_write(M_DATA, 1, 0x40)                 # ICW2; initialisation done
    pic.io_write(M_DATA, 1, 0xF0)                 # OCW1
    assert pic.io_read(M_DATA, 1) == 0xF0
    pic.set_irq(1, 1)
    assert pic.acknowledge() == 0x41


def test_reset_clears_elcr_and_masks():
    pic = make()
    pic.io_write(0x4D1, 1, 0x0C)
    pic.io_write(M_DATA, 1, 0xFF)
    pic.reset()
    assert pic.io_read(0x4D1, 1) == 0
    assert pic.io_read(M_DATA, 1) == 0


def test_set_irq_rejects_lines_outside_0_to_15():
    with pytest.raises(ValueError):
        PicPair().set_irq(16, 1)


def test_elcr_write_makes_a_level_irr_bit_follow_the_input_at_once():
    pic = make()
    edge(pic, 4)                                  # IRR4 latched, input now low
    pic.io_write(0x4D0, 1, 0x10)                  # IRQ4 level-triggered
    assert pic.io_read(M_CMD, 1) & 0x10 == 0      # level low: no request
    pic.set_irq(4, 1)
    pic.io_write(0x4D0, 1, 0x00)
    pic.io_write(0x4D0, 1, 0x10)
    assert pic.io_read(M_CMD, 1) & 0x10           # level high: requested


def test_repeated_raise_after_icw1_latches_a_new_edge_as_qemu():
    # QEMU's ICW1 forgets the input levels (last_irr = 0), and its devices
    # re-drive their lines on every update; irqlab's PIC does the same.
    pic = make()
    pic.set_irq(3, 1)
    pic.acknowledge()
    pic.io_write(M_CMD, 1, EOI)
    for value in (0x11, 0x20, 0x04, 0x01):        # re-initialise the master
        pic.io_write(M_CMD if value == 0x11 else M_DATA, 1, value)
    assert pic.io_read(M_CMD, 1) & 0x08 == 0      # ICW1 cleared the edge request
    pic.set_irq(3, 1)                             # the device updates its line
    assert pic.io_read(M_CMD, 1) & 0x08


def test_every_slave_update_redrives_the_master_cascade_input():
    pic = make()
    edge(pic, 9)                                  # slave INT high, master IR2 latched
    for value in (0x11, 0x20, 0x04, 0x01):        # master re-initialised: IRR2 lost
        pic.io_write(M_CMD if value == 0x11 else M_DATA, 1, value)
    assert pic.io_read(M_CMD, 1) & 0x04 == 0
    pic.io_write(S_DATA, 1, 0x00)                 # any slave update re-drives IR2
    assert pic.io_read(M_CMD, 1) & 0x04
    assert pic.acknowledge() == 0x29
