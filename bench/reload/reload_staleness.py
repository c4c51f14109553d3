"""How long a reloaded nginx serves nginx.conf's peers before the newest version.

nginx.conf lists backends A and B; the control plane says C only. While a
client thread sends requests back to back, nginx is reloaded RELOADS times;
every answer names the backend that served it. A request served by A or B is
a stale one. Prints a markdown section for BENCHMARKS.md.

Run by bench/reload/run.sh (which builds the binaries and sets the paths).
"""

import collections
import sys
import threading
import time

import harness

RELOADS = 20


def main():
    backends = harness.Backends(3).start()
    cp = harness.ControlPlane().start()
    nginx = harness.Nginx(
        http="""
        xds_server %s;
        upstream backends {
            zone backends 64k;
            server %s;
            server %s;
        }
        """ % (cp.xds_address, backends.addresses[0], backends.addresses[1]),
        server="location / { proxy_pass http://backends; }")
    try:
        nginx.start()
        harness.wait_until(lambda: nginx.status_json()["version"], what="first version")
        cp.put_upstream("backends", [backends.addresses[2]])
        fresh = str(backends.backend_ports[2])
        answers = collections.Counter()
        stop = threading.Event()

        def client():
            while not stop.is_set():
                try:
                    code, body = nginx.get("/")
                    answers["fresh" if (code, body.strip()) == (200, fresh) else
                            "stale" if code == 200 else "error %d" % code] += 1
                except OSError:
                    answers["connection error"] += 1

        thread = threading.Thread(target=client)
        thread.start()
        started = time.monotonic()
        for _ in range(RELOADS):
            nginx.reload()
        elapsed = time.monotonic() - started
        stop.set()
        thread.join()
    finally:
        nginx.cleanup()
        cp.stop()
        backends.cleanup()
        harness.kill_all()

    total = sum(answers.values())
    print("<!-- reload-staleness:begin -->")
    print("## Reload: requests served by nginx.conf peers (bench/reload/run.sh)\n")
    print("%s; %d `nginx -s reload` in %.1f s while one client sent requests back to "
          "back to nginx (2 workers) whose nginx.conf lists backends A and B and whose "
          "control plane says C.\n" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                        RELOADS, elapsed))
    print("| requests | served by C (newest version) | served by A or B (stale) | "
          "other answers |")
    print("|---:|---:|---:|---|")
    other = ", ".join("%s: %d" % (k, v) for k, v in answers.items()
                      if k not in ("fresh", "stale")) or "none"
    print("| %d | %d | %d | %s |" % (total, answers["fresh"], answers["stale"], other))
    print("\nThe master re-applies the last applied snapshot (kept in the module's "
          "zone) to the rebuilt upstream zones before it starts the new workers; "
          "requests that nginx.conf's peers served during these reloads: %d."
          % answers["stale"])
    print("<!-- reload-staleness:end -->")
    return 0 if answers["stale"] == 0 else 1


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a.startswith("--")]
    for arg in args:
        key, _, value = arg[2:].partition("=")
        setattr(harness.PATHS, key, value)
    sys.exit(main())
