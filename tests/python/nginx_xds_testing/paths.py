"""Paths of the binaries under test, set by fixtures.py from the command line
(--nginx_module, --controlplane; tests/nginx/nginx_py_test.bzl passes them)."""

NGINX_MODULE = None
CONTROLPLANE = None
