"""Fixtures for every test: QEMU boots shared by the session's workers.

Each identical QEMU boot (same image bytes, same arguments) runs once per
pytest session; the result is kept in the session's directory, which the
xdist workers share (tests/qemu.py, tests/cache.py).
"""

from __future__ import annotations

import pytest

from tests import qemu
from tests.cache import session_dir


@pytest.fixture(scope="session", autouse=True)
def _qemu_boots_shared_by_the_session(tmp_path_factory):
    qemu.use_cache(session_dir(tmp_path_factory, "qemu"))
    yield
    qemu.use_cache(None)
