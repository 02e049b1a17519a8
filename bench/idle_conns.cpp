// idle_conns: open N keep-alive connections to HOST:PORT, send one
// `GET PATH HTTP/1.1` on each, read the whole response, and keep every
// connection open and idle until SIGTERM/SIGINT (or --hold seconds).
//
// Used by bench/compare.sh to measure a proxy's memory per idle keep-alive
// connection, and with --tls by bench/tls.sh for idle TLS connections: each
// connection then does a full handshake (no session reuse), the request and the
// response go over TLS, and the client frees its SSL without a close_notify, so
// it keeps only the socket while the server keeps its whole TLS state. Built by
// the scripts themselves (g++ -O2 -std=c++20 ... -lssl -lcrypto).
//
// Output (stdout, one line each, flushed):
//   READY ok=<n> failed=<n> [first_error=<text>]   once all connections are set up
//   DONE open=<n> closed_by_peer=<n>               at exit: how many were still open
//
// Exit: 0 when READY was reached (even with failures), 2 on usage errors.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Reads like recv(2): > 0 bytes, 0 at the end, < 0 on an error (errno set).
using Reader = std::function<ssize_t(char*, size_t)>;

// Reads one HTTP/1.1 response. Returns "" on success (2xx/3xx, kept alive), or
// a short reason.
std::string read_response(const Reader& recv_some) {
  std::string buf;
  char tmp[4096];
  size_t header_end = std::string::npos;
  while (header_end == std::string::npos) {
    ssize_t n = recv_some(tmp, sizeof tmp);
    if (n == 0) return "closed before headers";
    if (n < 0) return std::string("recv: ") + std::strerror(errno);
    buf.append(tmp, static_cast<size_t>(n));
    header_end = buf.find("\r\n\r\n");
    if (buf.size() > 65536) return "headers too long";
  }
  std::string head = lower(std::string_view(buf).substr(0, header_end + 2));
  if (head.size() < 12 || head.compare(0, 5, "http/") != 0) return "not an HTTP response";
  int status = std::atoi(head.c_str() + 9);
  if (status < 200 || status >= 400) return "status " + std::to_string(status);
  bool close = head.find("\r\nconnection: close\r\n") != std::string::npos ||
               head.find("\r\nconnection:close\r\n") != std::string::npos;
  std::string body = buf.substr(header_end + 4);
  if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    while (body.find("0\r\n\r\n") == std::string::npos) {
      ssize_t n = recv_some(tmp, sizeof tmp);
      if (n <= 0) return "closed in chunked body";
      body.append(tmp, static_cast<size_t>(n));
    }
  } else {
    size_t cl = 0;
    if (auto p = head.find("\r\ncontent-length:"); p != std::string::npos)
      cl = std::strtoul(head.c_str() + p + 17, nullptr, 10);
    while (body.size() < cl) {
      ssize_t n = recv_some(tmp, sizeof tmp);
      if (n <= 0) return "closed in body";
      body.append(tmp, static_cast<size_t>(n));
    }
  }
  if (close) return "server sent Connection: close";
  return "";
}

void usage() {
  std::fprintf(stderr,
               "usage: idle_conns HOST PORT N [--path /] [--hold SECONDS] [--tls]\n"
               "  opens N keep-alive connections, one request each, keeps them idle\n"
               "  until SIGTERM/SIGINT or --hold seconds (default 600); --tls: over TLS\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    usage();
    return 2;
  }
  const char* host = argv[1];
  int port = std::atoi(argv[2]);
  long n = std::atol(argv[3]);
  std::string path = "/";
  int hold = 600;
  bool tls = false;
  for (int i = 4; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--path" && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--hold" && i + 1 < argc) {
      hold = std::atoi(argv[++i]);
    } else if (a == "--tls") {
      tls = true;
    } else {
      usage();
      return 2;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (port <= 0 || port > 65535 || n <= 0 || ::inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    usage();
    return 2;
  }

  // Block the stop signals now; they are waited for with sigtimedwait below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }

  SSL_CTX* ctx = nullptr;
  if (tls) {
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn);
  }
  auto ssl_error = [](const char* what) {
    unsigned long e = ERR_get_error();
    char buf[256];
    if (e != 0) {
      ERR_error_string_n(e, buf, sizeof buf);
      ERR_clear_error();
    } else {
      std::snprintf(buf, sizeof buf, "%s", errno ? std::strerror(errno) : "unexpected EOF");
    }
    return std::string(what) + ": " + buf;
  };

  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" +
                          std::to_string(port) +
                          "\r\nUser-Agent: bgproxy-bench-idle\r\nAccept: */*\r\n\r\n";
  std::vector<int> fds;
  fds.reserve(static_cast<size_t>(n));
  long failed = 0;
  std::string first_error;
  timeval tv{5, 0};
  for (long i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    std::string err;
    if (fd < 0) {
      err = std::string("socket: ") + std::strerror(errno);
    } else {
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        err = std::string("connect: ") + std::strerror(errno);
      } else if (tls) {
        SSL* ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        ERR_clear_error();
        errno = 0;
        if (SSL_connect(ssl) != 1) {
          err = ssl_error("handshake");
        } else if (SSL_write(ssl, req.data(), static_cast<int>(req.size())) !=
                   static_cast<int>(req.size())) {
          err = ssl_error("SSL_write");
        } else {
          err = read_response([ssl](char* p, size_t len) -> ssize_t {
            int r = SSL_read(ssl, p, static_cast<int>(len));
            return r > 0 ? r : (SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
          });
        }
        SSL_free(ssl);  // no close_notify: the server keeps the connection and its TLS state
      } else if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) !=
                 static_cast<ssize_t>(req.size())) {
        err = std::string("send: ") + std::strerror(errno);
      } else {
        err = read_response([fd](char* p, size_t len) { return ::recv(fd, p, len, 0); });
      }
    }
    if (err.empty()) {
      fds.push_back(fd);
    } else {
      ++failed;
      if (first_error.empty()) first_error = err;
      if (fd >= 0) ::close(fd);
      if (err.rfind("socket:", 0) == 0) {  // out of fds: no point going on
        failed += n - i - 1;
        break;
      }
    }
  }
  std::printf("READY ok=%zu failed=%ld", fds.size(), failed);
  if (!first_error.empty()) {
    for (auto& c : first_error)
      if (c == ' ') c = '_';
    std::printf(" first_error=%s", first_error.c_str());
  }
  std::printf("\n");
  std::fflush(stdout);

  timespec ts{hold, 0};
  sigtimedwait(&stop, nullptr, &ts);

  // Which connections did the peer close while we held them?
  long closed = 0;
  std::vector<pollfd> pfds(fds.size());
  for (size_t i = 0; i < fds.size(); ++i) pfds[i] = {fds[i], POLLIN | POLLRDHUP, 0};
  if (!pfds.empty() && ::poll(pfds.data(), pfds.size(), 0) > 0) {
    for (auto& p : pfds)
      if (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) ++closed;
  }
  std::printf("DONE open=%ld closed_by_peer=%ld\n", static_cast<long>(fds.size()) - closed, closed);
  std::fflush(stdout);
  for (int fd : fds) ::close(fd);
  return 0;
}
