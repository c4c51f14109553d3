"""pytest fixtures of the xDS client tests: tests/python/nginx_xds_testing
(control plane, cleanup, failure logs) plus --greeter_cpp, the C++ client."""

from nginx_xds_testing import fixtures
from nginx_xds_testing.fixtures import *  # noqa: F401,F403 pylint: disable=wildcard-import


def pytest_addoption(parser):
    fixtures.pytest_addoption(parser)
    parser.addoption("--greeter_cpp", help="tests/xds_clients:greeter_xds_client")
