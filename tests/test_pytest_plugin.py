"""The pytest plugin, through real pytest runs in subprocesses."""

from __future__ import annotations

import hashlib
import random
import re
import shlex

import pytest

from reprorng import derive_seed
from tests.helpers import run_python

# Each test prints "DRAW <node id> <values>", so runs can be compared.
DRAWING_TESTS = """
import random
import pytest

def report(request, *values):
    print("DRAW", request.node.nodeid, *values)

def test_one(request, rng_seed):
    report(request, rng_seed, random.random())

def test_two(request, rng_seed):
    report(request, rng_seed, random.random(), random.random())

@pytest.mark.parametrize("x", [1, 2])
def test_three(request, rng_seed, x):
    report(request, rng_seed, random.random())
"""


def run(pytester: pytest.Pytester, *args: str, randomly: bool = False) -> pytest.RunResult:
    """pytest in a subprocess, with pytest-randomly off unless asked for.

    ``-rA`` shows what each test printed, also from pytest-xdist's workers.
    """
    options = ("-p", "randomly") if randomly else ("-p", "no:randomly")
    return pytester.runpytest_subprocess(*options, "-rA", *args)


def draws(result: pytest.RunResult) -> dict[str, list[str]]:
    """What each test printed with ``report``, by node id."""
    found = {}
    for line in result.outlines:
        match = re.search(r"DRAW (\S+) (.*)$", line)
        if match:
            found[match.group(1)] = match.group(2).split()
    return found


# --- installed, and inert unless asked -----------------------------------------------


