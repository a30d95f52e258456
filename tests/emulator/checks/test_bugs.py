"""check-bugs' table, its rule naming and its verdicts; the guest runs are
in tests/golden/test_bugs_caught.py."""

from emulator.checks.bugs import RULE_NAMES, Bug, Outcome, extras_text, load_bugs, named, rule_name


def test_rules_are_named_by_name_or_by_their_issue_number():
    assert rule_name(5) == "lock-order" and rule_name("5") == "lock-order"
    assert rule_name("irq-safety") == "irq-safety"
    assert rule_name(13) == "spinout"


def test_every_bug_targets_a_rule_that_exists_and_expects_only_rules_that_exist():
    for b in load_bugs():
        assert b.rule in RULE_NAMES, b
        assert set(b.extras) <= set(RULE_NAMES) - {b.rule}, b


def test_every_rule_has_a_planted_bug_that_targets_it():
    assert {b.rule for b in load_bugs()} == set(RULE_NAMES)


def _outcome(*violations):
    return Outcome(120, True, list(violations), "")


def test_a_bug_is_named_only_when_one_target_violation_carries_every_expected_field():
    bug = Bug("b", "s", "irq-safety", names={"lock": "kbd_stat", "line": 1})
    assert named(bug, _outcome({"rule": "irq-safety", "lock": "kbd_stat", "line": 1}))
    # the right lock on the wrong line, or the fields split over two reports
    assert not named(bug, _outcome({"rule": "irq-safety", "lock": "kbd_stat", "line": 5}))
    assert not named(bug, _outcome({"rule": "irq-safety", "lock": "kbd_stat"},
                                   {"rule": "irq-safety", "line": 1}))
    # the fields in another rule's report do not count
    assert not named(bug, _outcome({"rule": "lock-order", "lock": "kbd_stat", "line": 1}))


def test_extra_rules_are_listed_unexpected_ones_starred_missing_ones_dashed():
    bug = Bug("b", "s", "sleep-spin-ipl", extras=("lock-order",))
    text, ok = extras_text(bug, _outcome({"rule": "sleep-spin-ipl"}, {"rule": "lock-order"}))
    assert (text, ok) == ("lock-order", True)
    text, ok = extras_text(bug, _outcome({"rule": "sleep-spin-ipl"}, {"rule": "liveness"}))
    assert (text, ok) == ("liveness*, -lock-order", False)
