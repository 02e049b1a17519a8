// Real etcd members for tests, on loopback: one (EtcdMember) or a cluster (EtcdCluster(3)). Data
// lives in a fresh directory under /dev/shm, removed on destruction; teardown is SIGKILL (etcd
// takes seconds to stop on SIGTERM).
//
//   if (!EtcdMember::available()) GTEST_SKIP() << EtcdMember::kMissing;
//   EtcdMember etcd;
//   ASSERT_TRUE(etcd.wait_healthy()) << etcd.log();
//   etcd::Client client(io, {.endpoints = {etcd.endpoint()}});
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bgt {

std::uint16_t free_loopback_port();  // bound to 127.0.0.1:0 a moment ago

class EtcdMember {
 public:
  static constexpr const char* kMissing =
      "no `etcd` binary on PATH (scripts/install-deps.sh test installs etcd-server)";
  static bool available();

  // A single-member cluster, started at once.
  EtcdMember();
  // One member of a cluster: `initial_cluster` is "name=http://127.0.0.1:PEER,..." of all.
  EtcdMember(std::string name, std::uint16_t client_port, std::uint16_t peer_port,
             const std::string& initial_cluster, const std::string& cluster_token);
  ~EtcdMember();
  EtcdMember(const EtcdMember&) = delete;
  EtcdMember& operator=(const EtcdMember&) = delete;

  // Polls GET /health until {"health":"true"}.
  [[nodiscard]] bool wait_healthy(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void kill();     // SIGKILL and reap; idempotent
  void restart();  // after kill(): the same member, name, ports and data again
  bool running() const { return pid_ > 0; }

  const std::string& name() const { return name_; }
  std::uint16_t client_port() const { return client_port_; }
  std::string endpoint() const;  // "127.0.0.1:PORT" for etcd::Client
  std::string log() const;       // etcd's output

 private:
  void start(const std::string& initial_cluster, const std::string& cluster_token);

  std::string dir_;  // the data dir and the log
  std::string initial_cluster_, cluster_token_;
  std::string name_;
  std::uint16_t client_port_ = 0;
  std::uint16_t peer_port_ = 0;
  pid_t pid_ = -1;
};

class EtcdCluster {
 public:
  explicit EtcdCluster(int size);

  [[nodiscard]] bool wait_healthy(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  EtcdMember& member(std::size_t i) { return *members_.at(i); }
  std::size_t size() const { return members_.size(); }
  std::vector<std::string> endpoints() const;
  std::string logs() const;

 private:
  std::vector<std::unique_ptr<EtcdMember>> members_;
};

}  // namespace bgt
