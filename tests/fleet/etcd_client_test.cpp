// etcd::Client against a real etcd started by the test (skipped when `etcd` is not installed).
#include "fleet/etcd_client.h"

#include <gtest/gtest.h>
#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "support/etcd_member.h"

namespace bgp::etcd {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using bgt::EtcdMember;

// Runs one coroutine of the client to completion on `io`.
template <typename T>
T run(asio::io_context& io, asio::awaitable<T> awaitable) {
  std::optional<T> out;
  asio::co_spawn(io, std::move(awaitable), [&](std::exception_ptr e, T value) {
    if (e) std::rethrow_exception(e);
    out = std::move(value);
  });
  // Not io.run(): a watch in progress keeps the io_context busy.
  io.restart();
  while (!out) io.run_one();
  return std::move(*out);
}

// Runs `io` until `done()` or `timeout`.
template <typename Predicate>
bool run_until(asio::io_context& io, Predicate done, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = Clock::now() + timeout;
  while (!done() && Clock::now() < deadline) {
    io.restart();
    io.run_for(5ms);
  }
  return done();
}

std::string describe(const std::optional<Error>& error) {
  return error ? std::string(to_string(error->kind)) + ": " + error->message : "no error";
}

// A running watch: its batches and, once it ended, why.
struct WatchRun {
  std::vector<WatchBatch> batches;
  std::optional<Error> end;
  asio::cancellation_signal cancel;

  std::vector<WatchEvent> events() const {
    std::vector<WatchEvent> out;
    for (const auto& b : batches) out.insert(out.end(), b.events.begin(), b.events.end());
    return out;
  }
};

void start_watch(asio::io_context& io, Client& client, WatchRun& run, std::string key,
                 std::string range_end, Revision start) {
  asio::co_spawn(
      io,
      client.watch(std::move(key), std::move(range_end), start,
                   [&run](const WatchBatch& batch) { run.batches.push_back(batch); }),
      asio::bind_cancellation_slot(run.cancel.slot(), [&run](std::exception_ptr e, Error why) {
        if (e) std::rethrow_exception(e);
        run.end = std::move(why);
      }));
}

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdMember::available()) GTEST_SKIP() << EtcdMember::kMissing;
    etcd_ = std::make_unique<EtcdMember>();
    ASSERT_TRUE(etcd_->wait_healthy()) << etcd_->log();
    client_ = std::make_unique<Client>(io_, Client::Options{{etcd_->endpoint()}, 1000ms});
  }

  Revision put(std::string key, std::string value, LeaseId lease = 0) {
    auto r = run(io_, client_->put(std::move(key), std::move(value), lease));
    EXPECT_TRUE(r) << describe(r.error);
    return r ? *r.value : 0;
  }
  Range range(std::string key, std::string range_end = {}) {
    auto r = run(io_, client_->range(std::move(key), std::move(range_end)));
    EXPECT_TRUE(r) << describe(r.error);
    return r ? *r.value : Range{};
  }

  asio::io_context io_;
  std::unique_ptr<EtcdMember> etcd_;
  std::unique_ptr<Client> client_;
};

TEST_F(EtcdClientTest, PutRangePrefixAndDelete) {
  const Revision first = put("/t/a", "1");
  const Revision second = put("/t/b", std::string("two\0bytes", 9));
  put("/u", "3");
  EXPECT_GT(second, first);

  Range a = range("/t/a");
  ASSERT_EQ(a.kvs.size(), 1u);
  EXPECT_EQ(a.kvs[0].value, "1");
  EXPECT_EQ(a.kvs[0].create_revision, first);
  EXPECT_EQ(a.kvs[0].version, 1);
  EXPECT_GE(a.revision, second);

  Range prefix = range("/t/", prefix_end("/t/"));
  ASSERT_EQ(prefix.kvs.size(), 2u);
  EXPECT_EQ(prefix.kvs[0].key, "/t/a");
  EXPECT_EQ(prefix.kvs[1].value, std::string("two\0bytes", 9));
  EXPECT_TRUE(range("/missing").kvs.empty());

  auto deleted = run(io_, client_->delete_range("/t/", prefix_end("/t/")));
  ASSERT_TRUE(deleted) << describe(deleted.error);
  EXPECT_GT(*deleted.value, second);
  EXPECT_TRUE(range("/t/", prefix_end("/t/")).kvs.empty());
  EXPECT_EQ(range("/u").kvs.size(), 1u);
}

