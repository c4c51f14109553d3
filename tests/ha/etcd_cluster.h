#ifndef TESTS_HA_ETCD_CLUSTER_H_
#define TESTS_HA_ETCD_CLUSTER_H_

// A real etcd cluster (Debian's /usr/bin/etcd) of N members on free
// loopback ports for the replica tests: members can be killed with SIGKILL
// and started again on the same ports and data.

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace nginx_xds {
namespace testing {

// A port nobody listens on now (the kernel's choice for port 0).
inline int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

class EtcdCluster {
 public:
  // Starts `size` members named n0.., data under $TEST_TMPDIR/`name`-nI.
  EtcdCluster(const std::string& name, int size) : name_(name) {
    std::vector<std::string> initial;
    for (int i = 0; i < size; ++i) {
      Member member;
      member.client_port = FreeLoopbackPort();
      member.peer_port = FreeLoopbackPort();
      initial.push_back(absl::StrCat("n", i, "=http://127.0.0.1:", member.peer_port));
      members_.push_back(member);
    }
    initial_cluster_ = absl::StrJoin(initial, ",");
    for (int i = 0; i < size; ++i) Start(i);
  }
  ~EtcdCluster() {
    for (int i = 0; i < static_cast<int>(members_.size()); ++i) Kill(i);
  }

  int size() const { return static_cast<int>(members_.size()); }
  std::string url(int i) const {
    return absl::StrCat("http://127.0.0.1:", members_[i].client_port);
  }
  // Every member's URL, member `first` first (a replica prefers its own).
  std::vector<std::string> urls(int first = 0) const {
    std::vector<std::string> all;
    for (int k = 0; k < size(); ++k) all.push_back(url((first + k) % size()));
    return all;
  }

  // SIGKILL, as a machine that dies.
  void Kill(int i) {
    Member& member = members_[i];
    if (member.pid <= 0) return;
    kill(member.pid, SIGKILL);
    waitpid(member.pid, nullptr, 0);
    member.pid = -1;
  }

  // Starts member `i` (again): same name, ports and data directory.
  void Start(int i) {
    Member& member = members_[i];
    const std::string data = absl::StrCat(getenv("TEST_TMPDIR"), "/", name_, "-n", i);
    const std::string client = url(i);
    const std::string peer = absl::StrCat("http://127.0.0.1:", member.peer_port);
    const std::string member_name = absl::StrCat("n", i);
    member.pid = fork();
    if (member.pid == 0) {
      // Dies with the test, even when the test crashes.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const std::string log = data + ".log";
      freopen(log.c_str(), "a", stderr);
      execl("/usr/bin/etcd", "etcd", "--name", member_name.c_str(), "--data-dir", data.c_str(),
            "--listen-client-urls", client.c_str(), "--advertise-client-urls", client.c_str(),
            "--listen-peer-urls", peer.c_str(), "--initial-advertise-peer-urls", peer.c_str(),
            "--initial-cluster", initial_cluster_.c_str(), "--initial-cluster-token", name_.c_str(),
            // Fast elections: a killed leader is replaced within a second.
            "--heartbeat-interval", "50", "--election-timeout", "500", static_cast<char*>(nullptr));
      _exit(127);
    }
  }

 private:
  struct Member {
    int client_port = 0;
    int peer_port = 0;
    pid_t pid = -1;
  };
  const std::string name_;
  std::string initial_cluster_;
  std::vector<Member> members_;
};

}  // namespace testing
}  // namespace nginx_xds

#endif  // TESTS_HA_ETCD_CLUSTER_H_
