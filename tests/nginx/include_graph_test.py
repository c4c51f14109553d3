"""The module's files are one stage each: a file includes the hub header
and the headers of the stages below its own, never one above, so the
include graph has no cycle (the stages are listed in the hub header,
nginx_module/ngx_http_xds_module.h)."""

import os
import re
import sys
import unittest

HUB = "ngx_http_xds_module.h"


def read(path):
    with open(path) as f:
        return f.read()


def module_dir():
    for arg in sys.argv[1:]:
        if arg.startswith("--sources="):
            return os.path.dirname(arg.split("=", 1)[1])
    return os.path.join(os.path.dirname(__file__), "..", "..", "nginx_module")


def stages(src):
    """{file stem: stage} from the hub header's table."""
    text = read(os.path.join(src, HUB))
    table = {}
    for line in text.splitlines():
        m = re.match(r"^ \*\s+(\d+)?\s+"
                     r"(ngx_http_xds_\w+(?:\.h)?(?:, ngx_http_xds_\w+)*)", line)
        if not m:
            continue
        if m.group(1) is not None:
            stage = int(m.group(1))
        for name in m.group(2).split(", "):
            table[name.split(" ")[0].replace(".h", "")] = stage
    return table


def includes(path):
    return re.findall(r'#include "nginx_module/(ngx_http_xds_\w+)\.h"',
                      read(path))


class IncludeGraphTest(unittest.TestCase):

    def test_every_file_includes_only_the_hub_and_stages_below(self):
        # Validates: no stage includes a header of its own stage or above.
        src = module_dir()
        table = stages(src)
        self.assertIn("ngx_http_xds_zone", table)
        self.assertIn("ngx_http_xds_compat", table)
        files = [f for f in os.listdir(src)
                 if re.match(r"ngx_http_xds_\w+\.[ch]$", f)
                 and f not in (HUB, "ngx_http_xds_module_modules.c")]
        for f in files:
            stem = f[:-2]
            self.assertIn(stem, table, "%s is in no stage of %s" % (f, HUB))
            for inc in includes(os.path.join(src, f)):
                if inc in ("ngx_http_xds_module", stem):
                    continue
                if inc == "ngx_http_xds_tls" and f == HUB:
                    continue
                self.assertLess(table[inc], table[stem],
                                "%s (stage %d) includes %s.h (stage %d)"
                                % (f, table[stem], inc, table[inc]))

    def test_the_hub_includes_no_stage_but_tls(self):
        # Validates: the hub holds the shared types itself.
        incs = includes(os.path.join(module_dir(), HUB))
        self.assertEqual(incs, ["ngx_http_xds_tls"])

    def test_nginx_internals_are_mirrored_in_the_compat_header_only(self):
        # Validates: one compat header, behind nginx_version.
        src = module_dir()
        compat = read(os.path.join(src, "ngx_http_xds_compat.h"))
        self.assertIn("nginx_version", compat)
        for f in os.listdir(src):
            if f == "ngx_http_xds_compat.h" or not f.endswith((".c", ".h")):
                continue
            text = read(os.path.join(src, f))
            self.assertNotIn("spare[", text, f)
            self.assertNotRegex(text, r"}\s*ngx_http_xds_(keepalive|random)_\w+_t;", f)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
