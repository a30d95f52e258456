"""Stacks named by their owner (emulator/observe/stacks.py)."""

from emulator.observe.stacks import StackMap


def test_esp_is_named_by_the_region_it_is_in():
    m = StackMap()
    m.add(0x1000, 0x2000, "lwp 1")
    m.add(0x2000, 0x3000, "lwp 2")
    m.add(0x8000, 0x9000, "intr cpu0")
    assert m.owner(0x1800) == "lwp 1"
    assert m.owner(0x2800) == "lwp 2"
    assert m.owner(0x8ffc) == "intr cpu0"
    assert m.owner(0x5000) is None
    assert m.region("lwp 2") == (0x2000, 0x3000)


def test_a_fresh_stack_top_belongs_to_its_own_stack_not_the_next_one():
    m = StackMap()
    m.add(0x1000, 0x2000, "lwp 1")
    m.add(0x2000, 0x3000, "lwp 2")
    assert m.owner(0x2000) == "lwp 1"
    assert m.owner(0x1000) == "lwp 1"    # completely full, still its own


def test_a_resolver_is_asked_on_a_miss_and_may_add_regions():
    asked = []

    def resolver(esp):
        asked.append(esp)
        m.add(0x4000, 0x5000, "ithread 1")
        return True
    m = StackMap(resolver=resolver)
    assert m.owner(0x4800) == "ithread 1"
    assert m.owner(0x4900) == "ithread 1" and asked == [0x4800]


def test_moving_a_named_region_replaces_it():
    m = StackMap()
    m.add(0x1000, 0x2000, "lwp 1")
    m.add(0x6000, 0x7000, "lwp 1")
    assert m.owner(0x1800) is None and m.owner(0x6800) == "lwp 1" and len(m) == 1


class Syms:
    def symbolize(self, addr):
        return "boot_stack+0x%x" % (addr - 0x7000) if 0x7000 <= addr < 0x8000 else None


def test_without_regions_a_stack_is_named_after_its_data_symbol():
    m = StackMap(symbols=Syms())
    assert m.owner(0x8000) == "stack boot_stack"
    assert m.owner(0x9000) is None


def test_the_version_changes_with_every_region_added_moved_or_removed():
    m = StackMap()
    seen = [m.version]
    m.add(0x1000, 0x2000, "lwp 1")
    seen.append(m.version)
    m.add(0x3000, 0x4000, "lwp 1")           # moved
    seen.append(m.version)
    m.remove("lwp 1")
    seen.append(m.version)
    m.remove("lwp 1")                        # nothing there: nothing changes
    seen.append(m.version)
    assert len(set(seen[:4])) == 4 and seen[4] == seen[3]
