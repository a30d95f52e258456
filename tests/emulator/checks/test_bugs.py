"""check-bugs' table and its rule naming; the guest runs are in
tests/golden/test_bugs_caught.py."""

from emulator.checks.bugs import DEFAULT_BUGS, RULE_NAMES, load_bugs, rule_name


def test_rules_are_named_by_name_or_by_their_issue_number():
    assert rule_name(5) == "lock-order" and rule_name("5") == "lock-order"
    assert rule_name("irq-safety") == "irq-safety"


def test_every_bug_targets_a_rule_that_exists():
    for b in load_bugs():
        assert b.rule in RULE_NAMES, b


def test_the_default_table_covers_the_nine_bugs_of_issue_4():
    assert {b.name for b in DEFAULT_BUGS} == {
        "sleep_in_hardintr", "spin_then_sleep", "biglock_leak", "no_unmask",
        "resume_pinned", "lock_order", "irq_unsafe", "stack_overflow", "lost_wakeup"}
