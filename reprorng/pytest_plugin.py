"""The pytest plugin: seeded tests on request, replayable seeds, and leak detection.

Installed with reprorng (entry point ``pytest11``) and inert unless asked:

- ``@pytest.mark.fixed_rng(seed)`` runs a test -- its function-scoped fixtures'
  setup and teardown included -- inside ``fixed_rng(seed)``; with no seed, the
  session seed's or one derived from the test's node id.
- ``--reprorng-seed=N|random|last`` (or the ``reprorng_seed`` ini option) runs
  every test in its own block, seeded from the session seed and its node id.
- ``--reprorng-leaks`` (``--reprorng-leaks=error``) lists (or fails) the tests that leave the
  global generators changed. Each test starts from generator states of its
  own, derived from its node id, so a leak is found whatever ran before it.
- The ``rng_seed`` fixture gives the seed in force for the test, or ``None``.

Importing this module imports neither numpy nor torch.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Generator
from typing import Any

import pytest

from reprorng._block import fixed_rng
from reprorng._entry import enter_ambient, exit_ambient
from reprorng._seed import check_seed, derive_seed, parse_decimal, text_seed
from reprorng._stack import capture_all, restore_all, watch_imports
from reprorng._test_seeders import call_seeders, library_generators
from reprorng.sources import Source, same_state

__all__ = ["rng_seed"]

_OPTION = "--reprorng-seed"
_CACHE_KEY = "reprorng/seed"
_LEAK_PROPERTY = "reprorng_leak"

_session_seed_key = pytest.StashKey["int | None"]()
# Where the session seed came from, as the report header says it.
_session_origin_key = pytest.StashKey[str]()
_leaks_key = pytest.StashKey["str | None"]()
# Per test: its seed and where it came from, and the global state where its
# last phase left it.
_seed_key = pytest.StashKey["int | None"]()
_origin_key = pytest.StashKey[str]()
_phase_end_key = pytest.StashKey["dict[Source, object]"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reprorng", "reprorng: seeded random-number generators")
    group.addoption(
        _OPTION,
        dest="reprorng_seed",
        metavar="N|random|last",
        default=None,
        help="run every test in its own fixed_rng block, seeded from N and the test's node id; "
        "'random' draws N, 'last' reuses the last N (both kept in pytest's cache)",
    )
    # Flags, not an option with an optional value, which would take the path
    # after it (``pytest --reprorng-leaks tests/``) for its value. The forms
    # with ``=`` are option names of their own, matched whole.
    group.addoption(
        "--reprorng-leaks",
        "--reprorng-leaks=report",
        dest="reprorng_leaks",
        action="store_const",
        const="report",
        default=None,
        help="list the tests that leave Python's, numpy's or torch's global generators changed",
    )
    group.addoption(
        "--reprorng-leaks=error",
        dest="reprorng_leaks",
        action="store_const",
        const="error",
        help="list them, and fail each of them",
    )
    parser.addini("reprorng_seed", "the session seed, as for --reprorng-seed", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fixed_rng(seed=None): run the test, its function-scoped fixtures included, inside "
        "reprorng.fixed_rng(seed); no seed: the session seed's, else one from the node id",
    )
    config.stash[_session_seed_key], config.stash[_session_origin_key] = _session_seed(config)
    config.stash[_leaks_key] = config.getoption("reprorng_leaks")
    if config.stash[_leaks_key] is not None:
        # A library first imported during a test is compared with its state at import.
        watch_imports()
        if not hasattr(config, "workerinput"):
            config.pluginmanager.register(_LeakReport(), "reprorng-leaks")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "reprorng-xdist")


def _session_seed(config: pytest.Config) -> tuple[int | None, str]:
    """The session seed, and where it came from."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "reprorng_seed" in workerinput:
        # The controller's.
        return workerinput["reprorng_seed"], workerinput["reprorng_seed_origin"]
    option = config.getoption("reprorng_seed")
    value = option or config.getini("reprorng_seed") or None
    if value is None:
        return None, ""
    where = _OPTION if option else f"reprorng_seed in {config.inipath or 'the ini file'}"
    cache = getattr(config, "cache", None)
    text = str(value).strip()
    seed: int | None
    if text == "random":
        seed = int.from_bytes(os.urandom(4), "little")
    elif text == "last":
        seed = cache.get(_CACHE_KEY, None) if cache is not None else None
        if seed is None:
            raise pytest.UsageError(
                f"{where}=last: no seed stored in pytest's cache yet; run once with "
                f"{_OPTION}=random or {_OPTION}=N (and with the cache plugin enabled)"
            )
    else:
        try:
            seed = check_seed(_int_or_text(text), where)
        except (TypeError, ValueError) as error:
            raise pytest.UsageError(f"{error}; or 'random', or 'last'") from None
    # First what replays it, then, if not given on the command line, where it came from.
    origin = f"{_OPTION}={seed}"
    if not option:
        origin += f", from {where} = {text}"
    if cache is not None:
        cache.set(_CACHE_KEY, seed)
    return seed, origin


