// A hostile HTTP/2 client against a running bgproxy (docs/http2.md, "What the HTTP/2 front
// refuses"): tests/integration/h2_attack.py builds the frames by hand with python3-h2's hpack and
// reports what came back as JSON. Each test asserts what a user or an operator would notice: the
// attacker's connection ends (GOAWAY) or its stream is reset, nothing that must not reaches the
// backend, the backend never holds more than 100 requests of one connection, and the proxy keeps
// serving everybody else.
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "integration/harness.h"
#include "support/test_certs.h"

namespace bgt {
namespace {

namespace json = boost::json;
using bgp::testing::make_certificate;

constexpr const char* kPython = "/usr/bin/python3";
const std::string kAttack = std::string(BGPROXY_SOURCE_DIR) + "/tests/integration/h2_attack.py";

// HTTP/2 error codes (RFC 9113 section 7).
constexpr std::int64_t kProtocolError = 0x1;
constexpr std::int64_t kRefusedStream = 0x7;
constexpr std::int64_t kEnhanceYourCalm = 0xb;

constexpr std::uint64_t kMaxStreams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS

std::int64_t int_at(const json::value& report, std::string_view key) {
  const auto* object = report.if_object();
  if (object == nullptr) return -1;
  const auto* value = object->if_contains(key);
  return value != nullptr && value->is_int64() ? value->as_int64() : -1;
}

bool bool_at(const json::value& report, std::string_view key) {
  const auto* object = report.if_object();
  if (object == nullptr) return false;
  const auto* value = object->if_contains(key);
  return value != nullptr && value->is_bool() && value->as_bool();
}

// How many streams of `report` got `code` in a RST_STREAM ("resets") or a final status
// ("statuses").
int count_of(const json::value& report, std::string_view key, std::int64_t code) {
  int n = 0;
  if (const auto* object = report.if_object()) {
    if (const auto* map = object->if_contains(key); map != nullptr && map->is_object()) {
      for (const auto& [stream, value] : map->as_object()) n += value.as_int64() == code;
    }
  }
  return n;
}

class Http2AttackTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};

  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kAttack)) << kAttack;
    ASSERT_EQ(run_process({kPython, "-c", "import hpack, h2"}).exit_code, 0)
        << "these tests need python3-h2 (Debian) for /usr/bin/python3";
  }

  std::string config(std::string timeouts = "drain: 2s") {
    return make_config({.blue = {blue.address()},
                        .green = {green.address()},
                        .timeouts = std::move(timeouts),
                        .top = "protocols: [http1, h2c]\n"});
  }

  // Runs one attack and returns its JSON report (null, with a test failure, when it printed
  // none).
  static json::value attack(const Bgproxy& proxy, const std::string& mode,
                            std::vector<std::string> options = {}, Ms timeout = 40s) {
    return attack_port(proxy.proxy_port(), mode, std::move(options), timeout);
  }
  static json::value attack_port(std::uint16_t port, const std::string& mode,
                                 std::vector<std::string> options = {}, Ms timeout = 40s) {
    std::vector<std::string> argv{kPython, kAttack, std::to_string(port), mode, "--timeout", "20"};
    argv.insert(argv.end(), options.begin(), options.end());
    const auto r = run_process(argv, timeout);
    EXPECT_EQ(r.exit_code, 0) << mode << ": " << r.err;
    json::value report;
    try {
      report = json::parse(r.out);
    } catch (const std::exception& error) {
      ADD_FAILURE() << mode << " printed no report: " << r.out << r.err;
    }
    return report;
  }

  static double downstream_connections(const Bgproxy& proxy) {
    return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_downstream_connections");
  }

  // The proxy lets go of the attacker and still serves another client over HTTP/2 and HTTP/1.
  static void expect_healthy(const Bgproxy& proxy) {
    EXPECT_TRUE(wait_until([&] { return downstream_connections(proxy) == 0; }, 10s))
        << "the attacker's connection is still open in the proxy";
    EXPECT_EQ(proxy.admin("GET", "/healthz").status, 200u);
    const auto curl =
        run_process({"/usr/bin/curl", "-s", "--http2-prior-knowledge", "--max-time", "10", "-o",
                     "/dev/null", "-w", "%{http_code} %{http_version}",
                     fmt::format("http://127.0.0.1:{}/after-attack", proxy.proxy_port())},
                    20s);
    EXPECT_EQ(curl.out, "200 2") << curl.err;
    EXPECT_EQ(http_request(proxy.proxy_port(), "GET", "/after-attack").status, 200u);
  }

  // Requests the backends received whose target starts with `prefix`.
  std::size_t received_under(std::string_view prefix) const {
    std::size_t n = 0;
    for (const TestBackend* backend : {&blue, &green}) {
      for (const auto& request : backend->received()) n += request.target.starts_with(prefix);
    }
    return n;
  }
};

