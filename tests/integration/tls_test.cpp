// The TLS listener of a running bgproxy, with real clients: curl, openssl s_client and a Python
// client that keeps its connection across a certificate reload.
#include <csignal>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "integration/harness.h"
#include "integration/raw_conn.h"
#include "support/test_certs.h"

namespace bgt {
namespace {

using bgp::testing::make_certificate;

class TlsTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};

  // A config with a TLS listener on $TLS_PORT (a free port picked here) serving $DIR/server.crt,
  // with `tls_keys` (lines indented under tls:) added.
  std::string config(std::string timeouts = "drain: 2s", std::string_view tls_keys = "") {
    tls_port = free_port();
    return make_config({.blue = {blue.address()},
                        .green = {green.address()},
                        .timeouts = std::move(timeouts),
                        .top = fmt::format("tls:\n  listen: 127.0.0.1:{}\n  cert: $DIR/server.crt\n"
                                           "  key: $DIR/server.key\n{}",
                                           tls_port, tls_keys)});
  }

  // Writes the listener's certificate and key into `dir` (the proxy's directory).
  static void install(const std::string& dir, const bgp::testing::TestCertificate& certificate) {
    write_to(dir + "/server.crt", certificate.cert_pem);
    write_to(dir + "/server.key", certificate.key_pem);
  }
  static void write_to(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  }

  std::string url(std::string_view path = "/") const {
    return fmt::format("https://127.0.0.1:{}{}", tls_port, path);
  }

  // openssl s_client with `args`, its stdin closed at once: the handshake and what it printed.
  ProcessResult s_client(std::vector<std::string> args) const {
    std::vector<std::string> argv{"/usr/bin/openssl", "s_client", "-connect",
                                  fmt::format("127.0.0.1:{}", tls_port)};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, 20s, "");
  }

  // The handshake errors counted with `reason`, once at least `count` were counted (10 s).
  static double handshake_errors(const Bgproxy& proxy, std::string_view reason, double count) {
    return wait_metric(proxy, "bgproxy_tls_handshake_errors_total",
                       {fmt::format(R"(reason="{}")", reason)}, count);
  }

  std::uint16_t tls_port = 0;
};

TEST_F(TlsTest, CurlGetsTheBackendsAnswerOverHttpsAndTheBackendSeesHttps) {
  Bgproxy proxy(config());
  install(proxy.dir(), make_certificate("proxy.test"));
  ASSERT_TRUE(proxy.start());
  blue.set_echo(true);
  for (int i = 0; i < 3; ++i) {
    const auto r =
        run_process({"/usr/bin/curl", "-sk", "--max-time", "10", "-o", "/dev/null", "-o",
                     "/dev/null", "-w", "%{http_code} %{num_connects}", url("/a"), url("/b")},
                    20s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "200 1200 0") << "two requests on one kept-alive TLS connection";
  }
  const auto received = blue.received();
  ASSERT_FALSE(received.empty());
  EXPECT_EQ(received.back().header("X-Forwarded-Proto"), "https");
  // The plain listener still says http.
  ASSERT_EQ(http_request(proxy.proxy_port(), "GET", "/plain").status, 200u);
  EXPECT_EQ(blue.received().back().header("X-Forwarded-Proto"), "http");

  const auto metrics = proxy.admin("GET", "/metrics").body;
  EXPECT_EQ(metric_sum(metrics, "bgproxy_tls_handshakes_total"), 3);
  EXPECT_GT(metric_sum(metrics, "bgproxy_tls_cert_expiry_timestamp_seconds"), 1.7e9);
}

TEST_F(TlsTest, OldVersionsAreRefusedAndAlpnWithoutOverlapGetsAlert120) {
  Bgproxy proxy(config());
  install(proxy.dir(), make_certificate("proxy.test"));
  ASSERT_TRUE(proxy.start());

  const auto tls11 = s_client({"-tls1_1"});
  EXPECT_NE(tls11.exit_code, 0) << tls11.out;
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    const auto accepted = s_client({version, "-alpn", "http/1.1"});
    EXPECT_EQ(accepted.exit_code, 0) << version << accepted.out << accepted.err;
    EXPECT_NE(accepted.out.find("ALPN protocol: http/1.1"), std::string::npos) << accepted.out;
  }
  const auto h2_only = s_client({"-alpn", "h2"});
  EXPECT_NE(h2_only.err.find("alert number 120"), std::string::npos) << h2_only.err;

  std::string metrics;
  wait_until(
      [&] {
        metrics = proxy.admin("GET", "/metrics").body;
        return metric_sum(metrics, "bgproxy_tls_handshake_errors_total") >= 2;
      },
      10s);
  EXPECT_EQ(
      metric_sum(metrics, "bgproxy_tls_handshake_errors_total", {R"(reason="protocol_version")"}),
      1);
  EXPECT_EQ(metric_sum(metrics, "bgproxy_tls_handshake_errors_total", {R"(reason="no_alpn")"}), 1);
  EXPECT_EQ(proxy.log().find("handshake"), std::string::npos) << "never logged per connection";
}

