"""Fixtures for the integration tests (root): the runtime fixture lives in runtime_fixture."""

from tests.integration.runtime_fixture import runtime

__all__ = ["runtime"]