// CVE-2023-44487: HEADERS + RST_STREAM pairs as fast as one connection can send them. The reset
// bucket (1000, then 33 a second) runs out and the connection ends with ENHANCE_YOUR_CALM; a
// reset stream counts against the 100 until its upstream work stopped, so the backend (holding
// each request 50 ms) never has more than 100 of them; other clients are served meanwhile.
TEST_F(Http2AttackTest, RapidResetEndsTheConnectionAndNeverPilesUpUpstream) {
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  blue.set_latency(50ms);
  TrafficLoop others(
      proxy.proxy_port(),
      {.connections = 2, .max_duration = 60s, .headers = {{"X-Bluegreen", "green"}}});
  ASSERT_TRUE(wait_until([&] { return others.tally().total >= 10; }, 10s));

  const auto report = attack(proxy, "rapid-reset", {"--count", "5000"});
  const Tally during = others.tally();
  EXPECT_EQ(int_at(report, "goaway"), kEnhanceYourCalm) << report;
  EXPECT_TRUE(bool_at(report, "closed")) << report;
  EXPECT_LE(blue.max_in_flight(), kMaxStreams) << "requests of one connection held at once";
  EXPECT_TRUE(wait_until([&] {
    return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_http2_connections_ended_total",
                      {R"(side="client")", R"(reason="rapid_reset")"}) == 1;
  })) << "why the connection ended is counted\n"
      << proxy.admin("GET", "/metrics").body;
  // A stream reset before its request went upstream sends nothing: only the few whose RST_STREAM
  // came in a later read than their HEADERS may reach the backend (about 100 did before the
  // proxy checked, each holding one of the connection's 100 slots for nobody).
  EXPECT_LT(blue.requests(), 50u);
  // Nor do the endpoint's numbers count the streams reset before they went upstream (once the
  // metrics show the flood's streams recorded: the reset bucket lets about 1000 through).
  const double recorded = wait_metric(proxy, "bgproxy_requests_total", {R"(color="blue")"}, 900);
  EXPECT_GE(recorded, 900);
  RecordProperty("blue_recorded", static_cast<int>(recorded));
  const double endpoint_requests =
      metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_endpoint_requests_total",
                 {fmt::format(R"(endpoint="{}")", blue.address())});
  EXPECT_LT(endpoint_requests, 100) << "of 5000 streams";
  RecordProperty("blue_endpoint_requests", static_cast<int>(endpoint_requests));

  // Other clients got their answers during the attack, and after it.
  ASSERT_TRUE(wait_until([&] { return others.tally().total >= during.total + 10; }, 10s));
  others.stop();
  const Tally tally = others.tally();
  EXPECT_EQ(tally.status(200), tally.total) << tally.to_string();
  expect_healthy(proxy);
  RecordProperty("blue_requests", static_cast<int>(blue.requests()));
  RecordProperty("blue_max_in_flight", static_cast<int>(blue.max_in_flight()));
}

// The split variant: each batch's 100 HEADERS written before their RST_STREAMs, so that the
// requests are complete when read. The proxy reads what the client has already sent before it
// starts the streams a read brought, so the resets waiting in the socket come first and those
// requests go nowhere: no connect, nothing at the backend. The connection serves on.
TEST_F(Http2AttackTest, SplitRapidResetStreamsResetInBytesAlreadySentNeverGoUpstream) {
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  blue.set_latency(50ms);
  const auto report = attack(proxy, "rapid-reset-split", {"--count", "5"});
  ASSERT_TRUE(report.is_object()) << report;
  const std::string last = std::to_string(int_at(report, "last"));
  EXPECT_EQ(int_at(report.as_object().at("statuses"), last), 200)
      << "the request after them: " << report;
  EXPECT_EQ(int_at(report, "goaway"), -1) << "the connection stays up: " << report;
  // Only when the kernel handed over a batch in pieces may a turn's starts (16) go first.
  EXPECT_LE(received_under("/reset/"), 16u) << "of 500 requests whose resets were sent";
  RecordProperty("split_requests_upstream", static_cast<int>(received_under("/reset/")));
  expect_healthy(proxy);
}

