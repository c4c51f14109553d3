"""Proxyless gRPC clients resolve `xds:///NAME` through the control plane:
Debian's gRPC C++ 1.51 (greeter_xds_client) and @grpc/grpc-js-xds 1.14 from
npm, each with the bootstrap GET /xds/bootstrap writes, calling real
helloworld backends on loopback. Every test runs once per client kind."""

import os
import time

import pytest

from greeter import GreeterBackend, GreeterClient
from nginx_xds.v1 import upstream_pb2
from nginx_xds_testing import http_client
from nginx_xds_testing.waits import wait_until

FLEET = "grpc"
KINDS = ["cpp", "node"]


@pytest.fixture
def make_greeters(processes):
    """make_greeters(n) -> n started helloworld backends."""
    return lambda count: [processes.track(GreeterBackend()).start() for _ in range(count)]


@pytest.fixture
def make_client(request, processes, control_plane):
    """make_client(kind, target, node) -> a started client of xds:///target."""
    def make(kind, target, node):
        answer = http_client.request(
            control_plane.http_port, path="/xds/bootstrap?node=%s&fleet=%s" % (node, FLEET))
        assert answer.status == 200, answer
        path = os.path.join(control_plane.dir, "bootstrap-%s.json" % node)
        with open(path, "w") as f:
            f.write(answer.body)
        return processes.track(GreeterClient(kind, target, path,
                                             request.config.getoption("greeter_cpp"))).start()
    return make


def dyups(control_plane, method, name, body=None):
    answer = http_client.request(control_plane.http_port, method, "/upstream/" + name,
                                 body=body, headers={"X-Xds-Fleet": FLEET})
    assert answer.status == 200, answer
    return answer


def calls_until(client, done, what, timeout=20.0, batch=10):
    """Calls in batches until done(ok, errors) holds; returns the seconds it took."""
    start = time.monotonic()

    def check():
        ok, errors = client.call(batch)
        assert done(ok, errors), "calls: ok %r, errors %r" % (ok, errors)
        return True
    wait_until(check, timeout=timeout, interval=0, what="%s client: %s" % (client.kind, what))
    return time.monotonic() - start


# Validates that weights, `down` and `backup` mean for the client what they
# mean for nginx: calls spread 3:1 (800 calls; share of the weight-3 server
# 0.75 +- 0.07, 4.5 standard deviations), none to the down server, none to
# the backup until both primaries stop, then all of them.
@pytest.mark.parametrize("kind", KINDS)
def test_weights_down_and_backup(kind, control_plane, make_greeters, make_client):
    heavy, light, down, backup = make_greeters(4)
    control_plane.put_upstream("foo", [
        control_plane.server(heavy.address, weight=3),
        control_plane.server(light.address),
        control_plane.server(down.address, down=True),
        control_plane.server(backup.address, backup=True),
    ], fleet=FLEET)
    client = make_client(kind, "foo", "greeter-" + kind)
    calls_until(client, lambda ok, errors: ok and not errors, "no call succeeded")

    ok, errors = client.call(800)
    assert not errors
    assert set(ok) <= {heavy.port, light.port}, ok
    share = ok.get(heavy.port, 0) / 800
    assert 0.68 <= share <= 0.82, "weight 3 of 4 took %.3f of the calls: %r" % (share, ok)

    heavy.stop()
    light.stop()
    calls_until(client, lambda ok, errors: ok == {backup.port: 10},
                "the backup never took over from the stopped primaries")
    ok, errors = client.call(50)
    assert ok == {backup.port: 50} and not errors


