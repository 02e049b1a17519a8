// The upstream codec (ClientSession), driven in memory: the project's own server codec
// (ServerSession) on the other side for what a server sends, hand-built frames for what it does
// not (a GOAWAY below open streams, malformed heads, floods).
#include "proxy/http2/client_session.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include "proxy/http2/server_session.h"
#include "proxy/http2_frames.h"

namespace bgp::http2 {
namespace {

using namespace bgp::testing::h2;
using Fields = std::vector<Field>;

// --- the client's side: every event, per stream, in order -------------------------------------

struct ClientLog : ClientEvents {
  struct Log {
    std::optional<ResponseHead> head;
    int heads = 0;
    std::string body;
    std::optional<Fields> end;  // on_response_end's trailers
    int ends = 0;
    std::optional<std::uint32_t> closed;
    int closes = 0;
  };
  std::map<std::int32_t, Log> streams;
  std::vector<std::string> order;  // "head 1", "data 1", "end 1", "close 1 7"; chunks in a row once
  std::function<void(std::int32_t, std::uint32_t)> on_close;  // the owner's reaction, if any

  void on_response(std::int32_t stream, ResponseHead head) override {
    order.push_back("head " + std::to_string(stream));
    ++streams[stream].heads;
    streams[stream].head = std::move(head);
  }
  void on_data(std::int32_t stream, std::string_view bytes) override {
    const std::string entry = "data " + std::to_string(stream);
    if (order.empty() || order.back() != entry) order.push_back(entry);  // chunks count as one
    streams[stream].body += bytes;
  }
  void on_response_end(std::int32_t stream, Fields trailers) override {
    order.push_back("end " + std::to_string(stream));
    ++streams[stream].ends;
    streams[stream].end = std::move(trailers);
  }
  void on_stream_close(std::int32_t stream, std::uint32_t error_code) override {
    order.push_back("close " + std::to_string(stream) + " " + std::to_string(error_code));
    ++streams[stream].closes;
    streams[stream].closed = error_code;
    if (on_close) on_close(stream, error_code);
  }
};

// --- the server's side: the front's codec, answered by hand ------------------------------------

struct ServerLog : ServerEvents {
  struct Log {
    RequestHead head;
    std::string body;
    std::size_t consumed = 0;
    std::optional<Fields> end;
    std::optional<std::uint32_t> closed;
  };
  std::map<std::int32_t, Log> streams;

  void on_request(std::int32_t stream, RequestHead head) override {
    streams[stream].head = std::move(head);
  }
  void on_data(std::int32_t stream, std::string_view bytes) override {
    streams[stream].body += bytes;
  }
  void on_request_end(std::int32_t stream, Fields trailers) override {
    streams[stream].end = std::move(trailers);
  }
  void on_stream_close(std::int32_t stream, std::uint32_t error_code) override {
    streams[stream].closed = error_code;
  }
};

// The two codecs, with the bytes between them carried until neither has more to say.
struct Connection {
  explicit Connection(ClientLimits client_limits = {}, ServerLimits server_limits = {})
      : client(client_events, client_limits), server(server_events, server_limits) {}

  // piece: the size of the pieces each side is handed (any split must do).
  void pump(std::size_t piece = SIZE_MAX) {
    for (int round = 0; round < 1000; ++round) {
      std::string to_server;
      client.take_output(to_server);
      for (std::string_view rest = to_server; !rest.empty();) {
        const auto n = std::min(piece, rest.size());
        server_open = server.receive(rest.substr(0, n)) && server_open;
        rest.remove_prefix(n);
      }
      std::string to_client;
      server.take_output(to_client);
      for (std::string_view rest = to_client; !rest.empty();) {
        const auto n = std::min(piece, rest.size());
        client_open = client.receive(rest.substr(0, n)) && client_open;
        rest.remove_prefix(n);
      }
      if (to_server.empty() && to_client.empty()) return;
    }
    FAIL() << "the two sides kept talking";
  }

  // The server's owner forwards what arrived and gives the window back, as the proxy does.
  void server_consumes(std::int32_t stream) {
    auto& log = server_events.streams[stream];
    server.consume(stream, log.body.size() - log.consumed);
    log.consumed = log.body.size();
  }

