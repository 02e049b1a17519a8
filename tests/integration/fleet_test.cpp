// A fleet end to end (docs/fleet.md): a real etcd member and three real bgproxy replicas on
// loopback act as one rollout. The targets' figures come from bench/fleet.py; these tests assert
// what an operator would notice.
#include <csignal>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "controller/rollout.h"
#include "support/etcd_member.h"
#include "integration/harness.h"

namespace bgt {
namespace {

namespace json = boost::json;

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdMember::available()) GTEST_SKIP() << EtcdMember::kMissing;
    etcd = std::make_unique<EtcdMember>();
    ASSERT_TRUE(etcd->wait_healthy()) << etcd->log();
  }

  // Three replicas of one cluster; `rollout` under rollout:.
  void start_replicas(const std::string& rollout) {
    for (int i = 1; i <= 3; ++i) {
      replicas.push_back(std::make_unique<Bgproxy>(make_config(
          ConfigSpec{.blue = {blue.address()},
                     .green = {green.address()},
                     .rollout = rollout,
                     .top = "fleet:\n  etcd: [" + etcd->endpoint() + "]\n  replica_id: r" +
                            std::to_string(i) + "\n  lease_ttl: 2s\n"})));
      ASSERT_TRUE(replicas.back()->start());
    }
    ASSERT_TRUE(wait_until([&] { return !leader().empty(); }, 10s)) << "no leader";
  }

  static std::string fleet_field(const json::value& status, std::string_view key) {
    const auto* fleet = status.is_object() ? status.as_object().if_contains("fleet") : nullptr;
    return fleet && fleet->is_object() ? string_at(*fleet, key) : std::string();
  }

  static bool connected(const json::value& status) {
    const auto* fleet = status.is_object() ? status.as_object().if_contains("fleet") : nullptr;
    const auto* flag =
        fleet && fleet->is_object() ? fleet->as_object().if_contains("connected") : nullptr;
    return flag && flag->is_bool() && flag->as_bool();
  }

  // The leader every replica agrees on, or "".
  std::string leader() {
    std::string agreed;
    for (const auto& r : replicas) {
      if (!r->running()) continue;
      const std::string seen = fleet_field(r->status(), "leader");
      if (seen.empty() || (!agreed.empty() && seen != agreed)) return "";
      agreed = seen;
    }
    return agreed;
  }

  bool all_in_state(std::string_view state) {
    for (const auto& r : replicas) {
      if (r->running() && !in_state(r->status(), state)) return false;
    }
    return true;
  }

  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};
  std::unique_ptr<EtcdMember> etcd;
  std::vector<std::unique_ptr<Bgproxy>> replicas;
};

constexpr std::string_view kRollout =
    "steps: [20, 50, 100]\nstep_duration: 1h\n"
    "check_interval: 100ms\nmin_requests: 5\n";

TEST_F(FleetTest, ACallOnAnyReplicaReachesEveryReplica) {
  start_replicas(std::string(kRollout));
  ASSERT_EQ(replicas[0]->admin("POST", "/rollout/start").status, 200u);
  ASSERT_TRUE(wait_until([&] { return all_in_state("progressing"); }, 5s));
  for (const auto& r : replicas) {
    EXPECT_EQ(weight_of(r->status(), "green"), 20);
    // The weights are the routing: about a fifth of each replica's traffic goes to green.
    const Tally t = send_requests(r->proxy_port(), 200);
    EXPECT_GT(t.of("green"), 15) << t.to_string();
    EXPECT_GT(t.of("blue"), 100) << t.to_string();
  }
  const auto back = replicas[2]->admin("POST", "/rollout/rollback");
  ASSERT_EQ(back.status, 200u) << back.body;
  ASSERT_TRUE(wait_until([&] { return all_in_state("rolled_back"); }, 5s));
  for (const auto& r : replicas) EXPECT_EQ(send_requests(r->proxy_port(), 20).of("blue"), 20);
  // One history, whichever replica is asked.
  const auto history = replicas[1]->status().as_object().at("history").as_array();
  ASSERT_GE(history.size(), 2u);
  EXPECT_EQ(string_at(history.back(), "event"), "rollback");
}