TEST_F(TlsTest, MinVersion13RefusesATls12ClientAndServesATls13One) {
  Bgproxy proxy(config("drain: 2s", "  min_version: \"1.3\"\n"));
  install(proxy.dir(), make_certificate("proxy.test"));
  ASSERT_TRUE(proxy.start());

  const auto tls12 = s_client({"-tls1_2"});
  EXPECT_NE(tls12.exit_code, 0) << tls12.out;
  EXPECT_NE(tls12.err.find("alert protocol version"), std::string::npos) << tls12.err;
  const auto tls13 = s_client({"-tls1_3"});
  EXPECT_EQ(tls13.exit_code, 0) << tls13.out << tls13.err;
  EXPECT_NE(tls13.out.find("New, TLSv1.3"), std::string::npos) << tls13.out;
  EXPECT_EQ(handshake_errors(proxy, "protocol_version", 1), 1);
}

// The suites are AEAD with ECDHE only and the groups X25519, P-256 and P-384 (tls_context.cpp):
// a client offering only something else gets handshake_failure; one offering an allowed one is
// served.
TEST_F(TlsTest, AClientWithoutAnAeadSuiteOrAnAllowedGroupIsRefused) {
  Bgproxy proxy(config());
  install(proxy.dir(), make_certificate("proxy.test"));
  ASSERT_TRUE(proxy.start());

  const std::vector<std::vector<std::string>> refused = {
      {"-tls1_2", "-cipher", "AES128-SHA"},              // CBC, RSA key exchange
      {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"},  // CBC with forward secrecy
      {"-tls1_2", "-cipher", "AES128-GCM-SHA256"},       // AEAD without forward secrecy
      {"-tls1_3", "-groups", "ffdhe2048"},
      {"-tls1_3", "-groups", "secp521r1"},
      {"-tls1_2", "-curves", "secp521r1"},
  };
  for (const auto& args : refused) {
    const auto r = s_client(args);
    EXPECT_NE(r.exit_code, 0) << fmt::format("{}", fmt::join(args, " ")) << r.out;
    EXPECT_NE(r.err.find("alert handshake failure"), std::string::npos)
        << fmt::format("{}", fmt::join(args, " ")) << r.err;
  }
  const std::vector<std::vector<std::string>> served = {
      {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256", "-curves", "P-256"},
      {"-tls1_3", "-groups", "X25519"},
      {"-tls1_3", "-groups", "P-384"},
  };
  for (const auto& args : served) {
    const auto r = s_client(args);
    EXPECT_EQ(r.exit_code, 0) << fmt::format("{}", fmt::join(args, " ")) << r.out << r.err;
  }
  EXPECT_EQ(handshake_errors(proxy, "no_shared_cipher", refused.size()),
            static_cast<double>(refused.size()));
}

TEST_F(TlsTest, AClientThatSaysNothingIsClosedAfterClientHeaderAndCounted) {
  Bgproxy proxy(config("drain: 2s\nclient_header: 500ms"));
  install(proxy.dir(), make_certificate("proxy.test"));
  ASSERT_TRUE(proxy.start());
  Conn silent(tls_port);
  ASSERT_TRUE(silent.connected());
  EXPECT_TRUE(silent.closed_within(20s));
  std::string metrics;
  wait_until(
      [&] {
        metrics = proxy.admin("GET", "/metrics").body;
        return metric_sum(metrics, "bgproxy_tls_handshake_errors_total", {R"(reason="timeout")"}) >=
               1;
      },
      10s);
  EXPECT_EQ(metric_sum(metrics, "bgproxy_tls_handshake_errors_total", {R"(reason="timeout")"}), 1);
}

// Python's ssl: one connection before the reload, the same one after it, and a new one. Prints
// "<label> <status> <sha256 of the certificate served>" per request.
constexpr const char* kPythonClient = R"(
import hashlib, os, socket, ssl, sys, time
port, go = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def request(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
    while len(body) < length:
        body += s.recv(4096)
    return head.split(b" ")[1].decode()
def served(s):
    return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
kept = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
print("before", request(kept), served(kept), flush=True)
for _ in range(1200):
    if os.path.exists(go):
        break
    time.sleep(0.05)
print("kept", request(kept), served(kept), flush=True)
fresh = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
print("new", request(fresh), served(fresh), flush=True)
)";

std::string sha256_of_pem(const std::string& pem) {
  const auto der = run_process({"/usr/bin/openssl", "x509", "-outform", "DER"}, 10s, pem);
  const auto digest = run_process({"/usr/bin/sha256sum"}, 10s, der.out);
  return digest.out.substr(0, 64);
}

TEST_F(TlsTest, AReloadServesTheNewCertificateToNewConnectionsAndKeepsOpenOnes) {
  Bgproxy proxy(config());
  const auto first = make_certificate("first.test");
  install(proxy.dir(), first);
  ASSERT_TRUE(proxy.start());
  const std::string go = proxy.dir() + "/go";
  const std::string client_log = proxy.dir() + "/client.log";
  ChildProcess client({"/usr/bin/python3", "-c", kPythonClient, std::to_string(tls_port), go},
                      client_log);
  const bool connected =
      wait_until([&] { return read_file(client_log).find("before") != std::string::npos; }, 20s);
  ASSERT_TRUE(connected) << read_file(client_log);

  const auto expiry = [&] {
    return metric_sum(proxy.admin("GET", "/metrics").body,
                      "bgproxy_tls_cert_expiry_timestamp_seconds");
  };
  const auto reloads = [&](std::string_view result) {
    return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_config_reloads_total",
                      {fmt::format(R"(result="{}")", result)});
  };
  const double first_expiry = expiry();
  EXPECT_GT(first_expiry, 1.7e9);

  // A pair that does not load is refused and counted; the first stays.
  write_to(proxy.dir() + "/server.key", make_certificate("other.test").key_pem);
  proxy.signal(SIGHUP);
  ASSERT_TRUE(proxy.wait_log("reload refused")) << proxy.log();
  EXPECT_TRUE(wait_until([&] { return reloads("refused") == 1; }, 10s)) << reloads("refused");
  EXPECT_EQ(reloads("ok"), 0);
  EXPECT_EQ(expiry(), first_expiry);

  // One day longer than the first (make_certificate's default is 24 h).
  const auto second =
      make_certificate("second.test", -std::chrono::hours(1), std::chrono::hours(48));
  install(proxy.dir(), second);
  proxy.signal(SIGHUP);
  ASSERT_TRUE(proxy.wait_log("reloaded")) << proxy.log();
  EXPECT_TRUE(wait_until([&] { return reloads("ok") == 1; }, 10s)) << reloads("ok");
  EXPECT_EQ(reloads("refused"), 1);
  EXPECT_NEAR(expiry() - first_expiry, 24 * 3600, 120) << "the gauge follows the served pair";
  write_to(go, "");
  ASSERT_EQ(client.wait_exit(30s), std::optional<int>(0)) << read_file(client_log);

  const std::string old_sha = sha256_of_pem(first.cert_pem);
  const std::string new_sha = sha256_of_pem(second.cert_pem);
  const auto lines = read_file(client_log);
  EXPECT_NE(lines.find("before 200 " + old_sha), std::string::npos) << lines;
  EXPECT_NE(lines.find("kept 200 " + old_sha), std::string::npos) << lines;
  EXPECT_NE(lines.find("new 200 " + new_sha), std::string::npos) << lines;
}

// openssl s_client saves its session (a ticket) and offers it again after a SIGHUP that loaded a
// new certificate: the ticket keys belong to the process, so the session resumes.
TEST_F(TlsTest, ASessionTicketResumesAcrossAReload) {
  Bgproxy proxy(config());
  install(proxy.dir(), make_certificate("first.test"));
  ASSERT_TRUE(proxy.start());
  const std::string session = proxy.dir() + "/session.pem";
  // A request that closes the connection: s_client reads until the close, so a TLS 1.3 ticket
  // (sent after the handshake) is in hand before it saves the session.
  const std::string request = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  const auto get = [&](const char* version, const char* session_flag) {
    std::vector<std::string> argv{"/usr/bin/openssl",
                                  "s_client",
                                  "-connect",
                                  fmt::format("127.0.0.1:{}", tls_port),
                                  version,
                                  "-ign_eof",
                                  session_flag,
                                  session};
    return run_process(argv, 20s, request);
  };
  const auto resumed = [&] {
    return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_tls_handshakes_total",
                      {R"(resumed="true")"});
  };
  for (const char* version : {"-tls1_3", "-tls1_2"}) {
    SCOPED_TRACE(version);
    const double resumed_before = resumed();
    const auto first = get(version, "-sess_out");
    ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
    EXPECT_NE(first.out.find("\nNew, TLSv1."), std::string::npos) << first.out;
    EXPECT_NE(first.out.find("HTTP/1.1 200"), std::string::npos) << first.out;

    install(proxy.dir(), make_certificate("second.test"));
    const std::size_t logged = proxy.log().size();
    proxy.signal(SIGHUP);
    ASSERT_TRUE(
        wait_until([&] { return proxy.log().find("reloaded", logged) != std::string::npos; }, 10s))
        << proxy.log();

    const auto again = get(version, "-sess_in");
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
    EXPECT_NE(again.out.find("\nReused, TLSv1."), std::string::npos) << again.out;
    EXPECT_NE(again.out.find("HTTP/1.1 200"), std::string::npos) << again.out;
    EXPECT_TRUE(wait_until([&] { return resumed() == resumed_before + 1; }, 10s))
        << resumed() << " resumed handshakes, " << resumed_before << " before";
  }
  // The control: a new process has other ticket keys, so the same session does not resume.
  proxy.signal(SIGTERM);
  ASSERT_TRUE(proxy.wait_exit(20s).has_value());
  ASSERT_TRUE(proxy.restart());
  const auto after_restart = get("-tls1_2", "-sess_in");
  ASSERT_EQ(after_restart.exit_code, 0) << after_restart.out << after_restart.err;
  EXPECT_NE(after_restart.out.find("\nNew, TLSv1.2"), std::string::npos) << after_restart.out;
}

