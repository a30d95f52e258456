"""Every --bug kernel is caught by the rule it targets, and the report names
the lock or LWP involved (the guest runs behind make check-bugs)."""

import pytest

from emulator.checks.bugs import load_bugs
from emulator.checks.runs import kernel_available, run_config

OK, WHY = kernel_available()


@pytest.mark.skipif(not OK, reason=WHY)
@pytest.mark.parametrize("bug", load_bugs(), ids=lambda b: b.name)
def test_broken_kernel_is_caught_by_its_targeted_rule(bug, tmp_path):
    r = run_config(bug.model, bug.scenario, bug=bug.name,
                   trace_path=str(tmp_path / "t.jsonl"), cpus=bug.cpus)
    assert r.status == 120, r.stderr
    hits = [v for v in r.violations if v["rule"] == bug.rule]
    assert hits, f"{bug.name}: fired {r.rules}, wanted {bug.rule}\n{r.stderr}"
    # the report names what is involved: a lock, an LWP/ithread or a line
    v = hits[0]
    assert any(v.get(k) for k in ("lock", "lwp", "ithread", "line", "owner")), v
    assert f"checks: {bug.rule} violated" in r.stderr
