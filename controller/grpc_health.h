// The gRPC health protocol (grpc.health.v1) as the active health check speaks it with
// `backends.health_check.type: grpc` (docs/http2.md, "gRPC health checks"): one unary
// Health/Check call on a fresh HTTP/2 connection. Sans I/O: the prober moves the bytes
// (controller/health_probe.cpp); the messages and the verdict are pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/grpc_message.h"
#include "proxy/header_field.h"
#include "proxy/http2/client_session.h"

namespace bgp::grpc_health {

inline constexpr std::string_view kCheckPath = "/grpc.health.v1.Health/Check";

std::string name(ServingStatus status);  // "NOT_SERVING", or "serving status 7"

// What came back for the call.
struct Answer {
  unsigned http_status = 0;
  std::vector<HeaderField> head;  // the response head's regular fields
  std::string body;
  std::vector<HeaderField> trailers;
  bool trailers_only = false;  // the head ended the stream: grpc-status is in it
};

struct Verdict {
  bool serving = false;
  std::string reason;  // why not, for the debug log; "" when serving
};

// Serving only with HTTP 200, grpc-status 0 and a HealthCheckResponse saying SERVING.
Verdict judge(const Answer& answer);
// The HTTP check (health_check.path) over HTTP/2: serving with a 2xx or 3xx status, as over
// HTTP/1.1.
Verdict judge_http(const Answer& answer);

// What Call asks for instead of Health/Check: `GET path` (an HTTP/2 endpoint's HTTP check).
struct HttpGet {
  std::string_view path;
};

// One Health/Check call over the project's HTTP/2 codec: the request is queued at construction;
// the owner writes take_output(), feeds what it reads to receive(), and stops once done() (the
// verdict is known, or the connection ended without one).
class Call final : private http2::ClientEvents {
 public:
  // Larger response bodies fail the check: a HealthCheckResponse takes a few bytes.
  static constexpr std::size_t kMaxBody = 16 * 1024;

  Call(std::string_view scheme, std::string_view authority, std::string_view service);
  Call(std::string_view scheme, std::string_view authority, HttpGet get);
  Call(const Call&) = delete;  // the session calls back into this object
  Call& operator=(const Call&) = delete;

  void take_output(std::string& out);
  void receive(std::string_view bytes);
  bool done() const noexcept { return verdict_.has_value(); }
  const Verdict& verdict() const { return *verdict_; }  // once done()

 private:
  void on_response(std::int32_t stream, http2::ResponseHead head) override;
  void on_data(std::int32_t stream, std::string_view bytes) override;
  void on_response_end(std::int32_t stream, std::vector<HeaderField> trailers) override;
  void on_stream_close(std::int32_t stream, std::uint32_t error_code) override;
  void fail(std::string reason);
  void fail_if_connection_ended();

  http2::ClientSession session_;
  std::int32_t stream_ = 0;
  Verdict (*judge_)(const Answer&) = judge;
  Answer answer_;
  std::optional<Verdict> verdict_;
};

}  // namespace bgp::grpc_health
