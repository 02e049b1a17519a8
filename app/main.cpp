// bgproxy: argument dispatch only; every subcommand lives in its own file of app/.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <span>
#include <string_view>

#include <fmt/core.h>

#include "app/commands.h"
#include "app/openssl_heap.h"

namespace {

constexpr std::string_view kUsage = R"(usage:
  bgproxy [run] [-c FILE]        run the proxy (without -c: the built-in defaults)
  bgproxy check-config FILE      validate a config file, print every error
  bgproxy demo [--green-error-rate R] [--green-latency D] [--step-duration D]
                                 a self-contained rollout demo
  bgproxy ctl [--admin URL] [--token T] [--json] COMMAND
                                 the operator CLI (bgproxy ctl --help lists its commands)
  bgproxy version
)";

int usage_error(std::string_view message) {
  fmt::print(stderr, "bgproxy: {}\n{}", message, kUsage);
  return 2;
}

int print_usage() {
  fmt::print("{}", kUsage);
  return 0;
}

int run_with_args(std::span<char*> args) {
  if (bgp::asks_for_help(args)) return print_usage();
  std::optional<std::string> config_path;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if ((arg == "-c" || arg == "--config") && i + 1 < args.size()) {
      config_path = args[++i];
    } else {
      return usage_error(fmt::format("unexpected argument '{}'", arg));
    }
  }
  return bgp::run_command(config_path);
}

}  // namespace

int main(int argc, char** argv) {
  const bool openssl_on_libc = bgp::kAllocator == "tcmalloc" && bgp::keep_openssl_on_libc_malloc();
  const std::span<char*> args(argv + 1, static_cast<std::size_t>(argc - 1));
  if (args.empty()) return bgp::run_command(std::nullopt);
  const std::string_view command = args[0];
  const auto rest = args.subspan(1);
  if (command == "run") return run_with_args(rest);
  if (command == "-c" || command == "--config") return run_with_args(args);
  if (command == "check-config") {
    if (bgp::asks_for_help(rest)) return print_usage();
    if (rest.size() != 1) return usage_error("check-config takes one FILE");
    return bgp::check_config_command(rest[0]);
  }
  if (command == "ctl") return bgp::ctl_command(rest);
  if (command == "demo") return bgp::demo_command(rest);
  if (command == "version" || command == "--version") {
    fmt::print("bgproxy {} (commit {}, allocator {}{})\n", bgp::kVersion, bgp::kCommit,
               bgp::kAllocator, openssl_on_libc ? ", OpenSSL on libc malloc" : "");
    return 0;
  }
  if (command == "help" || bgp::is_help_option(command)) return print_usage();
  return usage_error(fmt::format("unknown command '{}'", command));
}