def test_the_plugin_is_installed_through_its_entry_point(pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--reprorng-seed=N|random|last*", "*--reprorng-leaks*"])


def test_without_options_or_markers_no_test_changes(pytester):
    unseeded = DRAWING_TESTS.replace("rng_seed", "numpy_seed")  # a fixture of its own here
    pytester.makepyfile(
        test_values="import random\nrandom.seed(1)\n" + unseeded,
        conftest="import pytest\n\n@pytest.fixture\ndef numpy_seed():\n    return 'none'\n",
    )
    with_plugin = run(pytester)
    without_plugin = run(pytester, "-p", "no:reprorng")
    with_plugin.assert_outcomes(passed=4)
    assert len(draws(with_plugin)) == 4
    assert draws(with_plugin) == draws(without_plugin)
    assert not any(line.startswith("reprorng") for line in with_plugin.outlines)


def test_rng_seed_is_none_without_a_seed(pytester):
    pytester.makepyfile(test_values=DRAWING_TESTS)
    result = run(pytester)
    assert [values[0] for values in draws(result).values()] == ["None"] * 4


def test_loading_the_plugin_imports_neither_numpy_nor_torch():
    out = run_python(
        """
        import sys
        import reprorng.pytest_plugin
        print(sorted(m for m in ("numpy", "torch") if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


# --- the marker ----------------------------------------------------------------------


def test_the_marker_seeds_the_test_with_its_fixtures_and_restores_after(pytester):
    pytester.makepyfile(
        """
        import random
        import pytest

        random.seed(1)
        OUTSIDE = random.Random(1)
        SEEDED = random.Random(5)
        EXPECTED = [SEEDED.random() for _ in range(4)]
        drawn = []

        @pytest.fixture(scope="module")
        def module_value():
            return random.random()  # set up outside the test's block

        @pytest.fixture
        def value():
            drawn.append(random.random())
            yield
            drawn.append(random.random())

        @pytest.mark.fixed_rng(5)
        def test_marked(module_value, value, rng_seed):
            assert module_value == OUTSIDE.random()
            assert rng_seed == 5
            drawn.append(random.random())
            drawn.append(random.random())

        def test_after():
            assert drawn == EXPECTED
            assert random.random() == OUTSIDE.random()  # as if the marked test never ran
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_the_marker_takes_seed_as_a_keyword_and_numpy_integers(pytester):
    pytester.makepyfile(
        """
        import numpy as np
        import pytest

        @pytest.mark.fixed_rng(seed=np.uint16(9))
        def test_keyword(rng_seed):
            assert rng_seed == 9
            assert type(rng_seed) is int
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_the_marker_on_classes_and_modules(pytester):
    pytester.makepyfile(
        test_module="""
        import random
        import unittest
        import pytest

        pytestmark = pytest.mark.fixed_rng(3)

        def test_function(rng_seed):
            assert rng_seed == 3
            assert random.random() == random.Random(3).random()

        @pytest.mark.fixed_rng(4)
        class TestClass:
            def test_method(self, rng_seed):
                assert rng_seed == 4

        class TestCase(unittest.TestCase):
            def test_unittest(self):
                expected = random.Random(3).random()
                self.assertEqual(random.random(), expected)
        """
    )
    run(pytester, "--strict-markers").assert_outcomes(passed=3)


def test_the_marker_without_a_seed_derives_one_from_the_node_id(pytester):
    pytester.makepyfile(
        test_bare="""
        import pytest

        @pytest.mark.fixed_rng
        def test_bare(rng_seed):
            print("SEED", rng_seed)
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)
    digest = hashlib.blake2b(b"test_bare.py::test_bare", digest_size=8).digest()
    result.stdout.fnmatch_lines([f"SEED {int.from_bytes(digest, 'little')}"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('fixed_rng("7")', "@pytest.mark.fixed_rng seed must be an int"),
        ("fixed_rng(-1)", r"@pytest.mark.fixed_rng seed must be in \[0, 2\*\*64\)"),
        ("fixed_rng(1, 2)", "@pytest.mark.fixed_rng takes one seed"),
        ("fixed_rng(speed=1)", "@pytest.mark.fixed_rng takes one seed"),
    ],
)
def test_a_bad_marker_is_an_error_naming_it(pytester, marker, message):
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_bad():
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    assert re.search(message, result.stdout.str())


# --- the session seed ----------------------------------------------------------------


def test_a_session_seed_seeds_every_test_from_its_node_id(pytester):
    pytester.makepyfile(test_values=DRAWING_TESTS)
    result = run(pytester, "--reprorng-seed=777", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["reprorng: --reprorng-seed=777"])
    for nodeid, values in draws(result).items():
        seed = derive_seed(777, nodeid)
        stream = random.Random(seed)
        assert values[0] == str(seed)
        assert values[1:] == [repr(stream.random()) for _ in values[1:]]


def test_a_subset_reproduces_the_values_of_the_full_run(pytester):
    pytester.makepyfile(test_values=DRAWING_TESTS, test_other="def test_other(): pass")
    full = draws(run(pytester, "--reprorng-seed=777"))
    assert len(full) == 4
    by_keyword = draws(run(pytester, "--reprorng-seed=777", "-k", "three"))
    by_node = draws(run(pytester, "--reprorng-seed=777", "test_values.py::test_two"))
    assert by_keyword == {k: v for k, v in full.items() if "three" in k}
    assert by_node == {"test_values.py::test_two": full["test_values.py::test_two"]}


def test_the_session_seed_from_the_ini_file(pytester):
    pytester.makepyfile(test_values=DRAWING_TESTS)
    from_option = draws(run(pytester, "--reprorng-seed=777"))
    pytester.makeini("[pytest]\nreprorng_seed = 777\n")
    result = run(pytester, "-v")
    result.stdout.fnmatch_lines(["reprorng: --reprorng-seed=777, from reprorng_seed in *"])
    assert draws(result) == from_option
    # the command line wins over the ini file
    assert draws(run(pytester, "--reprorng-seed=8")) != from_option


def test_random_draws_a_seed_that_last_replays(pytester):
    pytester.makepyfile(test_values=DRAWING_TESTS)
    first = run(pytester, "--reprorng-seed=random", "-v")
    [header] = [line for line in first.outlines if line.startswith("reprorng: ")]
    seed = int(header.rpartition("=")[2])
    again = run(pytester, "--reprorng-seed=last", "-v")
    again.stdout.fnmatch_lines([header])
    assert draws(again) == draws(first)
    assert draws(run(pytester, f"--reprorng-seed={seed}")) == draws(first)
    other = run(pytester, "--reprorng-seed=random", "-v")
    assert draws(other) != draws(first)


def test_last_with_nothing_stored_is_a_usage_error(pytester):
    pytester.makepyfile(test_values=DRAWING_TESTS)
    result = run(pytester, "--reprorng-seed=last")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--reprorng-seed=last: no seed stored in pytest's cache yet*"])


@pytest.mark.parametrize("value", ["abc", "-3", str(2**64), "1.5", "+42", "4_2", "\u0664\u0662"])
def test_a_bad_session_seed_is_a_usage_error(pytester, value):
    pytester.makepyfile(test_values=DRAWING_TESTS)
    result = run(pytester, f"--reprorng-seed={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--reprorng-seed must be*"])


def test_an_explicit_marker_seed_wins_over_the_session_seed(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.fixed_rng(5)
        def test_explicit(rng_seed):
            assert rng_seed == 5

        @pytest.mark.fixed_rng
        def test_bare(request, rng_seed):
            from reprorng import derive_seed
            assert rng_seed == derive_seed(777, request.node.nodeid)
        """
    )
    run(pytester, "--reprorng-seed=777").assert_outcomes(passed=2)


# --- the failure hint ----------------------------------------------------------------


def test_a_failure_under_a_session_seed_says_how_to_replay_it(pytester):
    pytester.makepyfile(test_fails="def test_fails():\n    assert False\n")
    result = run(pytester, "--reprorng-seed=777")
    result.assert_outcomes(failed=1)
    seed = derive_seed(777, "test_fails.py::test_fails")
    result.stdout.fnmatch_lines(
        [
            "*- reprorng -*",
            f"ran with seed {seed}, from --reprorng-seed=777 and its node id; replay with:",
            "  pytest test_fails.py::test_fails --reprorng-seed=777",
        ]
    )


def test_the_replay_hint_is_valid_shell_for_any_node_id(pytester):
    pytester.makepyfile(
        test_quoted="""
        import pytest

        @pytest.mark.parametrize("name", ["it's"])
        def test_fails(name):
            assert False
        """
    )
    result = run(pytester, "--reprorng-seed=777")
    [command] = [line.strip() for line in result.outlines if line.strip().startswith("pytest ")]
    assert shlex.split(command) == [
        "pytest",
        "test_quoted.py::test_fails[it's]",
        "--reprorng-seed=777",
    ]


def test_a_failure_under_a_marker_seed_names_it(pytester):
    pytester.makepyfile(
        test_fails="""
        import pytest

        @pytest.mark.fixed_rng(5)
        def test_fails():
            assert False

        def test_unseeded_fails():
            assert False
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["ran with seed 5, from its marker; the same seed every run*"])
    assert result.stdout.str().count("ran with seed") == 1


# --- leak detection ------------------------------------------------------------------

LEAKY_AND_CLEAN = """
import random
import unittest
import numpy as np
import pytest
import torch
from reprorng import fixed_rng, reproducible

def test_seeds_random():
    random.seed(3)

def test_seeds_numpy_and_torch():
    np.random.seed(3)
    torch.manual_seed(3)

def test_draws_torch():
    torch.rand(2)

@pytest.fixture
def seeds_in_fixture():
    random.seed(4)

def test_leaks_through_a_fixture(seeds_in_fixture):
    pass

def test_draws_nothing():
    pass

def test_draws_inside_a_block():
    with fixed_rng(1):
        random.seed(5)
        np.random.rand()
        torch.rand(3)

@reproducible(2)
def test_decorated():
    random.random()
    torch.manual_seed(1)

@pytest.mark.fixed_rng(6)
def test_marked():
    np.random.seed(1)

@pytest.fixture
def restores():
    state = random.getstate()
    random.seed(9)
    yield
    random.setstate(state)

def test_fixture_seeds_and_restores(restores):
    random.random()

class TestCase(unittest.TestCase):
    def test_clean(self):
        pass

    def test_seeds(self):
        random.seed(1)
"""

LEAKS = [
    "test_leaks.py::TestCase::test_seeds: random",
    "test_leaks.py::test_draws_torch: torch",
    "test_leaks.py::test_leaks_through_a_fixture: random",
    "test_leaks.py::test_seeds_numpy_and_torch: numpy, torch",
    "test_leaks.py::test_seeds_random: random",
]


def leak_lines(result: pytest.RunResult) -> list[str]:
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "left the global generators changed" in line)
    return [line for line in lines[start + 1 :] if line.startswith("test_leaks.py::")]


