// https:// webhooks end to end: the real bgproxy POSTs its events to a Python https receiver with
// a certificate made at test time, trusted through notify.webhook_ca; one whose certificate is not
// trusted gets nothing, and the loss is counted and logged with the verification error.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "integration/harness.h"
#include "support/test_certs.h"

namespace bgt {
namespace {

namespace json = boost::json;
using bgp::testing::CertDir;
using bgp::testing::make_certificate;

// argv: CERT KEY PORT_FILE RECORD_FILE FAILURES. Answers 500 to the first FAILURES POSTs, then
// 200; appends one JSON line per POST: {"path", "host", "sni", "body"}. The handshake runs at
// accept: a client that refuses the certificate never reaches the handler.
constexpr std::string_view kReceiver = R"PY(
import http.server, json, os, ssl, sys, threading
cert, key, port_file, record_file, failures = sys.argv[1:6]
failures = int(failures)
lock = threading.Lock()
seen = [0]
last_sni = [None]

def on_sni(ssl_socket, name, context):
    last_sni[0] = name

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            seen[0] += 1
            status = 500 if seen[0] <= failures else 200
            line = json.dumps({"path": self.path, "host": self.headers.get("Host"),
                               "sni": last_sni[0], "body": body.decode()})
            with open(record_file, "a") as out:
                out.write(line + "\n")
        payload = b"ok" if status == 200 else b"not now"
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
context.sni_callback = on_sni
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as out:
    out.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
)PY";

struct Received {
  std::string path, host, sni;
  json::object event;
};

// A Python https receiver on 127.0.0.1 serving `files`.crt (with its .key).
class HttpsReceiver {
 public:
  HttpsReceiver(const std::string& files, int failures) {
    const std::string script = dir_.write("receiver.py", kReceiver);
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/usr/bin/env", "python3", script, files + ".crt", files + ".key",
                                 port_file_, records_, std::to_string(failures)},
        dir_.path() + "/receiver.log");
  }

  // The port, once the receiver listens (0 if it did not within 10 s).
  std::uint16_t wait_port() {
    std::string text;
    wait_until([&] { return !(text = read_file(port_file_)).empty(); }, 10s);
    return text.empty() ? 0 : static_cast<std::uint16_t>(std::stoi(text));
  }

  std::vector<Received> received() const {
    std::vector<Received> out;
    std::istringstream lines(read_file(records_));
    std::string line;
    while (std::getline(lines, line)) {
      boost::system::error_code ec;
      const auto record = json::parse(line, ec);
      if (ec || !record.is_object()) continue;  // a line being written
      const auto body = json::parse(string_at(record, "body"), ec);
      out.push_back({string_at(record, "path"), string_at(record, "host"), string_at(record, "sni"),
                     ec ? json::object() : body.as_object()});
    }
    return out;
  }

  std::string log() const { return read_file(dir_.path() + "/receiver.log"); }

 private:
  TempDir dir_;
  std::string port_file_ = dir_.path() + "/port";
  std::string records_ = dir_.path() + "/records";
  std::unique_ptr<ChildProcess> process_;
};

class WebhookTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(run_process({"/usr/bin/env", "python3", "-c", "import ssl"}).exit_code, 0)
        << "these tests need python3 with its ssl module";
  }

  std::string config(std::uint16_t port, const std::string& ca) const {
    return make_config(
        ConfigSpec{.blue = {blue.address()},
                   .green = {green.address()},
                   .rollout = "step_duration: 5m\ncheck_interval: 100ms\n",
                   .top = "notify:\n  webhook: https://localhost:" + std::to_string(port) +
                          "/hook\n  webhook_ca: " + ca + "\n"});
  }

  double failures(const Bgproxy& proxy) const {
    return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_webhook_failures_total");
  }

  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};
  CertDir certs;
  // Valid for localhost and 127.0.0.1; self-signed, so its own CA.
  std::string receiver_files = certs.write("receiver", make_certificate("hooks.test"));
};

