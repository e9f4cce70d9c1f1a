"""Settings of the worker clusters the engine's tests start: the instance's own, plus the
scripted test operations."""
from hosting.settings import *  # noqa: F401,F403

HARBORMASTER_EXTRA_OPERATIONS = ["tests.engine.ops"]
