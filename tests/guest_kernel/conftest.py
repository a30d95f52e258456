"""Kernel images built once per test session, one directory per configuration.

The directory is the session's, shared by the xdist workers (tests/cache.py):
a configuration is built by whichever worker asks first, the other waits
for it and uses the same files, instead of building it again.
"""

from __future__ import annotations

import pytest

from guest_kernel.build import Config, build, parse_drivers
from tests.cache import once, session_dir


@pytest.fixture(scope="session")
def kernel(tmp_path_factory):
    """kernel(model, **options) -> path of that configuration's ELF (built
    once per session); ``drivers`` are --driver strings ("kbd=hybrid,biglock")."""
    root = session_dir(tmp_path_factory, "kernels")
    cache = {}

    def get(model="ithread", intr_stack="shared", softint="thread", bug=None, drivers=()):
        cfg = Config(model, intr_stack, softint, bug, parse_drivers(drivers))
        if cfg not in cache:
            cache[cfg] = once(root, cfg.name, lambda out: build(cfg, out)) / "kernel.elf"
        return str(cache[cfg])
    return get