TEST_F(WebhookTlsTest, AnHttpsWebhookIsVerifiedAndRetriedUntilItAccepts) {
  HttpsReceiver receiver(receiver_files, /*failures=*/2);
  const auto port = receiver.wait_port();
  ASSERT_NE(port, 0) << receiver.log();
  Bgproxy proxy(config(port, receiver_files + ".crt"));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);

  // Two 500s, then the third attempt is accepted (retries after 0.5 and 1 s).
  ASSERT_TRUE(wait_until([&] { return receiver.received().size() >= 3; }, 20s))
      << receiver.log() << proxy.log();
  const auto received = receiver.received();
  for (const auto& r : received) {
    EXPECT_EQ(r.path, "/hook");
    EXPECT_EQ(r.host, "localhost:" + std::to_string(port));  // the URL's authority
    EXPECT_EQ(r.sni, "localhost");                           // SNI is the URL's host
    EXPECT_EQ(string_at(r.event, "event"), "start") << json::serialize(r.event);  // the same one
  }
  const json::object& event = received.back().event;
  EXPECT_EQ(string_at(event, "state"), "progressing") << json::serialize(event);
  EXPECT_EQ(string_at(event, "live"), "blue");
  EXPECT_EQ(string_at(event, "candidate"), "green");
  EXPECT_TRUE(event.at("weights").is_object());
  EXPECT_TRUE(string_at(event, "text").starts_with("bgproxy start")) << json::serialize(event);

  // Nothing more is sent for it, and nothing is counted lost.
  ASSERT_EQ(proxy.admin("POST", "/rollout/pause").status, 200u);
  ASSERT_TRUE(wait_until([&] { return receiver.received().size() >= 4; }, 10s));
  EXPECT_EQ(string_at(receiver.received()[3].event, "event"), "pause");
  EXPECT_EQ(failures(proxy), 0);
  EXPECT_TRUE(proxy.wait_log("answered 500"));
}

TEST_F(WebhookTlsTest, AReceiverWithAnUntrustedCertificateGetsNothing) {
  HttpsReceiver receiver(receiver_files, /*failures=*/0);
  const auto port = receiver.wait_port();
  ASSERT_NE(port, 0) << receiver.log();
  // Trusts another CA only: the receiver's certificate cannot be verified.
  const auto other_ca = certs.write("other-ca", make_certificate("other-ca.test"));
  Bgproxy proxy(config(port, other_ca + ".crt"));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);

  // Five attempts over 7.5 s of backoff, then the event is given up and counted.
  ASSERT_TRUE(wait_until([&] { return failures(proxy) == 1; }, 40s)) << proxy.log();
  EXPECT_TRUE(receiver.received().empty());
  const std::string log = proxy.log();
  EXPECT_NE(log.find("certificate verify failed"), std::string::npos) << log;
  EXPECT_NE(log.find("an event is lost after 5 attempts"), std::string::npos) << log;
  // Once per event, not once per attempt: the failure, then the loss with its last reason.
  std::size_t mentions = 0;
  for (auto at = log.find("certificate verify failed"); at != std::string::npos;
       at = log.find("certificate verify failed", at + 1)) {
    ++mentions;
  }
  EXPECT_EQ(mentions, 2u) << log;
}

// Without notify.webhook_ca the system store decides, and it does not hold a self-signed
// certificate made at test time: the receiver gets nothing. There is no accept-all default.
TEST_F(WebhookTlsTest, WithoutWebhookCaASelfSignedReceiverIsNotTrusted) {
  HttpsReceiver receiver(receiver_files, /*failures=*/0);
  const auto port = receiver.wait_port();
  ASSERT_NE(port, 0) << receiver.log();
  Bgproxy proxy(config(port, /*ca=*/""));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);

  ASSERT_TRUE(wait_until([&] { return failures(proxy) == 1; }, 40s)) << proxy.log();
  EXPECT_TRUE(receiver.received().empty());
  const std::string log = proxy.log();
  EXPECT_NE(log.find("certificate verify failed: self-signed certificate"), std::string::npos)
      << log;
  EXPECT_NE(log.find("an event is lost after 5 attempts"), std::string::npos) << log;
}

}  // namespace
}  // namespace bgt
