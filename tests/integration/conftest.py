"""Fixtures for the integration tests (root): the runtime bundle fixture and the container engine fixture."""

from tests.integration.container_fixture import engine
from tests.integration.runtime_fixture import runtime

__all__ = ["engine", "runtime"]
