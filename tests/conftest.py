from __future__ import annotations

import pytest
from hypothesis import settings

from tests import helpers

pytest_plugins = ["pytester"]

# ``pytest --hypothesis-profile thorough``: every property test tries all the
# examples it names (see helpers.examples), for a nightly run.
settings.register_profile("thorough", deadline=None)


def pytest_configure(config: pytest.Config) -> None:
    helpers.THOROUGH = config.getoption("hypothesis_profile", None) == "thorough"


@pytest.fixture(autouse=True)
def _no_seed_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPRORNG_SEED", raising=False)
