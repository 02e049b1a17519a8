// Micro-benchmarks of the per-request hot path and of the controller's window read.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <boost/asio/io_context.hpp>

#include "metrics/stats.h"
#include "proxy/access_log.h"
#include "proxy/deadline_wheel.h"
#include "proxy/http1/relay_head.h"
#include "proxy/snapshot.h"
#include "proxy/split.h"

namespace {

using bgp::Color;
using bgp::Route;

bgp::Weights split_75_25() {
  bgp::Weights w;
  w.set(Color::green, 2500);
  return w;
}

void BM_PickColorRandom(benchmark::State& state) {
  const auto weights = split_75_25();
  bgp::SplitMix64 random(42);
  for (auto _ : state) {
    benchmark::DoNotOptimize(bgp::pick_color(weights, Color::blue, random.next()));
  }
}
BENCHMARK(BM_PickColorRandom);

void BM_PickColorSticky(benchmark::State& state) {
  const auto weights = split_75_25();
  std::vector<std::string> keys;
  for (int i = 0; i < 1024; ++i) keys.push_back("user-" + std::to_string(i * 7919));
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& key = keys[i++ & 1023];
    benchmark::DoNotOptimize(bgp::pick_color(weights, Color::blue, bgp::sticky_hash(key)));
  }
}
BENCHMARK(BM_PickColorSticky);

void BM_RecordRequest(benchmark::State& state) {
  bgp::StatsShard shard;
  std::minstd_rand random(7);
  std::lognormal_distribution<double> latency_us(7.0, 1.0);  // ~1 ms median
  std::vector<std::chrono::microseconds> latencies;
  for (int i = 0; i < 4096; ++i) {
    latencies.emplace_back(static_cast<long>(latency_us(random)));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    shard.record_request(Route::split, i & 1 ? Color::green : Color::blue, 200,
                         latencies[i & 4095]);
    ++i;
  }
  benchmark::ClobberMemory();
}
BENCHMARK(BM_RecordRequest);

// The per-endpoint part of a request's record (on top of BM_RecordRequest).
void BM_RecordEndpointRequest(benchmark::State& state) {
  bgp::StatsShard shard;
  std::size_t i = 0;
  for (auto _ : state) {
    shard.record_endpoint_request(static_cast<std::uint16_t>(i & 3), 200,
                                  std::chrono::microseconds{static_cast<long>(300 + (i & 4095))});
    ++i;
  }
  benchmark::ClobberMemory();
}
BENCHMARK(BM_RecordEndpointRequest);

// One access line (log.access), appended to a worker's buffer; written out a 32 KB block at a time
// (to /dev/null here, so that the disk is not measured).
void BM_AccessLine(benchmark::State& state) {
  const auto format = state.range(0) ? bgp::LogFormat::json : bgp::LogFormat::text;
  const auto sink = bgp::AccessLogFile::open("/dev/null");
  bgp::AccessLogBuffer buffer;
  bgp::AccessRecord record{.client = "10.1.2.3",
                           .method = "GET",
                           .target = "/api/v1/orders?customer=12345",
                           .status = 200,
                           .bytes = 1432,
                           .color = "green",
                           .endpoint = "10.0.0.7:8080",
                           .upstream = std::chrono::microseconds{812},
                           .total = std::chrono::microseconds{1045}};
  for (auto _ : state) {
    buffer.append(record, format, std::chrono::system_clock::now());
    if (buffer.full()) buffer.flush(*sink);
  }
}
BENCHMARK(BM_AccessLine)->Arg(0)->Arg(1);

// What the controller does every check_interval: sum the shards, take the window, read the p99.
void BM_WindowP99(benchmark::State& state) {
  const auto workers = static_cast<std::size_t>(state.range(0));
  bgp::StatsRegistry registry(workers);
  std::minstd_rand random(7);
  std::lognormal_distribution<double> latency_us(7.0, 1.0);
  for (std::size_t w = 0; w < workers; ++w) {
    for (int i = 0; i < 100000; ++i) {
      registry.shard(w).record_request(Route::split, Color::green, 200,
                                       std::chrono::microseconds(long(latency_us(random))));
    }
  }
  const bgp::StatsTotals start;
  for (auto _ : state) {
    const auto window = registry.totals().since(start);
    benchmark::DoNotOptimize(window.of(Color::green).p99_ms());
  }
}
BENCHMARK(BM_WindowP99)->Arg(1)->Arg(2)->Arg(8);

// What nginx answers to the load of bench/compare.sh.
constexpr std::string_view kNginxResponse =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 05:48:36 GMT\r\n"
    "Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n";

void BM_ParseSimpleResponse(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(bgp::parse_simple_response(kNginxResponse));
}
BENCHMARK(BM_ParseSimpleResponse);

void BM_WriteClientResponseHead(benchmark::State& state) {
  const auto response = bgp::parse_simple_response(kNginxResponse).value();
  std::string out;
  for (auto _ : state) {
    out.clear();
    bgp::write_client_response_head(kNginxResponse, response, 11, true, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_WriteClientResponseHead);

// A browser-like request head, parsed once; the upstream head written from it per iteration.
void BM_WriteUpstreamRequestHead(benchmark::State& state) {
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  boost::system::error_code ec;
  constexpr std::string_view kRequest =
      "GET /api/items?page=2 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0\r\n"
      "Accept: text/html,application/json\r\nAccept-Encoding: gzip, br\r\n"
      "Cookie: session=abc123; theme=dark\r\nConnection: keep-alive\r\n\r\n";
  parser.put(boost::asio::buffer(kRequest.data(), kRequest.size()), ec);
  bgp::UpstreamRequestOptions options;
  options.client_ip = "127.0.0.1";
  options.default_host = "127.0.0.1:9001";
  std::string out;
  for (auto _ : state) {
    out.clear();
    bgp::write_upstream_request_head(parser.get(), options, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_WriteUpstreamRequestHead);

// What a session pays per I/O operation for its deadline: one arm() on the worker's wheel.
void BM_DeadlineWheelArm(benchmark::State& state) {
  struct Entry : bgp::DeadlineWheel::Entry {
    void on_expired() noexcept override {}
  };
  boost::asio::io_context io;
  bgp::DeadlineWheel wheel(io.get_executor());
  std::vector<Entry> entries(1000);
  std::size_t i = 0;
  for (auto _ : state) {
    entries[i++ % entries.size()].arm(wheel,
                                      std::chrono::steady_clock::now() + std::chrono::seconds(30));
  }
}
BENCHMARK(BM_DeadlineWheelArm);

// The routing snapshot a request holds: a worker-local lease (no atomic reference count).
void BM_SnapshotHold(benchmark::State& state) {
  bgp::SnapshotSlot slot;
  slot.publish(std::make_shared<bgp::RoutingSnapshot>());
  bgp::SnapshotCache cache(slot);
  for (auto _ : state) {
    auto lease = cache.hold();
    benchmark::DoNotOptimize(lease->version);
  }
}
BENCHMARK(BM_SnapshotHold);

}  // namespace

BENCHMARK_MAIN();
