// The gRPC health check's pure parts: the HealthCheckRequest it sends, the HealthCheckResponse it
// reads, the verdict; and one Call against the project's HTTP/2 server codec in memory.
#include "controller/grpc_health.h"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "proxy/http2/server_session.h"

namespace bgp::grpc_health {
namespace {

using namespace std::string_literals;
using ::testing::HasSubstr;

// A gRPC message: the uncompressed prefix with `protobuf`'s length (under 256 bytes), then it.
std::string framed(std::string_view protobuf) {
  return "\0\0\0\0"s + static_cast<char>(protobuf.size()) + std::string(protobuf);
}

const std::string kServing = framed("\x08\x01");
const std::string kNotServing = framed("\x08\x02");

// --- the request ------------------------------------------------------------------------------

TEST(GrpcHealthRequest, TheWholeServerIsAnEmptyMessage) {
  EXPECT_EQ(encode_check_request(""), "\0\0\0\0\0"s);
}

TEST(GrpcHealthRequest, AServiceIsFieldOneWithItsLength) {
  EXPECT_EQ(encode_check_request("shop.Cart"), "\0\0\0\0\x0b\x0a\x09shop.Cart"s);
}

TEST(GrpcHealthRequest, ALongServiceNameTakesATwoByteLength) {
  const std::string service(200, 's');
  const std::string request = encode_check_request(service);
  EXPECT_EQ(request.substr(0, 8), "\0\0\0\0\xcb\x0a\xc8\x01"s);  // 203 = tag + 2 + 200
  EXPECT_EQ(request.substr(8), service);
}

// --- the response -----------------------------------------------------------------------------

TEST(GrpcHealthResponse, EveryServingStatusIsRead) {
  EXPECT_EQ(decode_check_response(kServing), ServingStatus::serving);
  EXPECT_EQ(decode_check_response(kNotServing), ServingStatus::not_serving);
  EXPECT_EQ(decode_check_response(framed("\x08\x03")), ServingStatus::service_unknown);
  EXPECT_EQ(decode_check_response(framed("\x08\x07")), ServingStatus{7});
  // proto3 leaves the default out: an empty message is UNKNOWN.
  EXPECT_EQ(decode_check_response(framed("")), ServingStatus::unknown);
}

TEST(GrpcHealthResponse, FieldsOfANewerSchemaArePassedOver) {
  const std::string varint = "\x10\x96\x01";
  const std::string length_delimited = "\x1a\x03"s + "abc";
  const std::string fixed32 = "\x25\x01\x02\x03\x04";
  const std::string fixed64 = "\x29" + std::string(8, 'x');
  const std::string fields = varint + length_delimited + fixed32 + fixed64 + "\x08\x01";
  EXPECT_EQ(decode_check_response(framed(fields)), ServingStatus::serving);
}

TEST(GrpcHealthResponse, TheLastStatusWins) {
  EXPECT_EQ(decode_check_response(framed("\x08\x02\x08\x01")), ServingStatus::serving);
}

TEST(GrpcHealthResponse, AnythingButOneUncompressedMessageIsRefused) {
  EXPECT_EQ(decode_check_response(""), std::nullopt);
  EXPECT_EQ(decode_check_response("\0\0\0"s), std::nullopt);
  EXPECT_EQ(decode_check_response("\x01\0\0\0\x02\x08\x01"s), std::nullopt) << "compressed";
  EXPECT_EQ(decode_check_response("\0\0\0\0\x03\x08\x01"s), std::nullopt) << "cut short";
  EXPECT_EQ(decode_check_response(kServing + kServing), std::nullopt) << "two messages";
}

TEST(GrpcHealthResponse, AMalformedProtobufIsRefused) {
  EXPECT_EQ(decode_check_response(framed("\x08")), std::nullopt) << "no value";
  EXPECT_EQ(decode_check_response(framed("\x08\x81")), std::nullopt) << "varint cut short";
  EXPECT_EQ(decode_check_response(framed("\x08" + std::string(10, '\x80') + "\x01")), std::nullopt)
      << "varint over 10 bytes";
  EXPECT_EQ(decode_check_response(framed("\x00\x01"s)), std::nullopt) << "field 0";
  EXPECT_EQ(decode_check_response(framed("\x0b\x08\x01")), std::nullopt) << "a group";
  EXPECT_EQ(decode_check_response(framed("\x12\x05"s + "ab")), std::nullopt) << "past the end";
}

// --- the verdict ------------------------------------------------------------------------------

Answer answered(std::string body, std::string grpc_status = "0") {
  return {200,
          {{"content-type", "application/grpc"}},
          std::move(body),
          {{"grpc-status", std::move(grpc_status)}},
          false};
}

Answer trailers_only(std::string grpc_status, std::string message = "") {
  Answer answer;
  answer.http_status = 200;
  answer.head = {{"content-type", "application/grpc"}, {"grpc-status", std::move(grpc_status)}};
  if (!message.empty()) answer.head.push_back({"grpc-message", std::move(message)});
  answer.trailers_only = true;
  return answer;
}

TEST(GrpcHealthVerdict, ServingWithStatusOkIsHealthy) {
  const Verdict verdict = judge(answered(kServing));
  EXPECT_TRUE(verdict.serving);
  EXPECT_EQ(verdict.reason, "");
}

TEST(GrpcHealthVerdict, EveryOtherServingStatusFailsByName) {
  EXPECT_EQ(judge(answered(kNotServing)).reason, "NOT_SERVING");
  EXPECT_EQ(judge(answered(framed(""))).reason, "UNKNOWN");
  EXPECT_EQ(judge(answered(framed("\x08\x03"))).reason, "SERVICE_UNKNOWN");
  EXPECT_EQ(judge(answered(framed("\x08\x09"))).reason, "serving status 9");
  EXPECT_FALSE(judge(answered(kNotServing)).serving);
}

TEST(GrpcHealthVerdict, AServerWithoutTheHealthServiceFails) {
  const Verdict verdict = judge(trailers_only("12", "Method not found!"));
  EXPECT_FALSE(verdict.serving);
  EXPECT_EQ(verdict.reason, "grpc-status 12 (UNIMPLEMENTED): Method not found!");
}

TEST(GrpcHealthVerdict, AnErrorStatusInTheTrailersFailsEvenAfterAServingBody) {
  EXPECT_EQ(judge(answered(kServing, "14")).reason, "grpc-status 14 (UNAVAILABLE)");
  EXPECT_EQ(judge(answered(kServing, "99")).reason, "grpc-status 99");
}

TEST(GrpcHealthVerdict, StatusOkWithoutAResponseMessageFails) {
  EXPECT_EQ(judge(trailers_only("0")).reason, "the response is not one HealthCheckResponse");
  EXPECT_FALSE(judge(answered("not protobuf")).serving);
}

TEST(GrpcHealthVerdict, AnHttpErrorOrAMissingGrpcStatusFails) {
  Answer not_found = answered(kServing);
  not_found.http_status = 404;
  EXPECT_EQ(judge(not_found).reason, "HTTP status 404");
  Answer no_status = answered(kServing);
  no_status.trailers.clear();
  EXPECT_EQ(judge(no_status).reason, "no grpc-status");
  // grpc-status belongs in the trailers unless the head ended the stream.
  Answer status_in_head = no_status;
  status_in_head.head.push_back({"grpc-status", "0"});
  EXPECT_EQ(judge(status_in_head).reason, "no grpc-status");
}

// --- one call against the project's HTTP/2 server codec ----------------------------------------

// An in-memory gRPC server: records the request, then answers it with `respond`.
class HealthServer final : public http2::ServerEvents {
 public:
  using Respond = std::function<void(http2::ServerSession&, std::int32_t stream)>;
  explicit HealthServer(Respond respond) : respond_(std::move(respond)) {}

