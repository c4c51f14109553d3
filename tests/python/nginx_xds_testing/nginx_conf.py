"""The text of nginx.conf for the nginx processes of the tests.

Everything an nginx writes lives under its own prefix directory `d`: pid,
logs, temp dirs. The http and server parts are the test's own text,
dedented and indented into place.
"""

import textwrap

ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"


def main_section(d, workers, error_log_path, error_log_level, load_modules):
    """load_module lines, `daemon off`, workers, pid and error_log, events."""
    lines = ["load_module %s;" % m for m in load_modules]
    lines += [
        "daemon off;",
        "master_process on;",
        "worker_processes %d;" % workers,
        "pid %s/nginx.pid;" % d,
        "error_log %s %s;" % (error_log_path, error_log_level),
        "events { worker_connections 1024; }",
    ]
    return "\n".join(lines) + "\n"


def http_paths(d):
    """The http block's temp paths under `d` (and no access log)."""
    return textwrap.dedent("""\
        access_log off;
        client_body_temp_path {d}/client_body_temp;
        proxy_temp_path {d}/proxy_temp;
        fastcgi_temp_path {d}/fastcgi_temp;
        uwsgi_temp_path {d}/uwsgi_temp;
        scgi_temp_path {d}/scgi_temp;
        """).format(d=d)


def echo_backends(main, d, host, ports):
    """An http block with one server per port answering `echo PORT`."""
    servers = "".join(
        "    server {\n"
        "        listen %s:%d;\n"
        "        location / { echo %d; }\n"
        "    }\n" % (host, port, port) for port in ports)
    return main + "http {\n" + textwrap.indent(http_paths(d), "    ") + servers + "}\n"


def module_nginx(main, d, host, port, http, server, status=True):
    """An http block with `http`, then one server on host:port holding `server`
    (and `location = /xds/status { xds_status; }` unless status=False)."""
    status_location = "location = /xds/status { xds_status; }\n" if status else ""
    server_block = ("server {\n"
                    "    listen %s:%d;\n" % (host, port) +
                    textwrap.indent(status_location + textwrap.dedent(server), "    ") +
                    "}\n")
    body = http_paths(d) + textwrap.dedent(http) + server_block
    return main + "http {\n" + textwrap.indent(body, "    ") + "}\n"
