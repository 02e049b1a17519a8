#include "fleet/fleet.h"

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "controller/state_store.h"

namespace bgp {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr auto kRetryAfter = 200ms;  // after etcd could not be reached
constexpr auto kRideOut = 3s;        // an operator's call waits this long for etcd to answer

etcd::Compare compare(std::string key, etcd::Compare::Target target, etcd::Revision revision) {
  etcd::Compare c;
  c.key = std::move(key);
  c.target = target;
  c.number = revision;
  return c;
}

etcd::Operation put(std::string key, std::string value, etcd::LeaseId lease = 0) {
  etcd::Operation op;
  op.kind = etcd::Operation::Kind::put;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}

etcd::Operation get(std::string key) {
  etcd::Operation op;
  op.kind = etcd::Operation::Kind::range;
  op.key = std::move(key);
  return op;
}

// The state's compare: unchanged since `revision` (0: not written yet).
etcd::Compare state_unchanged(const std::string& key, etcd::Revision revision) {
  return revision == 0 ? compare(key, etcd::Compare::Target::create, 0)
                       : compare(key, etcd::Compare::Target::mod, revision);
}

std::vector<std::string> endpoints_of(const FleetConfig& fleet) {
  std::vector<std::string> out;
  for (const Address& a : fleet.etcd) out.push_back(a.to_string());
  return out;
}

}  // namespace

Fleet::Fleet(asio::io_context& io, std::shared_ptr<const Config> config, Controller& controller,
             const StatsRegistry& stats, Logger& log, std::string self)
    : io_(io),
      config_holder_(std::move(config)),
      config_(*config_holder_),
      controller_(controller),
      stats_(stats),
      log_(log),
      self_(std::move(self)),
      incarnation_(fmt::format("{}-{}", ::getpid(), controller.now().time_since_epoch().count())),
      etcd_(
          std::make_unique<etcd::Client>(io, etcd::Client::Options{endpoints_of(config_.fleet)})) {
  keys_.prefix = fmt::format("/bgproxy/{}/", config_.fleet.cluster);
  keys_.leader = keys_.prefix + "leader";
  keys_.state = keys_.prefix + "state";
  keys_.replicas = keys_.prefix + "replicas/";
}

Fleet::~Fleet() = default;

void Fleet::start() {
  log_.info("fleet: replica {} of cluster {} on etcd {}", self_, config_.fleet.cluster,
            fmt::join(endpoints_of(config_.fleet), ", "));
  asio::co_spawn(io_, lease_loop(), asio::detached);
  asio::co_spawn(io_, watch_loop(), asio::detached);
  asio::co_spawn(io_, check_loop(), asio::detached);
}

void Fleet::stop() {
  stopped_ = true;
  etcd_->stop();
}

