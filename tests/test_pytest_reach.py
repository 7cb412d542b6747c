"""The pytest plugin's reach, as pytest-randomly's users expect it, and its usage errors."""

from __future__ import annotations

import random

import pytest

from reprorng import derive_seed

from .test_pytest_plugin import run

# Stand-ins for factory_boy and model_bakery (which needs Django): each keeps a
# shared random.Random where the real library does. Faker is the real one.
LIBRARIES = {
    "factory/__init__.py": "",
    "factory/random.py": "import random\nrandgen = random.Random()\n",
    "model_bakery/__init__.py": "",
    "model_bakery/random_gen.py": "import random\nbaker_random = random.Random()\n",
}

USES_LIBRARIES = """
import pytest
from faker.generator import random as faker_random
from factory.random import randgen

INITIAL = faker_random.getstate()
from model_bakery.random_gen import baker_random

@pytest.mark.fixed_rng(5)
def test_seeded():
    print("DRAWN", faker_random.random(), randgen.random(), baker_random.random())

def test_after():
    print("AFTER", faker_random.getstate() == INITIAL)
"""


def write(pytester: pytest.Pytester, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_faker_factory_boy_and_model_bakery_are_seeded_and_restored(pytester):
    write(pytester, LIBRARIES)
    pytester.makepyfile(test_libraries=USES_LIBRARIES)
    result = run(pytester, "-s")
    result.assert_outcomes(passed=2)
    drawn = next(line for line in result.outlines if "DRAWN" in line).split("DRAWN")[1].split()
    assert [float(value) for value in drawn] == [random.Random(5).random()] * 3
    result.stdout.fnmatch_lines(["*AFTER True*"])  # put back as the seeded test found it


SEEDER = """
import random
calls = []

def reseed(seed):
    calls.append(seed)
"""

SEEDER_ENTRY_POINT = """
[pytest_randomly.random_seeder]
mine = my_seeder:reseed
"""

USES_SEEDER = """
import pytest
import my_seeder

@pytest.mark.fixed_rng(2**40 + 7)
def test_seeded():
    print("CALLS", my_seeder.calls)
"""


def test_pytest_randomly_seeders_are_called_with_the_tests_seed(pytester):
    write(
        pytester,
        {
            "my_seeder.py": SEEDER,
            "my_seeder-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: my-seeder\n"
            "Version: 1.0\n",
            "my_seeder-1.0.dist-info/entry_points.txt": SEEDER_ENTRY_POINT,
        },
    )
    pytester.makepyfile(test_seeder=USES_SEEDER)
    result = run(pytester, "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*CALLS [[]{(2**40 + 7) & 0xFFFFFFFF}[]]*"])


def test_a_bad_marker_value_is_one_line_naming_the_test(pytester):
    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.fixed_rng(1.5)
        def test_float():
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_bad.py::test_float: @pytest.mark.fixed_rng seed must be an int*"]
    )
    assert "pytest_plugin.py" not in result.stdout.str()


def test_the_header_says_where_the_session_seed_came_from(pytester):
    pytester.makepyfile(test_one="def test_one(): pass")
    pytester.makeini("[pytest]\nreprorng_seed = 777\n")
    result = run(pytester)
    result.stdout.fnmatch_lines(
        ["reprorng: --reprorng-seed=777, from reprorng_seed in *tox.ini = 777"]
    )
    pytester.makeini("[pytest]\nreprorng_seed = random\n")
    drawn = run(pytester)
    drawn.stdout.fnmatch_lines(
        ["reprorng: --reprorng-seed=*, from reprorng_seed in *tox.ini = random"]
    )
    from_option = run(pytester, "--reprorng-seed=5")
    from_option.stdout.fnmatch_lines(["reprorng: --reprorng-seed=5"])


def test_a_bad_ini_seed_is_a_usage_error_naming_the_ini_file(pytester):
    pytester.makepyfile(test_one="def test_one(): pass")
    pytester.makeini("[pytest]\nreprorng_seed = soon\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*reprorng_seed in *tox.ini*"])


def test_session_seeds_follow_the_node_id(pytester):
    pytester.makepyfile(test_ids="def test_id(rng_seed, request):\n    print('SEED', rng_seed)\n")
    result = run(pytester, "-s", "--reprorng-seed=3")
    result.stdout.fnmatch_lines([f"*SEED {derive_seed(3, 'test_ids.py::test_id')}*"])
