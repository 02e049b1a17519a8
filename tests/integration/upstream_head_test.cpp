// One HTTP/1.1 upstream response, two fronts: the HTTP/1 session and the HTTP/2 front (h2c by
// prior knowledge) read and judge an upstream's response head in one place (response_head.h), so
// the same response is refused (502) behind both, or relayed behind both (issue 13).
#include <ostream>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "integration/harness.h"
#include "integration/raw_conn.h"

namespace bgt {
namespace {

struct UpstreamAnswer {
  const char* name;
  std::string response;  // the backend's bytes; it closes the connection after them
  unsigned status;       // what the client gets: 502, or the backend's status relayed
  std::string body;      // relayed: the body the client gets
};

// gtest prints a parameter by its name (else as the bytes of the struct).
void PrintTo(const UpstreamAnswer& answer, std::ostream* out) {
  *out << answer.name;
}

class UpstreamHead : public ::testing::TestWithParam<UpstreamAnswer> {
 protected:
  ScriptedBackend backend{[](Conn& peer) {
    if (peer.read_until("\r\n\r\n", 10s).empty()) return;
    peer.send(GetParam().response);
  }};
  Bgproxy proxy{make_config({.blue = {backend.address()},
                             .green = {backend.address()},
                             .top = "protocols: [http1, h2c]\n"})};
};

TEST_P(UpstreamHead, GetsTheSameOutcomeBehindTheHttp1AndTheHttp2Front) {
  const UpstreamAnswer& answer = GetParam();
  ASSERT_TRUE(proxy.start());

  const HttpResponse http1 = http_request(proxy.proxy_port(), "GET", "/");
  EXPECT_EQ(http1.status, answer.status) << "HTTP/1 front: " << http1.error;
  if (answer.status != 502) {
    EXPECT_EQ(http1.body, answer.body) << "HTTP/1 front";
  }

  // The body, then the status on a line of its own.
  const ProcessResult h2c = run_process(
      {"/usr/bin/curl", "-s", "--http2-prior-knowledge", "--max-time", "20", "-w",
       "\n%{http_code} %{http_version}", fmt::format("http://127.0.0.1:{}/", proxy.proxy_port())},
      30s);
  ASSERT_EQ(h2c.exit_code, 0) << h2c.err;
  const auto status_at = h2c.out.rfind('\n');
  ASSERT_NE(status_at, std::string::npos) << h2c.out;
  EXPECT_EQ(h2c.out.substr(status_at + 1), fmt::format("{} 2", answer.status)) << "h2c front";
  if (answer.status != 502) {
    EXPECT_EQ(h2c.out.substr(0, status_at), answer.body) << "h2c front";
  }

  // Both counted alike: a refused response is the color's upstream error.
  const int errors = answer.status == 502 ? 2 : 0;
  EXPECT_TRUE(wait_until([&] {
    const auto metrics = proxy.admin("GET", "/metrics").body;
    return metric_sum(metrics, "bgproxy_requests_total", {R"(color="blue")"}) == 2 &&
           metric_sum(metrics, "bgproxy_upstream_errors_total", {}) == errors;
  }));
}

const std::string kBig(70 * 1024, 'a');  // over the 64 KiB a response head may take

INSTANTIATE_TEST_SUITE_P(
    Fronts, UpstreamHead,
    ::testing::Values(
        // refused: ambiguous framing, a version or status out of range, raw bytes
        UpstreamAnswer{"LengthAndChunked",
                       "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "3\r\nok\n\r\n0\r\n\r\n",
                       502, ""},
        UpstreamAnswer{"TwoTransferEncodings",
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
                       "chunked\r\n\r\n3\r\nok\n\r\n0\r\n\r\n",
                       502, ""},
        UpstreamAnswer{"TransferEncodingNotChunked",
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok\n", 502, ""},
        UpstreamAnswer{"ObsFold",
                       "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n c\r\n\r\nok\n", 502, ""},
        UpstreamAnswer{"ObsFoldChunked",
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n c\r\n\r\n"
                       "3\r\nok\n\r\n0\r\n\r\n",
                       502, ""},
        UpstreamAnswer{"ControlByteInField",
                       "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\x01c\r\n\r\nok\n", 502, ""},
        UpstreamAnswer{"Http2StatusLine", "HTTP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n", 502,
                       ""},
        UpstreamAnswer{"Status999", "HTTP/1.1 999 Odd\r\nContent-Length: 3\r\n\r\nok\n", 502, ""},
        UpstreamAnswer{"BareLineFeed", "HTTP/1.1 200 OK\nContent-Length: 3\n\nok\n", 502, ""},
        UpstreamAnswer{"HeadTooLarge",
                       "HTTP/1.1 200 OK\r\nX-Big: " + kBig + "\r\nContent-Length: 3\r\n\r\nok\n",
                       502, ""},
        // relayed: the controls, one per way a body is framed
        UpstreamAnswer{"Length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", 200, "ok\n"},
        UpstreamAnswer{
            "Chunked",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nok\n\r\n0\r\n\r\n", 200,
            "ok\n"},
        UpstreamAnswer{"UntilTheClose", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nok\n", 200,
                       "ok\n"},
        UpstreamAnswer{"InterimThenFinal",
                       "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                       "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nok\n",
                       201, "ok\n"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace bgt
