from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import multiprocessing
import pickle
import random
import subprocess
import sys
import types
import unittest

import numpy as np
import pytest
import torch

from reprorng import fixed_rng, reproducible
from reprorng._seed import name_seed
from tests.helpers import global_states


def draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.random()), torch.rand(1).item()


def draws_in_block(seed: int) -> tuple[float, float, float]:
    with fixed_rng(seed):
        return draws()


@pytest.mark.parametrize(
    "decorator",
    [reproducible(42), reproducible(seed=42), fixed_rng(42), reproducible(np.uint8(42))],
)
def test_each_call_runs_seeded_and_leaves_the_caller_alone(decorator):
    @decorator
    def train(scale):
        return [value * scale for value in draws()]

    before = global_states()
    assert train(2) == [value * 2 for value in draws_in_block(42)]
    assert train(2) == train(2)
    assert global_states() == before


def test_bare_and_empty_forms_use_a_seed_from_module_and_qualified_name():
    def bare():
        return draws()

    def empty():
        return draws()

    expected_bare = draws_in_block(name_seed(__name__, bare.__qualname__))
    expected_empty = draws_in_block(name_seed(__name__, empty.__qualname__))
    assert reproducible(bare)() == expected_bare
    assert reproducible()(empty)() == expected_empty
    assert expected_bare != expected_empty


def test_bare_form_uses_environment_seed_when_set(monkeypatch):
    monkeypatch.setenv("REPRORNG_SEED", "31")

    @reproducible
    def bare():
        return draws()

    assert bare() == draws_in_block(31)


def test_bare_form_seed_is_the_same_in_every_process():
    code = (
        "import random\n"
        "from reprorng import reproducible\n"
        "@reproducible\n"
        "def f():\n"
        "    return random.random()\n"
        "print(f())\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(outputs) == 1
    with fixed_rng(name_seed("__main__", "f")):
        assert outputs == {f"{random.random()}\n"}


def test_bad_seed_in_decorator_is_rejected_at_decoration():
    with pytest.raises(TypeError, match="seed must be an int"):
        reproducible(1.5)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="seed must be in"):
        reproducible(-1)


def test_decorating_a_non_callable_is_a_type_error():
    with pytest.raises(TypeError, match="can decorate functions, methods and classes"):
        fixed_rng(1)(42)  # type: ignore[type-var]


def test_bare_form_without_a_name_asks_for_a_seed():
    class Callable:
        __module__ = None  # type: ignore[assignment]

        def __call__(self):
            return 1

    with pytest.raises(TypeError, match=r"pass a seed: @reproducible\(42\)"):
        reproducible(Callable())


def test_signature_name_docstring_and_wrapped_are_kept():
    def original(a: int, b: str = "x", *, c: float = 1.0) -> list[float]:
        """Draw a few numbers."""
        return []

    decorated = reproducible(7)(original)
    assert decorated.__name__ == "original"
    assert decorated.__qualname__ == original.__qualname__
    assert decorated.__doc__ == "Draw a few numbers."
    assert decorated.__wrapped__ is original  # type: ignore[attr-defined]
    assert inspect.signature(decorated) == inspect.signature(original)


def test_exceptions_propagate_unchanged_and_state_is_restored():
    error = KeyError("k")

    @reproducible(3)
    def fail():
        draws()
        raise error

    before = global_states()
    with pytest.raises(KeyError) as caught:
        fail()
    assert caught.value is error
    assert global_states() == before


class Model:
    def __init__(self):
        self.scale = 10

    @reproducible(5)
    def method(self):
        return self.scale, draws()

    @reproducible(5)
    @classmethod
    def class_outer(cls):
        return cls, draws()

    @classmethod
    @reproducible(5)
    def class_inner(cls):
        return cls, draws()

    @reproducible(5)
    @staticmethod
    def static_outer():
        return draws()

    @staticmethod
    @reproducible(5)
    def static_inner():
        return draws()


def test_methods_classmethods_and_staticmethods_in_either_order():
    expected = draws_in_block(5)
    before = global_states()
    assert Model().method() == (10, expected)
    assert Model.class_outer() == (Model, expected)
    assert Model().class_outer() == (Model, expected)
    assert Model.class_inner() == (Model, expected)
    assert Model.static_outer() == expected
    assert Model().static_outer() == expected
    assert Model.static_inner() == expected
    assert global_states() == before


def test_method_signature_is_the_original():
    assert list(inspect.signature(Model.method).parameters) == ["self"]
    assert list(inspect.signature(Model().method).parameters) == []


@reproducible(9)
class Experiments:
    data = [1, 2, 3]
    test_data = [4, 5]

    def helper(self):
        return draws()

    def test_one(self):
        return draws()

    def test_two(self):
        return draws()

    @staticmethod
    def test_static():
        return draws()


def test_class_decoration_wraps_only_test_methods():
    expected = draws_in_block(9)
    experiments = Experiments()
    assert experiments.test_one() == expected
    assert experiments.test_two() == expected
    assert Experiments.test_static() == expected
    assert Experiments.test_data == [4, 5]
    before = global_states()
    assert experiments.helper() != expected
    assert global_states() != before  # helper runs unseeded, in the caller's stream


class SharedTests:
    """A mixin of tests reused by several test classes."""

    def test_inherited(self):
        return draws()

    @classmethod
    def test_inherited_classmethod(cls):
        return draws()


class BaseCase:
    def test_from_base(self):
        return draws()