def test_leaks_lists_exactly_the_tests_that_change_the_global_generators(pytester):
    pytester.makepyfile(test_leaks=LEAKY_AND_CLEAN)
    result = run(pytester, "--reprorng-leaks")
    result.assert_outcomes(passed=11)
    result.stdout.fnmatch_lines(["*reprorng: 5 tests left the global generators changed*"])
    assert leak_lines(result) == LEAKS


def test_leaks_error_fails_exactly_those_tests(pytester):
    pytester.makepyfile(test_leaks=LEAKY_AND_CLEAN)
    result = run(pytester, "--reprorng-leaks=error")
    result.assert_outcomes(passed=11, errors=5)
    errors = sorted(line.split(" - ")[0] for line in result.outlines if line.startswith("ERROR "))
    assert errors == ["ERROR " + leak.rpartition(": ")[0] for leak in LEAKS]
    result.stdout.fnmatch_lines(["*left global generators changed: numpy, torch*"])


def test_no_leaks_says_so(pytester):
    pytester.makepyfile(test_clean="def test_clean():\n    pass\n")
    result = run(pytester, "--reprorng-leaks")
    result.stdout.fnmatch_lines(["*reprorng: no test left the global generators changed*"])


def test_a_bad_leaks_value_is_a_usage_error(pytester):
    result = run(pytester, "--reprorng-leaks=loud")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--reprorng-leaks*'loud'*"])


