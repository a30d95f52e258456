"""Every --bug kernel is caught by the rule it targets, and the report names
the lock or LWP involved (the guest runs behind make check-bugs).  The races
only explore finds are tests/emulator/explore/test_explore.py's."""

import pytest

from guest_kernel.bugs import BUGS
from guest_kernel.harness import run_config

# What the report of a bug must say: for each branch of the rule the bug
# reaches, the fields of one violation of the targeted rule and a piece of
# its message.
REPORTS = {
    "mutex_as_completion": [
        # re-entry: main takes the mutex it holds (its contend and its block)
        ({"lock": "ib_done", "lwp": "lwp 0", "owner": "lwp 0"},
         "lwp 0 takes ib_done again while holding it"),
        # release by a non-owner: the holder releases main's mutex
        ({"lock": "ib_done", "lwp": "lwp 4", "owner": "lwp 0"},
         "lwp 4 releases ib_done, which lwp 0 holds"),
    ],
    "empty_ring_unlock": [
        # a release of a mutex nobody holds: a soak worker polling the ring
        ({"lock": "kbd_lock", "lwp": "lwp 4", "owner": None},
         "lwp 4 releases kbd_lock, which nobody holds"),
    ],
    "eoi_unmasked": [
        # the same line enters again while its handler runs on that CPU
        ({"line": 5}, "irq 5 entered again on cpu0 while its handler is active"),
    ],
    "sti_before_iret": [
        # the first clock interrupt returns with IF=1
        ({"line": 0, "vector": 32}, "with interrupts enabled (vector 32)"),
    ],
}


@pytest.mark.parametrize("name", [n for n, b in BUGS.items() if not b.explore])
def test_broken_kernel_is_caught_by_its_targeted_rule(name, tmp_path):
    bug = BUGS[name]
    r = run_config(bug.model, bug.scenario, bug=name, trace_path=str(tmp_path / "t.jsonl"))
    assert r.status == 120, r.stderr
    hits = [v for v in r.violations if v["rule"] == bug.rule]
    assert hits, f"{name}: fired {r.rules}, wanted {bug.rule}\n{r.stderr}"
    # the report names what is involved: a lock, an LWP/ithread or a line
    v = hits[0]
    assert any(v.get(k) is not None for k in ("lock", "lwp", "ithread", "line", "owner")), v
    assert f"checks: {bug.rule} violated" in r.stderr
    # the guest finished its scenario: it does not report its own bug
    assert f"PASS {bug.scenario}" in r.stdout, r.stdout
    for fields, text in REPORTS.get(name, ()):
        assert any(text in h["message"] and all(h.get(k) == fv for k, fv in fields.items())
                   for h in hits), f"{name}: no report {text!r} with {fields}\n{r.stderr}"
