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

// "2026-11-30T10:00:05.250Z": milliseconds, so that lines of one second keep their order.
std::string timestamp() {
  using namespace std::chrono;
  const auto now = floor<milliseconds>(system_clock::now());
  const auto whole = floor<seconds>(now);
  return fmt::format("{:%FT%H:%M:%S}.{:03}Z", whole, (now - whole).count());
}

void Logger::write(LogLevel level, std::string_view message, const boost::json::object& fields) {
  std::string line;
  if (format_.load(std::memory_order_relaxed) == LogFormat::json) {
    boost::json::object out{{"ts", timestamp()}, {"level", name(level)}, {"msg", message}};
    for (const auto& field : fields) out[field.key()] = field.value();
    line = boost::json::serialize(out);
  } else {
    line = fmt::format("{} {:<5} {}", timestamp(), name(level), message);
  }
  line += '\n';
  std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace bgp
