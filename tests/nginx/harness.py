"""The old harness names, for bench/nginx (nginx_bench.py, wrk.py) only.

The integration tests use tests/python/nginx_xds_testing and its pytest
fixtures (conftest.py); this module maps the names the benchmark scripts
were written against onto those modules, with the old return shapes.
"""

# pylint: disable=unused-import
from nginx_xds_testing import paths as _paths
from nginx_xds_testing.controlplane import ControlPlane
from nginx_xds_testing.http_client import request as _request
from nginx_xds_testing.nginx import Backends, _NginxBase
from nginx_xds_testing.nginx import Nginx as _Nginx
from nginx_xds_testing.processes import (free_port, in_netns, kill_all, kill_group, make_dir,
                                         start_process)
from nginx_xds_testing.processes import on_fatal_signal as _on_sigterm
from nginx_xds_testing.waits import WaitTimeout, wait_until


class _Paths:
    """harness.PATHS.nginx_module / .controlplane, kept in nginx_xds_testing.paths."""

    def __setattr__(self, name, value):
        setattr(_paths, name.upper(), value)

    def __getattr__(self, name):
        return getattr(_paths, name.upper())


PATHS = _Paths()


def http_get(port, path="/", timeout=5.0, headers=None, host="127.0.0.1"):
    """GET http://host:port/path; (status, body str)."""
    response = _request(port, "GET", path, headers=headers, host=host, timeout=timeout)
    return response.status, response.body


class Nginx(_Nginx):
    """Nginx whose get() answers (status, body str), as the benchmarks expect."""

    def get(self, path="/", **kwargs):
        response = super().get(path, **kwargs)
        return response.status, response.body
