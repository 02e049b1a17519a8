#include "fleet/fleet_math.h"

#include <algorithm>
#include <utility>

#include <boost/json.hpp>

#include "controller/state_store.h"

namespace bgp {

namespace json = boost::json;

std::string replica_to_json(const ReplicaTotals& r) {
  return json::serialize(json::object{{"id", r.id},
                                      {"incarnation", r.incarnation},
                                      {"admin", r.admin},
                                      {"at", format_time(r.at)},
                                      {"totals", samples_to_json(r.totals)}});
}

std::optional<ReplicaTotals> replica_from_json(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::object& o = v.as_object();
  const auto string_of = [&](std::string_view key) -> std::optional<std::string> {
    const auto* s = o.if_contains(key);
    return s && s->is_string() ? std::optional<std::string>(s->as_string()) : std::nullopt;
  };
  const auto id = string_of("id"), incarnation = string_of("incarnation");
  const auto at = string_of("at");
  const auto* totals = o.if_contains("totals");
  if (!id || !incarnation || !at || !totals) return std::nullopt;
  const auto when = parse_time(*at);
  if (!when) return std::nullopt;
  try {
    return ReplicaTotals{*id, *incarnation, string_of("admin").value_or(""), *when,
                         samples_from_json(*totals, "replica " + *id)};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Sample difference(const Sample& after, const Sample& before) {
  Sample d = after;
  d.requests -= std::min(before.requests, after.requests);
  d.errors -= std::min(before.errors, after.errors);
  d.latency -= before.latency;
  return d;
}

void FleetMerge::start_from(const Replicas& replicas) {
  judged_.clear();
  unjudged_ = {};
  for (const auto& [id, r] : replicas) judged_[id] = {r.incarnation, r.totals};
}

ColorSamples FleetMerge::take(const Replicas& replicas) {
  ColorSamples fresh = std::exchange(unjudged_, {});
  for (const auto& [id, r] : replicas) {
    Judged& judged = judged_[id];  // kept when a replica's key lapses: it may come back as it was
    const bool same = judged.incarnation == r.incarnation;
    for (Color c : kColors) {
      fresh.of(c) += same ? difference(r.totals.of(c), judged.totals.of(c)) : r.totals.of(c);
    }
    judged = {r.incarnation, r.totals};
  }
  return fresh;
}

TimePoint fleet_now(TimePoint now, const Replicas& replicas) {
  TimePoint oldest = now;
  for (const auto& [id, r] : replicas) oldest = std::min(oldest, r.at);
  return oldest;
}

}  // namespace bgp