def _int_or_text(text: str) -> int | str:
    try:
        return parse_decimal(text)
    except ValueError:
        return text


class _XdistHooks:
    """Registered only when pytest-xdist is: workers take the controller's seed."""

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["reprorng_seed"] = node.config.stash[_session_seed_key]
        node.workerinput["reprorng_seed_origin"] = node.config.stash[_session_origin_key]


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = config.stash[_session_seed_key]
    return None if seed is None else f"reprorng: {config.stash[_session_origin_key]}"


def _seed_for(item: pytest.Item) -> tuple[int | None, str]:
    """The seed a test runs with, and where it comes from ("marker", "session", "node id")."""
    session = item.config.stash[_session_seed_key]
    marker = item.get_closest_marker("fixed_rng")
    if marker is not None:
        if len(marker.args) + len(marker.kwargs) > 1 or set(marker.kwargs) - {"seed"}:
            raise TypeError(
                f"@pytest.mark.fixed_rng takes one seed (or seed=...), "
                f"got args={marker.args!r} kwargs={marker.kwargs!r}"
            )
        explicit = marker.args[0] if marker.args else marker.kwargs.get("seed")
        if explicit is not None:
            return check_seed(explicit, "@pytest.mark.fixed_rng seed"), "marker"
        if session is None:
            return text_seed(item.nodeid), "node id"
    if session is None:
        return None, "none"
    return derive_seed(session, item.nodeid), "session"


@pytest.fixture(autouse=True)
def _reprorng_block(request: pytest.FixtureRequest) -> Generator[None]:
    """The test's block: set up before, and torn down after, its other function fixtures."""
    item = request.node
    try:
        seed, item.stash[_origin_key] = _seed_for(item)
    except (TypeError, ValueError) as error:
        pytest.fail(f"{item.nodeid}: {error}", pytrace=False)
    item.stash[_seed_key] = seed
    leaks = item.config.stash[_leaks_key]
    if leaks is None:
        if seed is None:
            yield
            return
        # The test's seeding is ambient, not a block: threads it starts enter
        # blocks of their own without waiting for it.
        with _ambient(seed):
            yield
        return
    # Every test starts from a state of its own, so a leak shows whatever ran
    # before: two tests that each call random.seed(0) are both reported.
    start_seed = derive_seed(_LEAK_CHECK_SEED, item.nodeid)
    with _ambient(start_seed, test=False):
        start = capture_all()
        if seed is None:
            yield
        else:
            with _ambient(seed):
                yield
        changed = _changed(start, start_seed)
    if changed:
        _report_leak(item, changed, leaks)


@contextlib.contextmanager
def _ambient(seed: int, *, test: bool = True) -> Generator[None]:
    """Seeding for the test, or (``test=False``) the leak check's starting state."""
    generators = library_generators() if test else ()
    frame = enter_ambient(fixed_rng(seed, generators=generators))
    try:
        if test:
            call_seeders(seed)
        yield
    finally:
        exit_ambient(frame)


