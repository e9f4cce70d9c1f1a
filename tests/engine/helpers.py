"""Small helpers of the engine's tests."""
from __future__ import annotations


def wait_for(predicate, timeout: float = 20.0, what: str = "the condition", every: float = 0.05):
    """Poll PREDICATE until it returns something true; fail naming WHAT after TIMEOUT seconds."""
    import time

    give_up = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= give_up:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def steps(*items: dict) -> dict:
    return {"steps": list(items)}