// A stream reset before it started never reached its color, even one that has no healthy endpoint
// (docs/judge.md, "What counts"): it is counted as abandoned, not as the color's 503, so a flood
// of resets cannot pile errors on a color.
TEST_F(Http2AttackTest, StreamsResetBeforeTheyStartAreAbandonedEvenWithNoHealthyEndpoint) {
  const std::uint16_t closed = free_port();  // nothing listens: blue's only endpoint is down
  Bgproxy proxy(make_config({.blue = {fmt::format("127.0.0.1:{}", closed)},
                             .green = {green.address()},
                             .backends = fast_health_check(1),
                             .top = "protocols: [http1, h2c]\n"}));
  ASSERT_TRUE(proxy.start());
  const std::vector<std::string> blue_errors{R"(color="blue")", R"(code="5xx")"};
  int probes = 0;  // 502 until the health check found the endpoint down, then 503
  ASSERT_TRUE(wait_until([&] {
    ++probes;
    return http_request(proxy.proxy_port(), "GET", "/").status == 503;
  })) << "blue's endpoint found down";
  ASSERT_EQ(wait_metric(proxy, "bgproxy_requests_total", blue_errors, probes), probes);

  const auto report = attack(proxy, "reset-before-start", {"--count", "20"});
  ASSERT_TRUE(report.is_object()) << report;
  const std::string last = std::to_string(int_at(report, "last"));
  EXPECT_EQ(int_at(report.as_object().at("statuses"), last), 503) << report;
  EXPECT_EQ(wait_metric(proxy, "bgproxy_requests_total", blue_errors, probes + 1), probes + 1)
      << "only the request after the resets got its 503";
  EXPECT_EQ(wait_metric(proxy, "bgproxy_requests_total",
                        {R"(color="blue")", R"(route="abandoned")"}, 20, 2s),
            20)
      << proxy.admin("GET", "/metrics").body;
}

// Over TLS, bytes read ahead may be the start of a record the client has not sent whole: a
// request that came whole before it starts all the same (the read that would wait for the rest
// is not made while streams wait to start).
TEST_F(Http2AttackTest, ARequestBeforeAPartialTlsRecordIsAnswered) {
  const std::uint16_t tls_port = free_port();
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .top = fmt::format("protocols: [http1, h2c]\ntls:\n"
                                                "  listen: 127.0.0.1:{}\n"
                                                "  cert: $DIR/server.crt\n  key: $DIR/server.key\n"
                                                "  alpn: [h2, http/1.1]\n",
                                                tls_port)}));
  const auto certificate = make_certificate("proxy.test");
  std::ofstream(proxy.dir() + "/server.crt") << certificate.cert_pem;
  std::ofstream(proxy.dir() + "/server.key") << certificate.key_pem;
  ASSERT_TRUE(proxy.start());
  const auto report = attack_port(tls_port, "partial-record", {"--tls", "--timeout", "5"});
  ASSERT_TRUE(report.is_object()) << report;
  EXPECT_EQ(int_at(report.as_object().at("statuses"), "1"), 200) << report;
  EXPECT_EQ(blue.requests(), 1u);
}