  std::int32_t get(std::string_view path = "/", Fields fields = {}) {
    return client.submit_request("GET", "http", "backend.test", path, fields, true);
  }
  std::int32_t post(std::string_view path = "/upload", Fields fields = {}) {
    return client.submit_request("POST", "http", "backend.test", path, fields, false);
  }

  ClientLog client_events;
  ServerLog server_events;
  ClientSession client;
  ServerSession server;
  bool client_open = true;
  bool server_open = true;
};

// A client fed hand-built server bytes; what it sends is read back as frames.
struct RawUpstream {
  explicit RawUpstream(ClientLimits limits = {}) : client(events, limits) {
    std::string opening;
    client.take_output(opening);
    EXPECT_EQ(opening.substr(0, kPreface.size()), kPreface);
  }
  bool send(std::string_view bytes) { return client.receive(bytes); }
  std::vector<Frame> output() {
    std::string out;
    client.take_output(out);
    return frames_of(out);
  }
  std::int32_t get() { return client.submit_request("GET", "http", "b.test", "/", {}, true); }

  ClientLog events;
  ClientSession client;
};

// The server's opening: an empty SETTINGS and the ACK of the client's.
std::string server_opening() {
  return frame(kSettings, 0, 0) + frame(kSettings, kAck, 0);
}
// ":status 200" from the static table (index 8), then `extra` fields.
std::string status_200(std::string_view extra = {}) {
  return "\x88" + std::string(extra);
}
std::string goaway(std::uint32_t last_stream, std::uint32_t code) {
  return frame(kGoaway, 0, 0, be32(last_stream) + be32(code));
}

int count_frames(const std::vector<Frame>& frames, std::uint8_t type, std::uint32_t stream) {
  return static_cast<int>(std::count_if(frames.begin(), frames.end(), [&](const Frame& f) {
    return f.type == type && f.stream == stream;
  }));
}

// --- requests and responses --------------------------------------------------------------------

TEST(Http2ClientSession, TheOpeningIsThePrefaceAndSettingsWithoutPush) {
  ClientLog events;
  ClientSession client(events, {});
  std::string out;
  ASSERT_TRUE(client.take_output(out));
  ASSERT_EQ(out.substr(0, kPreface.size()), kPreface);
  const auto frames = frames_of(std::string_view(out).substr(kPreface.size()));
  ASSERT_FALSE(frames.empty());
  ASSERT_EQ(frames[0].type, kSettings);
  EXPECT_NE(frames[0].payload.find(std::string("\x00\x02", 2) + be32(0)), std::string::npos)
      << "SETTINGS_ENABLE_PUSH = 0";
  EXPECT_TRUE(client.can_open());
  EXPECT_EQ(client.peer_max_concurrent_streams(), 100u) << "assumed before the peer's SETTINGS";
}

TEST(Http2ClientSession, AGetAndItsResponseInThreeBytePieces) {
  Connection c;
  const auto id = c.get("/a?b=c", {{"accept", "*/*"}, {"x-one", "1"}});
  ASSERT_EQ(id, 1);
  c.pump(3);
  const RequestHead& request = c.server_events.streams[id].head;
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.scheme, "http");
  EXPECT_EQ(request.authority, "backend.test");
  EXPECT_EQ(request.path, "/a?b=c");
  EXPECT_EQ(request.fields, (Fields{{"accept", "*/*"}, {"x-one", "1"}}));
  EXPECT_TRUE(request.end_stream);

