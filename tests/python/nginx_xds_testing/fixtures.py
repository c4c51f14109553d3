"""The pytest plugin of the integration tests (loaded by each conftest.py).

Options: --nginx_module=PATH and --controlplane=PATH (the binaries under
test; nginx_py_test.bzl passes them).

Fixtures, each cleaning up every process it started when the test ends,
pass or fail:
  processes        Processes: .track(thing) for things a test builds itself
                   (subclasses, fixed ports, netns); the other fixtures use it
  control_plane    a started ControlPlane, ports picked at run time
  make_control_plane(**kwargs)  more (or differently made) control planes
  make_backends(count=2, **kwargs)  started echo Backends
  make_nginx(**kwargs)  an Nginx with our module, not yet started (so that a
                   test may run `nginx -t` or change its config first)

When a test fails, the logs of everything it started are printed and their
directories kept (also with KEEP_TEST_DIRS=1). Under ASan (asan.py) every
Nginx quits gracefully at cleanup and any ASan report fails the test.
"""

import os
import shutil
import signal
import sys

import pytest

from nginx_xds_testing import paths, processes as procs
from nginx_xds_testing.controlplane import ControlPlane
from nginx_xds_testing.nginx import Backends, Nginx, _NginxBase


def pytest_addoption(parser):
    parser.addoption("--nginx_module", help="our dynamic module (ngx_http_xds_module.so)")
    parser.addoption("--controlplane", help="the control plane binary")


def pytest_configure(config):
    for name in ("nginx_module", "controlplane"):
        value = config.getoption(name)
        if value:
            setattr(paths, name.upper(), os.path.abspath(value))
    # Bazel's test timeout sends SIGTERM: kill what runs before exiting.
    signal.signal(signal.SIGTERM, procs.on_fatal_signal)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Records each phase's report on the item (item.rep_setup, .rep_call), so
    that fixtures can tell at teardown whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def _failed(node):
    return any(getattr(getattr(node, "rep_" + when, None), "failed", False)
               for when in ("setup", "call"))


class Processes:
    """What one test started; cleaned up (last first) when the test ends."""

    def __init__(self, node):
        self.node = node
        self.things = []

    def track(self, thing):
        """Registers an Nginx, Backends or ControlPlane for cleanup; returns it."""
        self.things.append(thing)
        return thing

    def cleanup(self):
        failed = _failed(self.node)
        keep = failed or bool(os.environ.get("KEEP_TEST_DIRS"))
        errors = []
        for thing in reversed(self.things):
            try:
                self._cleanup_one(thing, failed, keep)
            except AssertionError as e:
                errors.append(str(e))
        self.things = []
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)

    @staticmethod
    def _cleanup_one(thing, failed, keep):
        if isinstance(thing, _NginxBase):
            reports = thing.asan_reports()
            if failed or reports:
                sys.stderr.write("\n--- %s error log (%s) ---\n%s\n" %
                                 (thing.name, thing.dir, thing.error_log()))
            thing.cleanup(keep=keep or bool(reports))
            if reports:
                raise AssertionError("AddressSanitizer reports from %s:\n%s" % (
                    thing.name, "\n".join("--- %s ---\n%s" % r for r in reports)))
        elif isinstance(thing, ControlPlane):
            if failed:
                sys.stderr.write("\n--- control plane log (%s) ---\n%s\n" %
                                 (thing.dir, thing.log()))
            thing.stop()
            if not keep:
                shutil.rmtree(thing.dir, ignore_errors=True)
        else:
            thing.cleanup()


@pytest.fixture
def processes(request):
    """Tracks what the test starts; kills it all at the end, logs on failure."""
    tracker = Processes(request.node)
    yield tracker
    tracker.cleanup()


@pytest.fixture
def make_control_plane(processes):
    """make_control_plane(**ControlPlane kwargs) -> a started control plane."""
    def make(cls=ControlPlane, **kwargs):
        return processes.track(cls(**kwargs)).start()
    return make


@pytest.fixture
def control_plane(make_control_plane):
    """A started control plane on 127.0.0.1, ports picked at run time."""
    return make_control_plane()


@pytest.fixture
def make_backends(processes):
    """make_backends(count=2, **Backends kwargs) -> started echo backends."""
    def make(count=2, cls=Backends, **kwargs):
        return processes.track(cls(count, **kwargs)).start()
    return make


@pytest.fixture
def make_nginx(processes):
    """make_nginx(**Nginx kwargs) -> an Nginx with our module, not started."""
    def make(cls=Nginx, **kwargs):
        return processes.track(cls(**kwargs))
    return make