TEST_F(EtcdClientTest, TxnSucceedsAndFailsOnModRevision) {
  const Revision seen = put("/state", "v1");
  Txn cas;
  cas.compare = {{"/state", Compare::Target::mod, Compare::Result::equal, seen, ""}};
  cas.success = {{Operation::Kind::put, "/state", "v2", "", 0},
                 {Operation::Kind::range, "/state", "", "", 0}};
  cas.failure = {{Operation::Kind::range, "/state", "", "", 0}};

  auto won = run(io_, client_->txn(cas));
  ASSERT_TRUE(won) << describe(won.error);
  EXPECT_TRUE(won.value->succeeded);
  EXPECT_GT(won.value->revision, seen);
  ASSERT_EQ(won.value->ranges.size(), 1u);
  EXPECT_EQ(won.value->ranges[0].kvs.at(0).value, "v2");

  // The same compare again is stale: the failure branch runs and shows what is there now.
  auto lost = run(io_, client_->txn(cas));
  ASSERT_TRUE(lost) << describe(lost.error);
  EXPECT_FALSE(lost.value->succeeded);
  ASSERT_EQ(lost.value->ranges.size(), 1u);
  ASSERT_EQ(lost.value->ranges[0].kvs.size(), 1u);
  EXPECT_EQ(lost.value->ranges[0].kvs[0].value, "v2");
  EXPECT_EQ(lost.value->ranges[0].kvs[0].mod_revision, won.value->revision);
  EXPECT_EQ(range("/state").kvs.at(0).version, 2);  // the failed txn wrote nothing

  // Create-if-absent: CREATE == 0 holds only for a key that does not exist.
  Txn create;
  create.compare = {{"/new", Compare::Target::create, Compare::Result::equal, 0, ""}};
  create.success = {{Operation::Kind::put, "/new", "x", "", 0}};
  EXPECT_TRUE(run(io_, client_->txn(create)).value->succeeded);
  EXPECT_FALSE(run(io_, client_->txn(create)).value->succeeded);
}

TEST_F(EtcdClientTest, LeaseKeepaliveAndExpiry) {
  auto lease = run(io_, client_->grant(2s));
  ASSERT_TRUE(lease) << describe(lease.error);
  EXPECT_EQ(lease.value->ttl, 2);
  put("/replicas/me", "alive", lease.value->id);
  EXPECT_EQ(range("/replicas/me").kvs.at(0).lease, lease.value->id);

  auto renewed = run(io_, client_->keepalive(lease.value->id));
  ASSERT_TRUE(renewed) << describe(renewed.error);
  EXPECT_EQ(renewed.value->id, lease.value->id);
  EXPECT_EQ(renewed.value->ttl, 2);

  // No more keepalives: the lease expires and takes its key along (TTL 2 s; bounded wait).
  EXPECT_TRUE(run_until(
      io_, [&] { return range("/replicas/me").kvs.empty(); }, 10s));
  auto expired = run(io_, client_->keepalive(lease.value->id));
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error->kind, Error::Kind::lease_not_found) << describe(expired.error);
}

TEST_F(EtcdClientTest, RevokeDeletesTheLeasesKeys) {
  auto lease = run(io_, client_->grant(30s));
  ASSERT_TRUE(lease) << describe(lease.error);
  put("/l/a", "1", lease.value->id);
  put("/l/b", "2", lease.value->id);
  put("/l/c", "3");
  auto revoked = run(io_, client_->revoke(lease.value->id));
  ASSERT_TRUE(revoked) << describe(revoked.error);
  Range left = range("/l/", prefix_end("/l/"));
  ASSERT_EQ(left.kvs.size(), 1u);
  EXPECT_EQ(left.kvs[0].key, "/l/c");

  auto again = run(io_, client_->revoke(lease.value->id));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error->kind, Error::Kind::lease_not_found) << describe(again.error);
  EXPECT_EQ(run(io_, client_->keepalive(lease.value->id)).error->kind,
            Error::Kind::lease_not_found);
}

TEST_F(EtcdClientTest, WatchDeliversPutsAndDeletesInOrderFromARevision) {
  const Revision start = put("/w/a", "1");
  put("/w/a", "2");
  put("/other", "x");  // outside the prefix
  run(io_, client_->delete_range("/w/a"));

  WatchRun watch;
  start_watch(io_, *client_, watch, "/w/", prefix_end("/w/"), start);
  ASSERT_TRUE(run_until(io_, [&] { return watch.events().size() >= 3 || watch.end; }))
      << describe(watch.end);
  auto events = watch.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::put);
  EXPECT_EQ(events[0].kv.value, "1");
  EXPECT_EQ(events[0].kv.mod_revision, start);
  EXPECT_EQ(events[1].kv.value, "2");
  EXPECT_EQ(events[2].type, WatchEvent::Type::del);
  EXPECT_EQ(events[2].kv.key, "/w/a");

  // Live events: a txn's writes come in one batch; measure put → delivery.
  Txn txn;
  txn.success = {{Operation::Kind::put, "/w/b", "3", "", 0},
                 {Operation::Kind::put, "/w/c", "4", "", 0}};
  const auto before = Clock::now();
  asio::co_spawn(io_, client_->txn(txn), asio::detached);
  ASSERT_TRUE(run_until(io_, [&] { return watch.events().size() >= 5; }));
  const auto delivered = Clock::now() - before;
  EXPECT_EQ(watch.batches.back().events.size(), 2u);
  EXPECT_EQ(watch.batches.back().events[1].kv.key, "/w/c");
  std::printf("txn -> watch delivery: %.2f ms\n",
              std::chrono::duration<double, std::milli>(delivered).count());

  // Cancelled through the coroutine's cancellation slot: ends with unavailable.
  watch.cancel.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until(
      io_, [&] { return watch.end.has_value(); }, 2s));
  EXPECT_EQ(watch.end->kind, Error::Kind::unavailable) << describe(watch.end);
  EXPECT_TRUE(run(io_, client_->put("/after", "cancel")));  // the client is still usable
}

