// The small pieces of HTTP/1 syntax every HTTP/1 reader and writer here shares (RFC 9110 section
// 5.6, RFC 9112, RFC 3986): character classes, optional whitespace, ASCII case-insensitive names,
// Content-Length digits, and which fields a Connection header may not take away. Pure, no
// allocation; the character tests are constexpr so that the scans over a head inline them.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace bgp::http1 {

// Character classes, as one table lookup each.
enum CharClass : unsigned char {
  kToken = 1,       // tchar: the bytes of a field name, a method, a transfer coding
  kHost = 2,        // unreserved / sub-delims: a reg-name without its pct-encoding
  kHex = 4,         // HEXDIG
  kFieldValue = 8,  // SP / HTAB / VCHAR / obs-text: a field value or a reason phrase
};

namespace detail {
constexpr std::array<unsigned char, 256> make_char_classes() {
  std::array<unsigned char, 256> table{};
  for (int c = 0x21; c < 0x7f; ++c) table[c] |= kFieldValue;
  for (int c = 0x80; c < 0x100; ++c) table[c] |= kFieldValue;
  table[' '] |= kFieldValue;
  table['\t'] |= kFieldValue;
  for (int c = '0'; c <= '9'; ++c) table[c] |= kToken | kHost | kHex;
  for (int c = 'a'; c <= 'z'; ++c) table[c] |= kToken | kHost;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] |= kToken | kHost;
  for (int c = 'a'; c <= 'f'; ++c) table[c] |= kHex;
  for (int c = 'A'; c <= 'F'; ++c) table[c] |= kHex;
  for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~")) table[c] |= kToken;
  for (unsigned char c : std::string_view("-._~!$&'()*+,;=")) table[c] |= kHost;
  return table;
}
inline constexpr auto kCharClasses = make_char_classes();
}  // namespace detail

constexpr bool is(CharClass cls, char c) noexcept {
  return (detail::kCharClasses[static_cast<unsigned char>(c)] & cls) != 0;
}

constexpr bool is_token_char(char c) noexcept {
  return is(kToken, c);
}

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// OWS: SP or HTAB.
constexpr bool is_whitespace(char c) noexcept {
  return c == ' ' || c == '\t';
}

// `s` without the optional whitespace around it.
constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_whitespace(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_whitespace(s.back())) s.remove_suffix(1);
  return s;
}

constexpr char to_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

// ASCII case-insensitive equality. Not Beast's iequals: in 1.81 it reads one byte past both
// strings when their last characters differ in case only (found by the fuzz target,
// tests/fuzz/regressions/request_head/scheme-case-differs-at-end-of-target).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return to_lower(x) == to_lower(y);
         });
}

// A Content-Length value: 1 to 18 decimal digits (any such number fits in 64 bits), nothing else;
// nullopt otherwise.
std::optional<std::uint64_t> parse_length(std::string_view digits) noexcept;

// Whether a field named in Connection (`Connection: NAME`) may be removed with it. Never one that
// frames the message (Content-Length, Transfer-Encoding) or names it (Host), nor Connection
// itself: `Connection: content-length` must not change how the next hop delimits the message.
// Upgrade stays while `upgrading`.
bool removable_by_connection(std::string_view name, bool upgrading) noexcept;

}  // namespace bgp::http1
