"""Outside tools a test needs: skip with the reason on a machine without them, fail under ``CI=true``."""

import os
import shutil

import pytest

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` when ``condition`` is false; under ``CI=true`` fail instead."""
    if not condition:
        if CI:
            pytest.fail(f"{reason} (CI=true: a missing tool is a failure, not a skip)")
        pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"`{name}` is not installed on this machine")
    return path