# Validates that the client follows a server added through /dynamic, the
# upstream replaced through dyups, a server added through the gRPC API (the
# write waits for the client's ACK, which fleet status then shows), and that
# deleting the upstream makes calls fail with UNAVAILABLE, as gRPC specifies
# for a listener that does not exist.
@pytest.mark.parametrize("kind", KINDS)
def test_follows_writes_from_every_api(kind, control_plane, make_greeters, make_client):
    first, second, third = make_greeters(3)
    control_plane.put_upstream("foo", [first.address], fleet=FLEET, zone="zone_for_foo")
    client = make_client(kind, "foo", "greeter-" + kind)
    calls_until(client, lambda ok, errors: ok == {first.port: 10}, "first server never served")
    node = "greeter-" + kind

    added = http_client.request(
        control_plane.http_port,
        path="/dynamic?upstream=zone_for_foo&add=&server=" + second.address,
        headers={"X-Xds-Fleet": FLEET})
    assert added.status == 200, added
    calls_until(client, lambda ok, errors: second.port in ok,
                "the server added through /dynamic never served")

    dyups(control_plane, "POST", "foo", "server %s;" % second.address)
    calls_until(client, lambda ok, errors: ok == {second.port: 10},
                "the server removed through dyups kept serving")

    write = control_plane.add_server("foo", third.address, fleet=FLEET)
    assert (write.acked_nodes, write.connected_nodes) == (1, 1), write
    calls_until(client, lambda ok, errors: third.port in ok,
                "the server added through gRPC never served")
    status = control_plane.node_status(node, FLEET)
    assert status.connected and status.acked_version == write.version, status
    assert status.fleet == FLEET and not status.HasField("last_nack"), status

    dyups(control_plane, "DELETE", "foo")
    calls_until(client, lambda ok, errors: not ok and errors,
                "calls still succeed after the upstream was deleted")
    ok, errors = client.call(5)
    assert not ok and all(key.startswith("14:") for key in errors), errors


# Validates that a resource the client cannot accept (least_conn maps to
# LEAST_REQUEST, which neither client supports) is NACKed, shown in fleet
# status with the client's message and the upstream it rejects, is not sent
# again, and does not hold the fleet's writes to other upstreams.
@pytest.mark.parametrize("kind", KINDS)
def test_nack_is_shown_and_not_resent(kind, control_plane, make_greeters, make_client):
    (backend,) = make_greeters(1)
    written = control_plane.put_upstream("lc", [backend.address], fleet=FLEET,
                                         method=upstream_pb2.LEAST_CONN)
    node = "nack-" + kind
    client = make_client(kind, "lc", node)
    client.call(1)  # starts the channel's resolution
    wait_until(lambda: control_plane.node_status(node, FLEET).HasField("last_nack"),
               what="the client's NACK never reached fleet status")
    status = control_plane.node_status(node, FLEET)
    assert status.last_nack.version == written.version, status
    assert "LEAST_REQUEST" in status.last_nack.message or \
        "LB policy is not supported" in status.last_nack.message, status
    assert [r.name for r in status.rejected_upstreams] == ["lc"], status

    other = control_plane.put_upstream("other", [backend.address], fleet=FLEET)
    assert (other.acked_nodes, other.connected_nodes) == (1, 1), other
    assert not other.rejections, other
    status = control_plane.node_status(node, FLEET)
    assert status.acked_version == other.version, status
    assert status.last_nack.version == written.version, "the NACKed Cluster was sent again"


# Validates that a staged rollout can pick a gRPC client as its canary: a
# server added during the rollout reaches the canary (C++) client only, the
# other (Node) client keeps the old endpoints until the promotion.
def test_grpc_client_as_rollout_canary(control_plane, make_greeters, make_client):
    old, new = make_greeters(2)
    control_plane.put_upstream("foo", [old.address], fleet=FLEET)
    canary = make_client("cpp", "foo", "canary-cpp")
    other = make_client("node", "foo", "other-node")
    for client in (canary, other):
        calls_until(client, lambda ok, errors: ok == {old.port: 10}, "never served")

    started = http_client.request(control_plane.http_port, "POST",
                                  "/rollouts/%s?nodes=canary-cpp" % FLEET)
    assert started.status == 200, started
    write = control_plane.put_upstream("foo", [new.address], fleet=FLEET)
    assert write.canary and (write.acked_nodes, write.connected_nodes) == (1, 1), write
    calls_until(canary, lambda ok, errors: ok == {new.port: 10}, "the canary never moved")
    ok, errors = other.call(20)
    assert ok == {old.port: 20} and not errors, "the non-canary moved before the promotion"

    promoted = http_client.request(control_plane.http_port, "POST",
                                   "/rollouts/%s/promote" % FLEET)
    assert promoted.status == 200, promoted
    calls_until(other, lambda ok, errors: ok == {new.port: 10}, "never moved after promotion")
