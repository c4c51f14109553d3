"""Traffic follows the peer lists a snapshot writes into an upstream's zone.

Debian's nginx with our module and 2 workers proxies to echo backends that
answer their own port; the control plane changes the upstream declared in
nginx.conf with `zone`. A write is answered once the node has applied it
(ACK means applied), so each test checks traffic right after the write.
"""

import collections
import os
import signal
import threading

import pytest

from nginx_xds.v1 import upstream_pb2
from nginx_xds_testing.nginx import Backends, Nginx
from nginx_xds_testing.processes import free_port
from nginx_xds_testing.waits import wait_until


class PeersTest:

    UPSTREAM_EXTRA = ""
    BACKENDS = Backends

    @pytest.fixture(autouse=True)
    def set_up(self, processes, make_control_plane):
        self.backends = processes.track(self.BACKENDS(4)).start()
        self.b = self.backends.addresses
        self.cp = make_control_plane()
        self.nginx = processes.track(Nginx(
            http="""
            xds_server %s;
            xds_node_id peers-node;
            upstream backends {
                zone zone_for_backends 256k;
                %s
                server %s;
                server %s;
            }
            """ % (self.cp.xds_address, self.UPSTREAM_EXTRA, self.b[0], self.b[1]),
            server="""
            location / {
                proxy_pass http://backends;
                proxy_next_upstream error timeout;
                proxy_connect_timeout 2s;
            }
            """))
        self.nginx.start()
        wait_until(lambda: self.nginx.status_json()["version"],
                   what="the first applied version")

    def write(self, servers, **fields):
        written = self.cp.put_upstream("backends", servers, **fields)
        assert written.acked_nodes == 1, written
        return written

    def traffic(self, count=100):
        """Sends `count` requests; returns Counter(port answering -> requests)."""
        seen = collections.Counter()
        for _ in range(count):
            code, _, body = self.nginx.get("/")
            assert code == 200, body
            seen[int(body)] += 1
        return seen

    def port(self, i):
        return self.backends.backend_ports[i]

    def peers(self):
        status = self.nginx.status_json()
        for upstream in status["upstreams"]:
            if upstream["name"] == "backends":
                return {p["server"]: p for p in upstream["peers"]}
        pytest.fail("no upstream backends in %s" % status)


