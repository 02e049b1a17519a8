#include "proxy/http1/chunk_lines.h"

#include <algorithm>

#include "proxy/http1/syntax.h"

namespace bgp {

namespace {

constexpr unsigned kMaxSizeDigits = 16;  // 64 bits; Beast refuses larger sizes too

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A byte that may appear inside a chunk extension or a trailer line: HTAB, visible ASCII, SP and
// obs-text. CR and LF only end a line, as CRLF; other controls have no place there.
constexpr bool is_line_byte(char c) noexcept {
  return http1::is(http1::kFieldValue, c);
}

}  // namespace

bool ChunkLines::feed(std::string_view bytes) noexcept {
  for (std::size_t at = 0; at < bytes.size();) {
    if (state_ == State::done || state_ == State::failed) break;
    if (state_ == State::data) {
      const auto take = std::min<std::uint64_t>(remaining_, bytes.size() - at);
      remaining_ -= take;
      at += static_cast<std::size_t>(take);
      if (remaining_ == 0) state_ = State::data_cr;
      continue;
    }
    if (!step(bytes[at++])) state_ = State::failed;
  }
  return state_ != State::failed;
}

bool ChunkLines::step(char c) noexcept {
  switch (state_) {
    case State::size:
      if (const int digit = hex_value(c); digit >= 0) {
        if (++digits_ > kMaxSizeDigits) return false;
        size_ = size_ * 16 + static_cast<unsigned>(digit);
        return true;
      }
      if (digits_ == 0) return false;
      if (c == '\r') {
        state_ = State::size_lf;
        return true;
      }
      if (c != ';' && c != ' ' && c != '\t') return false;
      state_ = State::extension;
      return true;
    case State::extension:
      if (c == '\r') {
        state_ = State::size_lf;
        return true;
      }
      return is_line_byte(c);
    case State::size_lf:
      if (c != '\n') return false;
      remaining_ = size_;
      state_ = size_ == 0 ? State::trailer_line : State::data;
      size_ = 0;
      digits_ = 0;
      return true;
    case State::data_cr:
      state_ = State::data_lf;
      return c == '\r';
    case State::data_lf:
      state_ = State::size;
      return c == '\n';
    case State::trailer_line:
      if (c == '\r') {
        state_ = State::last_lf;
        return true;
      }
      state_ = State::trailer;
      return is_line_byte(c);
    case State::trailer:
      if (c == '\r') {
        state_ = State::trailer_lf;
        return true;
      }
      return is_line_byte(c);
    case State::trailer_lf:
      state_ = State::trailer_line;
      return c == '\n';
    case State::last_lf:
      state_ = State::done;
      return c == '\n';
    case State::data:
    case State::done:
    case State::failed:
      break;
  }
  return state_ != State::failed;
}

}  // namespace bgp
