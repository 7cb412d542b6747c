from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_seed_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPRORNG_SEED", raising=False)