class RoundRobinPeersTest(PeersTest):

    def test_weights_split_traffic_three_to_one(self):
        """Weights split traffic three to one."""
        self.write([self.cp.server(self.b[0], weight=3), self.cp.server(self.b[1], weight=1)])
        seen = self.traffic(400)
        # Smooth weighted round robin over shared peers: 300/100, give or take
        # what the two workers interleave.
        assert abs(seen[self.port(0)] - 300) <= 20, seen
        assert abs(seen[self.port(1)] - 100) <= 20, seen

    def test_added_server_gets_traffic(self):
        """Added server gets traffic."""
        self.cp.add_server("backends", self.b[2])
        seen = self.traffic(90)
        assert set(seen) == {self.port(0), self.port(1), self.port(2)}, seen

    def test_removed_server_gets_no_traffic(self):
        """Removed server gets no traffic."""
        self.write(self.b[:3])
        self.cp.remove_server("backends", self.b[0])
        seen = self.traffic(60)
        assert self.port(0) not in seen
        assert set(seen) == {self.port(1), self.port(2)}, seen

    def test_replaced_list_is_served_in_full(self):
        """Replaced list is served in full."""
        self.write([self.b[2], self.b[3]])
        seen = self.traffic(40)
        assert set(seen) == {self.port(2), self.port(3)}, seen
        assert sorted(self.peers()) == sorted([self.b[2], self.b[3]])

    def test_down_server_gets_no_traffic(self):
        """Down server gets no traffic."""
        written = self.cp.update_server("backends", self.b[0], down=True)
        assert written.acked_nodes == 1
        seen = self.traffic(40)
        assert set(seen) == {self.port(1)}, seen
        assert self.peers()[self.b[0]]["down"]

    def test_backup_takes_over_only_when_the_primaries_fail(self):
        """Backup takes over only when the primaries fail."""
        dead = "127.0.0.1:%d" % free_port()
        self.write([self.b[0], self.cp.server(self.b[1], backup=True)])
        assert set(self.traffic(20)) == {self.port(0)}
        self.write([dead, self.cp.server(self.b[1], backup=True)])
        assert set(self.traffic(20)) == {self.port(1)}

    def test_failed_server_is_skipped_for_fail_timeout(self):
        """Failed server is skipped for fail_timeout."""
        dead = "127.0.0.1:%d" % free_port()
        self.write([self.cp.server(dead, max_fails=1, fail_timeout=60), self.b[1]])
        seen = self.traffic(40)
        # proxy_next_upstream retries the failed try on the live server.
        assert set(seen) == {self.port(1)}, seen
        peer = self.peers()[dead]
        assert peer["fails"] == 1, peer
        assert peer["fail_timeout"] == 60, peer

    def test_settings_show_on_the_status_page(self):
        """Settings show on the status page."""
        self.write([self.cp.server(self.b[0], weight=5, max_fails=3, fail_timeout=7,
                                   max_conns=9)])
        peer = self.peers()[self.b[0]]
        assert (peer["weight"], peer["max_fails"], peer["fail_timeout"],
                peer["max_conns"]) == (5, 3, 7, 9), peer

    def test_unappliable_snapshot_is_rejected_whole_and_changes_nothing(self):
        """Unappliable snapshot is rejected whole and changes nothing."""
        before = self.peers()
        # Far more servers than the 256k zone holds.
        many = ["127.0.%d.%d:80" % (i // 250, i % 250 + 1) for i in range(3000)]
        written = self.cp.put_upstream("backends", many)
        assert written.acked_nodes == 0, written
        assert len(written.rejections) == 1, written
        assert "zone \"zone_for_backends\" is full" in written.rejections[0].message
        assert self.peers().keys() == before.keys()
        assert "is full" in self.nginx.status_json()["last_error"]
        # The NACK says it; nginx's slab allocator must not log a [crit] too.
        assert "ngx_slab_alloc() failed" not in self.nginx.error_log()
        node = self.cp.node_status("peers-node")
        assert node.last_nack.version == written.version
        # The next good version is taken.
        self.write([self.b[2]])
        assert set(self.traffic(10)) == {self.port(2)}

    def test_zone_upstream_deleted_at_the_control_plane_gets_502_until_recreated(self):
        """Zone upstream deleted at the control plane gets 502 until recreated."""
        deleted = self.cp.delete_upstream("backends")
        assert deleted.acked_nodes == 1
        for _ in range(6):
            assert self.nginx.get("/").status == 502
        assert next(u for u in self.nginx.status_json()["upstreams"]
                    if u["name"] == "backends")["deleted"]
        self.write([self.b[2]])
        assert set(self.traffic(10)) == {self.port(2)}

    def test_reloaded_nginx_serves_the_newest_version_from_its_first_request(self):
        """Reloaded nginx serves the newest version from its first request."""
        self.write([self.b[3]])
        self.nginx.reload()
        # The master re-applied the last version before the new workers started.
        response = self.nginx.get("/")
        assert (response.status, response.body) == (200, "%d\n" % self.port(3))
        assert set(self.traffic(20)) == {self.port(3)}

    def test_after_a_control_plane_restart_the_newest_version_is_served(self):
        """After a control plane restart the newest version is served."""
        self.write([self.b[1]])
        self.cp.stop()
        # Still serving the last good version while the control plane is away.
        assert set(self.traffic(6)) == {self.port(1)}
        self.cp.start()
        # The control plane's view, not the status page's: that one may still
        # show the stream that is going away.
        wait_until(lambda: (lambda n: n is not None and n.connected)(
                               self.cp.node_status("peers-node")),
                           timeout=60.0, what="the agent to reconnect")
        self.write([self.b[2]])
        assert set(self.traffic(10)) == {self.port(2)}

    def test_killed_worker_is_replaced_and_serves_the_newest_version(self):
        """Killed worker is replaced and serves the newest version."""
        self.write([self.b[2]])
        victim = self.nginx.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in self.nginx.worker_pids()
                   and len(self.nginx.worker_pids()) == 2,
                   what="a new worker in place of %d" % victim)
        assert set(self.traffic(20)) == {self.port(2)}
        wait_until(lambda: self.nginx.status_json()["connected"],
                   what="the new worker 0 to reconnect")


class ReloadUnderTrafficTest(PeersTest):

    def test_no_request_goes_to_nginx_conf_peers_during_reloads(self):
        # nginx.conf lists b[0] and b[1]; the control plane says b[3] only.
        self.write([self.b[3]])
        answers = collections.Counter()
        errors = []
        stop = threading.Event()

        def client():
            while not stop.is_set() and sum(answers.values()) < 20000:
                try:
                    code, _, body = self.nginx.get("/")
                    answers[(code, body.strip())] += 1
                except OSError as e:  # a connection closed by the old worker
                    errors.append(repr(e))

        thread = threading.Thread(target=client)
        thread.start()
        try:
            for _ in range(3):
                self.nginx.reload()
        finally:
            stop.set()
            thread.join(timeout=30)
        served = {body for (code, body) in answers if code == 200}
        assert served == {str(self.port(3))}, answers
        assert sum(answers.values()) > 0


class AdoptionTest(PeersTest):

    UPSTREAM_EXTRA = "least_conn;\n                keepalive 8;"

    def test_control_plane_adopts_nginx_conf_upstreams_with_their_settings(self):
        """Control plane adopts nginx.conf upstreams with their settings."""
        upstream = self.cp.get_upstream("backends")
        assert upstream.method == upstream_pb2.LEAST_CONN
        assert upstream.zone == "zone_for_backends"
        assert upstream.keepalive == 8
        assert [s.address for s in upstream.servers] == self.b[:2]


class KeepaliveBackends(Backends):
    """Echo backends that answer "CONNECTION-PORT": the id of the connection
    they serve it on, then their port."""

    def render(self):
        return super().render().replace("{ echo ", "{ echo $connection-")


class KeepaliveTestBase(PeersTest):
    """Proxies with HTTP/1.1 to backends that answer their connection id."""

    BACKENDS = KeepaliveBackends

    @pytest.fixture(autouse=True)
    def keepalive_set_up(self, set_up):
        """After PeersTest's set_up: nginx proxies with HTTP/1.1 keepalive."""
        self.nginx.server = """
            location / {
                proxy_pass http://backends;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
            }
            """
        self.nginx.reload()
        # The new worker's agent opens a new stream: a write before the
        # control plane sees it would find no connected node to wait for.
        wait_until(lambda: self.nginx.status_json()["connected"] and
                   getattr(self.cp.node_status("peers-node"), "connected", False),
                   what="peers-node connected again after the reload")

    def connections(self, count):
        """Sends `count` requests; returns the set of backend connection ids."""
        ids = set()
        for _ in range(count):
            code, _, body = self.nginx.get("/")
            assert code == 200, body
            ids.add(body.strip())
        return ids


class KeepalivePeersTest(KeepaliveTestBase):

    UPSTREAM_EXTRA = "keepalive 4;"

    def test_keepalive_connections_are_reused_after_a_change(self):
        # The control plane's state wins: a put without keepalive would drop it.
        self.write([self.b[0]], keepalive=4)
        before = self.connections(20)
        self.cp.update_server("backends", self.b[0], weight=5)
        self.cp.add_server("backends", self.b[1], down=True)
        after = self.connections(20)
        # Two workers keep at most a few idle connections each: a new
        # connection per request would show 20 ids.
        assert len(before | after) <= 4, (before, after)
        assert before & after, (before, after)


class IpHashPeersTest(PeersTest):

    UPSTREAM_EXTRA = "ip_hash;"

    def test_ip_hash_sends_one_client_to_one_server_before_and_after_a_change(self):
        """Ip_hash sends one client to one server before and after a change."""
        self.write(self.b[:3], method=upstream_pb2.IP_HASH)
        first = self.traffic(30)
        assert len(first) == 1, first
        self.cp.add_server("backends", self.b[3])
        again = self.traffic(30)
        assert len(again) == 1, again


class BalancerFromControlPlaneTest(PeersTest):

    def paths(self, count):
        """Which server each of `count` URIs goes to; each must stick to one."""
        chosen = {}
        for i in range(count):
            seen = collections.Counter()
            for _ in range(3):
                code, _, body = self.nginx.get("/item/%d" % i)
                assert code == 200, body
                seen[int(body)] += 1
            assert len(seen) == 1, (i, seen)
            chosen[i] = next(iter(seen))
        return chosen

    def test_method_from_the_control_plane_replaces_nginx_conf_round_robin(self):
        """Method from the control plane replaces nginx.conf round robin."""
        self.write(self.b[:3], method=upstream_pb2.HASH, hash_key="$request_uri")
        assert len(set(self.paths(30).values())) > 1


class KeepaliveFromControlPlaneTest(KeepaliveTestBase):

    def test_keepalive_set_at_the_control_plane_is_used(self):
        """Keepalive set at the control plane is used."""
        self.write([self.b[0]], keepalive=4)
        assert len(self.connections(20)) <= 4
        self.write([self.b[0]])
        assert len(self.connections(20)) > 10


class ConsistentHashPeersTest(BalancerFromControlPlaneTest):

    UPSTREAM_EXTRA = "hash $request_uri consistent;"

    def test_consistent_hash_reaches_added_servers_and_keeps_most_keys(self):
        """Consistent hash reaches added servers and keeps most keys."""
        first = self.paths(40)
        self.write(self.b, method=upstream_pb2.HASH, hash_key="$request_uri",
                   hash_consistent=True)
        second = self.paths(40)
        # The new servers take a share of the keys, and keys move only to them.
        assert {self.port(2), self.port(3)} & set(second.values()), second
        for key, port in second.items():
            if port != first[key]:
                assert port in (self.port(2), self.port(3)), (key, first[key], port)


class RandomPeersTest(PeersTest):

    UPSTREAM_EXTRA = "random;"

    def test_random_uses_added_servers_and_never_removed_ones(self):
        """Random uses added servers and never removed ones."""
        self.write(self.b[:3], method=upstream_pb2.RANDOM)
        assert set(self.traffic(90)) == {self.port(0), self.port(1), self.port(2)}
        self.cp.remove_server("backends", self.b[0])
        self.cp.add_server("backends", self.b[3])
        assert set(self.traffic(90)) == {self.port(1), self.port(2), self.port(3)}


class LeastConnPeersTest(PeersTest):

    UPSTREAM_EXTRA = "least_conn;"

    def test_least_conn_spreads_sequential_requests_over_new_servers(self):
        """Least_conn spreads sequential requests over new servers."""
        self.write(self.b[:3], method=upstream_pb2.LEAST_CONN)
        seen = self.traffic(60)
        assert set(seen) == {self.port(0), self.port(1), self.port(2)}, seen

