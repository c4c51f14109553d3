"""Bounded waits: poll a condition until it holds, or fail saying what for."""

import time


class WaitTimeout(AssertionError):
    """wait_until() gave up."""


def wait_until(predicate, timeout=15.0, interval=0.05, what=None):
    """Polls `predicate` until it returns something truthy and returns that.

    Exceptions from `predicate` count as "not yet". On timeout raises
    WaitTimeout naming `what` (or the predicate) with the last value or
    exception seen. The sleep between polls is the only sleep tests need:
    they wait for a condition or a recorded event, never for time to pass.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = repr(value)
        except Exception as e:  # pylint: disable=broad-except
            last = "%s: %s" % (type(e).__name__, e)
        if time.monotonic() >= deadline:
            name = what or getattr(predicate, "__name__", repr(predicate))
            raise WaitTimeout("timed out after %.1fs waiting for %s; last: %s" %
                              (timeout, name, last))
        time.sleep(interval)
