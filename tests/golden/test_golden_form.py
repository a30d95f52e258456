"""The golden files' form, without running a guest."""

import gzip

from emulator.trace import parse_lines
from tests.golden import golden

EVS = [{"t": 1, "cpu": 0, "ev": "irq.raise", "line": 0},
       {"t": 2, "cpu": 0, "ev": "lwp.switch", "from": "lwp 1", "to": "lwp 2"},
       {"t": 3, "cpu": 0, "ev": "stack.switch", "from": "lwp 1", "to": "lwp 2"}]


def test_encoding_is_byte_identical_every_time():
    assert golden.encode(EVS) == golden.encode(list(EVS))


def test_the_encoded_golden_reads_back_as_the_same_events():
    text = gzip.decompress(golden.encode(EVS)).decode("ascii").splitlines()
    assert list(parse_lines(text)) == EVS


def test_the_filtered_form_keeps_the_kernels_events_and_drops_pic_noise():
    out = list(golden.form_events(EVS, "filtered"))
    assert [e["ev"] for e in out] == ["lwp.switch", "golden.counts"]
    assert out[-1]["irq.raise"] == 1 and out[-1]["stack.switch"] == 1 and out[-1]["t"] == 3
    assert list(golden.form_events(EVS, "full")) == EVS


def test_golden_paths_are_per_model_and_scenario():
    assert golden.path("ithread", "storm").endswith("tests/golden/ithread/storm.jsonl.gz")


def test_goldens_on_several_cpus_live_under_cpus_n_and_keep_the_one_cpu_paths():
    assert golden.path("ithread", "storm", 1) == golden.path("ithread", "storm")
    assert golden.path("ithread", "storm", 4).endswith("tests/golden/cpus4/ithread/storm.jsonl.gz")
    for cfg in (("classic", "soak", 1), ("threaded", "smp_biglock", 2)):
        assert golden.parse_key(golden.key(*cfg)) == cfg
    assert golden.key("classic", "soak") == "classic/soak"


def test_the_smp_scenarios_have_goldens_on_two_cpus_and_more_only():
    m = golden.matrix()
    assert ("ithread", "smp_contend", 2) in m and ("ithread", "smp_contend", 4) in m
    assert not [c for c in m if c[1].startswith("smp_") and c[2] == 1]
    assert {c[2] for c in m} == {1, 2, 4}


def test_every_model_has_goldens_on_one_cpu_and_hybrid_there_only():
    m = golden.matrix()
    assert {c[0] for c in m if c[2] == 1} == {"classic", "ithread", "threaded", "hybrid"}
    assert ("hybrid", "soak", 1) in m and not [c for c in m if c[0] == "hybrid" and c[2] > 1]
