#include "support/etcd_member.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

extern char** environ;

namespace bgt {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

namespace {

std::string make_data_dir() {
  // /dev/shm: etcd fsyncs its WAL on every write, which tmpfs makes free.
  const std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string pattern = base + "/bgproxy-etcd-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

std::string url(std::uint16_t port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

// GET /health once, with a deadline: {"health":"true"} when the member has a leader.
bool healthy(std::uint16_t port) {
  asio::io_context io;
  bool ok = false;
  auto probe = [&]() -> asio::awaitable<void> {
    constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
    boost::beast::tcp_stream stream(io);
    stream.expires_after(1s);
    auto [ec] = co_await stream.async_connect({asio::ip::make_address("127.0.0.1"), port}, nothrow);
    if (ec) co_return;
    http::request<http::empty_body> request{http::verb::get, "/health", 11};
    request.set(http::field::host, "127.0.0.1");
    request.keep_alive(false);
    std::tie(ec, std::ignore) = co_await http::async_write(stream, request, nothrow);
    if (ec) co_return;
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response;
    std::tie(ec, std::ignore) = co_await http::async_read(stream, buffer, response, nothrow);
    ok = !ec && response.body().find(R"("health":"true")") != std::string::npos;
  };
  asio::co_spawn(io, probe(), asio::detached);
  io.run();
  return ok;
}

}  // namespace

bool EtcdMember::available() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (::access((dir + "/etcd").c_str(), X_OK) == 0) return true;
  }
  return false;
}

EtcdMember::EtcdMember() : dir_(make_data_dir()) {
  name_ = std::filesystem::path(dir_).filename().string();
  client_port_ = free_loopback_port();
  peer_port_ = free_loopback_port();
  start(name_ + "=" + url(peer_port_), name_);
}

EtcdMember::EtcdMember(std::string name, std::uint16_t client_port, std::uint16_t peer_port,
                       const std::string& initial_cluster, const std::string& cluster_token)
    : dir_(make_data_dir()),
      name_(std::move(name)),
      client_port_(client_port),
      peer_port_(peer_port) {
  start(initial_cluster, cluster_token);
}

EtcdMember::~EtcdMember() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void EtcdMember::restart() {
  kill();
  start(initial_cluster_, cluster_token_);
}

void EtcdMember::start(const std::string& initial_cluster, const std::string& cluster_token) {
  initial_cluster_ = initial_cluster;
  cluster_token_ = cluster_token;
  const std::vector<std::string> args = {
      "etcd",
      "--name=" + name_,
      "--data-dir=" + dir_ + "/data",
      "--listen-client-urls=" + url(client_port_),
      "--advertise-client-urls=" + url(client_port_),
      "--listen-peer-urls=" + url(peer_port_),
      "--initial-advertise-peer-urls=" + url(peer_port_),
      "--initial-cluster=" + initial_cluster,
      "--initial-cluster-token=" + cluster_token,
      "--initial-cluster-state=new",
  };
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const std::string log_path = dir_ + "/etcd.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  if (::posix_spawnp(&pid_, "etcd", &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
}

bool EtcdMember::wait_healthy(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (healthy(client_port_)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

void EtcdMember::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string EtcdMember::endpoint() const {
  return "127.0.0.1:" + std::to_string(client_port_);
}

std::string EtcdMember::log() const {
  std::ifstream in(dir_ + "/etcd.log");
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

EtcdCluster::EtcdCluster(int size) {
  struct Ports {
    std::string name;
    std::uint16_t client, peer;
  };
  // A random token keeps the names of clusters started by concurrent tests apart.
  const std::string token = "bgproxy-" + std::to_string(std::random_device{}());
  std::vector<Ports> ports;
  std::string initial_cluster;
  for (int i = 0; i < size; ++i) {
    ports.push_back({token + "-m" + std::to_string(i), free_loopback_port(), free_loopback_port()});
    initial_cluster += (i > 0 ? "," : "") + ports.back().name + "=" + url(ports.back().peer);
  }
  for (const auto& p : ports) {
    members_.push_back(
        std::make_unique<EtcdMember>(p.name, p.client, p.peer, initial_cluster, token));
  }
}

bool EtcdCluster::wait_healthy(std::chrono::milliseconds timeout) {
  for (auto& member : members_) {
    if (!member->wait_healthy(timeout)) return false;
  }
  return true;
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (const auto& member : members_) out.push_back(member->endpoint());
  return out;
}

std::string EtcdCluster::logs() const {
  std::string out;
  for (const auto& member : members_) out += "--- " + member->name() + "\n" + member->log();
  return out;
}

}  // namespace bgt
