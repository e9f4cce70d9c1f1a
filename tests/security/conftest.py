"""Attacks a hostile client (or a hostile fault) tries against the trust boundaries: each test
here failed before its fix. Fixtures come from the suites whose machinery the attacks reuse."""
from tests.operations.conftest import *  # noqa: F401,F403 - real servers, platforms and sites
