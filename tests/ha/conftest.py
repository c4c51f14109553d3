"""pytest fixtures of these tests: tests/python/nginx_xds_testing/fixtures.py
(control plane, nginx with the module, echo backends; failure logs)."""

from nginx_xds_testing.fixtures import *  # noqa: F401,F403 pylint: disable=wildcard-import