asio::awaitable<void> Fleet::sleep(std::chrono::milliseconds delay) {
  asio::steady_timer timer(io_, delay);
  boost::system::error_code ec;  // a cancelled sleep just ends early
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void Fleet::set_connected(bool connected) {
  if (connected == connected_) return;
  connected_ = connected;
  if (connected) {
    log_.info("fleet: etcd reachable again");
  } else {
    log_.warn("fleet: etcd unreachable: serving with the weights in force; nothing advances");
  }
}

// --- the lease: this replica's liveness, and the leader's tenure ---

asio::awaitable<void> Fleet::lease_loop() {
  const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(config_.fleet.lease_ttl);
  auto renewed = std::chrono::steady_clock::now();
  while (!stopped_) {
    if (lease_ == 0) {
      const auto granted = co_await etcd_->grant(std::max(ttl, std::chrono::seconds(2)));
      if (!granted) {
        set_connected(false);
        co_await sleep(kRetryAfter);
        continue;
      }
      lease_ = granted.value->id;
      renewed = std::chrono::steady_clock::now();
      set_connected(true);
      co_await publish_totals();  // registered at once
      co_await campaign();
    }
    co_await sleep(std::chrono::duration_cast<std::chrono::milliseconds>(config_.fleet.lease_ttl) /
                   3);
    if (stopped_ || lease_ == 0) continue;
    const auto kept = co_await etcd_->keepalive(lease_);
    if (kept) {
      renewed = std::chrono::steady_clock::now();
      set_connected(true);
    } else if (kept.error->kind == etcd::Error::Kind::lease_not_found) {
      lose_lease("the lease expired");
    } else {
      set_connected(false);
      if (std::chrono::steady_clock::now() - renewed > config_.fleet.lease_ttl) {
        lose_lease("the lease could not be renewed within lease_ttl");
      }
    }
  }
}

void Fleet::lose_lease(std::string_view why) {
  if (leading()) log_.warn("fleet: {} steps down as the leader: {}", self_, why);
  lease_ = 0;
  leadership_ = 0;
  if (leader_ == self_) leader_.reset();
}

// The leader key exists while its lease does: the first to create it leads.
asio::awaitable<void> Fleet::campaign() {
  if (lease_ == 0 || leader_ || stopped_) co_return;
  etcd::Txn txn;
  txn.compare.push_back(compare(keys_.leader, etcd::Compare::Target::create, 0));
  txn.success.push_back(put(keys_.leader, self_, lease_));
  txn.failure.push_back(get(keys_.leader));
  const auto result = co_await etcd_->txn(std::move(txn));
  if (!result) co_return;
  if (!result.value->succeeded) {
    const auto& ranges = result.value->ranges;
    if (!ranges.empty() && !ranges[0].kvs.empty()) leader_ = ranges[0].kvs[0].value;
    co_return;
  }
  leader_ = self_;
  leadership_ = result.value->revision;  // the leader key's create_revision: our fencing token
  merge_.start_from(replicas_);
  log_.info("fleet: {} leads the rollout", self_);
  co_await seed_state();
}

// The first leader of a cluster stores its state, so that there is one to compare against.
asio::awaitable<void> Fleet::seed_state() {
  if (state_revision_ != 0) co_return;
  etcd::Txn txn;
  txn.compare.push_back(compare(keys_.state, etcd::Compare::Target::create, 0));
  txn.success.push_back(put(keys_.state, json::serialize(state_to_json(controller_.state()))));
  const auto result = co_await etcd_->txn(std::move(txn));
  if (result && result.value->succeeded) state_revision_ = result.value->revision;
}

// --- the watch: every replica applies what is stored ---

asio::awaitable<void> Fleet::watch_loop() {
  while (!stopped_) {
    const auto range = co_await etcd_->range(keys_.prefix, etcd::prefix_end(keys_.prefix));
    if (!range) {
      set_connected(false);
      co_await sleep(kRetryAfter);
      continue;
    }
    set_connected(true);
    replicas_.clear();
    const bool had_leader = leader_.has_value();
    leader_.reset();
    for (const auto& kv : range.value->kvs) apply(kv, false);
    if (had_leader && !leader_ && leadership_) lose_lease("the leader key is gone");
    if (!leader_) co_await campaign();
    const auto ended =
        co_await etcd_->watch(keys_.prefix, etcd::prefix_end(keys_.prefix),
                              range.value->revision + 1, [this](const etcd::WatchBatch& batch) {
                                for (const auto& event : batch.events) {
                                  apply(event.kv, event.type == etcd::WatchEvent::Type::del);
                                }
                                if (!leader_) asio::co_spawn(io_, campaign(), asio::detached);
                              });
    if (stopped_) break;
    if (ended.kind != etcd::Error::Kind::compacted) {
      log_.warn("fleet: watch ended ({}); reading again", ended.message);
      co_await sleep(kRetryAfter);
    }
  }
}

void Fleet::apply(const etcd::KeyValue& kv, bool deleted) {
  if (kv.key == keys_.leader) {
    const bool was_leading = leading();
    if (deleted) {
      leader_.reset();
    } else {
      leader_ = kv.value;
    }
    if (leader_ != self_) leadership_ = 0;  // deposed: our writes are fenced out from now on
    if (was_leading && !leading()) {
      log_.warn("fleet: {} steps down as the leader: {}", self_,
                leader_ ? "another replica leads" : "the leader key is gone");
    }
  } else if (kv.key == keys_.state) {
    if (!deleted) apply_state(kv);
  } else if (kv.key.starts_with(keys_.replicas)) {
    const std::string id = kv.key.substr(keys_.replicas.size());
    if (deleted) {
      replicas_.erase(id);
    } else if (auto replica = replica_from_json(kv.value)) {
      replicas_[id] = std::move(*replica);
    }
  }
}

void Fleet::apply_state(const etcd::KeyValue& kv) {
  if (kv.mod_revision <= state_revision_) return;  // ours, already applied
  try {
    RolloutState state = state_from_json(json::parse(kv.value), keys_.state);
    state_revision_ = kv.mod_revision;
    controller_.adopt(std::move(state));
  } catch (const std::exception& e) {
    log_.error("fleet: the stored state cannot be read, the one in force stays: {}", e.what());
  }
}

// --- the checks ---

asio::awaitable<void> Fleet::check_loop() {
  const auto every =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.rollout.check_interval);
  while (!stopped_) {
    co_await sleep(every);
    if (stopped_ || lease_ == 0) continue;
    co_await publish_totals();
    if (connected_ && controller_.take_pending_rollback()) {
      log_.info("fleet: writing the rollback made while etcd was unreachable");
      co_await controller_.rollback();
    }
    if (unwritten_rollback_) co_await write_unwritten_rollback();
    if (leading() && !unwritten_rollback_) co_await lead_check();
  }
}

// The state it was decided on is still the stored one: the rollback is written. Else a call or
// another leader came first, and what is stored wins.
asio::awaitable<void> Fleet::write_unwritten_rollback() {
  etcd::Txn txn;
  txn.compare.push_back(state_unchanged(keys_.state, unwritten_rollback_->based_on));
  txn.success.push_back(
      put(keys_.state, json::serialize(state_to_json(unwritten_rollback_->state))));
  const auto result = co_await etcd_->txn(std::move(txn));
  if (!result) co_return;  // still out of reach
  if (result.value->succeeded) {
    state_revision_ = result.value->revision;
    log_.info("fleet: the rollback made while etcd was unreachable is written");
  } else {
    log_.warn("fleet: the state changed while etcd was unreachable; the stored one applies");
    const auto stored = co_await etcd_->range(keys_.state);
    if (!stored) co_return;  // tried again at the next check
    state_revision_ = 0;
    if (!stored.value->kvs.empty()) apply_state(stored.value->kvs.front());
  }
  unwritten_rollback_.reset();
}