TEST_F(EtcdClientTest, WatchFromACompactedRevisionEndsWithCompacted) {
  const Revision old = put("/c/a", "1");
  put("/c/a", "2");
  const Revision last = put("/c/a", "3");
  auto compacted = run(io_, client_->compact(last));
  ASSERT_TRUE(compacted) << describe(compacted.error);

  WatchRun watch;
  start_watch(io_, *client_, watch, "/c/", prefix_end("/c/"), old);
  ASSERT_TRUE(run_until(io_, [&] { return watch.end.has_value(); }));
  EXPECT_EQ(watch.end->kind, Error::Kind::compacted) << describe(watch.end);
  EXPECT_EQ(watch.end->compact_revision, last);
  EXPECT_TRUE(watch.events().empty());
}

TEST_F(EtcdClientTest, StopEndsWatchesAndLaterCalls) {
  WatchRun watch;
  start_watch(io_, *client_, watch, "/s/", prefix_end("/s/"), 0);
  run_until(
      io_, [] { return false; }, 100ms);  // the watch is in place
  EXPECT_FALSE(watch.end);
  client_->stop();
  ASSERT_TRUE(run_until(
      io_, [&] { return watch.end.has_value(); }, 2s));
  EXPECT_EQ(watch.end->kind, Error::Kind::unavailable);
  auto after = run(io_, client_->put("/s/x", "1"));
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error->kind, Error::Kind::unavailable);
}

TEST_F(EtcdClientTest, RotatesPastADeadEndpointAndRemembersTheLiveOne) {
  const std::string dead = "127.0.0.1:" + std::to_string(bgt::free_loopback_port());
  Client client(io_, {{dead, etcd_->endpoint()}, 500ms});
  auto first = run(io_, client.put("/r", "1"));
  ASSERT_TRUE(first) << describe(first.error);
  EXPECT_EQ(client.preferred_endpoint(), etcd_->endpoint());
  auto second = run(io_, client.range("/r"));
  ASSERT_TRUE(second) << describe(second.error);
  EXPECT_EQ(second.value->kvs.at(0).value, "1");

  WatchRun watch;
  Client watcher(io_, {{dead, etcd_->endpoint()}, 500ms});
  start_watch(io_, watcher, watch, "/r", "", 0);
  run_until(
      io_, [] { return false; }, 100ms);
  put("/r", "2");
  ASSERT_TRUE(run_until(io_, [&] { return !watch.events().empty() || watch.end; }))
      << describe(watch.end);
  EXPECT_EQ(watch.events()[0].kv.value, "2");
  watcher.stop();
  run_until(
      io_, [&] { return watch.end.has_value(); }, 2s);
}

TEST_F(EtcdClientTest, KilledMemberIsUnavailableWithinTheTimeout) {
  put("/k", "1");
  WatchRun watch;
  start_watch(io_, *client_, watch, "/k", "", 0);
  run_until(
      io_, [] { return false; }, 100ms);

  etcd_->kill();
  ASSERT_TRUE(run_until(
      io_, [&] { return watch.end.has_value(); }, 2s));
  EXPECT_EQ(watch.end->kind, Error::Kind::unavailable) << describe(watch.end);

  const auto before = Clock::now();
  auto r = run(io_, client_->put("/k", "2"));
  const auto took = Clock::now() - before;
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error->kind == Error::Kind::unavailable || r.error->kind == Error::Kind::timeout)
      << describe(r.error);
  EXPECT_NE(r.error->message.find(etcd_->endpoint()), std::string::npos) << r.error->message;
  EXPECT_LT(took, 1500ms);
}

TEST_F(EtcdClientTest, PutLatency) {
  std::vector<double> ms;
  for (int i = 0; i < 200; ++i) {
    const auto before = Clock::now();
    put("/lat", std::to_string(i));
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - before).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("put: p50 %.2f ms, p99 %.2f ms (200 puts, 1 member, /dev/shm)\n", ms[100], ms[197]);
  EXPECT_LT(ms[100], 100.0);
}

TEST(EtcdClusterTest, ThreeMembersServeOneKeyspace) {
  if (!EtcdMember::available()) GTEST_SKIP() << EtcdMember::kMissing;
  bgt::EtcdCluster cluster(3);
  ASSERT_TRUE(cluster.wait_healthy()) << cluster.logs();
  asio::io_context io;
  Client writer(io, {{cluster.member(0).endpoint()}, 2000ms});
  Client reader(io, {{cluster.member(2).endpoint()}, 2000ms});
  ASSERT_TRUE(run(io, writer.put("/fleet", "one")));
  auto read = run(io, reader.range("/fleet"));
  ASSERT_TRUE(read) << describe(read.error);
  EXPECT_EQ(read.value->kvs.at(0).value, "one");
}

}  // namespace
}  // namespace bgp::etcd
