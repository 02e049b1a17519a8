// tls_handshakes: as many full TLS handshakes per second as a server will do.
//
// Keeps K connections in flight to HOST:PORT on one thread (epoll, non-blocking
// sockets). Each one connects, does a full handshake (a new SSL every time, no
// session reuse, SSL_OP_NO_TICKET, no certificate verification), by default sends
// one `GET / HTTP/1.1` and reads the response, then closes with a reset (SO_LINGER
// 0: no TIME_WAIT, so the ephemeral ports last) and starts the next connection.
// Counts completed connections over --duration seconds.
//
// Used by bench/tls.sh, several processes in parallel so that the client is not
// the bottleneck. Built by the script (g++ -O2 -std=c++20 ... -lssl -lcrypto).
//
//   tls_handshakes HOST PORT [--conns 32] [--duration 10] [--handshake-only]
//                  [--tls1.2 | --tls1.3] [--groups X25519:P-256]
//
// Output (stdout, one line):
//   RESULT handshakes=<n> seconds=<s> rate=<n/s> failed=<n> protocol=<v> cipher=<c>
//          group=<g> [first_error=<text>]
// Exit: 0 when at least one handshake completed, 1 when none did, 2 on usage errors.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

enum class State { Connecting, Handshake, Writing, Reading };

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  State state = State::Connecting;
  std::string in;
  size_t written = 0;
};

