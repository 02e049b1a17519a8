// `bgproxy run`: wires config, data plane, controller and admin API, and handles signals.
#include <csignal>
#include <cstdio>
#include <memory>

#include <fmt/core.h>

#include "app/commands.h"
#include "app/process.h"
#include "config/config.h"
#include "config/log.h"

namespace bgp {
namespace {

void print_errors(const ConfigResult& result) {
  for (const auto& error : result.errors) fmt::print(stderr, "{}\n", error.to_string());
}

}  // namespace

int run_command(const std::optional<std::string>& config_path) {
  ConfigResult result = config_path ? load_config_file(*config_path) : ConfigResult{Config{}, {}};
  if (!result.ok()) {
    print_errors(result);
    return 2;
  }
  auto config = std::make_shared<const Config>(std::move(*result.config));
  Process process(std::move(config), config_path);
  return process.run();
}

int check_config_command(const std::string& path) {
  const ConfigResult result = load_config_file(path);
  if (!result.ok()) {
    print_errors(result);
    return 2;
  }
  fmt::print("{}: valid\n", path);
  return 0;
}

}  // namespace bgp