asio::awaitable<void> Fleet::publish_totals() {
  ReplicaTotals mine{self_, incarnation_, config_.admin.listen.to_string(), controller_.now(),
                     judged_samples(stats_.totals())};
  replicas_[self_] = mine;  // the leader counts itself before its own watch brings this back
  const auto put_ok = co_await etcd_->put(keys_.replica(self_), replica_to_json(mine), lease_);
  set_connected(static_cast<bool>(put_ok));
}

// The leader: the fleet's new measurements, the same decision as one process, a fenced write.
asio::awaitable<void> Fleet::lead_check() {
  ColorSamples fresh = merge_.take(replicas_);
  if (!controller_.state().judging()) co_return;
  const bool was_held = controller_.state().held;
  Decision d = controller_.decide(fresh, fleet_now(controller_.now(), replicas_));
  etcd::Txn txn;
  txn.compare.push_back(compare(keys_.leader, etcd::Compare::Target::create, leadership_));
  txn.compare.push_back(state_unchanged(keys_.state, state_revision_));
  txn.success.push_back(put(keys_.state, json::serialize(state_to_json(d.state))));
  const auto result = co_await etcd_->txn(std::move(txn));
  if (!result && d.verdict == Verdict::rollback) {
    // etcd is out of reach: a rollback applies here at once and is written when it returns.
    log_.warn("fleet: etcd unreachable; the rollback applies on this replica now");
    unwritten_rollback_ = {d.state, state_revision_};
    controller_.adopt(d.state);
    controller_.record(d, was_held);
    co_return;
  }
  if (!result || !result.value->succeeded) {
    // Unreachable, deposed, or an operator's call came first: the measurements are judged next
    // time, on the state then stored.
    merge_.give_back(fresh);
    co_return;
  }
  state_revision_ = result.value->revision;
  controller_.adopt(d.state);
  controller_.record(d, was_held);
}

// --- SharedState: operator calls on any replica ---

asio::awaitable<std::optional<SharedState::Snapshot>> Fleet::read() {
  // etcd answers nothing for a second or two while its members elect a new raft leader (after
  // one was lost): an operator's call waits that out rather than failing.
  const auto deadline = std::chrono::steady_clock::now() + kRideOut;
  auto range = co_await etcd_->range(keys_.state);
  while (!range && !stopped_ && std::chrono::steady_clock::now() < deadline) {
    co_await sleep(kRetryAfter);
    range = co_await etcd_->range(keys_.state);
  }
  if (!range) {
    set_connected(false);
    co_return std::nullopt;
  }
  if (range.value->kvs.empty()) co_return Snapshot{controller_.state(), 0};
  const auto& kv = range.value->kvs.front();
  try {
    co_return Snapshot{state_from_json(json::parse(kv.value), keys_.state), kv.mod_revision};
  } catch (const std::exception& e) {
    log_.error("fleet: the stored state cannot be read: {}", e.what());
    co_return std::nullopt;
  }
}

asio::awaitable<SharedState::Write> Fleet::write(const RolloutState& state,
                                                 std::int64_t expected_revision) {
  etcd::Txn txn;
  txn.compare.push_back(state_unchanged(keys_.state, expected_revision));
  txn.success.push_back(put(keys_.state, json::serialize(state_to_json(state))));
  const auto deadline = std::chrono::steady_clock::now() + kRideOut;
  auto result = co_await etcd_->txn(txn);
  // A retried write may have committed the first time: the compare then fails, and the caller
  // reads again and finds its own change (an operation applied twice gives the same state).
  while (!result && !stopped_ && std::chrono::steady_clock::now() < deadline) {
    co_await sleep(kRetryAfter);
    result = co_await etcd_->txn(txn);
  }
  if (!result) {
    set_connected(false);
    co_return Write::unreachable;
  }
  if (!result.value->succeeded) co_return Write::conflict;
  state_revision_ = std::max(state_revision_, result.value->revision);
  co_return Write::done;
}

// --- what operators see ---

json::value Fleet::status() const {
  json::array replicas;
  for (const auto& [id, r] : replicas_) {
    replicas.push_back(json::object{{"id", id}, {"admin", r.admin}, {"at", format_time(r.at)}});
  }
  return json::object{{"self", self_},
                      {"leader", leader_ ? json::value(*leader_) : json::value(nullptr)},
                      {"connected", connected_},
                      {"replicas", std::move(replicas)}};
}

FleetGauges Fleet::gauges() const {
  return FleetGauges{leading(), replicas_.size(), connected_};
}

}  // namespace bgp