TEST_F(TlsTest, AnExpiredCertificateIsRefusedAtStartWithItsFile) {
  const std::string yaml = config();
  TempDir dir;
  install(dir.path(),
          make_certificate("old.test", -std::chrono::hours(48), -std::chrono::hours(1)));
  std::string text = with_ports(yaml);
  for (std::size_t at; (at = text.find("$DIR")) != std::string::npos;) {
    text.replace(at, 4, dir.path());
  }
  const auto path = dir.write("expired.yaml", text);
  const auto result = run_cli({"check-config", path});
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_NE((result.out + result.err).find("server.crt"), std::string::npos)
      << result.out << result.err;
  EXPECT_NE((result.out + result.err).find("expired"), std::string::npos)
      << result.out << result.err;
}

// argv: CERT KEY PORT_FILE COUNT_FILE. An HTTP/1.1 keep-alive backend over TLS answering
// "tls-backend" to every GET; counts the requests it answered (health probes aside) in COUNT_FILE.
constexpr const char* kTlsBackend = R"PY(
import http.server, os, ssl, sys, threading
cert, key, port_file, count_file = sys.argv[1:5]
lock = threading.Lock()
count = [0]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        with lock:
            if self.path != "/health":
                count[0] += 1
            with open(count_file + ".tmp", "w") as out:  # renamed whole: never read half-written
                out.write(str(count[0]))
            os.rename(count_file + ".tmp", count_file)
        body = b"tls-backend"
        self.send_response(200)
        if self.path == "/until-close":
            # No length: the body ends when the connection closes, without a close_notify.
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"a body that ends at the close")
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as out:
    out.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
)PY";