@pytest.mark.parametrize("form", ["--reprorng-leaks", "--reprorng-leaks=error"])
def test_the_leaks_option_before_a_path_leaves_the_path_to_pytest(pytester, form):
    pytester.makepyfile(test_leaks=LEAKY_AND_CLEAN)
    pytester.mkdir("other")
    pytester.path.joinpath("other", "test_other.py").write_text("def test_other():\n    pass\n")
    result = run(pytester, form, "test_leaks.py")
    if form.endswith("=error"):
        result.assert_outcomes(passed=11, errors=5)
    else:
        result.assert_outcomes(passed=11)
    assert leak_lines(result) == LEAKS
    assert "test_other" not in result.stdout.str()


def test_the_leaks_option_after_the_paths_works_too(pytester):
    pytester.makepyfile(test_leaks=LEAKY_AND_CLEAN)
    result = run(pytester, "test_leaks.py", "--reprorng-leaks=report")
    result.assert_outcomes(passed=11)
    assert leak_lines(result) == LEAKS


# The commonest leak in real suites: many tests seeding the same way. Each must be
# reported whatever ran before it.
REPEATED_LEAKS = """
import random
import numpy as np
import torch

def test_random_first():
    random.seed(0)
    random.random()

def test_random_second():
    random.seed(0)
    random.random()

def test_numpy_first():
    np.random.seed(42)
    np.random.rand()

def test_numpy_second():
    np.random.seed(42)
    np.random.rand()

def test_numpy_seeds_only_first():
    np.random.seed(42)

def test_numpy_seeds_only_second():
    np.random.seed(42)

def test_torch_first():
    torch.manual_seed(0)
    torch.rand(1)

def test_torch_second():
    torch.manual_seed(0)
    torch.rand(1)

def test_clean():
    pass
"""

REPEATED = sorted(
    f"test_leaks.py::test_{name}_{which}: {source}"
    for name, source in [
        ("random", "random"),
        ("numpy", "numpy"),
        ("numpy_seeds_only", "numpy"),
        ("torch", "torch"),
    ]
    for which in ("first", "second")
)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param((), id="in order"),
        pytest.param(("-p", "randomly", "--randomly-seed=1"), id="shuffled"),
        pytest.param(("-p", "randomly", "--randomly-seed=2"), id="shuffled again"),
        pytest.param(("-n", "2"), id="xdist"),
    ],
)
def test_repeated_identical_leaks_are_each_reported_whatever_the_order(pytester, options):
    pytester.makepyfile(test_leaks=REPEATED_LEAKS)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--reprorng-leaks", *options)
    result.assert_outcomes(passed=9)
    assert leak_lines(result) == REPEATED


def test_a_leak_is_reported_the_same_whether_run_alone_or_after_its_twin(pytester):
    pytester.makepyfile(test_leaks=REPEATED_LEAKS)
    alone = run(pytester, "--reprorng-leaks", "-k", "second")
    assert leak_lines(alone) == [line for line in REPEATED if "_second:" in line]


