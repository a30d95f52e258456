"""``python -m guest_kernel compare`` on a tiny matrix (short scenarios), and
its agreement with ``trace summary`` on the same runs."""

import json
import os
import re

import pytest

from emulator.trace import read_events
from emulator.trace_cli import Summary
from guest_kernel.compare import main
from guest_kernel.compare.matrix import Job, MatrixError, default_matrix, make_jobs, parse_variant

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build", "checks")      # shared with the goldens' runs
TINY = ["--models", "classic,ithread", "--scenarios", "hello,ithread_block",
        "--build-dir", BUILD]
KEYS = {"model", "scenario", "cpus", "variant", "drivers", "status", "result", "irqs",
        "packets_in", "packets_done", "packets_lost", "latency_start", "latency_end",
        "latency_done", "work_done_source", "masked", "overhead", "overhead_by_line",
        "switches_per_irq", "stack_switches_per_irq", "ithread_blocks", "pins",
        "biglock_wait", "biglock_hold", "mutex_wait", "stack_depth", "violations",
        "instructions", "virtual_ms"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny matrix twice: in parallel with its traces kept, and in one process."""
    a, b = tmp_path_factory.mktemp("j2"), tmp_path_factory.mktemp("j1")
    assert main(TINY + ["-j", "2", "--traces", "-o", str(a)]) == 0
    assert main(TINY + ["-j", "1", "-o", str(b)]) == 0
    return a, b


def test_the_matrix_leaves_smp_scenarios_off_one_cpu_and_keeps_its_order():
    jobs = make_jobs(["classic", "ithread"], ["storm", "smp_biglock"], [1, 2])
    assert [(j.scenario, j.cpus, j.model) for j in jobs] == [
        ("storm", 1, "classic"), ("storm", 1, "ithread"), ("storm", 2, "classic"),
        ("storm", 2, "ithread"), ("smp_biglock", 2, "classic"), ("smp_biglock", 2, "ithread")]
    with pytest.raises(MatrixError, match="empty"):
        make_jobs(["classic"], ["smp_biglock"], [1])


def test_the_default_matrix_is_every_model_on_five_scenarios_and_the_big_lock_on_2_and_4():
    jobs = default_matrix(("classic", "ithread", "threaded"))
    assert len(jobs) == 3 * 5 + 3 * 2
    assert {j.scenario for j in jobs if j.cpus == 1} == {"storm", "nested", "ithread_block",
                                                         "biglock", "soak"}
    assert {(j.scenario, j.cpus) for j in jobs if j.cpus > 1} == {("smp_biglock", 2),
                                                                  ("smp_biglock", 4)}


def test_a_variant_names_kernel_options_and_a_bad_one_is_refused():
    assert parse_variant("intr-stack=separate,softint=fast") == {"intr_stack": "separate",
                                                                 "softint": "fast"}
    assert Job("classic", "storm", 1, "intr-stack=separate").name == \
        "storm-classic-1cpu-intr-stack_separate"
    with pytest.raises(MatrixError, match="intr-stack=shared"):
        parse_variant("stack=separate")


@pytest.mark.parametrize("argv,says", [
    (["--models", "nope"], "unknown model 'nope'"),
    (["--scenarios", "smp_ipi", "--cpus", "1"], "matrix is empty"),
    (["--cpus", "1,x"], "expected numbers"),
    (["--variant", "softint=slow"], "softint must be"),
    (["-j", "0"], "-j must be at least 1"),
])
def test_a_bad_matrix_is_one_line_and_status_2(tmp_path, capsys, argv, says):
    assert main(argv + ["-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and err.startswith("compare: ")


def test_metrics_json_has_one_object_per_configuration_with_the_contract_keys(runs):
    entries = json.loads((runs[0] / "metrics.json").read_text())
    assert [(e["scenario"], e["model"]) for e in entries] == [
        ("hello", "classic"), ("hello", "ithread"),
        ("ithread_block", "classic"), ("ithread_block", "ithread")]
    for e in entries:
        assert set(e) == KEYS
        assert e["result"] == "PASS" and e["violations"] == 0
        assert set(e["latency_done"]["0"]) == {"n", "median", "p90", "p99", "max"}
    # the ithread kernel's handler blocks in ithread_block: it shows
    blocks = {e["model"]: e["ithread_blocks"] for e in entries if e["scenario"] == "ithread_block"}
    assert blocks == {"classic": 0, "ithread": 1}


def test_the_same_matrix_gives_the_same_bytes_in_parallel_or_not(runs):
    a, b = runs
    for name in ["metrics.json", "report.md", "report.html"] + \
            sorted(p.name for p in a.glob("*.png")):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_the_report_has_a_table_per_scenario_a_verdict_and_embedded_plots(runs):
    a = runs[0]
    md = (a / "report.md").read_text()
    assert "## hello, 1 CPU" in md and "|  | classic | ithread |" in md
    assert "finishes soonest under" in md
    pngs = sorted(p.name for p in a.glob("*.png"))
    assert {"cdf-hello-1cpu.png", "overhead.png", "masked.png"} <= set(pngs)
    for p in pngs:
        assert (a / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (a / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(pngs)
    assert not re.search(r'src="(?!data:)', html)          # self-contained


def summary_rows(text):
    """label -> the numbers on its row of `trace summary`'s metrics block."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"  (\S.*?)\s{2,}([\d -]+)$", line)
        if m:
            rows[m.group(1).strip()] = [None if x == "-" else int(x) for x in m.group(2).split()]
    return rows


@pytest.mark.parametrize("name", ["hello-classic-1cpu", "ithread_block-ithread-1cpu"])
def test_trace_summary_prints_the_same_numbers_as_compare(runs, name):
    entry = next(e for e in json.loads((runs[0] / "metrics.json").read_text())
                 if f"{e['scenario']}-{e['model']}-1cpu" == name)
    s = Summary()
    for ev in read_events(str(runs[0] / "traces" / f"{name}.jsonl.gz")):
        s.add(ev)
    text = s.render(name)
    rows = summary_rows(text)
    checked = 0
    for line in entry["irqs"]:
        assert f"line {line}: {entry['irqs'][line]} interrupts delivered" in text
        # the kernel's work.done events, where it has them, else the proxy
        done = "raise -> work done" + (
            " (proxy)" if entry["work_done_source"][line] == "proxy" else "")
        for key, label in (("latency_start", "raise -> handler start"),
                           ("latency_end", "raise -> handler end"),
                           ("latency_done", done),
                           ("masked", "masked while raised"),
                           ("overhead_by_line", "overhead per interrupt")):
            d = entry[key][line]
            if d["n"]:
                want = [d["n"], d["median"], d["p90"], d["p99"], d["max"]] + \
                    ([d["total"]] if "total" in d else [])
                assert rows[f"line {line} {label}"] == want, (line, label)
                checked += 1
    o = entry["overhead"]
    assert rows["overhead per interrupt, all lines"] == [o["n"], o["median"], o["p90"],
                                                          o["p99"], o["max"], o["total"]]
    assert f"lwp switches per interrupt       {entry['switches_per_irq']}" in text
    assert f"stack switches per interrupt     {entry['stack_switches_per_irq']}" in text
    assert f"pins {entry['pins']}, ithread blocks {entry['ithread_blocks']}" in text
    for lock, d in entry["mutex_wait"].items():
        assert rows[f"mutex wait {lock}"] == [d["n"], d["median"], d["p90"], d["p99"],
                                              d["max"], d["total"]]
    assert "deepest stack use (bytes): " + ", ".join(
        f"{k} {v}" for k, v in entry["stack_depth"].items()) in text
    assert checked >= 4
