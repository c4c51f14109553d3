"""AddressSanitizer (opt-in; tests/nginx/asan.sh).

With NGINX_XDS_ASAN=1 in the environment, and the module built with
--config=asan, every run of the nginx under test (Nginx: the server,
`nginx -t`, `nginx -s`; not the echo Backends) gets the ASan runtime in
LD_PRELOAD: Debian's nginx is not instrumented, and dlopen() of an
instrumented module fails unless the runtime was loaded first. ASan writes
each report to DIR/asan/asan.PID. At cleanup, Nginx quits gracefully (so
exit paths and LeakSanitizer run too) and the fixtures fail the test if any
report appeared, printing it.
"""

import os
import subprocess

from nginx_xds_testing.processes import read_file

ASAN = os.environ.get("NGINX_XDS_ASAN") == "1"


def asan_env(directory, detect_leaks=True):
    """os.environ plus LD_PRELOAD and ASAN_OPTIONS reporting into `directory`."""
    runtime = subprocess.run(["gcc", "-print-file-name=libasan.so"], stdout=subprocess.PIPE,
                             check=True).stdout.decode().strip()
    if not os.path.isabs(runtime):
        raise AssertionError("NGINX_XDS_ASAN=1 but gcc knows no libasan.so")
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o777)  # workers run as nobody
    env = dict(os.environ)
    env["LD_PRELOAD"] = runtime
    env["ASAN_OPTIONS"] = ":".join(filter(None, [
        os.environ.get("ASAN_OPTIONS"),
        "log_path=%s" % os.path.join(directory, "asan"),
        "abort_on_error=0",
        "halt_on_error=1",
        "detect_leaks=%d" % detect_leaks,
        "fast_unwind_on_malloc=0",  # nginx has no frame pointers: full stacks
    ]))
    # A worker's connection and event arrays stay reachable at exit only
    # through epoll's event list, whose epoll_event is packed: pointers there
    # are unaligned.
    env["LSAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("LSAN_OPTIONS"),
                                                 "use_unaligned=1"]))
    return env


def asan_reports(directory):
    """[(path, text)] of the ASan reports written into `directory`."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [(os.path.join(directory, n), read_file(os.path.join(directory, n))) for n in names]