std::string ssl_error_text() {
  unsigned long e = ERR_get_error();
  if (e == 0) return errno ? std::strerror(errno) : "unexpected EOF";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

void usage() {
  std::fprintf(stderr,
               "usage: tls_handshakes HOST PORT [--conns K] [--duration S] [--handshake-only]\n"
               "                      [--tls1.2 | --tls1.3] [--groups LIST]\n");
}

// A complete 2xx response in `in`? 1 yes, 0 not yet, -1 bad.
int response_complete(const std::string& in) {
  size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return in.size() > 65536 ? -1 : 0;
  if (in.size() < 12 || in.compare(0, 5, "HTTP/") != 0) return -1;
  int status = std::atoi(in.c_str() + 9);
  if (status < 200 || status >= 300) return -1;
  size_t cl = 0;
  for (size_t p = 0; p < end;) {
    size_t nl = in.find("\r\n", p);
    std::string_view line(in.data() + p, nl - p);
    if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0)
      cl = std::strtoul(std::string(line.substr(15)).c_str(), nullptr, 10);
    p = nl + 2;
  }
  return in.size() >= end + 4 + cl ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    usage();
    return 2;
  }
  const char* host = argv[1];
  int port = std::atoi(argv[2]);
  int conns = 32;
  double duration = 10;
  bool handshake_only = false;
  int min_v = TLS1_2_VERSION, max_v = TLS1_3_VERSION;
  std::string groups;
  for (int i = 3; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--conns" && i + 1 < argc) {
      conns = std::atoi(argv[++i]);
    } else if (a == "--duration" && i + 1 < argc) {
      duration = std::atof(argv[++i]);
    } else if (a == "--handshake-only") {
      handshake_only = true;
    } else if (a == "--tls1.2") {
      min_v = max_v = TLS1_2_VERSION;
    } else if (a == "--tls1.3") {
      min_v = max_v = TLS1_3_VERSION;
    } else if (a == "--groups" && i + 1 < argc) {
      groups = argv[++i];
    } else {
      usage();
      return 2;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (port <= 0 || port > 65535 || conns <= 0 || duration <= 0 ||
      ::inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    usage();
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, min_v);
  SSL_CTX_set_max_proto_version(ctx, max_v);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn);
  if (!groups.empty() && SSL_CTX_set1_groups_list(ctx, groups.c_str()) != 1) {
    std::fprintf(stderr, "tls_handshakes: bad --groups %s\n", groups.c_str());
    return 2;
  }

  const std::string req = std::string("GET / HTTP/1.1\r\nHost: ") + host + ":" +
                          std::to_string(port) +
                          "\r\nUser-Agent: bgproxy-bench-tls\r\nAccept: */*\r\n\r\n";

  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> slots(static_cast<size_t>(conns));
  long done = 0, failed = 0;
  std::string first_error, protocol = "-", cipher = "-", group = "-";

  auto close_conn = [&](Conn& c) {
    if (c.ssl) SSL_free(c.ssl);  // no close_notify: the reset below ends it
    c.ssl = nullptr;
    if (c.fd >= 0) {
      linger lg{1, 0};
      ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      ::close(c.fd);  // also removes it from the epoll set
    }
    c.fd = -1;
  };
  auto fail = [&](Conn& c, const std::string& why) {
    ++failed;
    if (first_error.empty()) first_error = why;
    close_conn(c);
  };
  auto open_conn = [&](Conn& c, size_t idx) -> bool {
    c = Conn{};
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      fail(c, std::string("socket: ") + std::strerror(errno));
      return false;
    }
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS) {
      fail(c, std::string("connect: ") + std::strerror(errno));
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.u64 = idx;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  };

  // Drives one connection as far as it goes; true when it completed.
  auto step = [&](Conn& c) -> bool {
    for (;;) {
      switch (c.state) {
        case State::Connecting: {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            fail(c, std::string("connect: ") + std::strerror(err));
            return false;
          }
          c.ssl = SSL_new(ctx);
          SSL_set_fd(c.ssl, c.fd);
          SSL_set_connect_state(c.ssl);
          c.state = State::Handshake;
          break;
        }
        case State::Handshake: {
          ERR_clear_error();
          errno = 0;
          int r = SSL_do_handshake(c.ssl);
          if (r != 1) {
            int e = SSL_get_error(c.ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return false;
            fail(c, "handshake: " + ssl_error_text());
            return false;
          }
          if (protocol == "-") {
            protocol = SSL_get_version(c.ssl);
            cipher = SSL_get_cipher_name(c.ssl);
            int nid = SSL_get_negotiated_group(c.ssl);
            const char* g = nid ? SSL_group_to_name(c.ssl, nid) : nullptr;
            if (g) group = g;
          }
          if (handshake_only) return true;
          c.state = State::Writing;
          break;
        }
        case State::Writing: {
          ERR_clear_error();
          int r = SSL_write(c.ssl, req.data() + c.written, static_cast<int>(req.size() - c.written));
          if (r <= 0) {
            int e = SSL_get_error(c.ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return false;
            fail(c, "write: " + ssl_error_text());
            return false;
          }
          c.written += static_cast<size_t>(r);
          if (c.written == req.size()) c.state = State::Reading;
          break;
        }
        case State::Reading: {
          char buf[4096];
          ERR_clear_error();
          errno = 0;
          int r = SSL_read(c.ssl, buf, sizeof buf);
          if (r <= 0) {
            int e = SSL_get_error(c.ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return false;
            fail(c, e == SSL_ERROR_ZERO_RETURN ? "closed before the response" : "read: " + ssl_error_text());
            return false;
          }
          c.in.append(buf, static_cast<size_t>(r));
          int st = response_complete(c.in);
          if (st < 0) {
            fail(c, "bad response: " + c.in.substr(0, c.in.find('\r')));
            return false;
          }
          if (st > 0) return true;
          break;
        }
      }
    }
  };

  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration));
  for (size_t i = 0; i < slots.size(); ++i) open_conn(slots[i], i);
  std::vector<epoll_event> evs(slots.size());
  bool stop = false;
  while (!stop) {
    auto now = Clock::now();
    if (now >= end) break;
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end - now).count()) + 1;
    int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), ms);
    if (n < 0 && errno != EINTR) break;
    for (int k = 0; k < n; ++k) {
      size_t idx = evs[k].data.u64;
      Conn& c = slots[idx];
      if (c.fd < 0) continue;
      bool completed = step(c);
      if (completed) {
        ++done;
        close_conn(c);
      }
      if (c.fd < 0) {
        if (Clock::now() >= end) {
          stop = true;
          continue;
        }
        // a failing server must not make this spin: after a failure wait a moment
        if (!completed) ::usleep(1000);
        open_conn(slots[idx], idx);
      }
    }
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& c : slots) close_conn(c);
  std::printf("RESULT handshakes=%ld seconds=%.3f rate=%.1f failed=%ld protocol=%s cipher=%s group=%s",
              done, secs, done / secs, failed, protocol.c_str(), cipher.c_str(), group.c_str());
  if (!first_error.empty()) {
    for (auto& ch : first_error)
      if (ch == ' ') ch = '_';
    std::printf(" first_error=%s", first_error.c_str());
  }
  std::printf("\n");
  SSL_CTX_free(ctx);
  return done > 0 ? 0 : 1;
}
