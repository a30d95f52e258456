"""Issue 16: a file that is not a good trace is one line, status 2, for summary and diff.

The reader (emulator/trace.py read_events) is checked directly for each
case; the command line once per tool for the whole set.
"""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.trace import TraceError, read_events
from emulator.trace_cli import main

GOOD = b'{"t":1,"cpu":0,"ev":"irq.raise","line":5}\n'

CASES = {
    "non_ascii": (b'{"t":1,"cpu":0,"ev":"x\xe9"}\n', "non-ASCII byte 0xe9 at column 23"),
    "bom": (b"\xef\xbb\xbf" + GOOD, "starts with a byte-order mark"),
    "truncated_gz": (gzip.compress(GOOD * 50)[:30], "truncated gzip data"),
    "corrupt_gz": (b"\x1f\x8b\x08\x00" + bytes(range(40)), "gzip data"),
    "t_string": (b'{"t":"x","cpu":0,"ev":"irq.raise"}\n', 't must be a non-negative integer, not "x"'),
    "cpu_list": (b'{"t":1,"cpu":[1],"ev":"irq.raise"}\n', "cpu must be a non-negative integer"),
    "ev_object": (b'{"t":1,"cpu":0,"ev":{"a":1}}\n', "ev must be a kind name"),
    "negative_t": (b'{"t":-1,"cpu":0,"ev":"x"}\n', "t must be a non-negative integer"),
    "bool_t": (b'{"t":true,"cpu":0,"ev":"x"}\n', "t must be a non-negative integer"),
    "line_list": (b'{"t":1,"cpu":0,"ev":"irq.raise","line":[]}\n', "field 'line' must be an integer"),
    "rule_list": (b'{"t":1,"cpu":0,"ev":"check.violation","rule":[1]}\n', "field 'rule' must be a string"),
    "owner_list": (b'{"t":1,"cpu":0,"ev":"intr.enter","owner":["a"]}\n', "field 'owner' must be a string"),
    "depth_string": (b'{"t":1,"cpu":0,"ev":"biglock.acquire","depth":"2"}\n',
                     "field 'depth' must be an integer"),
    "switch_to_list": (b'{"t":1,"cpu":0,"ev":"lwp.switch","from":"a","to":[1]}\n',
                       "field 'to' of lwp.switch must be a string"),
    "nested_value": (b'{"t":1,"cpu":0,"ev":"x","a":[[1]]}\n', "field 'a' is a nested list"),
    "object_value": (b'{"t":1,"cpu":0,"ev":"x","a":{}}\n', "field 'a' is an object"),
    "float": (b'{"t":1,"cpu":0,"ev":"x","a":1.5}\n', "1.5 is not an integer"),
    "nan": (b'{"t":1,"cpu":0,"ev":"x","a":NaN}\n', "NaN is not an integer"),
    "big_int": (b'{"t":' + b"9" * 5000 + b',"cpu":0,"ev":"x"}\n', "integer string conversion"),
    "deep": (b'{"t":1,"cpu":0,"ev":"x","a":' + b"[" * 100000 + b"]" * 100000 + b"}\n",
             "nested too deeply"),
    "not_an_object": (b"[1, 2]\n", "an event needs t, cpu and ev"),
    "long_line": (b'{"t":1,"cpu":0,"ev":"' + b"x" * (2 << 20) + b'"}\n', "longer than 1 MiB"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_reader_refuses_a_bad_trace_with_one_line_naming_it(tmp_path, name):
    data, message = CASES[name]
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(data)
    with pytest.raises(TraceError) as info:
        list(read_events(path))
    text = str(info.value)
    assert message in text and "\n" not in text
    assert text.startswith(f"{path}:")


def test_a_bad_line_after_good_ones_names_its_line_number(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(GOOD * 3 + b'{"t":1,"cpu":0,"ev":"x\xff"}\n')
    with pytest.raises(TraceError, match=r"t.jsonl:4: non-ASCII"):
        list(read_events(path))


def test_a_symbolised_trace_with_string_addresses_and_an_ipi_to_list_reads(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"t":1,"cpu":0,"ev":"intr.enter","vector":37,"eip":"lwp_exit+0x4",'
                     b'"owner":"lwp 3"}\n{"t":2,"cpu":0,"ev":"ipi.send","to":[1,2],"vector":192}\n')
    assert [e["ev"] for e in read_events(path)] == ["intr.enter", "ipi.send"]


def test_a_good_gzip_trace_still_reads(tmp_path):
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(gzip.compress(GOOD * 3))
    assert [e["line"] for e in read_events(path)] == [5, 5, 5]


@pytest.mark.parametrize("tool", ["summary", "diff"])
def test_summary_and_diff_say_one_line_and_exit_2_for_every_bad_trace(tmp_path, tool, capsys):
    good = tmp_path / "good.jsonl"
    good.write_bytes(GOOD)
    for name, (data, message) in sorted(CASES.items()):
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(data)
        argv = ["summary", str(path)] if tool == "summary" else ["diff", str(good), str(path)]
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("trace: ") and message in err, (name, err)


@pytest.mark.parametrize("args,message", [
    (["--context", "-5"], "argument --context: must be at least 0, not -5"),
    (["--window", "0"], "argument --window: must be at least 1, not 0"),
    (["--context", "x"], "argument --context: not a number: 'x'"),
])
def test_diff_refuses_a_negative_context_or_window_in_one_line(tmp_path, args, message):
    good = tmp_path / "good.jsonl"
    good.write_bytes(GOOD)
    r = subprocess.run([sys.executable, "-m", "emulator", "trace", "diff", str(good), str(good),
                        *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr == f"trace: {message}\n"


def test_diff_with_context_zero_shows_no_events_before_the_divergence(tmp_path, capsys):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(GOOD * 3)
    b.write_bytes(GOOD * 2 + b'{"t":2,"cpu":0,"ev":"irq.raise","line":5}\n')
    assert main(["diff", str(a), str(b), "--context", "0"]) == 1
    out = capsys.readouterr().out
    assert "traces differ at event 3" in out and "in common" not in out


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet='{}[]":,0123456789 \t-aetrunlfsNI.e', max_size=30))
def test_a_line_decodes_as_the_standard_decoder_decodes_it(text):
    # trace._decode goes straight to the decoder's C scanner: the same value,
    # or a ValueError with the same message, as JSONDecoder.decode gives
    import json

    from emulator.trace import _decode, _no_float
    reference = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float).decode
    line = text.strip()

    def outcome(decode):
        try:
            return ("value", decode(line))
        except RecursionError:
            return ("deep",)
        except ValueError as e:
            return ("error", str(e))
    assert outcome(_decode) == outcome(reference)
