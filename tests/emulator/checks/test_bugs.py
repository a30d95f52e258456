"""check-bugs' table and its rule naming; the guest runs are in
tests/golden/test_bugs_caught.py."""

from emulator.checks.bugs import DEFAULT_BUGS, RULE_NAMES, load_bugs, rule_name


def test_rules_are_named_by_name_or_by_their_issue_number():
    assert rule_name(5) == "lock-order" and rule_name("5") == "lock-order"
    assert rule_name("irq-safety") == "irq-safety"


def test_every_bug_targets_a_rule_that_exists():
    for b in load_bugs():
        # a race for explore may target the scenario's own self-check
        assert b.rule in RULE_NAMES or (b.explore and b.rule == "guest"), b


def test_a_race_for_explore_says_which_line_explore_raises():
    races = [b for b in load_bugs() if b.explore]
    assert len(races) >= 3
    for b in races:
        kind, _, value = b.line.partition("=")
        assert kind in ("irq", "packet") and int(value, 0) >= 0, b


def test_the_default_table_covers_the_nine_bugs_of_issue_4():
    assert {b.name for b in DEFAULT_BUGS} == {
        "sleep_in_hardintr", "spin_then_sleep", "biglock_leak", "no_unmask",
        "resume_pinned", "lock_order", "irq_unsafe", "stack_overflow", "lost_wakeup"}