TEST_F(FleetTest, AKilledLeaderIsReplacedAndTheRolloutGoesOnAtTheSameStep) {
  start_replicas(std::string(kRollout));
  ASSERT_EQ(replicas[1]->admin("POST", "/rollout/start").status, 200u);
  ASSERT_TRUE(wait_until([&] { return all_in_state("progressing"); }, 5s));
  const std::string old_leader = leader();
  const auto before = replicas[0]->status();
  Bgproxy* dead = nullptr;
  for (const auto& r : replicas) {
    if (fleet_field(r->status(), "self") == old_leader) dead = r.get();
  }
  ASSERT_NE(dead, nullptr);
  dead->signal(SIGKILL);
  ASSERT_EQ(dead->wait_exit(5s), 128 + SIGKILL);
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string now = leader();
        return !now.empty() && now != old_leader;
      },
      15s))
      << "no new leader";
  for (const auto& r : replicas) {
    if (!r->running()) continue;
    const auto s = r->status();
    EXPECT_EQ(string_at(s, "state"), "progressing");
    EXPECT_EQ(number_at(s, "step"), number_at(before, "step"));
    EXPECT_EQ(string_at(s, "step_started_at"), string_at(before, "step_started_at"));
    EXPECT_EQ(send_requests(r->proxy_port(), 50).status(200), 50);
  }
  // The new leader decides: a call still reaches the survivors.
  Bgproxy* survivor = replicas[0].get() == dead ? replicas[1].get() : replicas[0].get();
  ASSERT_EQ(survivor->admin("POST", "/rollout/promote").status, 200u);
  ASSERT_TRUE(wait_until(
      [&] {
        for (const auto& r : replicas) {
          if (r->running() && string_at(r->status(), "live") != "green") return false;
        }
        return true;
      },
      5s));
}

// A leader paused past its lease (a long GC pause, a frozen VM) wakes up deposed: whatever it
// decided before is fenced out, and what the fleet did meanwhile stays.
TEST_F(FleetTest, APausedLeaderWakesUpDeposedAndCannotWrite) {
  start_replicas(std::string(kRollout));
  ASSERT_EQ(replicas[0]->admin("POST", "/rollout/start").status, 200u);
  ASSERT_TRUE(wait_until([&] { return all_in_state("progressing"); }, 5s));
  const std::string old_leader = leader();
  Bgproxy* paused = nullptr;
  for (const auto& r : replicas) {
    if (fleet_field(r->status(), "self") == old_leader) paused = r.get();
  }
  ASSERT_NE(paused, nullptr);
  paused->signal(SIGSTOP);
  Bgproxy* other = replicas[0].get() == paused ? replicas[1].get() : replicas[0].get();
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string now = fleet_field(other->status(), "leader");
        return !now.empty() && now != old_leader;
      },
      15s));
  ASSERT_EQ(other->admin("POST", "/rollout/rollback").status, 200u);
  paused->signal(SIGCONT);
  // It learns that it lost the lead (its lease expired while it slept), and applies the rollback
  // it missed; whatever it tried to write as the old leader in between was fenced out.
  ASSERT_TRUE(paused->wait_log("steps down as the leader", 10s)) << paused->log();
  ASSERT_TRUE(wait_until([&] { return in_state(paused->status(), "rolled_back"); }, 10s));
  EXPECT_NE(fleet_field(paused->status(), "leader"), old_leader);
  EXPECT_TRUE(all_in_state("rolled_back")) << json::serialize(other->status());
}

// Each replica alone sees too few of the candidate's requests to judge it; the fleet does not.
TEST_F(FleetTest, ABadCandidateIsCaughtFromTheFleetsNumbers) {
  green.set_error_rate(0.25);
  start_replicas("steps: [10, 100]\nstep_duration: 1h\ncheck_interval: 100ms\nmin_requests: 100\n");
  ASSERT_EQ(replicas[0]->admin("POST", "/rollout/start").status, 200u);
  std::vector<std::unique_ptr<TrafficLoop>> traffic;
  for (const auto& r : replicas) {
    traffic.push_back(std::make_unique<TrafficLoop>(
        r->proxy_port(),
        TrafficLoop::Options{.connections = 1, .pause = 5ms, .max_duration = 30s}));
  }
  ASSERT_TRUE(wait_until([&] { return all_in_state("rolled_back"); }, 30s))
      << json::serialize(replicas[0]->status());
  for (auto& t : traffic) t->stop();
  EXPECT_EQ(rollback_reason(replicas[0]->status()), "error_rate");
  // No replica had min_requests of green on its own.
  for (const auto& r : replicas) {
    const double own = metric_sum(r->admin("GET", "/metrics").body, "bgproxy_requests_total",
                                  {R"(color="green")", R"(route="split")"});
    EXPECT_LT(own, 100) << "a replica saw enough alone; the test proves nothing";
  }
}

TEST_F(FleetTest, WithoutEtcdTrafficFlowsAndOnlyARollbackApplies) {
  start_replicas(std::string(kRollout));
  ASSERT_EQ(replicas[0]->admin("POST", "/rollout/start").status, 200u);
  ASSERT_TRUE(wait_until([&] { return all_in_state("progressing"); }, 5s));
  etcd->kill();
  ASSERT_TRUE(wait_until([&] { return !connected(replicas[1]->status()); }, 10s));
  // Serving goes on with the weights in force.
  for (const auto& r : replicas) {
    const Tally t = send_requests(r->proxy_port(), 100);
    EXPECT_EQ(t.status(200), 100) << t.to_string();
    EXPECT_GT(t.of("green"), 5) << t.to_string();
  }
  const auto promote = replicas[1]->admin("POST", "/rollout/promote");
  EXPECT_EQ(promote.status, 503u) << promote.body;
  const auto back = replicas[1]->admin("POST", "/rollout/rollback");
  EXPECT_EQ(back.status, 200u) << back.body;
  EXPECT_EQ(send_requests(replicas[1]->proxy_port(), 20).of("blue"), 20);
}