// A TLS backend for green, and a proxy whose green color trusts `ca_pem` for it.
class TlsUpstreamTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TempDir dir;
  bgp::testing::TestCertificate backend_cert = make_certificate("backend.test");

  std::uint16_t start_backend() {
    write_to(dir.path() + "/backend.crt", backend_cert.cert_pem);
    write_to(dir.path() + "/backend.key", backend_cert.key_pem);
    backend_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/usr/bin/python3", "-c", kTlsBackend, dir.path() + "/backend.crt",
                                 dir.path() + "/backend.key", dir.path() + "/port",
                                 dir.path() + "/count"},
        dir.path() + "/backend.log");
    std::string port;
    wait_until([&] { return !(port = read_file(dir.path() + "/port")).empty(); }, 20s);
    return port.empty() ? 0 : static_cast<std::uint16_t>(std::stoi(port));
  }

  int answered() const {
    const auto text = read_file(dir.path() + "/count");
    return text.empty() ? 0 : std::stoi(text);
  }

  // Green is the TLS backend, trusting the CA file `ca_pem` (written beside the config); with
  // `probes`, health checks every 100 ms; `tls_keys`: more lines under backends.green.tls.
  std::string config(std::uint16_t green_port, const std::string& ca_pem, bool probes,
                     std::string_view tls_keys = "") {
    const auto ca = dir.write("ca.pem", ca_pem);
    std::string yaml = make_config({.blue = {blue.address()},
                                    .green = {fmt::format("127.0.0.1:{}", green_port)},
                                    .backends = probes ? fast_health_check(1) : ""});
    const auto green_endpoints = yaml.find('\n', yaml.find("endpoints", yaml.find("green:")));
    yaml.insert(green_endpoints + 1,
                fmt::format("    tls:\n      enabled: true\n      ca: {}\n{}", ca, tls_keys));
    return yaml;
  }

  static void write_to(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  }

  std::unique_ptr<ChildProcess> backend_;
};

