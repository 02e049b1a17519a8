#include "proxy/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <iterator>
#include <stdexcept>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace bgp {

std::shared_ptr<const AccessLogFile> AccessLogFile::open(const std::string& path) {
  if (path.empty()) return std::make_shared<const AccessLogFile>(STDOUT_FILENO, false);
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    throw std::runtime_error(
        fmt::format("cannot open the access log {}: {}", path, std::strerror(errno)));
  }
  return std::make_shared<const AccessLogFile>(fd, true);
}

AccessLogFile::~AccessLogFile() {
  if (owned_) ::close(fd_);
}

bool AccessLogFile::write(std::string_view lines) const noexcept {
  while (!lines.empty()) {
    // The longest run of whole lines within PIPE_BUF (a longer line goes alone).
    std::size_t piece = lines.size();
    if (piece > PIPE_BUF) {
      const auto last_end = lines.rfind('\n', PIPE_BUF - 1);
      piece = last_end == std::string_view::npos ? lines.find('\n') : last_end;
      piece = piece == std::string_view::npos ? lines.size() : piece + 1;
    }
    const auto written = ::write(fd_, lines.data(), piece);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    lines.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

namespace {

using Out = std::back_insert_iterator<std::string>;

bool is_plain(char c) noexcept {
  const auto byte = static_cast<unsigned char>(c);
  return byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\';
}

// A field as text: printable ASCII as is, '"' and '\' and other bytes escaped (JSON-style in
// JSON, \xNN in text), so that a request-target can neither break a line nor forge a field.
void append_escaped(std::string& out, std::string_view field, LogFormat format) {
  while (!field.empty()) {
    const auto plain = static_cast<std::size_t>(
        std::find_if_not(field.begin(), field.end(), is_plain) - field.begin());
    out.append(field.substr(0, plain));
    if (plain == field.size()) return;
    const char c = field[plain];
    if (format == LogFormat::json && (c == '"' || c == '\\')) {
      out += '\\';
      out += c;
    } else if (format == LogFormat::json) {
      fmt::format_to(Out(out), "\\u{:04x}", static_cast<unsigned char>(c));
    } else {
      fmt::format_to(Out(out), "\\x{:02x}", static_cast<unsigned char>(c));
    }
    field.remove_prefix(plain + 1);
  }
}

void append_number(std::string& out, std::uint64_t n) {
  std::array<char, 24> digits;
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), n).ptr;
  out.append(digits.data(), end);
}

// Milliseconds with three decimals ("1.045"), from whole microseconds: no floating point.
void append_millis(std::string& out, std::chrono::microseconds us) {
  const auto micros = static_cast<std::uint64_t>(std::max<std::int64_t>(us.count(), 0));
  append_number(out, micros / 1000);
  const auto fraction = micros % 1000;
  const std::array<char, 4> decimals{'.', static_cast<char>('0' + fraction / 100),
                                     static_cast<char>('0' + fraction / 10 % 10),
                                     static_cast<char>('0' + fraction % 10)};
  out.append(decimals.data(), decimals.size());
}

void append_version(std::string& out, unsigned version) {
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10 % 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
}

}  // namespace

void AccessLogBuffer::stamp(std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  const auto second = floor<seconds>(now);
  if (second != stamped_second_) {
    stamped_second_ = second;
    second_text_ = fmt::format("{:%FT%H:%M:%S}", second);
  }
  const auto ms = static_cast<unsigned>(duration_cast<milliseconds>(now - second).count());
  const std::array<char, 5> fraction{'.', static_cast<char>('0' + ms / 100),
                                     static_cast<char>('0' + ms / 10 % 10),
                                     static_cast<char>('0' + ms % 10), 'Z'};
  buffer_ += second_text_;
  buffer_.append(fraction.data(), fraction.size());
}

void AccessLogBuffer::append(const AccessRecord& r, LogFormat format,
                             std::chrono::system_clock::time_point now) {
  if (format == LogFormat::json) return append_json(r, now);
  stamp(now);
  buffer_ += ' ';
  append_escaped(buffer_, r.client, format);
  buffer_ += " \"";
  append_escaped(buffer_, r.method, format);
  buffer_ += ' ';
  append_escaped(buffer_, r.target, format);
  buffer_ += ' ';
  append_version(buffer_, r.version);
  buffer_ += "\" ";
  append_number(buffer_, r.status);
  buffer_ += " bytes=";
  append_number(buffer_, r.bytes);
  buffer_ += " color=";
  buffer_ += r.color;
  buffer_ += " route=";
  buffer_ += name(r.route);
  buffer_ += " endpoint=";
  append_escaped(buffer_, r.endpoint.empty() ? "-" : r.endpoint, format);
  buffer_ += " upstream_ms=";
  if (r.upstream) {
    append_millis(buffer_, *r.upstream);
  } else {
    buffer_ += '-';
  }
  buffer_ += " ms=";
  append_millis(buffer_, r.total);
  buffer_ += " outcome=";
  buffer_ += name(r.outcome);
  buffer_ += '\n';
}

void AccessLogBuffer::append_json(const AccessRecord& r,
                                  std::chrono::system_clock::time_point now) {
  constexpr auto json = LogFormat::json;
  buffer_ += R"({"ts":")";
  stamp(now);
  buffer_ += R"(","type":"access","client":")";
  append_escaped(buffer_, r.client, json);
  buffer_ += R"(","method":")";
  append_escaped(buffer_, r.method, json);
  buffer_ += R"(","path":")";
  append_escaped(buffer_, r.target, json);
  buffer_ += R"(","version":")";
  append_version(buffer_, r.version);
  buffer_ += R"(","status":)";
  append_number(buffer_, r.status);
  buffer_ += R"(,"bytes":)";
  append_number(buffer_, r.bytes);
  buffer_ += R"(,"color":")";
  buffer_ += r.color;
  buffer_ += R"(","route":")";
  buffer_ += name(r.route);
  buffer_ += R"(","endpoint":)";
  if (r.endpoint.empty()) {
    buffer_ += "null";
  } else {
    buffer_ += '"';
    append_escaped(buffer_, r.endpoint, json);
    buffer_ += '"';
  }
  buffer_ += R"(,"upstream_ms":)";
  if (r.upstream) {
    append_millis(buffer_, *r.upstream);
  } else {
    buffer_ += "null";
  }
  buffer_ += R"(,"ms":)";
  append_millis(buffer_, r.total);
  buffer_ += R"(,"outcome":")";
  buffer_ += name(r.outcome);
  buffer_ += "\"}\n";
}

std::size_t AccessLogBuffer::flush(const AccessLogFile& file) noexcept {
  if (buffer_.empty()) return 0;
  const std::size_t lost =
      file.write(buffer_)
          ? 0
          : static_cast<std::size_t>(std::count(buffer_.begin(), buffer_.end(), '\n'));
  buffer_.clear();
  return lost;
}

}  // namespace bgp
