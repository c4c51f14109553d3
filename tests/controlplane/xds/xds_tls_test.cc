// Node identities from client certificates (controlplane/xds/xds_tls): the
// pure parts; the TLS handshake itself is in tests/controlplane/security_test.

#include "controlplane/xds/xds_tls.h"

#include "gtest/gtest.h"

namespace nginx_xds {
namespace {

// Validate the SPIFFE forms: .../node/<id> names the node, with
// .../fleet/<fleet>/node/<id> also the fleet; anything else is no identity.
TEST(NodeIdentityFromUriTest, SpiffeForms) {
  auto plain = NodeIdentityFromUri("spiffe://example.org/node/n1");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->node, "n1");
  EXPECT_EQ(plain->fleet, "");
  EXPECT_EQ(plain->source, "spiffe://example.org/node/n1");
  auto fleet = NodeIdentityFromUri("SPIFFE://example.org/prod/fleet/web/node/n2");
  ASSERT_TRUE(fleet);
  EXPECT_EQ(fleet->node, "n2");
  EXPECT_EQ(fleet->fleet, "web");
  for (const char* bad : {"https://example.org/node/n1", "spiffe://example.org", "spiffe:///node/x",
                          "spiffe://example.org/node/", "spiffe://example.org/nodes/n1"}) {
    EXPECT_FALSE(NodeIdentityFromUri(bad)) << bad;
  }
}

// Validate that a stream must declare the certificate's node, and its fleet
// when the certificate binds one, else PERMISSION_DENIED naming both.
TEST(CheckNodeIdentityTest, NodeAndFleetMustMatch) {
  const NodeIdentity bound{"n1", "web", "spiffe://x/fleet/web/node/n1"};
  EXPECT_TRUE(CheckNodeIdentity(bound, "n1", "web").ok());
  absl::Status other_node = CheckNodeIdentity(bound, "n2", "web");
  EXPECT_EQ(other_node.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(other_node.message().find("\"n2\""), absl::string_view::npos);
  EXPECT_NE(other_node.message().find("\"n1\""), absl::string_view::npos);
  EXPECT_EQ(CheckNodeIdentity(bound, "n1", "default").code(), absl::StatusCode::kPermissionDenied);
  const NodeIdentity unbound{"n1", "", "CN=n1"};
  EXPECT_TRUE(CheckNodeIdentity(unbound, "n1", "any").ok());
}

}  // namespace
}  // namespace nginx_xds
