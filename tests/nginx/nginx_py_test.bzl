"""nginx_py_test: a Python integration test that starts real processes."""

def nginx_py_test(name, src = None, size = "medium", data = [], tags = [], **kwargs):
    """An sh_test running `src` (default name + ".py") under pytest with Debian's python3.

    The test gets --nginx_module and --controlplane (options of the pytest
    plugin tests/python/nginx_xds_testing/fixtures.py, loaded by conftest.py). It is
    tagged no-sandbox: nginx cannot start in Bazel's sandbox (no `nobody` in
    its user namespace).
    """
    src = src or name + ".py"
    native.sh_test(
        name = name,
        size = size,
        srcs = ["run_py_test.sh"],
        args = [
            "$(location %s)" % src,
            "--nginx_module=$(location //nginx_module:ngx_http_xds_module.so)",
            "--controlplane=$(location //controlplane:nginx-xds-controlplane)",
        ],
        data = [
            src,
            "conftest.py",
            "//controlplane:nginx-xds-controlplane",
            "//nginx_module:ngx_http_xds_module.so",
            "//tests/python:nginx_xds_py_proto",
            "//tests/python:nginx_xds_testing",
        ] + data,
        tags = ["no-sandbox"] + tags,
        **kwargs
    )
