"""Test support for the Python integration tests (tests/nginx, tests/netns).

One module per purpose:
  waits        wait_until(): bounded polling that names what it waited for
  processes    starting, tracking and killing processes; temp dirs; netns
  http_client  request(): the one HTTP client, answering Response(status, headers, body)
  asan         the AddressSanitizer environment of the nginx under test
  controlplane ControlPlane: the control plane process and its gRPC helpers
  nginx_conf   the text of nginx.conf for Nginx and Backends
  nginx        Nginx (our module) and Backends (echo) processes
  subtests     subtest(): a failure inside a loop names its case
  paths        the binaries under test (--nginx_module, --controlplane)
  fixtures     the pytest plugin: options, fixtures, failure logs
"""