def test_class_decoration_also_seeds_inherited_tests_leaving_the_bases_alone():
    @reproducible(7)
    class Suite(SharedTests, BaseCase):
        def test_own(self):
            return draws()

    expected = draws_in_block(7)
    suite = Suite()
    assert suite.test_own() == expected
    assert suite.test_inherited() == expected
    assert Suite.test_inherited_classmethod() == expected
    assert suite.test_from_base() == expected
    before = global_states()
    assert SharedTests().test_inherited() != expected  # the mixin itself is unchanged
    assert global_states() != before


def test_bare_class_decoration_seeds_each_test_from_its_own_name():
    @reproducible
    class Suite:
        def test_a(self):
            return draws()

        def test_b(self):
            return draws()

    assert Suite().test_a() == draws_in_block(name_seed(__name__, Suite.test_a.__qualname__))
    assert Suite().test_b() == draws_in_block(name_seed(__name__, Suite.test_b.__qualname__))


def test_unittest_test_case_runs_each_test_seeded():
    seen = []

    @reproducible(21)
    class Case(unittest.TestCase):
        def setUp(self):
            seen.append(("setUp", random.random()))

        def test_first(self):
            seen.append(("test", random.random()))

        def test_second(self):
            seen.append(("test", random.random()))

    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Case).run(result)
    assert result.wasSuccessful(), result.errors + result.failures
    with fixed_rng(21):
        expected = random.random()
    assert [value for kind, value in seen if kind == "test"] == [expected, expected]
    assert next(value for kind, value in seen if kind == "setUp") != expected


def test_pytest_test_class_and_fixtures_see_the_original_signature(pytester):
    pytester.makepyfile(
        """
        import random
        import pytest
        from reprorng import fixed_rng, reproducible

        @pytest.fixture
        def number():
            return 3

        with fixed_rng(4):
            EXPECTED = random.random()

        @reproducible(4)
        class TestSuite:
            def test_fixture_arrives(self, number):
                assert number == 3
                assert random.random() == EXPECTED

            @pytest.mark.parametrize("x", [1, 2])
            def test_parametrized(self, x, number):
                assert random.random() == EXPECTED

        @reproducible(4)
        def test_function(number, tmp_path):
            assert number == 3
            assert random.random() == EXPECTED
        """
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=4)


async def coroutine_function():
    return draws()


def generator_function():
    yield draws()


async def async_generator_function():
    yield draws()


async def first_of(agen):
    async for item in agen:
        return item
    return None


def run_body(made):
    """Run what a call returned to its first result, whatever its kind."""
    if inspect.iscoroutine(made):
        return asyncio.run(made)
    if inspect.isasyncgen(made):
        return asyncio.run(first_of(made))
    return next(made)


@pytest.mark.parametrize(
    "function",
    [
        coroutine_function,
        generator_function,
        async_generator_function,
        functools.partial(coroutine_function),
        functools.partial(generator_function),
        staticmethod(generator_function),
        staticmethod(coroutine_function),
    ],
    ids=[
        "coroutine",
        "generator",
        "async-generator",
        "partial-coroutine",
        "partial-generator",
        "staticmethod-generator",
        "staticmethod-coroutine",
    ],
)
@pytest.mark.parametrize(
    "decorator", [reproducible(1), fixed_rng(1)], ids=["reproducible", "fixed_rng"]
)
def test_bodies_that_run_after_the_call_returns_run_seeded(function, decorator):
    decorated = decorator(function)
    if isinstance(function, staticmethod):
        decorated = type("Holder", (), {"call": decorated}).call  # type: ignore[attr-defined]
    before = global_states()
    assert run_body(decorated()) == draws_in_block(1)
    assert global_states() == before


def test_class_with_coroutine_tests_runs_each_seeded():
    @reproducible(1)
    class Suite:
        async def test_async(self):
            return draws()

    assert inspect.iscoroutinefunction(Suite.test_async)
    assert asyncio.run(Suite().test_async()) == draws_in_block(1)


def test_a_legacy_generator_based_coroutine_stays_awaitable_and_seeded():
    @reproducible(1)
    @types.coroutine
    def legacy():
        first = draws()
        yield  # suspends to the event loop
        return first, draws()

    async def main():
        return await legacy()

    with fixed_rng(1):
        expected = (draws(), draws())
    before = global_states()
    assert asyncio.run(main()) == expected
    assert global_states() == before


def test_a_deferred_function_returning_something_else_is_a_type_error():
    async def body():
        return draws()

    @functools.wraps(body)
    def scheduled():
        return asyncio.get_running_loop().create_task(body())

    decorated = reproducible(1)(scheduled)  # unwraps to a coroutine function

    async def main():
        with pytest.raises(
            TypeError,
            match=r"body is decorated as a coroutine function, but the call returned Task",
        ):
            decorated()
        await asyncio.sleep(0)

    asyncio.run(main())


@reproducible(11)
def seeded_square(value: int) -> tuple[int, float]:
    return value * value, random.random()


def test_a_module_level_decorated_function_pickles_by_reference():
    assert pickle.loads(pickle.dumps(seeded_square)) is seeded_square
    assert copy.copy(seeded_square) is seeded_square
    assert copy.deepcopy(seeded_square) is seeded_square


def test_a_decorated_function_runs_in_a_process_pool():
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(seeded_square, [1, 2, 3])
    expected = random.Random(11).random()
    assert results == [(1, expected), (4, expected), (9, expected)]