// Three etcd members: the fleet goes on without one, and waits out the loss of two.
class FleetOnThreeMembersTest : public FleetTest {
 protected:
  void SetUp() override {
    if (!EtcdMember::available()) GTEST_SKIP() << EtcdMember::kMissing;
    cluster = std::make_unique<EtcdCluster>(3);
    ASSERT_TRUE(cluster->wait_healthy()) << cluster->logs();
  }

  void start_replicas_on_cluster(const std::string& rollout) {
    std::string endpoints;
    for (const auto& e : cluster->endpoints()) endpoints += (endpoints.empty() ? "" : ", ") + e;
    for (int i = 1; i <= 3; ++i) {
      replicas.push_back(std::make_unique<Bgproxy>(
          make_config(ConfigSpec{.blue = {blue.address()},
                                 .green = {green.address()},
                                 .rollout = rollout,
                                 .top = "fleet:\n  etcd: [" + endpoints + "]\n  replica_id: r" +
                                        std::to_string(i) + "\n  lease_ttl: 2s\n"})));
      ASSERT_TRUE(replicas.back()->start());
    }
    ASSERT_TRUE(wait_until([&] { return !leader().empty(); }, 15s)) << "no leader";
  }

  std::unique_ptr<EtcdCluster> cluster;
};

TEST_F(FleetOnThreeMembersTest, NoStateChangeIsMissedWhileAMemberIsDown) {
  start_replicas_on_cluster(std::string(kRollout));
  cluster->member(0).kill();
  constexpr int kChanges = 10;
  for (int i = 0; i < kChanges; ++i) {
    const auto r = replicas[static_cast<std::size_t>(i) % 3]->admin(
        "PUT", "/weights", fmt::format(R"({{"green": {}}})", 10 + i));
    ASSERT_EQ(r.status, 200u) << r.body;
  }
  ASSERT_TRUE(wait_until(
      [&] {
        for (const auto& r : replicas) {
          if (weight_of(r->status(), "green") != 10 + kChanges - 1) return false;
        }
        return true;
      },
      10s));
  for (const auto& r : replicas) {
    int weights_events = 0;
    const auto status = r->status();  // the loop below reads into it: it must outlive the loop
    for (const auto& e : status.as_object().at("history").as_array()) {
      weights_events += string_at(e, "event") == "weights" ? 1 : 0;
    }
    EXPECT_EQ(weights_events, kChanges);
  }
}

TEST_F(FleetOnThreeMembersTest, WithoutQuorumTrafficFlowsNothingAdvancesAndItRecovers) {
  start_replicas_on_cluster(
      "steps: [20, 50, 100]\nstep_duration: 1s\ncheck_interval: 100ms\n"
      "min_requests: 1\n");
  ASSERT_EQ(replicas[0]->admin("POST", "/rollout/start").status, 200u);
  ASSERT_TRUE(wait_until([&] { return all_in_state("progressing"); }, 5s));
  cluster->member(1).kill();
  cluster->member(2).kill();
  const auto during = replicas[0]->status();
  const auto step_end = bgp::parse_time(string_at(during, "next_step_at"));
  ASSERT_TRUE(step_end);
  // Past the step's end without quorum: every request answered, and the step stays.
  std::vector<std::unique_ptr<TrafficLoop>> traffic;
  for (const auto& r : replicas) {
    traffic.push_back(std::make_unique<TrafficLoop>(
        r->proxy_port(),
        TrafficLoop::Options{.connections = 1, .pause = 5ms, .max_duration = 60s}));
  }
  ASSERT_TRUE(wait_until([&] { return std::chrono::system_clock::now() > *step_end + 2s; }, 10s));
  for (const auto& r : replicas) {
    EXPECT_EQ(number_at(r->status(), "step"), number_at(during, "step"));
  }
  cluster->member(1).restart();
  cluster->member(2).restart();
  EXPECT_TRUE(wait_until(
      [&] { return number_at(replicas[0]->status(), "step") != number_at(during, "step"); }, 20s))
      << "the rollout did not go on when quorum returned";
  for (auto& t : traffic) t->stop();
  for (const auto& t : traffic) {
    const Tally tally = t->tally();
    EXPECT_EQ(tally.status(0), 0) << tally.to_string();  // no request without an answer
    EXPECT_EQ(tally.status(200), tally.total) << tally.to_string();
  }
}

}  // namespace
}  // namespace bgt
