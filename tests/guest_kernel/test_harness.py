"""guest_kernel/harness.py and catalog.py: the one table, and check-bugs on
both of its command lines (the runs of every bug are tests/golden/test_bugs_caught.py)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from emulator.checks import all_rules
from emulator.devices.platform import MAX_CPUS as machine_max_cpus
from guest_kernel import catalog, layout
from guest_kernel.bugs import BUGS
from guest_kernel.checkbugs import check_bugs
from guest_kernel.harness import injection_specs, kernel_cmdline

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "guest_kernel"


def test_every_bug_targets_a_rule_that_exists_with_a_model_and_scenario_of_the_table():
    rules = {r.name for r in all_rules()}
    for name, bug in BUGS.items():
        # a race for explore may target the scenario's own self-check
        assert bug.rule in rules or (bug.explore and bug.rule == "guest"), name
        assert bug.model in catalog.MODELS and bug.scenario in catalog.SCENARIO_NAMES, name


def test_a_race_for_explore_says_which_line_explore_raises():
    races = {name: bug for name, bug in BUGS.items() if bug.explore}
    assert len(races) >= 3
    for name, bug in races.items():
        kind, _, value = bug.line.partition("=")
        assert kind in ("irq", "packet", "key") and int(value, 0) >= 0, name


def test_every_scenario_the_kernel_has_is_in_the_table_and_back():
    """Each scen_NAME entry in the sources is a scenario of catalog.py, and
    the generated lookup table (main.S's, for 1..N CPUs alike) names exactly
    those, each with its own entry."""
    entries = {line.split(":")[0][len("scen_"):] for src in HERE.glob("*.S")
               for line in src.read_text().splitlines() if line.startswith("scen_")}
    assert entries == set(catalog.SCENARIO_NAMES)
    layout.gen_scenario_tables(HERE / "gen")
    table = (HERE / "gen" / "scenario_table.inc").read_text()
    named = {line.split('"')[1] for line in table.splitlines() if ".asciz" in line}
    assert named == set(catalog.SCENARIO_NAMES)
    assert all(f"sname_{s}, scen_{s}" in table for s in catalog.SCENARIO_NAMES)
    assert not (HERE / "gen" / "smp_scenario_table.inc").exists()


def test_an_injection_file_belongs_to_a_scenario_of_the_table():
    for f in (HERE / "scenarios").glob("*.inject"):
        assert f.stem in catalog.SCENARIO_NAMES and injection_specs(f.stem), f


def test_smp_scenarios_need_two_cpus_and_every_scenario_runs_on_two():
    assert set(catalog.scenarios_for(1)) == set(catalog.SCENARIO_NAMES) - set(catalog.SMP_SCENARIOS)
    assert catalog.scenarios_for(2) == catalog.SCENARIO_NAMES
    assert max(catalog.CPUS) <= catalog.MAX_CPUS <= machine_max_cpus
    assert kernel_cmdline("hello", 2) == "scenario=hello cpus=2"


def test_check_bugs_prints_its_table_and_the_old_command_hands_over_to_it(tmp_path):
    """``check_bugs`` (``python -m guest_kernel bugs``, make check-bugs) and
    ``python -m emulator.checks bugs``, which runs it in a process of its
    own, print the same table (with the control run's column) and exit 0
    when the bug is caught."""
    out = io.StringIO()
    assert check_bugs(only=["sti_before_iret"], build_dir=str(tmp_path / "here"), out=out) == 0
    p = subprocess.run([sys.executable, "-m", "emulator.checks", "bugs", "--only", "sti_before_iret",
                        "--build-dir", str(tmp_path / "there")],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stdout == out.getvalue()
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["bug", "scenario", "model", "target", "named", "extra",
                                "rules", "control", "caught"]
    assert lines[1].split() == ["sti_before_iret", "hello", "classic", "intr-nesting", "yes",
                                "-", "0", "yes"]
    assert lines[-1].startswith("check-bugs: 1 bugs, 1 caught, 1 controls clean")
