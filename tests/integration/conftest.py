"""One moto server for the session (reset per world); a fresh simulator per test."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from simulator.world import MotoServer, World

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_world(moto_server: MotoServer) -> Iterator[object]:
    """make_world(env={...}) -> an entered World; closed after the test."""
    opened: list[World] = []

    def factory(**env: str) -> World:
        w = World(moto_server, START, env=env)
        w.__enter__()
        opened.append(w)
        return w

    yield factory
    for w in reversed(opened):
        w.__exit__(None, None, None)
