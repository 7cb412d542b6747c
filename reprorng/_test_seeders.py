"""What else a test seeded by the pytest plugin seeds: the generators pytest-randomly reaches.

pytest-randomly's users rely on it reseeding Faker, factory_boy and
model_bakery (Faker's and polyfactory's generators are sources of every block,
see :mod:`reprorng.sources.shared`), and the seeders other packages declare in its
``pytest_randomly.random_seeder`` entry-point group. A test the reprorng
plugin seeds gets the same: factory_boy's and model_bakery's ``random.Random`` instances
are managed as generator objects of the test's block (seeded, then put back),
and each declared seeder is called with the test's seed, reduced to 32 bits
(seeders often hand it to ``np.random.seed``). A seeder is a function and
has no state to put back.

Nothing here imports those libraries: they are seeded once the test's code
has imported them.
"""

from __future__ import annotations

import random
import sys
import warnings
from collections.abc import Callable

__all__ = ["SEEDER_GROUP", "call_seeders", "library_generators"]

#: pytest-randomly's entry-point group of seeders, functions of one int.
SEEDER_GROUP = "pytest_randomly.random_seeder"

# Where each library keeps its shared generator: module, attribute.
_LIBRARIES = (
    ("factory.random", "randgen"),  # what factory.random.reseed_random() seeds
    ("model_bakery.random_gen", "baker_random"),
)

_seeders: list[Callable[[int], object]] | None = None


def library_generators() -> list[random.Random]:
    """The shared generators of factory_boy and model_bakery, those imported."""
    found = []
    for module_name, attribute in _LIBRARIES:
        generator = getattr(sys.modules.get(module_name), attribute, None)
        if isinstance(generator, random.Random) and not isinstance(generator, random.SystemRandom):
            found.append(generator)
    return found


def _load_seeders() -> list[Callable[[int], object]]:
    from importlib.metadata import entry_points

    loaded = []
    for entry_point in entry_points(group=SEEDER_GROUP):
        try:
            seeder = entry_point.load()
        except Exception as error:  # noqa: BLE001 - a broken seeder must not break the tests
            warnings.warn(
                f"reprorng skips the {SEEDER_GROUP} entry point {entry_point.name!r}: {error!r}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        if callable(seeder):
            loaded.append(seeder)
    return loaded


def call_seeders(seed: int) -> None:
    """Call every ``pytest_randomly.random_seeder`` entry point with ``seed``'s low 32 bits."""
    global _seeders
    if _seeders is None:
        _seeders = _load_seeders()
    for seeder in _seeders:
        seeder(seed & 0xFFFFFFFF)
