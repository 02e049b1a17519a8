// The subcommands of the bgproxy executable (docs/cli.md). Each returns the process exit code.
#pragma once

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bgp {

inline constexpr std::string_view kVersion = BGPROXY_VERSION;
inline constexpr std::string_view kCommit = BGPROXY_COMMIT;  // git, at configure time
// tcmalloc, or malloc: libc's, or the sanitizers' in their builds.
inline constexpr std::string_view kAllocator = BGPROXY_ALLOCATOR;

// --help or -h: every command answers it with its usage, exit 0.
constexpr bool is_help_option(std::string_view arg) noexcept {
  return arg == "--help" || arg == "-h";
}
inline bool asks_for_help(std::span<char*> args) noexcept {
  return std::any_of(args.begin(), args.end(), [](const char* arg) { return is_help_option(arg); });
}

int run_command(const std::optional<std::string>& config_path);
int check_config_command(const std::string& path);
int ctl_command(std::span<char*> args);
int demo_command(std::span<char*> args);

}  // namespace bgp
