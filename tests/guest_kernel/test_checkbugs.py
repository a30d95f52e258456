"""guest_kernel/checkbugs.py: check-bugs' table, its rule naming and its verdicts; the guest runs are
in tests/golden/test_bugs_caught.py."""

from guest_kernel.checkbugs import RULE_NAMES, Bug, Outcome, extras_text, load_bugs, named, rule_name


def test_rules_are_named_by_name_or_by_their_issue_number():
    assert rule_name(5) == "lock-order" and rule_name("5") == "lock-order"
    assert rule_name("irq-safety") == "irq-safety"
    assert rule_name(13) == "spinout"


def test_every_bug_targets_a_rule_that_exists_and_expects_only_rules_that_exist():
    for b in load_bugs():
        # a race for explore may target the scenario's own self-check
        assert b.rule in RULE_NAMES or (b.explore and b.rule == "guest"), b
        assert set(b.extras) <= (set(RULE_NAMES) | {"guest"}) - {b.rule}, b


def test_a_race_for_explore_says_which_line_explore_raises():
    races = [b for b in load_bugs() if b.explore]
    assert len(races) >= 3
    for b in races:
        kind, _, value = b.line.partition("=")
        assert kind in ("irq", "packet", "key") and int(value, 0) >= 0, b


def test_every_rule_has_a_planted_bug_that_targets_it_in_its_own_run():
    assert {b.rule for b in load_bugs() if not b.explore} == set(RULE_NAMES)


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


def _check_bugs_with(monkeypatch, tmp_path, bugs, outcomes):
    """check_bugs' printed table and status, the runs replaced by ``outcomes``
    (keyed by bug name, or "control" for the control run)."""
    import io
    import guest_kernel.checkbugs as cb
    import emulator.pool
    monkeypatch.setattr(cb, "load_bugs", lambda: bugs)

    def fake_run_ordered(func, items, **_kw):
        return [outcomes[bug or "control"] for _m, _s, bug, _c, _t in items]
    monkeypatch.setattr(emulator.pool, "run_ordered", fake_run_ordered)
    out = io.StringIO()
    return cb.check_bugs(out=out, build_dir=str(tmp_path)), out.getvalue()


def test_check_bugs_prints_the_control_column_and_a_dirty_control_fails_the_bug(monkeypatch, tmp_path):
    bug = Bug("b", "s", "irq-safety", names={"lock": "kbd_stat"})
    hit = Outcome(120, True, [{"rule": "irq-safety", "lock": "kbd_stat"}], "")
    status, text = _check_bugs_with(monkeypatch, tmp_path, [bug], {
        "b": hit, "control": Outcome(120, True, [{"rule": "liveness", "lwp": "lwp 0"}], "")})
    header, row, last = text.splitlines()[0], text.splitlines()[1], text.splitlines()[-1]
    assert "control" in header.split() and header.split()[-1] == "caught"
    assert row.split()[:6] == ["b", "s", "ithread", "irq-safety", "yes", "-"]
    assert row.split()[6] == "1" and "NO (control not clean)" in row
    assert status == 1 and last.startswith("check-bugs: 1 bugs, 0 caught, 0 controls clean")


def test_check_bugs_counts_a_bug_caught_only_with_its_objects_named_and_a_clean_control(
        monkeypatch, tmp_path):
    bugs = [Bug("b", "s", "irq-safety", names={"lock": "kbd_stat"}),
            Bug("c", "s", "irq-safety", names={"lock": "kbd_lock"})]
    hit = Outcome(120, True, [{"rule": "irq-safety", "lock": "kbd_stat"}], "")
    status, text = _check_bugs_with(monkeypatch, tmp_path, bugs, {
        "b": hit, "c": hit, "control": Outcome(0, True, [], "")})
    rows = text.splitlines()[1:3]
    assert rows[0].split()[-2:] == ["0", "yes"]
    assert rows[1].split()[4] == "NO" and "NO (not named)" in rows[1]
    assert status == 1 and "2 bugs, 1 caught, 2 controls clean" in text.splitlines()[-1]


def test_a_race_is_caught_when_its_own_run_is_clean_and_explore_finds_its_rule(
        monkeypatch, tmp_path):
    import types
    import emulator.explore
    import guest_kernel.explore
    from emulator.explore.verdict import Distinct, Finding
    found = [Distinct(Finding("liveness", "lwp 0 slept", (("lwp", "lwp 0"),)), 3, 3, (5542,)),
             Distinct(Finding("guest", "FAIL biglock"), 1, 1, (5600,))]
    monkeypatch.setattr(guest_kernel.explore, "target_for", lambda *a, **k: "target")
    monkeypatch.setattr(emulator.explore, "explore", lambda target, plan, jobs=None:
                        types.SimpleNamespace(distinct=found, points=10, branches=4,
                                              text=lambda: ""))
    race = Bug("r", "s", "liveness", explore=True, line="irq=5", extras=("guest",))
    clean = Outcome(0, True, [], "")
    status, text = _check_bugs_with(monkeypatch, tmp_path, [race], {"r": clean, "control": clean})
    row = text.splitlines()[1]
    assert row.split()[4:8] == ["-", "guest", "0", "yes"]
    assert "(explore --irq 5: 10 points, 4 branches)" in row and status == 0
    # its own run firing a rule is not a race for explore: not caught, explore not run
    fired = Outcome(120, True, [{"rule": "liveness"}], "")
    status, text = _check_bugs_with(monkeypatch, tmp_path, [race], {"r": fired, "control": clean})
    assert "the run itself must pass with no rule firing" in text and status == 1
