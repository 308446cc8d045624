from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from harness import Stack


def _bins() -> tuple[str, str]:
    aegis_bin = os.environ.get("AEGIS_BIN", "")
    claude_bin = os.environ.get("CLAUDE_BIN", "")
    if not (aegis_bin and os.access(aegis_bin, os.X_OK) and claude_bin and os.access(claude_bin, os.X_OK)):
        pytest.skip("live test: set AEGIS_BIN and CLAUDE_BIN to executables")
    return aegis_bin, claude_bin


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A live stack; `@pytest.mark.server_args(...)` adds `aegis serve` arguments."""
    aegis_bin, claude_bin = _bins()
    marker = request.node.get_closest_marker("server_args")
    s = Stack(aegis_bin, claude_bin, tmp_path, list(marker.args) if marker else [])
    try:
        s.start()
        yield s
    finally:
        s.close()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(s.logs())


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
