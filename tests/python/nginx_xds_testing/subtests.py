"""subtest(): names the case of a loop in a failure, like unittest's subTest."""

import contextlib


@contextlib.contextmanager
def subtest(**params):
    """A failing assertion inside says which case failed: (key=value, ...)."""
    try:
        yield
    except AssertionError as e:
        case = ", ".join("%s=%r" % item for item in params.items())
        raise AssertionError("(%s) %s" % (case, e)) from e