  void on_request(std::int32_t, http2::RequestHead head) override { head_ = std::move(head); }
  void on_data(std::int32_t stream, std::string_view bytes) override {
    body_ += bytes;
    session_.consume(stream, bytes.size());
  }
  void on_request_end(std::int32_t stream, std::vector<HeaderField>) override { ended_ = stream; }
  void on_stream_close(std::int32_t, std::uint32_t) override {}

  // Bytes from the client; the response goes out once the request ended.
  std::string exchange(std::string_view from_client) {
    session_.receive(from_client);
    if (ended_ != 0) respond_(session_, std::exchange(ended_, 0));
    std::string out;
    session_.take_output(out);
    return out;
  }

  const http2::RequestHead& head() const { return head_; }
  const std::string& body() const { return body_; }

 private:
  Respond respond_;
  http2::ServerSession session_{*this, http2::ServerLimits{}};
  http2::RequestHead head_;
  std::string body_;
  std::int32_t ended_ = 0;
};

// Moves bytes both ways, `chunk` bytes at a time to the client, until the call has its verdict.
void converse(Call& call, HealthServer& server, std::size_t chunk = 1 << 20) {
  for (int round = 0; round < 10 && !call.done(); ++round) {
    std::string to_server;
    call.take_output(to_server);
    const std::string to_client = server.exchange(to_server);
    for (std::size_t at = 0; at < to_client.size() && !call.done(); at += chunk) {
      call.receive(std::string_view(to_client).substr(at, chunk));
    }
  }
}

HealthServer::Respond answer_with(std::string body, std::string grpc_status = "0") {
  return [body, grpc_status](http2::ServerSession& session, std::int32_t stream) {
    const std::vector<HeaderField> head{{"content-type", "application/grpc"}};
    const std::vector<HeaderField> trailers{{"grpc-status", grpc_status}};
    session.submit_response(stream, 200, head, false);
    session.submit_data(stream, body);
    session.submit_end(stream, trailers);
  };
}

std::string field(const http2::RequestHead& head, std::string_view name) {
  for (const auto& f : head.fields) {
    if (f.name == name) return f.value;
  }
  return "";
}

TEST(GrpcHealthCall, SendsAUnaryCheckForTheServiceAndReadsServing) {
  HealthServer server(answer_with(kServing));
  Call call("http", "10.0.0.1:50051", "shop.Cart");
  converse(call, server);
  ASSERT_TRUE(call.done());
  EXPECT_TRUE(call.verdict().serving) << call.verdict().reason;
  EXPECT_EQ(server.head().method, "POST");
  EXPECT_EQ(server.head().scheme, "http");
  EXPECT_EQ(server.head().authority, "10.0.0.1:50051");
  EXPECT_EQ(server.head().path, "/grpc.health.v1.Health/Check");
  EXPECT_EQ(field(server.head(), "content-type"), "application/grpc");
  EXPECT_EQ(field(server.head(), "te"), "trailers");
  EXPECT_EQ(server.body(), encode_check_request("shop.Cart"));
}

TEST(GrpcHealthCall, NotServingReadOneByteAtATimeFails) {
  HealthServer server(answer_with(kNotServing));
  Call call("https", "backend:443", "");
  converse(call, server, 1);
  ASSERT_TRUE(call.done());
  EXPECT_FALSE(call.verdict().serving);
  EXPECT_EQ(call.verdict().reason, "NOT_SERVING");
  EXPECT_EQ(server.head().scheme, "https");
}

TEST(GrpcHealthCall, ATrailersOnlyUnimplementedFails) {
  HealthServer server([](http2::ServerSession& session, std::int32_t stream) {
    const std::vector<HeaderField> head{{"content-type", "application/grpc"},
                                        {"grpc-status", "12"}};
    session.submit_response(stream, 200, head, true);
  });
  Call call("http", "backend:50051", "");
  converse(call, server);
  ASSERT_TRUE(call.done());
  EXPECT_EQ(call.verdict().reason, "grpc-status 12 (UNIMPLEMENTED)");
}

TEST(GrpcHealthCall, AResetStreamFails) {
  HealthServer server([](http2::ServerSession& session, std::int32_t stream) {
    session.reset(stream, 2);  // INTERNAL_ERROR
  });
  Call call("http", "backend:50051", "");
  converse(call, server);
  ASSERT_TRUE(call.done());
  EXPECT_FALSE(call.verdict().serving);
  EXPECT_THAT(call.verdict().reason, HasSubstr("reset (HTTP/2 error code 2)"));
}

TEST(GrpcHealthCall, AnOversizedBodyFailsWithoutWaitingForItsEnd) {
  HealthServer server([](http2::ServerSession& session, std::int32_t stream) {
    const std::vector<HeaderField> head{{"content-type", "application/grpc"}};
    session.submit_response(stream, 200, head, false);
    session.submit_data(stream, std::string(Call::kMaxBody + 1, 'x'));  // never ended
  });
  Call call("http", "backend:50051", "");
  converse(call, server);
  ASSERT_TRUE(call.done());
  EXPECT_THAT(call.verdict().reason, HasSubstr("a response body over"));
}

TEST(GrpcHealthCall, AnHttp1AnswerEndsTheConnectionAndFails) {
  Call call("http", "backend:80", "");
  std::string preface;
  call.take_output(preface);
  call.receive("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  std::string goaway;
  call.take_output(goaway);  // the codec's violations show after its next output
  ASSERT_TRUE(call.done());
  EXPECT_FALSE(call.verdict().serving);
  EXPECT_THAT(call.verdict().reason, HasSubstr("the HTTP/2 connection ended"));
}

}  // namespace
TEST(HttpCheckOverHttp2, PassesOn2xxAnd3xxOnly) {
  const auto answer = [](unsigned status) {
    Answer with_status;
    with_status.http_status = status;
    return with_status;
  };
  for (const unsigned status : {200u, 204u, 301u, 399u}) {
    EXPECT_TRUE(judge_http(answer(status)).serving) << status;
  }
  for (const unsigned status : {0u, 199u, 400u, 404u, 503u}) {
    const auto verdict = judge_http(answer(status));
    EXPECT_FALSE(verdict.serving) << status;
    EXPECT_EQ(verdict.reason, fmt::format("HTTP status {}", status));
  }
}

}  // namespace bgp::grpc_health
