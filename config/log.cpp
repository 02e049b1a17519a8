#include "config/log.h"

#include <chrono>
#include <cstdio>

#include <fmt/chrono.h>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace bgp {

std::string_view name(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "info";
}

void Logger::write(LogLevel level, std::string_view message) {
  const auto now = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  std::string line;
  if (format_.load(std::memory_order_relaxed) == LogFormat::json) {
    line = fmt::format(R"({{"ts":"{:%FT%TZ}","level":"{}","msg":{}}})", now, name(level),
                       boost::json::serialize(boost::json::string(message)));
  } else {
    line = fmt::format("{:%FT%TZ} {:<5} {}", now, name(level), message);
  }
  line += '\n';
  std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace bgp
