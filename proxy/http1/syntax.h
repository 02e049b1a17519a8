// The small pieces of HTTP/1 syntax every HTTP/1 reader and writer here shares (RFC 9110 section
// 5.6, RFC 9112, RFC 3986): character classes, optional whitespace, ASCII case-insensitive names,
// Content-Length digits, which fields are hop-by-hop and which a Connection header may not take
// away. Pure, no allocation; the character tests and the name tests are constexpr so that the
// scans over a head inline them.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>

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

// ASCII case-insensitive equality with `lower`, a literal of lower-case letters, digits and '-'
// (exact for any bytes of `name`). Eight bytes at a time, one OR and one compare each: what the
// scans over a head compare field names with.
constexpr bool equals_lower(std::string_view name, std::string_view lower) noexcept {
  const std::size_t n = lower.size();
  if (name.size() != n) return false;
  std::size_t i = 0;
  if (!std::is_constant_evaluated()) {
    // Bit 0x20 of each byte of `lower` copied from its bit 0x40: set under a letter (which then
    // matches either case), clear under a digit or '-' (which must match exactly).
    constexpr std::uint64_t kCaseBits = 0x2020202020202020ull;
    for (; i + 8 <= n; i += 8) {
      std::uint64_t got;
      std::uint64_t want;
      std::memcpy(&got, name.data() + i, sizeof got);
      std::memcpy(&want, lower.data() + i, sizeof want);
      if ((got | ((want >> 1) & kCaseBits)) != want) return false;
    }
  }
  for (; i < n; ++i) {
    if ((name[i] | ((lower[i] >> 1) & 0x20)) != lower[i]) return false;
  }
  return true;
}

// The field names relaying acts on by name alone. The hop-by-hop ones are the one list of them.
enum class KnownField : std::uint8_t {
  other,
  // Hop-by-hop: a proxy never forwards them as they came (RFC 9110 section 7.6.1; Trailer as RFC
  // 2616 section 13.5.1 has it).
  connection,
  keep_alive,
  proxy_connection,
  te,
  trailer,
  upgrade,
  // Not hop-by-hop: framing (Transfer-Encoding is of one hop too, but every writer of a head sets
  // its own), Via, and Close (a field `Connection: close` would remove).
  content_length,
  transfer_encoding,
  via,
  close,
};

// Which known field `name` is, in any case. One switch on the length and one compare, inlined
// into every caller: the hot path's scan of a response head asks for every field.
[[gnu::always_inline]] constexpr KnownField known_field(std::string_view name) noexcept {
  switch (name.size()) {
    case 2:
      return equals_lower(name, "te") ? KnownField::te : KnownField::other;
    case 3:
      return equals_lower(name, "via") ? KnownField::via : KnownField::other;
    case 5:
      return equals_lower(name, "close") ? KnownField::close : KnownField::other;
    case 7:
      if (equals_lower(name, "trailer")) return KnownField::trailer;
      return equals_lower(name, "upgrade") ? KnownField::upgrade : KnownField::other;
    case 10:
      if (equals_lower(name, "connection")) return KnownField::connection;
      return equals_lower(name, "keep-alive") ? KnownField::keep_alive : KnownField::other;
    case 14:
      return equals_lower(name, "content-length") ? KnownField::content_length : KnownField::other;
    case 16:
      return equals_lower(name, "proxy-connection") ? KnownField::proxy_connection
                                                    : KnownField::other;
    case 17:
      return equals_lower(name, "transfer-encoding") ? KnownField::transfer_encoding
                                                     : KnownField::other;
    default:
      return KnownField::other;
  }
}

constexpr bool is_hop_by_hop(KnownField field) noexcept {
  return field >= KnownField::connection && field <= KnownField::upgrade;
}

constexpr bool is_hop_by_hop(std::string_view name) noexcept {
  return is_hop_by_hop(known_field(name));
}

// Whether a forwarded message loses `field` as hop-by-hop: every one but Upgrade while `upgrading`
// (Connection goes too, and its writer sets `Connection: upgrade` anew).
constexpr bool drops_as_hop_by_hop(KnownField field, bool upgrading) noexcept {
  return is_hop_by_hop(field) && !(upgrading && field == KnownField::upgrade);
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
