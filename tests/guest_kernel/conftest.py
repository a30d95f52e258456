"""Kernel images built once per test session, one directory per configuration."""

from __future__ import annotations

import pytest

from guest_kernel.build import Config, build, parse_drivers


@pytest.fixture(scope="session")
def kernel(tmp_path_factory):
    """kernel(model, **options) -> path of that configuration's ELF (cached);
    ``drivers`` are --driver strings ("kbd=hybrid,biglock")."""
    root = tmp_path_factory.mktemp("kernels")
    cache = {}

    def get(model="ithread", intr_stack="shared", softint="thread", bug=None, drivers=()):
        cfg = Config(model, intr_stack, softint, bug, parse_drivers(drivers))
        if cfg not in cache:
            cache[cfg] = build(cfg, root / cfg.name)
        return str(cache[cfg])
    return get