TEST_F(TlsUpstreamTest, AVerifiedTlsUpstreamServesItsColorOnKeptAliveConnections) {
  const auto port = start_backend();
  ASSERT_NE(port, 0) << read_file(dir.path() + "/backend.log");
  Bgproxy proxy(config(port, backend_cert.cert_pem, true));
  ASSERT_TRUE(proxy.start());
  for (int i = 0; i < 5; ++i) {
    const auto r = http_request(proxy.proxy_port(), "GET", "/", {{"X-Bluegreen", "green"}});
    ASSERT_EQ(r.status, 200u) << r.error << proxy.log();
    EXPECT_EQ(r.body, "tls-backend");
  }
  EXPECT_EQ(answered(), 5);
  const std::string green = fmt::format(R"(endpoint="127.0.0.1:{}")", port);
  const auto metrics = proxy.admin("GET", "/metrics").body;
  EXPECT_EQ(metric_sum(metrics, "bgproxy_upstream_connections_opened_total", {green}) +
                metric_sum(metrics, "bgproxy_upstream_connections_reused_total", {green}),
            5);
  EXPECT_GT(metric_sum(metrics, "bgproxy_upstream_connections_reused_total", {green}), 0)
      << "TLS connections to the upstream are kept alive";
  // A body that ends at the upstream's close (no close_notify, as many servers do) arrives whole.
  const auto until_close =
      http_request(proxy.proxy_port(), "GET", "/until-close", {{"X-Bluegreen", "green"}});
  EXPECT_EQ(until_close.status, 200u) << until_close.error;
  EXPECT_EQ(until_close.body, "a body that ends at the close");
  // The health probe speaks TLS too: a rollout starts once green passed one.
  const bool started =
      wait_until([&] { return proxy.admin("POST", "/rollout/start").status == 200; }, 20s);
  EXPECT_TRUE(started) << proxy.admin("POST", "/rollout/start").body;
}

TEST_F(TlsUpstreamTest, AnUnverifiedUpstreamIsA502AndAConnectErrorOfItsColorNeverARequest) {
  const auto port = start_backend();
  ASSERT_NE(port, 0) << read_file(dir.path() + "/backend.log");
  Bgproxy proxy(config(port, make_certificate("someone-else.test").cert_pem, false));
  ASSERT_TRUE(proxy.start());
  for (int i = 0; i < 3; ++i) {
    const auto r = http_request(proxy.proxy_port(), "GET", "/", {{"X-Bluegreen", "green"}});
    EXPECT_EQ(r.status, 502u) << r.error;
  }
  const auto metrics = proxy.admin("GET", "/metrics").body;
  EXPECT_GE(metric_sum(metrics, "bgproxy_upstream_errors_total",
                       {R"(color="green")", R"(kind="connect")"}),
            3);
  EXPECT_EQ(answered(), 0) << "nothing reached the backend unverified";
}

// verify: false accepts a certificate the proxy cannot verify (another CA, another name): the
// same upstream as in the test above is served, over TLS.
TEST_F(TlsUpstreamTest, VerifyFalseServesAnUpstreamWhoseCertificateCannotBeVerified) {
  const auto port = start_backend();
  ASSERT_NE(port, 0) << read_file(dir.path() + "/backend.log");
  Bgproxy proxy(config(port, make_certificate("someone-else.test").cert_pem, false,
                       "      verify: false\n      server_name: not-the-backend.test\n"));
  ASSERT_TRUE(proxy.start());
  for (int i = 0; i < 3; ++i) {
    const auto r = http_request(proxy.proxy_port(), "GET", "/", {{"X-Bluegreen", "green"}});
    ASSERT_EQ(r.status, 200u) << r.error << proxy.log();
    EXPECT_EQ(r.body, "tls-backend");
  }
  EXPECT_EQ(answered(), 3);
  EXPECT_EQ(metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_upstream_errors_total",
                       {R"(color="green")"}),
            0);
}

}  // namespace
}  // namespace bgt
