"""tests/cache.py, tests/qemu.py's and tests/runs.py's caches: one result per
session, made once."""

from __future__ import annotations

import pytest

from guest_kernel.harness import KernelRun
from tests import cache, qemu, runs


def test_once_makes_a_result_once_and_hands_back_its_path(tmp_path):
    made = []

    def make(path):
        made.append(path)
        path.write_text("built")
    first = cache.once(tmp_path, "cfg", make)
    second = cache.once(tmp_path, "cfg", make)
    assert first == second == tmp_path / "cfg"
    assert made == [tmp_path / "cfg"] and first.read_text() == "built"


def test_once_retries_a_result_whose_making_failed(tmp_path):
    def fail(path):
        raise RuntimeError("assembler said no")
    with pytest.raises(RuntimeError):
        cache.once(tmp_path, "cfg", fail)
    assert cache.once(tmp_path, "cfg", lambda p: p.write_text("ok")).read_text() == "ok"


def test_a_session_dir_is_shared_by_the_xdist_workers(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    shared = cache.session_dir(tmp_path_factory, "kernels")
    assert shared == tmp_path_factory.getbasetemp().parent / "kernels" and shared.is_dir()
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert cache.session_dir(tmp_path_factory, "k") == tmp_path_factory.getbasetemp() / "k"


def test_an_identical_qemu_boot_runs_once_and_a_different_image_boots_again(
        tmp_path, monkeypatch):
    monkeypatch.setattr(qemu, "require_qemu", lambda: "qemu-system-i386")
    boots = []

    def boot(args, timeout):
        boots.append(args)
        return qemu.QemuResult(f"boot {len(boots)}\n", 0, 1)
    monkeypatch.setattr(qemu, "_boot", boot)
    monkeypatch.setattr(qemu, "_cache_dir", tmp_path / "results")
    (tmp_path / "results").mkdir()
    a, b, c = (tmp_path / n for n in ("a.bin", "b.bin", "c.bin"))
    a.write_bytes(b"kernel")
    b.write_bytes(b"kernel")                  # the same bytes under another name
    c.write_bytes(b"another kernel")
    first = qemu.run_qemu(str(a), append="scenario=hello")
    assert qemu.run_qemu(str(b), append="scenario=hello") == first
    assert qemu.run_qemu(str(a), append="scenario=preempt").console == "boot 2\n"
    assert qemu.run_qemu(str(c), append="scenario=hello").console == "boot 3\n"
    assert first == qemu.QemuResult("boot 1\n", 0, 1) and len(boots) == 3


def test_adopt_copies_a_result_made_elsewhere_unless_the_session_has_it(tmp_path):
    made = tmp_path / "build-all" / "classic"
    made.mkdir(parents=True)
    (made / "kernel.elf").write_text("from build-all")
    (tmp_path / "kernels").mkdir()

    def build_here(path):
        path.mkdir()
        (path / "kernel.elf").write_text("the session's")
    cache.once(tmp_path / "kernels", "ithread", build_here)
    adopted = cache.adopt(tmp_path / "kernels", "classic", made)
    assert (adopted / "kernel.elf").read_text() == "from build-all"
    kept = cache.adopt(tmp_path / "kernels", "ithread", made)
    assert (kept / "kernel.elf").read_text() == "the session's"


def test_a_checked_run_is_made_once_and_each_caller_gets_it_with_its_trace(
        tmp_path, monkeypatch):
    calls = []

    def fake_run(model, scenario, bug, trace_path, cpus, max_instructions):
        calls.append((model, scenario, bug, cpus, max_instructions))
        with open(trace_path, "w") as f:
            f.write('{"t":0,"cpu":0,"ev":"boot"}\n')
        return KernelRun(120, "PASS hello\n", "checks: 13 rules, 1 violation\n", trace_path,
                         [{"rule": "liveness", "message": "m"}], 1234)
    monkeypatch.setattr(runs, "run_config", fake_run)
    first = runs.checked_run(tmp_path, "classic", "hello", "lost_wakeup")
    again = runs.checked_run(tmp_path, "classic", "hello", "lost_wakeup")
    other = runs.checked_run(tmp_path, "classic", "hello", "lost_wakeup", cpus=2)
    assert first == again and first.rules == ["liveness"] and first.instructions == 1234
    assert open(first.trace_path).read() == '{"t":0,"cpu":0,"ev":"boot"}\n'
    assert other.trace_path != first.trace_path
    assert calls == [("classic", "hello", "lost_wakeup", 1, 200_000_000),
                     ("classic", "hello", "lost_wakeup", 2, 200_000_000)]
