"""Every configuration builds, and the image exports what OBSERVE.md promises."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from guest_kernel import layout
from guest_kernel.build import BuildError, Config, bug_configs, correct_configs
from guest_kernel.bugs import BUGS
from tests.cache import adopt, session_dir

OBSERVE = Path(__file__).resolve().parents[2] / "guest_kernel" / "OBSERVE.md"


def _symbols(elf):
    return json.loads((Path(elf).parent / "kernel.sym.json").read_text())


def _names(table):
    if isinstance(table, dict) and "symbols" in table:
        table = table["symbols"]
    if isinstance(table, dict):
        return set(table)
    return {s["name"] for s in table}


@pytest.mark.parametrize("cfg", correct_configs() + bug_configs(), ids=lambda c: c.name)
def test_every_configuration_builds_all_four_outputs(kernel, cfg):
    elf = Path(kernel(cfg.model, cfg.intr_stack, cfg.softint, cfg.bug))
    for f in ("kernel.bin", "kernel.elf", "kernel.sym.json", "kernel.lst"):
        assert (elf.parent / f).stat().st_size > 0, f


def test_every_obs_label_in_observe_md_is_a_symbol_of_each_model(kernel):
    documented = set(re.findall(r"`(obs_[a-z_]+)`", OBSERVE.read_text()))
    assert {"obs_lwp_switch", "obs_work_done", "obs_intr_enter_ithread"} <= documented
    for model in ("classic", "ithread", "threaded", "hybrid"):
        # every model's path is in every kernel: a driver's model picks its line's
        missing = documented - _names(_symbols(kernel(model)))
        assert not missing, f"{model}: {sorted(missing)}"


def test_layout_constants_land_in_the_symbol_table(kernel):
    names = _names(_symbols(kernel("classic")))
    for name in ("L_STATE", "L_STACK_LO", "C_CURLWP", "MTX_OWNER", "KL_COUNT",
                 "LSPINNED", "IPL_VM", "PRI_INTR", "SI_PENDING", "RING_HEAD"):
        assert name in names, name


def test_struct_offsets_follow_the_table_in_order():
    off = layout.struct_offsets()
    assert off["L_ID"] == 0 and off["L_STATE"] == 4
    assert off["MTX_SIZE"] == 24 and off["IH_SIZE"] == 64 and off["SI_SIZE"] == 32   # IH_: + latency (intr_stat.S)
    assert off["DRV_NAME"] == 24 and off["IH_MODEL"] == 32
    assert off["L_SIZE"] % 4 == 0      # mutex owner words keep bit 0 for the waiters bit


def test_generated_files_say_do_not_edit(kernel):
    kernel("ithread")
    gen = OBSERVE.parent / "gen"
    for f in ("layout.inc", "vectors.S"):
        assert "do not edit" in (gen / f).read_text().splitlines()[0]


def test_an_unknown_bug_is_one_clear_error():
    with pytest.raises(BuildError, match="unknown bug 'nope'"):
        Config("ithread", bug="nope")


def test_every_bug_names_an_existing_scenario_and_a_rule():
    scenarios = {"hello", "preempt", "ithread_block", "biglock", "storm", "nested", "soak",
                 "lending"}
    for name, bug in BUGS.items():
        assert bug.scenario in scenarios, name
        assert bug.model in ("classic", "ithread", "threaded", "hybrid"), name
        assert bug.rule, name


def test_a_scenario_carries_its_injections_as_inject_arguments():
    from guest_kernel.__main__ import injections
    args = injections("storm")
    assert args[0] == "--inject" and "count=10000" in args[1]
    assert injections("hello") == []


def test_a_build_is_stale_only_until_it_is_rebuilt(tmp_path):
    from guest_kernel.build import build, is_stale
    cfg = Config("classic")
    assert is_stale(cfg, tmp_path)
    build(cfg, tmp_path)
    assert not is_stale(cfg, tmp_path)


def test_a_build_stopped_half_way_leaves_no_elf_and_is_still_stale(tmp_path, monkeypatch):
    # Ctrl-C while the listing is written: kernel.elf is written last and
    # every file goes through a temporary one, so the next run rebuilds
    # instead of loading a truncated image that looks newer than its sources.
    import asm.image
    from guest_kernel.build import build, is_stale

    def stopped(self):
        raise KeyboardInterrupt
    monkeypatch.setattr(asm.image.Image, "listing", stopped)
    with pytest.raises(KeyboardInterrupt):
        build(Config("classic"), tmp_path)
    assert not (tmp_path / "kernel.elf").exists()
    assert is_stale(Config("classic"), tmp_path)
    assert not list(tmp_path.glob("*.tmp"))


def test_two_runs_at_once_on_a_stale_configuration_both_run_a_whole_kernel(tmp_path):
    # build_locked: the second waits on the lock, then finds the build fresh
    import subprocess
    import sys
    cmd = [sys.executable, "-m", "guest_kernel", "run", "--model", "classic", "--scenario",
           "hello", "--build-dir", str(tmp_path), "--max-instructions", "1"]
    runs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outs = [r.communicate(timeout=300) for r in runs]
    elf = tmp_path / "classic" / "kernel.elf"
    assert elf.exists() and not list((tmp_path / "classic").glob("*.tmp"))
    for _out, err in outs:
        assert "Traceback" not in err and "malformed" not in err, err
    assert runs[0].returncode == runs[1].returncode and outs[0] == outs[1]


def test_build_all_writes_every_correct_and_every_bug_configuration(tmp_path, tmp_path_factory):
    from guest_kernel.__main__ import main
    assert main(["build-all", "-o", str(tmp_path)]) == 0
    built = {p.parent.name for p in tmp_path.glob("*/kernel.elf")}
    assert built == {c.name for c in correct_configs() + bug_configs()}
    assert len(built) == 16 + len(BUGS)
    # these are the session's kernels (the kernel fixture's, conftest.py) from
    # now on: a configuration is not built a second time.  build() writes the
    # same bytes into any directory, and the test above checks these files
    kernels = session_dir(tmp_path_factory, "kernels")
    for name in sorted(built):
        adopt(kernels, name, tmp_path / name)
