"""asm/symcache.py: a symbol file's checked contents cached beside it,
keyed by its bytes (issue 17: parsing the kernel's was ~10% of a run).
A cache may only ever give back what parsing the same bytes gives."""

import json

import pytest

from asm import symcache, symfile
from asm.symfile import load_symbols

FILE = {"format": "irqlab-sym-1", "base": 0x100000, "entry": 0x100000, "end": 0x100020,
        "symbols": [{"name": "_start", "value": 0x100000, "kind": "label", "file": "a.S",
                     "line": 1},
                    {"name": "work", "value": 0x100008, "kind": "label", "file": "b.S", "line": 4},
                    {"name": "PORT", "value": 0xe9, "kind": "const", "file": "a.S", "line": 0}],
        "lines": [[0x100000, "a.S", 1], [0x100004, "a.S", 2], [0x100008, "b.S", 4]],
        "sources": {"a.S": "/src/a.S", "b.S": "/src/b.S"}}


def write(tmp_path, d=FILE):
    (tmp_path / "k.sym.json").write_text(json.dumps(d, indent=1))
    return tmp_path / "k.bin"


def view(table):
    """Everything a table answers, to compare two."""
    return (sorted(table.symbols.items()), table.lines.entries(), table.sources, table.base,
            table.entry, table.end, table.symbolize(0x10000a), table.line_of(0x100005))


def no_parsing(monkeypatch):
    def refuse(raw, path):
        raise AssertionError("parsed, not read from the cache")
    monkeypatch.setattr(symfile, "_parse", refuse)


def test_a_second_read_of_the_same_bytes_comes_from_the_cache_and_is_the_same_table(
        tmp_path, monkeypatch):
    image = write(tmp_path)
    first = load_symbols(image)
    assert (tmp_path / "__pycache__" / "k.sym.json.irqlab.marshal").is_file()
    no_parsing(monkeypatch)
    assert view(load_symbols(image)) == view(first)
    assert first.symbolize(0x10000a) == "work+0x2" and first.line_of(0x100005) == ("a.S", 2)


def test_a_changed_file_is_parsed_again_not_taken_from_the_cache(tmp_path):
    image = write(tmp_path)
    assert load_symbols(image).addr("work") == 0x100008
    changed = json.loads(json.dumps(FILE))
    changed["symbols"][1]["value"] = 0x10000c
    write(tmp_path, changed)
    assert load_symbols(image).addr("work") == 0x10000c


def test_a_changed_checker_does_not_read_the_old_cache(tmp_path, monkeypatch):
    image = write(tmp_path)
    load_symbols(image)
    raw = (tmp_path / "k.sym.json").read_bytes()
    assert symcache.load(tmp_path / "k.sym.json", symcache.key_of(raw)) is not None
    monkeypatch.setattr(symcache, "_code_key", bytes(20))     # other code, other key
    assert symcache.load(tmp_path / "k.sym.json", symcache.key_of(raw)) is None


def test_a_damaged_cache_is_not_read(tmp_path):
    image = write(tmp_path)
    good = view(load_symbols(image))
    cache = tmp_path / "__pycache__" / "k.sym.json.irqlab.marshal"
    data = bytearray(cache.read_bytes())
    data[-3] ^= 0x40
    cache.write_bytes(bytes(data))
    assert symcache.load(tmp_path / "k.sym.json",
                         symcache.key_of((tmp_path / "k.sym.json").read_bytes())) is None
    assert view(load_symbols(image)) == good


def test_a_directory_that_cannot_hold_a_cache_still_loads_the_same_table(tmp_path):
    image = write(tmp_path)
    (tmp_path / "__pycache__").write_text("a file where the cache directory would go")
    first, second = load_symbols(image), load_symbols(image)
    assert view(first) == view(second)
    assert first.addr("PORT") == 0xe9


def test_a_broken_file_is_still_an_error_after_a_good_one_was_cached(tmp_path):
    image = write(tmp_path)
    load_symbols(image)
    (tmp_path / "k.sym.json").write_text('{"format": "irqlab-sym-1", "lines": [[1, 2]]}')
    with pytest.raises(ValueError, match="line-table row 0"):
        load_symbols(image)


def test_without_its_own_sources_the_checker_keeps_no_cache_and_still_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(symcache, "_code_key", b"")       # as when symfile.py cannot be read
    image = write(tmp_path)
    assert load_symbols(image).addr("work") == 0x100008
    assert not (tmp_path / "__pycache__").exists()