// Streams reset before they went upstream never reached a color (docs/judge.md, "What counts"):
// Rapid Reset floods during a rollout are counted as abandoned, never judged, so they cannot
// dilute a failing candidate's errors; it is rolled back on what it answered.
TEST_F(Http2AttackTest, RapidResetFloodsCannotSaveAFailingCandidate) {
  blue.set_latency(20ms);
  green.set_latency(20ms);  // resets arrive before answers
  green.set_error_rate(0.1);
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "steps: [50, 100]\nstep_duration: 30s\n"
                                        "check_interval: 100ms\nmin_requests: 20\n",
                             .top = "protocols: [http1, h2c]\n"}));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);
  for (int flood = 0; flood < 3; ++flood) attack(proxy, "rapid-reset", {"--count", "3000"});
  ASSERT_GE(wait_metric(proxy, "bgproxy_requests_total",
                        {R"(color="green")", R"(route="abandoned")"}, 500),
            500)
      << proxy.admin("GET", "/metrics").body;

  TrafficLoop real(proxy.proxy_port(), {.connections = 2, .max_duration = 40s});
  const auto s = wait_status(
      proxy, [](const json::value& v) { return !in_state(v, "progressing"); }, 30s);
  real.stop();
  EXPECT_TRUE(in_state(s, "rolled_back")) << json::serialize(s);
  EXPECT_EQ(rollback_reason(s), "error_rate") << json::serialize(s);
  // What the judge counted for green is what green answered, not the floods.
  const std::string detail = string_at(s.as_object().at("last_rollback"), "detail");
  std::smatch judged;  // "error_rate: green 9.5% (19/200) > 2%": errors/requests judged
  ASSERT_TRUE(
      std::regex_search(detail, judged, std::regex(R"(error_rate: green \S+ \((\d+)/(\d+)\))")))
      << detail;
  EXPECT_LE(std::stoul(judged[2].str()), green.requests()) << detail;
}

// HTTP/2-to-HTTP/1 smuggling: each request on its own stream of one connection. nghttp2's checks
// reset the stream (PROTOCOL_ERROR) before the proxy sees it; Host against :authority is the
// proxy's own 400. None of them reaches the backend, and the connection goes on serving.
TEST_F(Http2AttackTest, SmugglingAttemptsAreRefusedStreamByStreamAndNeverReachTheBackend) {
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  blue.set_echo(true);
  const auto report = attack(proxy, "malformed");
  ASSERT_TRUE(report.is_object()) << report;
  EXPECT_EQ(int_at(report, "goaway"), -1) << "the connection stays up: " << report;
  EXPECT_EQ(int_at(report, "after"), 200) << "a well-formed request after them: " << report;

  const std::set<std::string> four_hundred{"host-mismatch"};
  for (const auto& entry : report.as_object().at("cases").as_array()) {
    const std::string name(entry.at("name").as_string());
    SCOPED_TRACE(name);
    if (four_hundred.contains(name)) {
      EXPECT_EQ(int_at(entry, "status"), 400) << entry;
    } else {
      EXPECT_EQ(int_at(entry, "reset"), kProtocolError) << entry;
      EXPECT_EQ(int_at(entry, "status"), -1) << "no response head, only the reset: " << entry;
    }
  }

  // Only the well-formed request went upstream; no header line was injected anywhere.
  std::string targets;
  for (const TestBackend* backend : {&blue, &green}) {
    for (const auto& request : backend->received()) targets += request.target + " ";
  }
  EXPECT_EQ(targets, "/after ");
  EXPECT_EQ(blue.received().empty() ? "" : blue.received().front().header("x-injected"), "");
  // The content-length disagreements: the short and long bodies (within the 100 ms / 16 KiB
  // hold) never reach the upstream at all. The one whose first 40000 bytes were written upstream
  // before its end fell short: the backend got a partial request on a connection the proxy then
  // closed (never reused for another request).
  const auto& cases = report.as_object().at("cases").as_array();
  const auto& late = cases.back();
  ASSERT_EQ(late.at("name").as_string(), "content-length-late");
  EXPECT_TRUE(bool_at(late, "went_upstream")) << late;
  EXPECT_EQ(blue.incomplete_requests() + green.incomplete_requests(), 1u)
      << "only content-length-late went upstream, and its connection was closed";
  expect_healthy(proxy);
}

// CVE-2024-28182: a HEADERS frame without END_HEADERS and CONTINUATION frames without end.
TEST_F(Http2AttackTest, AContinuationFloodEndsTheConnection) {
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  const auto report = attack(proxy, "continuation-flood", {"--count", "10000"});
  EXPECT_EQ(int_at(report, "goaway"), kEnhanceYourCalm) << report;
  EXPECT_TRUE(bool_at(report, "closed")) << report;
  EXPECT_EQ(received_under("/continuation"), 0u);
  expect_healthy(proxy);
}

