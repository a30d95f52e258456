"""A symbol file's checked contents, cached beside it, keyed by its bytes.

Reading the kernel's symbol file (420 KB of JSON: 931 symbols, 4,096 line
rows) and checking every entry was ~10% of a short ``python -m emulator
run`` (issue 17); the same file is read by every run of the same image.

Contract
--------
``key_of(raw) -> bytes``: the key of a file whose bytes are ``raw`` (b"": no
caching here).  ``load(path, key) -> parts | None``: what ``store`` kept
under that key, or None (no cache, another file's, another version of this
code's, or a damaged one: the caller then parses the file).
``store(path, key, parts)``: keep ``parts`` (str/int/tuple/list/dict/None
only, as marshal writes them) in ``DIR/__pycache__/NAME.irqlab.marshal``
beside the file.

The key is a digest (BLAKE2b) of the file's bytes and of this module's and
asm/symfile.py's own source (a change to how a file is checked is a new
key), and the payload carries its CRC-32 (a damaged cache is not read), so
a cache can only give back what parsing the same bytes with the same code
gave.  Writes go
to a temporary file renamed into place (asm/image.py ``write_whole``:
parallel runs see a whole file or none); a directory that cannot be
written keeps no cache and the run goes on, the file parsed as before.
"""

from __future__ import annotations

import marshal
import os
import zlib

try:                        # hashlib would load OpenSSL's module too (5 ms a run)
    from _blake2 import blake2b
except ImportError:         # a Python built without it
    from hashlib import blake2b

from .image import write_whole

_SUFFIX = ".irqlab.marshal"
_DIGEST = 20
_code_key: bytes | None = None


def _digest(data: bytes) -> bytes:
    return blake2b(data, digest_size=_DIGEST).digest()


def _crc(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "little")


def _code() -> bytes:
    """The digest of the code that checks a file (asm/symfile.py, this file);
    b"" (no caching) where those sources cannot be read."""
    global _code_key
    if _code_key is None:
        here = os.path.dirname(os.path.abspath(__file__))
        h = blake2b(digest_size=_DIGEST)
        try:
            for name in ("symfile.py", "symcache.py"):
                with open(os.path.join(here, name), "rb") as f:
                    h.update(f.read())
        except OSError:                 # installed without sources: parse every time
            _code_key = b""
            return _code_key
        h.update(marshal.version.to_bytes(4, "little"))
        _code_key = h.digest()
    return _code_key


def cache_path(path) -> str:
    folder, name = os.path.split(os.path.abspath(str(path)))
    return os.path.join(folder, "__pycache__", name + _SUFFIX)


def key_of(raw: bytes) -> bytes:
    code = _code()
    return _digest(raw) + code if code else b""


def load(path, key: bytes):
    if not key:
        return None
    try:
        with open(cache_path(path), "rb") as f:
            data = f.read()
    except OSError:                     # no cache (yet): the caller parses
        return None
    head = len(key) + 4                 # the key, then the payload's CRC-32
    payload = data[head:]
    if data[:len(key)] != key or data[len(key):head] != _crc(payload):
        return None                     # another file's or version's, or damaged
    try:
        return marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None


def store(path, key: bytes, parts) -> None:
    if not key:
        return
    payload = marshal.dumps(parts)
    try:
        write_whole(cache_path(path), key + _crc(payload) + payload)
    except OSError:                     # a read-only or full disk: no cache, same result
        pass
