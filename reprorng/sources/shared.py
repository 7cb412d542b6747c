"""The shared ``random.Random`` of libraries that keep one: Faker's and polyfactory's.

Fake data from Faker comes from ``faker.generator.random``, the generator
``Faker.seed`` seeds; polyfactory's factories draw from
``BaseFactory.__random__`` (``polyfactory.constants.DEFAULT_RANDOM``, unless
``BaseFactory.seed_random`` put a new one there). Each is managed once its
library is imported: seeded in place as the library's own call seeds it
(``random.Random.seed`` with the whole seed, so all 64 bits count), and put
back bit for bit, the very object back where it was if the block replaced it.
Faker's ``seed`` also marks Faker as seeded (``Generator._is_seeded``, which
makes its ``binary()`` draw from the seeded generator instead of
``os.urandom``); that mark is set in a block and put back too.
"""

from __future__ import annotations

import random
import sys
from typing import Any, cast

from reprorng.sources.base import BaseSource
from reprorng.sources.python import RandomInstance

__all__ = ["FakerRandom", "PolyfactoryRandom", "SharedRandom"]


class SharedRandom(BaseSource):
    """A library's shared ``random.Random``, found by :meth:`locate`, put back by :meth:`put`."""

    name = ""

    def __init__(self) -> None:
        self._known: tuple[random.Random, RandomInstance] | None = None

    def locate(self) -> object:
        """The generator the library draws from now; ``None`` if it is not imported."""
        raise NotImplementedError

    def put(self, generator: random.Random) -> None:
        """Make ``generator`` the one the library draws from."""
        raise NotImplementedError

    def marks(self) -> object:
        """What else the library's seeding call sets, as :meth:`put_marks` puts it back."""
        return None

    def put_marks(self, marks: object) -> None:
        """Put back what :meth:`marks` read."""

    def seed_marks(self, seed: int) -> None:
        """Set what else the library's seeding call sets, as it sets it for ``seed``."""

    def _managed(self, generator: object) -> RandomInstance | None:
        if not isinstance(generator, random.Random) or isinstance(generator, random.SystemRandom):
            return None
        known = self._known
        if known is None or known[0] is not generator:
            chosen = generator
            known = self._known = (chosen, RandomInstance(lambda: chosen, self.name))
        return known[1]

    def active(self) -> bool:
        return self._managed(self.locate()) is not None

    # A captured state: the generator, its state (as RandomInstance captures it), the marks.

    def capture(self) -> object:
        generator = self.locate()
        instance = self._managed(generator)
        assert instance is not None
        return generator, instance.capture(), self.marks()

    def seed(self, seed: int) -> None:
        instance = self._managed(self.locate())
        assert instance is not None
        instance.seed(seed)
        self.seed_marks(seed)

    def restore(self, state: object) -> None:
        generator, inner, marks = cast(tuple[Any, object, object], state)
        if generator is None:  # a loaded state: into whichever generator is there now
            generator = self.locate()
        elif self.locate() is not generator:
            self.put(generator)
        instance = self._managed(generator)
        if instance is not None:
            instance.restore(inner)
        self.put_marks(marks)

    def dump(self, state: object) -> object:
        generator, inner, marks = cast(tuple[Any, object, object], state)
        instance = self._managed(generator)
        assert instance is not None
        return {"state": instance.dump(inner), "marks": self.dump_marks(marks)}

    def dump_marks(self, marks: object) -> object:
        return None

    def load(self, data: object) -> object:
        if not (isinstance(data, dict) and data.keys() == {"state", "marks"}):
            raise ValueError(f"a saved {self.name} state is a dict of 'state' and 'marks'")
        inner = RandomInstance(lambda: None, self.name).load(data["state"])
        return None, inner, self.load_marks(data["marks"])

    def load_marks(self, data: object) -> object:
        if data is not None:
            raise ValueError(f"a saved {self.name} state has no marks")
        return None


