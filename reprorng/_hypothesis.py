"""Hypothesis's plugin: each example starts every reprorng source from the same state.

Hypothesis seeds Python's ``random`` and numpy's global generator before each
example and puts them back after it, so that a failing example replays. This
plugin, loaded through Hypothesis's ``hypothesis`` entry-point group, hands
Hypothesis one more generator-like object to manage the same way: every other
active source (torch and its devices, numba, Faker, polyfactory, those added
by packages), seeded with the seed Hypothesis gives each example (0, or the
one ``st.random_module()`` draws), and restored after it.
"""

from __future__ import annotations

from reprorng._stack import exclusive
from reprorng.sources import Source, all_sources

__all__ = ["EverySource", "setup"]

# Hypothesis manages these two itself, in its own order: leave them to it.
_HYPOTHESIS_OWN = frozenset({"random", "numpy"})


class EverySource:
    """Every active reprorng source but ``random`` and numpy's, as one generator-like object
    with ``seed``, ``getstate`` and ``setstate``, which ``hypothesis.register_random`` takes."""

    def _sources(self) -> list[Source]:
        return [s for s in all_sources() if s.name not in _HYPOTHESIS_OWN and s.active()]

    def seed(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise TypeError(f"a seed for reprorng's sources is an int in [0, 2**64), got {seed!r}")
        with exclusive():
            for source in self._sources():
                source.seed(seed)

    def getstate(self) -> dict[Source, object]:
        with exclusive():
            return {source: source.capture() for source in self._sources()}

    def setstate(self, state: dict[Source, object]) -> None:
        with exclusive():
            for source, captured in reversed(state.items()):
                source.restore(captured)


#: Registered with Hypothesis, which keeps only a weak reference to it.
EVERY_SOURCE = EverySource()


def setup() -> None:
    """The entry point Hypothesis calls as it is imported: register :data:`EVERY_SOURCE`."""
    from hypothesis import register_random

    register_random(EVERY_SOURCE)