# The leak check's per-test starting states derive from this and the node id.
_LEAK_CHECK_SEED = text_seed("reprorng leak check")


def _changed(start: dict[Source, object], start_seed: int) -> list[str]:
    """Inside the leak check's block: the sources not in the state the test started from.

    A source new since the start (a library imported, an object registered)
    joined the block, seeded with its seed: that is where it started.
    """
    changed = []
    for source, state in capture_all().items():
        if source in start:
            began = start[source]
        else:
            source.seed(start_seed)  # the block puts it back on exit
            began = source.capture()
        if not same_state(began, state):
            changed.append(source.name)
    return changed


def _report_leak(item: pytest.Item, changed: list[str], leaks: str) -> None:
    names = ", ".join(changed)
    item.user_properties.append((_LEAK_PROPERTY, names))
    if leaks == "error":
        pytest.fail(
            f"reprorng: {item.nodeid} left global generators changed: {names} "
            "(seed and restore them, for example in a fixed_rng block)",
            pytrace=False,
        )


@pytest.fixture
def rng_seed(request: pytest.FixtureRequest) -> int | None:
    """The seed the current test runs with (marker or session seed), or ``None``."""
    seed: int | None = request.node.stash.get(_seed_key, None)
    return seed


def _watched(item: pytest.Item) -> bool:
    """Whether the test runs under a seed or is checked for leaks."""
    if _seed_key not in item.stash:  # its block fixture did not run
        return False
    return item.stash[_seed_key] is not None or item.config.stash[_leaks_key] is not None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None]:
    yield
    if _watched(item):
        # Whatever reseeds the globals between phases (pytest-randomly does, at
        # the start of each), the test's stream goes on where its last phase left it.
        item.stash[_phase_end_key] = capture_all()
        item.addfinalizer(lambda: _resume_stream(item, last=True))  # the first at teardown


def _resume_stream(item: pytest.Item, last: bool = False) -> None:
    states = item.stash.get(_phase_end_key, None)
    if states is not None:
        restore_all(states)
    if last:
        del item.stash[_phase_end_key]  # items live to the end of the session


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None]:
    if _phase_end_key not in item.stash:
        return (yield)
    runtest = item.runtest

    def resumed() -> None:
        # Here every plugin's part of the call phase has run, the test not yet.
        _resume_stream(item)
        runtest()

    setattr(item, "runtest", resumed)  # noqa: B010 - for this call only
    try:
        return (yield)
    finally:
        del item.runtest
        item.stash[_phase_end_key] = capture_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    seed = item.stash.get(_seed_key, None)
    if report.failed and seed is not None:
        report.sections.append(("reprorng", _replay_hint(item, seed)))
    return report


def _replay_hint(item: pytest.Item, seed: int) -> str:
    origin = item.stash[_origin_key]
    nodeid = shlex.quote(item.nodeid)
    if origin == "session":
        session = item.config.stash[_session_seed_key]
        return (
            f"ran with seed {seed}, from {_OPTION}={session} and its node id; replay with:\n"
            f"  pytest {nodeid} {_OPTION}={session}"
        )
    return (
        f"ran with seed {seed}, from its {origin}; the same seed every run, replay with:\n"
        f"  pytest {nodeid}"
    )


class _LeakReport:
    """Registered with ``--reprorng-leaks``: gathers the leaks reported, lists them at the end.

    Leaks travel in each report's ``user_properties``, so pytest-xdist brings
    the workers' to the controller.
    """

    def __init__(self) -> None:
        self.leaked: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == _LEAK_PROPERTY:
                self.leaked[report.nodeid] = str(value)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.leaked:
            terminalreporter.write_sep("-", "reprorng: no test left the global generators changed")
            return
        count = len(self.leaked)
        terminalreporter.write_sep(
            "-",
            f"reprorng: {count} test{'s' if count > 1 else ''} left the global generators changed",
        )
        for nodeid, names in sorted(self.leaked.items()):
            terminalreporter.write_line(f"{nodeid}: {names}")