class FakerRandom(SharedRandom):
    """Faker's shared generator, ``faker.generator.random``, and its ``_is_seeded`` mark."""

    name = "faker"

    def locate(self) -> object:
        return getattr(sys.modules.get("faker.generator"), "random", None)

    def put(self, generator: random.Random) -> None:
        module: Any = sys.modules["faker.generator"]
        module.random = generator

    def _generator_class(self) -> Any:
        return getattr(sys.modules.get("faker.generator"), "Generator", None)

    def marks(self) -> object:
        faker = self._generator_class()
        if faker is None:
            return None
        return faker.__dict__.get("_is_seeded"), faker.__dict__.get("_global_seed")

    def put_marks(self, marks: object) -> None:
        faker = self._generator_class()
        if faker is not None and marks is not None:
            faker._is_seeded, faker._global_seed = cast(tuple[Any, Any], marks)

    def seed_marks(self, seed: int) -> None:
        faker = self._generator_class()
        if faker is not None:  # as Faker.seed(seed) marks it
            faker._is_seeded, faker._global_seed = True, seed

    def dump_marks(self, marks: object) -> object:
        if marks is None:
            return None
        seeded, seed = cast(tuple[Any, Any], marks)
        return bool(seeded), seed if type(seed) is int else None

    def load_marks(self, data: object) -> object:
        if data is None:
            return None
        if not (
            isinstance(data, tuple)
            and len(data) == 2
            and type(data[0]) is bool
            and (data[1] is None or type(data[1]) is int)
        ):
            raise ValueError("Faker's saved marks are (seeded, seed or None)")
        faker = self._generator_class()
        seed = data[1] if data[1] is not None or faker is None else faker._global_seed
        return data[0], seed


class PolyfactoryRandom(SharedRandom):
    """polyfactory's ``BaseFactory.__random__``, the generator its factories draw from, and
    the generators its Faker (``BaseFactory.__faker__``) was given by ``seed_random``."""

    name = "polyfactory"

    def _factory(self) -> Any:
        return getattr(sys.modules.get("polyfactory.factories.base"), "BaseFactory", None)

    def locate(self) -> object:
        factory = self._factory()
        if factory is not None:
            return factory.__random__
        return getattr(sys.modules.get("polyfactory.constants"), "DEFAULT_RANDOM", None)

    def put(self, generator: random.Random) -> None:
        factory = self._factory()
        if factory is not None:
            factory.__random__ = generator

    def _fakers(self) -> list[Any]:
        """The generators of polyfactory's Faker that draw from a ``random.Random`` of their
        own (``seed_instance`` gave them one); the others draw from Faker's shared one."""
        factory = self._factory()
        shared = getattr(sys.modules.get("faker.generator"), "random", None)
        fakers = getattr(getattr(factory, "__faker__", None), "factories", None) or []
        return [each for each in fakers if getattr(each, "random", shared) is not shared]

    # Marks here: each such Faker generator, its own generator and that one's state.

    def marks(self) -> object:
        marked = []
        for each in self._fakers():
            own = each.random
            marked.append((each, own, own.getstate()))
        return marked

    def put_marks(self, marks: object) -> None:
        for each, own, state in cast(list[tuple[Any, Any, Any]], marks or []):
            each.random = own
            own.setstate(state)

    def seed_marks(self, seed: int) -> None:
        for each in self._fakers():  # as seed_random seeds its Faker: each own generator
            each.random.seed(seed)

    def dump_marks(self, marks: object) -> object:
        return [state for _each, _own, state in cast(list[tuple[Any, Any, Any]], marks)]

    def load_marks(self, data: object) -> object:
        fakers = self._fakers()
        if not (isinstance(data, list) and len(data) == len(fakers)):
            raise ValueError(
                "polyfactory's saved state is for another number of its Faker's own generators"
            )
        loaded = []
        for each, state in zip(fakers, data, strict=True):
            state = RandomInstance(lambda: None, self.name).load(state)
            loaded.append((each, each.random, state))
        return loaded
