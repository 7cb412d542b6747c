"""Teach reprorng a new family of generators: ``python examples/custom_source.py``.

``toysim`` below stands for any library with a global generator of its own
(a physics simulator, a GPU array library). A *source* is a small object
that tells reprorng how to read, seed and put back that generator: the same
protocol reprorng's own sources for ``random``, numpy and torch implement.

Shipped in a package, a source is declared once in its ``pyproject.toml``,
and every block in any program that has the package installed manages it::

    [project.entry-points."reprorng.sources"]
    toysim = "toysim.reprorng_source:ToySimSource"

The entry point names the source object, or a class or function that makes
one. In your own code, without packaging, ``reprorng.add_source(...)`` does
the same. Either way users can leave it out of one block
(``fixed_rng(seed, exclude={"toysim"})``) or of every block
(``reprorng.exclude("toysim")``).
"""

from __future__ import annotations

import reprorng


class toysim:  # noqa: N801 - stands for a module
    """A library with one global generator: a 64-bit linear congruential one."""

    state = 12345

    @classmethod
    def seed(cls, seed: int) -> None:
        cls.state = seed % 2**64

    @classmethod
    def random(cls) -> float:
        cls.state = (cls.state * 6364136223846793005 + 1442695040888963407) % 2**64
        return cls.state / 2**64


class ToySimSource:
    """The source for ``toysim``'s global generator."""

    #: How users name it in ``exclude`` and how saved snapshots label its state.
    name = "toysim"

    def active(self) -> bool:
        # Whether there is anything to manage now. A real source looks and never
        # imports (``return "toysim" in sys.modules``): a library that is not
        # imported has no state yet. Here toysim is always there.
        return True

    def capture(self) -> object:
        # The complete state, as a value later draws never change.
        return toysim.state

    def seed(self, seed: int) -> None:
        # Seed exactly as the library's own seeding call does (0 <= seed < 2**64).
        toysim.seed(seed)

    def restore(self, state: object) -> None:
        assert isinstance(state, int)
        toysim.state = state

    # Optional: what a saved snapshot holds (ints, floats, str, bytes, lists,
    # tuples, dicts, numpy arrays, CPU tensors), and checking it on the way back.
    def dump(self, state: object) -> object:
        return state

    def load(self, data: object) -> object:
        if type(data) is not int or not 0 <= data < 2**64:
            raise ValueError("a toysim state is an int in [0, 2**64)")
        return data


def main() -> None:
    reprorng.add_source(ToySimSource())
    print("sources:", ", ".join(reprorng.source_names()))

    toysim.seed(2024)
    before = toysim.state
    with reprorng.fixed_rng(42):
        inside = [round(toysim.random(), 4) for _ in range(3)]
    assert toysim.state == before, "restored after the block"
    toysim.seed(42)
    assert inside == [round(toysim.random(), 4) for _ in range(3)], "seeded like toysim.seed(42)"
    print("toysim inside fixed_rng(42):", inside, "- the same as after toysim.seed(42)")

    with reprorng.fixed_rng(42, exclude={"toysim"}):
        toysim.random()
    assert toysim.state != before
    print("with exclude={'toysim'} the block leaves it alone")

    saved = reprorng.snapshot().to_bytes()  # its state is saved with the others
    expected = toysim.random()
    reprorng.RngState.from_bytes(saved).restore()
    assert toysim.random() == expected
    print("saved and restored with every other generator by reprorng.snapshot()")


if __name__ == "__main__":
    main()
