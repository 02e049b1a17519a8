// A small structured logger (text or JSON lines on stderr). One instance is made in main and passed
// by reference; nothing on the request hot path logs at info level.
#pragma once

#include <atomic>
#include <mutex>
#include <string_view>

#include <fmt/format.h>
#include <boost/json/object.hpp>

#include "config/config.h"

namespace bgp {

class Logger {
 public:
  explicit Logger(LogConfig config = {}) { configure(config); }

  void configure(const LogConfig& config) noexcept {
    level_.store(config.level, std::memory_order_relaxed);
    format_.store(config.format, std::memory_order_relaxed);
  }
  bool enabled(LogLevel level) const noexcept {
    return level >= level_.load(std::memory_order_relaxed);
  }

  template <typename... Args>
  void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(level)) write(level, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void debug(fmt::format_string<Args...> f, Args&&... a) {
    log(LogLevel::debug, f, std::forward<Args>(a)...);
  }
  template <typename... Args>
  void info(fmt::format_string<Args...> f, Args&&... a) {
    log(LogLevel::info, f, std::forward<Args>(a)...);
  }
  template <typename... Args>
  void warn(fmt::format_string<Args...> f, Args&&... a) {
    log(LogLevel::warn, f, std::forward<Args>(a)...);
  }
  template <typename... Args>
  void error(fmt::format_string<Args...> f, Args&&... a) {
    log(LogLevel::error, f, std::forward<Args>(a)...);
  }

  // An event with fields: JSON lines carry them beside "msg" (e.g. "event", "color", "reason",
  // the numbers); text lines show the message only.
  void event(LogLevel level, std::string_view message, const boost::json::object& fields) {
    if (enabled(level)) write(level, message, fields);
  }

  void write(LogLevel level, std::string_view message, const boost::json::object& fields = {});

 private:
  std::atomic<LogLevel> level_{LogLevel::info};
  std::atomic<LogFormat> format_{LogFormat::text};
  std::mutex mutex_;  // keeps lines whole when threads log at once
};

std::string_view name(LogLevel level) noexcept;

}  // namespace bgp
