// The subcommands of the bgproxy executable (docs/cli.md). Each returns the process exit code.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bgp {

inline constexpr std::string_view kVersion = BGPROXY_VERSION;
inline constexpr std::string_view kCommit = BGPROXY_COMMIT;  // git, at configure time

int run_command(const std::optional<std::string>& config_path);
int check_config_command(const std::string& path);
int ctl_command(std::span<char*> args);
int demo_command(std::span<char*> args);

}  // namespace bgp
