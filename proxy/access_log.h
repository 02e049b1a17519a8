// The access log (log.access): one line per request, in the log's format (docs/configuration.md).
// Each worker appends to its own buffer, without a lock, and writes it out whole lines at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "metrics/stats.h"
#include "proxy/outcome.h"

namespace bgp {

// Where access lines go: a file opened for appending, or stdout. Shared by the workers: each
// writes whole lines, at most PIPE_BUF bytes a call, which the kernel never interleaves with
// another writer's (appends to a file, or writes to a pipe).
class AccessLogFile {
 public:
  // Opens `path` for appending ("" = stdout). Throws std::runtime_error naming the path.
  static std::shared_ptr<const AccessLogFile> open(const std::string& path);

  AccessLogFile(int fd, bool owned) noexcept : fd_(fd), owned_(owned) {}
  AccessLogFile(const AccessLogFile&) = delete;
  AccessLogFile& operator=(const AccessLogFile&) = delete;
  ~AccessLogFile();

  // Writes `lines` (whole lines), in pieces that end at a line's end. False if a write failed.
  bool write(std::string_view lines) const noexcept;

 private:
  int fd_;
  bool owned_;
};

// What an access line tells of one request.
struct AccessRecord {
  std::string_view client;  // the client's address
  std::string_view method;  // "-" when the head was refused before it was read
  std::string_view target;  // the request-target as received ("-" likewise)
  unsigned version = 11;    // 10 or 11
  unsigned status = 0;
  std::uint64_t bytes = 0;  // bytes of the response written to the client, head included
  std::string_view color;   // "blue", "green" or "none" (refused before routing)
  Route route = Route::split;
  std::string_view endpoint;                          // "" when none was chosen
  std::optional<std::chrono::microseconds> upstream;  // first attempt to response head
  std::chrono::microseconds total{0};                 // request head to last byte
  Outcome outcome = Outcome::answered;
};

// One worker's access lines, waiting to be written. Touched by its worker only.
class AccessLogBuffer {
 public:
  static constexpr std::size_t kFlushAt = 32 * 1024;

  // Appends the line of `record`, stamped `now`.
  void append(const AccessRecord& record, LogFormat format,
              std::chrono::system_clock::time_point now);
  bool full() const noexcept { return buffer_.size() >= kFlushAt; }
  bool empty() const noexcept { return buffer_.empty(); }
  // Writes what is buffered to `file` and empties the buffer (also when the write failed: an
  // access line is never worth the memory of a log that cannot be written). Returns the lines
  // lost to a failed write (0 when all were written).
  std::size_t flush(const AccessLogFile& file) noexcept;
  void discard() noexcept { buffer_.clear(); }

 private:
  void append_json(const AccessRecord& record, std::chrono::system_clock::time_point now);
  void stamp(std::chrono::system_clock::time_point now);

  std::string buffer_;
  std::chrono::sys_seconds stamped_second_{};
  std::string second_text_;  // "2026-11-30T10:00:05", for stamped_second_
};

}  // namespace bgp