def test_importing_a_library_that_registers_its_generator_is_no_leak(pytester):
    pytester.makepyfile(
        registers_at_import="""
        import random
        from reprorng import register

        RNG = random.Random()
        register(RNG)
        """,
        test_leaks="""
        def test_imports():
            import registers_at_import

        def test_draws_from_it():
            import registers_at_import
            registers_at_import.RNG.random()
        """,
    )
    result = run(pytester, "--reprorng-leaks=error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    [leak] = leak_lines(result)
    assert leak.startswith("test_leaks.py::test_draws_from_it: Random at 0x")


THREADED_TEST = """
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from reprorng import fixed_rng, reproducible

@reproducible(5)
def draw(_):
    return random.random()

def test_threads_enter_blocks():
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(draw, range(8))) == {random.Random(5).random()}
    seen = []
    def worker():
        with fixed_rng(6, timeout=5):
            seen.append(random.random())
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [random.Random(6).random()]
"""


@pytest.mark.parametrize("option", ["--reprorng-seed=3", "--reprorng-leaks"])
def test_threads_in_a_seeded_or_checked_test_enter_blocks_without_waiting(pytester, option):
    pytester.makepyfile(test_threads=THREADED_TEST)
    result = run(pytester, option)
    result.assert_outcomes(passed=1)


# --- pytest-xdist ----------------------------------------------------------------------


def test_xdist_workers_use_the_controller_seed(pytester):
    pytester.makepyfile(test_values=DRAWING_TESTS, test_more=DRAWING_TESTS)
    parallel = run(pytester, "-n", "2", "--reprorng-seed=random", "-v")
    [header] = [line for line in parallel.outlines if line.startswith("reprorng: ")]
    serial = run(pytester, "--reprorng-seed=last", "-v")
    serial.stdout.fnmatch_lines([header])
    assert len(draws(serial)) == 8
    assert draws(parallel) == draws(serial)


def test_xdist_leaks_are_gathered_from_the_workers(pytester):
    pytester.makepyfile(test_leaks=LEAKY_AND_CLEAN)
    result = run(pytester, "-n", "2", "--reprorng-leaks")
    result.assert_outcomes(passed=11)
    assert leak_lines(result) == LEAKS


# --- with pytest-randomly and Hypothesis -------------------------------------------


def test_with_pytest_randomly_a_seeded_test_keeps_its_stream_across_phases(pytester):
    pytester.makepyfile(
        """
        import random
        import pytest

        SEEDED = random.Random(5)
        EXPECTED = [SEEDED.random() for _ in range(3)]
        drawn = []

        @pytest.fixture
        def value():
            drawn.append(random.random())
            yield
            drawn.append(random.random())

        @pytest.mark.fixed_rng(5)
        def test_marked(value):
            drawn.append(random.random())

        def test_zz_after():
            assert drawn == [EXPECTED[0], EXPECTED[1], EXPECTED[2]]
        """
    )
    result = run(pytester, "--randomly-seed=1", "--randomly-dont-reorganize", randomly=True)
    result.stdout.fnmatch_lines(["*--randomly-seed=1*"])
    result.assert_outcomes(passed=2)


def test_with_pytest_randomly_session_seeded_values_do_not_depend_on_order(pytester):
    pytester.makepyfile(test_values=DRAWING_TESTS, test_more=DRAWING_TESTS)
    plain = draws(run(pytester, "--reprorng-seed=777"))
    for randomly_seed in ("1", "2"):
        shuffled = run(
            pytester, "--reprorng-seed=777", f"--randomly-seed={randomly_seed}", randomly=True
        )
        assert draws(shuffled) == plain


def test_with_pytest_randomly_leaks_count_only_what_tests_do(pytester):
    pytester.makepyfile(test_leaks=LEAKY_AND_CLEAN)
    result = run(pytester, "--reprorng-leaks", "--randomly-seed=3", randomly=True)
    result.assert_outcomes(passed=11)
    assert leak_lines(result) == LEAKS


def test_hypothesis_tests_run_inside_the_block_and_leave_it_clean(pytester):
    pytester.makepyfile(
        """
        import random
        import pytest
        from hypothesis import given, settings, strategies as st

        random.seed(1)
        OUTSIDE = random.Random(1)

        @pytest.mark.fixed_rng(5)
        @settings(max_examples=20)
        @given(st.integers())
        def test_property(x):
            random.random()

        def test_after():
            assert random.random() == OUTSIDE.random()
        """
    )
    run(pytester).assert_outcomes(passed=2)  # the stream outside goes on untouched
    # Under the leak check each test starts from a state of its own: test_after's
    # assertion no longer holds, and only its draw is reported.
    result = run(pytester, "--reprorng-leaks")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*reprorng: 1 test left the global generators changed*"])
    assert any(line.endswith("test_after: random") for line in result.outlines)