  const Fields fields{{"content-type", "text/plain"}, {"content-length", "5"}};
  c.server.submit_response(id, 200, fields, false);
  c.server.submit_data(id, "hello");
  c.server.submit_end(id, {});
  c.pump(3);
  const auto& log = c.client_events.streams[id];
  ASSERT_TRUE(log.head);
  EXPECT_EQ(log.head->status, 200u);
  EXPECT_EQ(log.head->fields, fields);
  EXPECT_EQ(log.head->content_length, 5u);
  EXPECT_FALSE(log.head->end_stream);
  EXPECT_EQ(log.body, "hello");
  EXPECT_EQ(log.end, Fields{});
  EXPECT_EQ(log.closed, 0u);
  EXPECT_EQ(c.client_events.order,
            (std::vector<std::string>{"head 1", "data 1", "end 1", "close 1 0"}));
  EXPECT_EQ(c.client.open_streams(), 0u);
  EXPECT_TRUE(c.client.can_open());
  EXPECT_TRUE(c.client_open);
}

TEST(Http2ClientSession, APostBodyLargerThanTheStreamWindowArrivesWholeAsTheServerConsumes) {
  ServerLimits server_limits;
  server_limits.stream_window = 16384;
  Connection c({}, server_limits);
  c.pump();  // the client learns the server's window first
  const auto id = c.post("/upload", {{"content-type", "application/octet-stream"}});
  std::string body;
  for (int i = 0; i < 100'000; ++i) body += static_cast<char>('a' + i % 26);
  c.client.submit_data(id, body.substr(0, 30'000));
  c.client.submit_data(id, body.substr(30'000));
  c.client.submit_end(id, {});
  c.pump();
  auto& received = c.server_events.streams[id];
  EXPECT_EQ(received.body.size(), 16384u) << "only the server's window, until it consumes";
  EXPECT_EQ(c.client.queued(id), body.size() - 16384);
  for (int i = 0; i < 20 && !received.end; ++i) {
    c.server_consumes(id);
    c.pump();
  }
  EXPECT_EQ(received.body, body);
  EXPECT_EQ(received.end, Fields{});
  EXPECT_EQ(c.client.queued(id), 0u);
}

TEST(Http2ClientSession, RequestTrailersFollowTheBody) {
  Connection c;
  const auto id = c.post();
  c.client.submit_data(id, "payload");
  c.client.submit_end(id, Fields{{"x-checksum", "abc"}});
  c.pump();
  EXPECT_EQ(c.server_events.streams[id].body, "payload");
  EXPECT_EQ(c.server_events.streams[id].end, (Fields{{"x-checksum", "abc"}}));
}

TEST(Http2ClientSession, AResponseBodyLargerThanOurWindowArrivesOnlyAsTheOwnerConsumes) {
  ClientLimits limits;
  limits.stream_window = 16384;
  Connection c(limits);
  c.pump();
  const auto id = c.get();
  c.pump();
  const std::string body(100'000, 'r');
  c.server.submit_response(id, 200, {}, false);
  c.server.submit_data(id, body);
  c.server.submit_end(id, {});
  c.pump();
  const auto& log = c.client_events.streams[id];
  EXPECT_EQ(log.body.size(), 16384u) << "our stream window";
  EXPECT_EQ(c.server.queued(id), body.size() - 16384);
  c.pump();
  EXPECT_EQ(log.body.size(), 16384u) << "no window comes back by itself";
  std::size_t consumed = 0;
  for (int i = 0; i < 20 && !log.end; ++i) {
    c.client.consume(id, log.body.size() - consumed);
    consumed = log.body.size();
    c.pump();
  }
  EXPECT_EQ(log.body, body);
  EXPECT_EQ(log.end, Fields{});
  EXPECT_EQ(log.closed, 0u);
}

TEST(Http2ClientSession, ResponseTrailersArriveInTheEnd) {
  Connection c;
  const auto id = c.post("/pkg.Service/Method", {{"content-type", "application/grpc"}});
  c.client.submit_data(id, std::string("\0\0\0\0\0", 5));
  c.client.submit_end(id, {});
  c.pump();
  c.server.submit_response(id, 200, Fields{{"content-type", "application/grpc"}}, false);
  c.server.submit_data(id, std::string("\0\0\0\0\2hi", 7));
  c.server.submit_end(id, Fields{{"grpc-status", "0"}, {"grpc-message", "ok"}});
  c.pump();
  const auto& log = c.client_events.streams[id];
  EXPECT_FALSE(log.head->end_stream);
  EXPECT_EQ(log.body, std::string("\0\0\0\0\2hi", 7));
  EXPECT_EQ(log.end, (Fields{{"grpc-status", "0"}, {"grpc-message", "ok"}}));
  EXPECT_EQ(log.ends, 1);
  EXPECT_EQ(log.closed, 0u);
}

TEST(Http2ClientSession, ATrailersOnlyResponseIsAHeadWithEndStreamThenAnEmptyEnd) {
  Connection c;
  const auto id = c.post("/pkg.Service/Method", {{"content-type", "application/grpc"}});
  c.client.submit_end(id, {});
  c.pump();
  const Fields fields{{"content-type", "application/grpc"}, {"grpc-status", "14"}};
  c.server.submit_response(id, 200, fields, true);
  c.pump();
  const auto& log = c.client_events.streams[id];
  ASSERT_TRUE(log.head);
  EXPECT_EQ(log.head->status, 200u);
  EXPECT_EQ(log.head->fields, fields);
  EXPECT_TRUE(log.head->end_stream);
  EXPECT_EQ(log.end, Fields{});
  EXPECT_EQ(c.client_events.order, (std::vector<std::string>{"head 1", "end 1", "close 1 0"}));
}

TEST(Http2ClientSession, AnInterimHeadIsPassedOverAndOnlyTheFinalOneAnnounced) {
  Connection c;
  const auto id = c.get();
  c.pump();
  c.server.submit_response(id, 103, Fields{{"link", "</a.css>; rel=preload"}}, false);
  c.pump();
  EXPECT_EQ(c.client_events.streams[id].heads, 0);
  c.server.submit_response(id, 200, Fields{{"x-final", "1"}}, true);
  c.pump();
  const auto& log = c.client_events.streams[id];
  EXPECT_EQ(log.heads, 1);
  EXPECT_EQ(log.head->status, 200u);
  EXPECT_EQ(log.head->fields, (Fields{{"x-final", "1"}}));
  EXPECT_EQ(log.ends, 1);
}

// --- streams: how many, and how they end ---------------------------------------------------------

TEST(Http2ClientSession, NoMoreStreamsThanThePeerAllowsOpen) {
  ServerLimits server_limits;
  server_limits.max_concurrent_streams = 2;
  Connection c({}, server_limits);
  c.pump();
  EXPECT_EQ(c.client.peer_max_concurrent_streams(), 2u);
  const auto first = c.get("/1");
  EXPECT_TRUE(c.client.can_open());
  const auto second = c.get("/2");
  EXPECT_FALSE(c.client.can_open());
  EXPECT_EQ(c.client.open_streams(), 2u);
  EXPECT_EQ(c.get("/3"), 0) << "refused by the session, not sent";
  c.pump();
  EXPECT_EQ(c.server_events.streams.size(), 2u);

  c.server.submit_response(first, 204, {}, true);
  c.pump();
  EXPECT_EQ(c.client_events.streams[first].closed, 0u);
  EXPECT_EQ(c.client.open_streams(), 1u);
  EXPECT_TRUE(c.client.can_open());
  const auto third = c.get("/3");
  EXPECT_GT(third, second);
  c.pump();
  EXPECT_EQ(c.server_events.streams[third].head.path, "/3");
}

TEST(Http2ClientSession, AGoawayRefusesTheStreamsAboveItsLastStreamId) {
  RawUpstream u;
  const auto one = u.get();
  const auto three = u.get();
  ASSERT_EQ(one, 1);
  ASSERT_EQ(three, 3);
  u.output();                 // both HEADERS leave
  const auto five = u.get();  // submitted, not yet written when the GOAWAY comes
  // The owner retries a refused request at once, if it may: on this connection it may not.
  std::vector<std::int32_t> retries;
  u.events.on_close = [&](std::int32_t, std::uint32_t code) {
    if (code == NGHTTP2_REFUSED_STREAM && retries.size() < 4) retries.push_back(u.get());
  };

  EXPECT_TRUE(u.send(server_opening() + goaway(1, NGHTTP2_NO_ERROR)));
  EXPECT_TRUE(u.client.goaway_received());
  EXPECT_FALSE(u.client.can_open());
  EXPECT_EQ(u.events.streams[three].closed, NGHTTP2_REFUSED_STREAM);
  EXPECT_FALSE(u.events.streams[one].closed) << "at or below last-stream-id: it finishes";
  EXPECT_TRUE(u.client.stream_open(five));

  const auto frames = u.output();
  EXPECT_EQ(count_frames(frames, kHeaders, five), 0) << "never sent after the GOAWAY";
  EXPECT_EQ(u.events.streams[five].closed, NGHTTP2_REFUSED_STREAM);
  EXPECT_EQ(retries, (std::vector<std::int32_t>{0, 0}));

  EXPECT_FALSE(
      u.send(frame(kHeaders, kEndHeaders, 1, status_200()) + frame(kData, kEndStream, 1, "done")))
      << "the last stream done: nothing more to read";
  EXPECT_EQ(u.events.streams[one].body, "done");
  EXPECT_EQ(u.events.streams[one].closed, 0u);
  EXPECT_EQ(u.client.ending(), ClientSession::Ending::goaway);
  EXPECT_FALSE(u.client.wants_read());
}

TEST(Http2ClientSession, TheServersGracefulDrainLetsOpenStreamsFinish) {
  Connection c;
  const auto id = c.get();
  c.pump();
  c.server.shutdown();
  c.pump();
  EXPECT_TRUE(c.client.goaway_received());
  EXPECT_FALSE(c.client.can_open());
  EXPECT_EQ(c.get(), 0);
  c.server.submit_response(id, 200, {}, false);
  c.server.submit_data(id, "last");
  c.server.submit_end(id, {});
  c.pump();
  EXPECT_EQ(c.client_events.streams[id].body, "last");
  EXPECT_EQ(c.client_events.streams[id].closed, 0u);
  EXPECT_FALSE(c.client_open);
  EXPECT_EQ(c.client.ending(), ClientSession::Ending::goaway);
}

TEST(Http2ClientSession, AServersRefusedStreamResetReachesTheOwner) {
  Connection c;
  const auto id = c.get();
  c.pump();
  c.server.reset(id, NGHTTP2_REFUSED_STREAM);
  c.pump();
  EXPECT_EQ(c.client_events.streams[id].closed, NGHTTP2_REFUSED_STREAM);
  EXPECT_EQ(c.client_events.streams[id].heads, 0);
  EXPECT_TRUE(c.client.can_open()) << "a stream refused, not the connection";
}

TEST(Http2ClientSession, AMalformedResponseHeadResetsItsStream) {
  const std::string malformed[] = {
      literal("connection", "close"),
      literal("X-Upper", "1"),
      literal(":path", "/"),
  };
  for (const auto& field : malformed) {
    RawUpstream u;
    const auto id = u.get();
    u.output();
    EXPECT_TRUE(
        u.send(server_opening() + frame(kHeaders, kEndHeaders | kEndStream, 1, status_200(field))));
    EXPECT_EQ(u.events.streams[id].heads, 0) << field;
    const auto frames = u.output();
    ASSERT_EQ(count_frames(frames, kRstStream, 1), 1) << field;
    EXPECT_EQ(u.events.streams[id].closed, NGHTTP2_PROTOCOL_ERROR) << field;
  }
  RawUpstream no_status;  // a head without :status
  no_status.get();
  no_status.output();
  no_status.send(server_opening() +
                 frame(kHeaders, kEndHeaders | kEndStream, 1, literal("x-a", "1")));
  no_status.output();
  EXPECT_EQ(no_status.events.streams[1].closed, NGHTTP2_PROTOCOL_ERROR);
  RawUpstream too_long;  // more body than content-length says
  too_long.get();
  too_long.output();
  too_long.send(server_opening() +
                frame(kHeaders, kEndHeaders, 1, status_200(literal("content-length", "2"))) +
                frame(kData, kEndStream, 1, "four"));
  too_long.output();
  EXPECT_EQ(too_long.events.streams[1].closed, NGHTTP2_PROTOCOL_ERROR);
  EXPECT_EQ(too_long.events.streams[1].ends, 0) << "a cut or long body never ends as whole";
}

TEST(Http2ClientSession, AHeaderBlockOverTheLimitIsRefusedForThatStreamOnly) {
  ClientLimits limits;
  limits.max_header_bytes = 1024;
  Connection c(limits);
  const auto big = c.get("/big");
  const auto small = c.get("/small");
  c.pump();
  c.server.submit_response(big, 200, Fields{{"x-big", std::string(2000, 'b')}}, false);
  c.server.submit_data(big, "body of big");
  c.server.submit_response(small, 200, Fields{{"x-small", "s"}}, false);
  c.server.submit_data(small, "body of small");
  c.server.submit_end(small, {});
  c.pump();
  const auto& refused = c.client_events.streams[big];
  EXPECT_EQ(refused.heads, 0);
  EXPECT_EQ(refused.body, "");
  EXPECT_EQ(refused.closed, NGHTTP2_INTERNAL_ERROR);
  EXPECT_EQ(c.server_events.streams[big].closed, NGHTTP2_INTERNAL_ERROR);
  const auto& served = c.client_events.streams[small];
  EXPECT_EQ(served.body, "body of small");
  EXPECT_EQ(served.closed, 0u);
  EXPECT_TRUE(c.client_open);
  EXPECT_TRUE(c.client.can_open());
}

TEST(Http2ClientSession, ResponseTrailersOverTheLimitResetTheStream) {
  ClientLimits limits;
  limits.max_header_bytes = 1024;
  Connection c(limits);
  const auto id = c.get();
  c.pump();
  c.server.submit_response(id, 200, {}, false);
  c.server.submit_data(id, "x");
  c.server.submit_end(id, Fields{{"x-big", std::string(2000, 't')}});
  c.pump();
  EXPECT_EQ(c.client_events.streams[id].heads, 1);
  EXPECT_EQ(c.client_events.streams[id].ends, 0);
  EXPECT_EQ(c.client_events.streams[id].closed, NGHTTP2_INTERNAL_ERROR);
}

TEST(Http2ClientSession, AResetStreamClosesOnceAndLaterCallsOnItAreHarmless) {
  Connection c;
  const auto id = c.post();
  c.client.submit_data(id, std::string(1000, 'x'));
  c.pump();
  c.server.submit_response(id, 200, {}, false);
  c.server.submit_data(id, "partial");
  c.pump();
  ASSERT_EQ(c.client_events.streams[id].body, "partial");  // never consumed by the owner
  c.client.reset(id, NGHTTP2_CANCEL);
  // DATA the server sent before it read the reset.
  c.server.submit_data(id, "in flight");
  std::string crossing;
  c.server.take_output(crossing);
  EXPECT_TRUE(c.client.receive(crossing));
  c.pump();
  const auto& log = c.client_events.streams[id];
  EXPECT_EQ(log.closed, NGHTTP2_CANCEL);
  EXPECT_EQ(log.closes, 1);
  EXPECT_EQ(log.body, "partial") << "nothing delivered after the reset";
  EXPECT_EQ(c.server_events.streams[id].closed, NGHTTP2_CANCEL);
  EXPECT_EQ(c.client.open_streams(), 0u);

  // The client's late calls after the reset.
  c.client.submit_data(id, "late");
  c.client.submit_end(id, Fields{{"t", "1"}});
  c.client.consume(id, 1000);
  c.client.reset(id, NGHTTP2_INTERNAL_ERROR);
  EXPECT_EQ(c.client.queued(id), 0u);
  std::string out;
  EXPECT_FALSE(c.client.take_output(out));
  EXPECT_EQ(log.closes, 1);
  EXPECT_TRUE(c.client_open);
}

TEST(Http2ClientSession, AResetBeforeTheHeadLeftSendsNothingForTheStream) {
  RawUpstream u;
  const auto id = u.get();
  u.client.reset(id, NGHTTP2_CANCEL);
  const auto frames = u.output();
  EXPECT_EQ(count_frames(frames, kHeaders, 1) + count_frames(frames, kRstStream, 1), 0);
  EXPECT_EQ(u.events.streams[id].closed, NGHTTP2_CANCEL);
  EXPECT_EQ(u.client.open_streams(), 0u);
}

TEST(Http2ClientSession, TheWindowAResetStreamHeldComesBackToTheConnection) {
  ClientLimits limits;
  limits.connection_window = 65535;  // the protocol's: one stream's body nearly fills it
  Connection c(limits);
  c.pump();
  const auto first = c.get("/1");
  c.pump();
  c.server.submit_response(first, 200, {}, false);
  c.server.submit_data(first, std::string(60'000, 'x'));
  c.pump();
  ASSERT_EQ(c.client_events.streams[first].body.size(), 60'000u);  // never consumed
  c.client.reset(first, NGHTTP2_CANCEL);
  c.pump();
  const auto second = c.get("/2");
  c.pump();
  c.server.submit_response(second, 200, {}, false);
  c.server.submit_data(second, std::string(60'000, 'y'));
  c.pump();
  EXPECT_EQ(c.client_events.streams[second].body.size(), 60'000u);
}

// --- the connection ----------------------------------------------------------------------------

TEST(Http2ClientSession, APingIsOutstandingUntilItsAckComesBack) {
  Connection c;
  c.pump();
  EXPECT_FALSE(c.client.ping_outstanding());
  c.client.ping();
  c.client.ping();  // one probe at a time
  EXPECT_TRUE(c.client.ping_outstanding());
  std::string to_server;
  c.client.take_output(to_server);
  EXPECT_EQ(count_frames(frames_of(to_server), kPing, 0), 1);
  c.server.receive(to_server);
  std::string ack;
  c.server.take_output(ack);
  EXPECT_TRUE(c.client.ping_outstanding()) << "not before the ACK is read";
  c.client.receive(ack);
  EXPECT_FALSE(c.client.ping_outstanding());
  c.client.ping();
  EXPECT_TRUE(c.client.ping_outstanding()) << "the next probe";
}

TEST(Http2ClientSession, APingAckReadClearsTheOutstandingPing) {
  RawUpstream u;
  u.send(server_opening());
  u.client.ping();
  const auto frames = u.output();
  std::string opaque;
  for (const auto& f : frames) {
    if (f.type == kPing) opaque = f.payload;
  }
  ASSERT_EQ(opaque.size(), 8u);
  u.send(frame(kPing, kAck, 0, "otherpng"));
  EXPECT_TRUE(u.client.ping_outstanding()) << "not our PING";
  u.send(frame(kPing, kAck, 0, opaque));
  EXPECT_FALSE(u.client.ping_outstanding());
}

TEST(Http2ClientSession, ShutdownSendsGoawayAndOpenStreamsFinish) {
  Connection c;
  const auto id = c.get();
  c.pump();
  c.client.shutdown();
  EXPECT_FALSE(c.client.can_open());
  c.pump();
  EXPECT_TRUE(c.client.wants_read()) << "a stream is still open";
  c.server.submit_response(id, 200, {}, false);
  c.server.submit_data(id, "done");
  c.server.submit_end(id, {});
  c.pump();
  EXPECT_EQ(c.client_events.streams[id].body, "done");
  EXPECT_EQ(c.client_events.streams[id].closed, 0u);
  EXPECT_FALSE(c.client.wants_read());
  EXPECT_FALSE(c.client.wants_write());
  EXPECT_EQ(c.client.ending(), ClientSession::Ending::none);
}

TEST(Http2ClientSession, AnIdleShutdownEndsAtOnce) {
  Connection c;
  c.pump();
  c.client.shutdown();
  std::string out;
  c.client.take_output(out);
  EXPECT_EQ(goaway_codes(out), std::vector<std::uint32_t>{NGHTTP2_NO_ERROR});
  EXPECT_FALSE(c.client.wants_read());
  EXPECT_FALSE(c.client.wants_write());
}

// --- a hostile upstream --------------------------------------------------------------------------

TEST(Http2ClientSession, PingAndSettingsFloodsEndTheConnection) {
  for (const auto& flood_frame :
       {frame(kPing, 0, 0, std::string(8, 'p')), frame(kSettings, 0, 0)}) {
    RawUpstream u;
    u.get();
    std::string attack = server_opening();
    for (int i = 0; i < 2000; ++i) attack += flood_frame;
    EXPECT_FALSE(u.send(attack));
    EXPECT_EQ(u.client.ending(), ClientSession::Ending::flood);
    EXPECT_FALSE(u.client.can_open());
    std::string out;
    u.client.take_output(out);
    EXPECT_EQ(goaway_codes(out), std::vector<std::uint32_t>{NGHTTP2_ENHANCE_YOUR_CALM});
    EXPECT_LT(out.size(), 40'000u) << "bounded: the ACKs held, then the GOAWAY";
  }
}

TEST(Http2ClientSession, AContinuationFloodEndsTheConnection) {
  RawUpstream u;
  u.get();
  u.output();
  std::string attack = server_opening() + frame(kHeaders, 0, 1, status_200());
  for (int i = 0; i < 20; ++i) attack += frame(kContinuation, 0, 1, literal("x-pad", "a"));
  EXPECT_FALSE(u.send(attack));
  EXPECT_EQ(u.client.ending(), ClientSession::Ending::flood);
  EXPECT_EQ(u.events.streams[1].heads, 0);
  std::string out;
  u.client.take_output(out);
  EXPECT_EQ(goaway_codes(out), std::vector<std::uint32_t>{NGHTTP2_ENHANCE_YOUR_CALM});
}

TEST(Http2ClientSession, ASettingsFrameWithTooManyEntriesEndsTheConnection) {
  RawUpstream u;
  std::string entries;
  for (int i = 0; i < 40; ++i) entries += std::string("\x00\x03", 2) + be32(100);
  u.send(frame(kSettings, 0, 0, entries));
  std::string out;
  u.client.take_output(out);
  EXPECT_EQ(goaway_codes(out), std::vector<std::uint32_t>{NGHTTP2_ENHANCE_YOUR_CALM});
  EXPECT_EQ(u.client.ending(), ClientSession::Ending::flood);
  EXPECT_FALSE(u.client.wants_read());
  EXPECT_FALSE(u.send(frame(kPing, 0, 0, std::string(8, 'p'))));
}

TEST(Http2ClientSession, AFloodOfEmptyDataFramesEndsTheConnection) {
  RawUpstream u;
  u.get();
  u.output();
  std::string attack = server_opening() + frame(kHeaders, kEndHeaders, 1, status_200());
  for (unsigned i = 0; i <= ClientSession::kMaxNoProgressFrames; ++i) attack += frame(kData, 0, 1);
  EXPECT_FALSE(u.send(attack));
  EXPECT_EQ(u.client.ending(), ClientSession::Ending::flood);
  std::string out;
  u.client.take_output(out);
  EXPECT_EQ(goaway_codes(out), std::vector<std::uint32_t>{NGHTTP2_ENHANCE_YOUR_CALM});
}

TEST(Http2ClientSession, APushPromiseIsAProtocolError) {
  RawUpstream u;
  u.get();
  u.output();
  u.send(server_opening() +
         frame(0x5, kEndHeaders, 1,
               be32(2) + "\x82\x86\x84" + hpack_int(0, 4, 1) + hpack_string("b.test")));
  std::string out;
  u.client.take_output(out);
  EXPECT_EQ(goaway_codes(out), std::vector<std::uint32_t>{NGHTTP2_PROTOCOL_ERROR});
  EXPECT_EQ(u.client.ending(), ClientSession::Ending::protocol_error);
  EXPECT_FALSE(u.client.wants_read());
  EXPECT_FALSE(u.client.can_open());
}

TEST(Http2ClientSession, DataBeyondOurWindowIsAFlowControlError) {
  ClientLimits limits;
  limits.connection_window = 65535;
  limits.stream_window = 65535;
  RawUpstream u(limits);
  u.get();
  u.output();
  std::string bytes = server_opening() + frame(kHeaders, kEndHeaders, 1, status_200());
  for (int i = 0; i < 5; ++i) bytes += frame(kData, 0, 1, std::string(16384, 'd'));
  u.send(bytes);
  std::string out;
  u.client.take_output(out);
  EXPECT_EQ(goaway_codes(out), std::vector<std::uint32_t>{NGHTTP2_FLOW_CONTROL_ERROR});
  EXPECT_EQ(u.client.ending(), ClientSession::Ending::flow_control);
  EXPECT_FALSE(u.client.wants_read());
}

TEST(Http2ClientSession, NotHttp2IsAProtocolError) {
  RawUpstream u;
  u.get();
  u.send("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  std::string out;
  u.client.take_output(out);
  EXPECT_EQ(u.client.ending(), ClientSession::Ending::protocol_error);
  EXPECT_FALSE(u.client.wants_read());
}

}  // namespace
}  // namespace bgp::http2