// One 4000-byte table entry named 2000 times by one byte each: 8 MB of fields from 2 KB.
TEST_F(Http2AttackTest, AnHpackBombEndsTheConnection) {
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  const auto report = attack(proxy, "hpack-bomb", {"--count", "2000"});
  EXPECT_EQ(int_at(report, "goaway"), kEnhanceYourCalm) << report;
  EXPECT_TRUE(bool_at(report, "closed")) << report;
  EXPECT_EQ(received_under("/bomb"), 0u);
  expect_healthy(proxy);
}

// SETTINGS and PING floods from a client that never reads: the ACKs pile up, the connection ends,
// and the proxy lets go of it although the client still does not read: what it still had to
// write holds the connection no longer than timeouts.client_idle (2 s here).
TEST_F(Http2AttackTest, SettingsAndPingFloodsFromAClientThatDoesNotReadEndTheConnection) {
  Bgproxy proxy(config("drain: 2s\nclient_idle: 2s"));
  ASSERT_TRUE(proxy.start());
  for (const std::string mode : {"settings-flood", "ping-flood"}) {
    SCOPED_TRACE(mode);
    TempDir dir;
    const std::string go = dir.path() + "/read-now";
    const std::string sent = dir.path() + "/sent";
    std::optional<json::value> report;
    std::thread client([&] {
      report = attack(proxy, mode, {"--count", "400000", "--hold-until", go, "--ready-file", sent});
    });
    // Once the flood is out (or its sending blocked), while the attacker holds its socket without
    // reading, the proxy closes its side.
    EXPECT_TRUE(wait_until([&] { return std::filesystem::exists(sent); }, 15s));
    EXPECT_TRUE(wait_until([&] { return downstream_connections(proxy) == 0; }, 15s))
        << "the proxy still holds the connection of a client that does not read";
    dir.write("read-now", "");
    client.join();
    ASSERT_TRUE(report.has_value());
    EXPECT_TRUE(bool_at(*report, "closed")) << *report;
    // What it reads at the end is the ACKs, then the GOAWAY, unless the close lost them.
    const auto goaway = int_at(*report, "goaway");
    EXPECT_TRUE(goaway == kEnhanceYourCalm || goaway == -1) << *report;
    expect_healthy(proxy);
  }
}

// CVE-2019-9518: empty DATA frames on an open stream, each moving nothing.
TEST_F(Http2AttackTest, EmptyDataFramesEndTheConnection) {
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  const auto report = attack(proxy, "empty-data", {"--count", "5000"});
  EXPECT_EQ(int_at(report, "goaway"), kEnhanceYourCalm) << report;
  EXPECT_TRUE(bool_at(report, "closed")) << report;
  EXPECT_EQ(received_under("/empty-data"), 0u) << "its body never ended: no complete request";
  expect_healthy(proxy);
}

// 150 streams at once from a client that has not acknowledged our SETTINGS yet: 100 are served,
// the others refused (REFUSED_STREAM, the client may retry them), and the backend (holding each
// request 300 ms) never has more than 100 of them.
TEST_F(Http2AttackTest, StreamsOverTheLimitAreRefusedBeforeTheSettingsAck) {
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  blue.set_latency(300ms);
  const auto report = attack(proxy, "many-streams", {"--count", "150"});
  EXPECT_EQ(int_at(report, "goaway"), -1) << report;
  EXPECT_EQ(count_of(report, "statuses", 200), 100) << report;
  EXPECT_EQ(count_of(report, "resets", kRefusedStream), 50) << report;
  EXPECT_LE(blue.max_in_flight(), kMaxStreams);
  EXPECT_EQ(blue.requests(), 100u);
  expect_healthy(proxy);
}

// After the client acknowledged SETTINGS_MAX_CONCURRENT_STREAMS = 100, a 101st stream is a
// connection error (RFC 9113 section 5.1.2): GOAWAY PROTOCOL_ERROR.
TEST_F(Http2AttackTest, StreamsOverTheAcknowledgedLimitEndTheConnection) {
  Bgproxy proxy(config());
  ASSERT_TRUE(proxy.start());
  blue.set_latency(300ms);
  const auto report = attack(proxy, "many-streams", {"--count", "150", "--ack"});
  EXPECT_EQ(int_at(report, "goaway"), kProtocolError) << report;
  EXPECT_TRUE(bool_at(report, "closed")) << report;
  EXPECT_LE(blue.max_in_flight(), kMaxStreams);
  expect_healthy(proxy);
}

}  // namespace
}  // namespace bgt
