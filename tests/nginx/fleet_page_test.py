"""The live fleet page in a real browser (Debian's headless Chromium): it
renders a fleet of three nginx with their ACKed versions, shows a NACK
within a second of the write that caused it, and lists the recent writes.
A screenshot is kept as a test artifact (fleet_page.png in
$TEST_UNDECLARED_OUTPUTS_DIR).
"""

import os
import time

import pytest

from nginx_xds_testing.chromium import Chromium
from nginx_xds_testing.nginx import Nginx
from nginx_xds_testing.waits import wait_until

NODES = ("edge-1", "edge-2", "edge-3")


# More servers than the 32k zone of upstream "small" holds: every node rejects it.
def too_many_servers(first):
    return [first] + ["127.0.%d.%d:80" % (i // 250, i % 250 + 1) for i in range(400)]


# The page's rows as the browser shows them: {node id: [cell texts]}.
NODE_ROWS = """Object.fromEntries([...document.querySelectorAll('#nodes tr[data-node]')]
    .map(tr => [tr.dataset.node, [...tr.cells].map(td => td.textContent)]))"""


class FleetPageTest:

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane, make_backends):
        self.backends = make_backends(1)
        backend = self.backends.addresses[0]
        self.cp = make_control_plane()
        self.nginx = []
        for node in NODES:
            nginx = processes.track(Nginx(http="""
                xds_server %s;
                xds_node_id %s;
                xds_fleet edge;
                upstream small {
                    zone zone_for_small 32k;
                    server %s;
                }
                """ % (self.cp.xds_address, node, backend), workers=1))
            nginx.start()
            self.nginx.append(nginx)
        for nginx in self.nginx:
            wait_until(lambda: nginx.status_json()["connected"], what="nginx to connect")
        self.written = self.cp.put_upstream("app", [backend], fleet="edge")
        assert self.written.acked_nodes == 3, self.written
        self.browser = processes.track(Chromium("http://%s/ui/" % self.cp.http_address)).start()

    def rows(self):
        return self.browser.evaluate(NODE_ROWS) or {}

    def test_renders_the_fleet_and_shows_a_nack_within_a_second(self):
        """Validates: three nodes at the written version, then a NACK within 1 s."""
        version = str(self.written.version)
        rows = wait_until(
            lambda: (lambda r: r if sorted(r) == list(NODES) and
                     all(cells[3] == version for cells in r.values()) else None)(self.rows()),
            timeout=15, what="the page to show three nodes at version " + version)
        for node, cells in rows.items():
            # Node, fleet, connected, ACKed version, lag, last NACK, client.
            assert cells[1:6] == ["edge", "yes", version, "0", ""], (node, cells)
        assert self.browser.evaluate(
            "document.querySelector('#fleets tr[data-fleet=\"edge\"] td:nth-child(4)')"
            ".textContent") == "3"
        assert self.browser.evaluate("document.getElementById('state').textContent") == "live"

        rejected = self.cp.put_upstream("small", too_many_servers(self.backends.addresses[0]),
                                        fleet="edge")
        answered = time.monotonic()
        assert len(rejected.rejections) == 3, rejected
        wait_until(lambda: all("zone_for_small" in cells[5] for cells in self.rows().values()),
                   timeout=5, interval=0.02, what="the page to show every node's NACK")
        shown = time.monotonic() - answered
        assert shown < 1.0, "the NACK took %.2fs to show" % shown
        nack = self.rows()[NODES[0]][5]
        assert nack.startswith("version %d: " % rejected.version), nack

        # The recent writes: the rejected write first, by whom.
        first_write = self.browser.evaluate(
            "[...document.querySelector('#writes tbody tr').cells].map(td => td.textContent)")
        assert first_write[1:5] == ["edge", "put", str(rejected.version), "0 / 3"] or \
            first_write[1:4] == ["edge", "put", str(rejected.version)], first_write
        assert first_write[5].startswith("rejected by "), first_write

        outputs = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR")
        if outputs:
            path = self.browser.screenshot(os.path.join(outputs, "fleet_page.png"))
            assert os.path.getsize(path) > 10000, "the screenshot is suspiciously small"
