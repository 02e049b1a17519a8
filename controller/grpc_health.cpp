#include "controller/grpc_health.h"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

#include "config/grpc_status.h"
#include "controller/grpc_message.h"

namespace bgp::grpc_health {

namespace {

const std::string* find_field(const std::vector<HeaderField>& fields, std::string_view name) {
  const auto it = std::find_if(fields.begin(), fields.end(),
                               [&](const HeaderField& field) { return field.name == name; });
  return it == fields.end() ? nullptr : &it->value;
}

// "grpc-status 12 (UNIMPLEMENTED)", with the server's grpc-message when it sent one.
std::string describe_grpc_error(const std::string& status, const std::string* message) {
  unsigned code = 0;
  const auto [end, ec] = std::from_chars(status.data(), status.data() + status.size(), code);
  const bool known = ec == std::errc{} && end == status.data() + status.size() && code < kGrpcCodes;
  std::string out = fmt::format("grpc-status {}", status);
  if (known) out += fmt::format(" ({})", kGrpcCodeNames[code]);
  if (message != nullptr && !message->empty()) out += fmt::format(": {}", *message);
  return out;
}

std::string_view describe(http2::ClientSession::Ending ending) {
  using Ending = http2::ClientSession::Ending;
  switch (ending) {
    case Ending::none:
      return "closed";
    case Ending::protocol_error:
      return "a protocol error";
    case Ending::flow_control:
      return "a flow-control error";
    case Ending::goaway:
      return "the server's GOAWAY";
    case Ending::flood:
      return "a flood of frames";
    case Ending::rapid_reset:  // a server's codec only
    case Ending::header_flood:
      break;
  }
  return "unknown";
}

}  // namespace

std::string name(ServingStatus status) {
  switch (status) {
    case ServingStatus::unknown:
      return "UNKNOWN";
    case ServingStatus::serving:
      return "SERVING";
    case ServingStatus::not_serving:
      return "NOT_SERVING";
    case ServingStatus::service_unknown:
      return "SERVICE_UNKNOWN";
  }
  return fmt::format("serving status {}", static_cast<std::uint64_t>(status));
}

Verdict judge(const Answer& answer) {
  if (answer.http_status != 200) {
    return {false, fmt::format("HTTP status {}", answer.http_status)};
  }
  const auto& status_fields = answer.trailers_only ? answer.head : answer.trailers;
  const std::string* grpc_status = find_field(status_fields, "grpc-status");
  if (grpc_status == nullptr) return {false, "no grpc-status"};
  if (*grpc_status != "0") {
    return {false, describe_grpc_error(*grpc_status, find_field(status_fields, "grpc-message"))};
  }
  const auto serving = decode_check_response(answer.body);
  if (!serving) return {false, "the response is not one HealthCheckResponse"};
  if (*serving != ServingStatus::serving) return {false, name(*serving)};
  return {true, ""};
}

Verdict judge_http(const Answer& answer) {
  if (answer.http_status >= 200 && answer.http_status < 400) return {true, ""};
  return {false, fmt::format("HTTP status {}", answer.http_status)};
}

// --- Call ------------------------------------------------------------------------------------

Call::Call(std::string_view scheme, std::string_view authority, std::string_view service)
    : session_(*this, http2::ClientLimits{}) {
  const std::array<HeaderField, 3> fields{
      {{"content-type", "application/grpc"}, {"te", "trailers"}, {"user-agent", "bgproxy-health"}}};
  stream_ = session_.submit_request("POST", scheme, authority, kCheckPath, fields, false);
  if (stream_ == 0) {
    fail("the request could not be submitted");
    return;
  }
  session_.submit_data(stream_, encode_check_request(service));
  session_.submit_end(stream_, {});
}

Call::Call(std::string_view scheme, std::string_view authority, HttpGet get)
    : session_(*this, http2::ClientLimits{}), judge_(judge_http) {
  const std::array<HeaderField, 1> fields{{{"user-agent", "bgproxy-health"}}};
  stream_ = session_.submit_request("GET", scheme, authority, get.path, fields, true);
  if (stream_ == 0) fail("the request could not be submitted");
}

void Call::take_output(std::string& out) {
  session_.take_output(out);
  // A violation the codec found in what it received ends the connection only here.
  fail_if_connection_ended();
}

void Call::receive(std::string_view bytes) {
  if (done()) return;
  session_.receive(bytes);
  fail_if_connection_ended();
}

void Call::fail_if_connection_ended() {
  if (done() || session_.wants_read()) return;
  fail(fmt::format("the HTTP/2 connection ended ({})", describe(session_.ending())));
}

void Call::on_response(std::int32_t, http2::ResponseHead head) {
  answer_.http_status = head.status;
  answer_.head = std::move(head.fields);
  answer_.trailers_only = head.end_stream;
}

void Call::on_data(std::int32_t, std::string_view bytes) {
  if (done()) return;
  if (answer_.body.size() + bytes.size() > kMaxBody) {
    fail(fmt::format("a response body over {} bytes", kMaxBody));
    return;
  }
  answer_.body.append(bytes);
}

void Call::on_response_end(std::int32_t, std::vector<HeaderField> trailers) {
  if (done()) return;
  answer_.trailers = std::move(trailers);
  verdict_ = judge_(answer_);
}

void Call::on_stream_close(std::int32_t, std::uint32_t error_code) {
  if (!done()) fail(fmt::format("the stream was reset (HTTP/2 error code {})", error_code));
}

void Call::fail(std::string reason) {
  verdict_ = Verdict{false, std::move(reason)};
}

}  // namespace bgp::grpc_health
