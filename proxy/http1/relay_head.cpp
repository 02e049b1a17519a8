#include "proxy/http1/relay_head.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <charconv>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/container/small_vector.hpp>

#include "proxy/http1/syntax.h"

namespace bgp {

namespace {

using http1::equals_lower;
using http1::iequals;
using http1::is_digit;
using http1::is_token_char;
using http1::KnownField;
using http1::removable_by_connection;
using http1::trim;
using Names = boost::container::small_vector<std::string_view, 8>;

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kXForwardedFor = "X-Forwarded-For";

// http1::known_field of every name Beast knows, by its enum (filled in before main).
const auto kKnownFields = [] {
  std::array<KnownField, static_cast<std::size_t>(http::field::xref) + 1> known{};
  for (std::size_t i = 1; i < known.size(); ++i) {
    known[i] = http1::known_field(http::to_string(static_cast<http::field>(i)));
  }
  return known;
}();

bool listed(const Names& names, std::string_view name) noexcept {
  for (std::string_view n : names) {
    if (iequals(n, name)) return true;
  }
  return false;
}

// Joins values the way http_framing's append_to_list does: ", " between non-empty prefixes.
void append_joined(std::string& out, const Names& values, std::string_view element) {
  bool empty = true;
  for (std::string_view v : values) {
    if (!empty) out += ", ";
    out += v;
    empty = empty && v.empty();
  }
  if (!empty) out += ", ";
  out += element;
}

void append_list(std::string& out, std::string_view name, const Names& values,
                 std::string_view element) {
  out += name;
  out += ": ";
  append_joined(out, values, element);
  out += kCrlf;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += kCrlf;
}

// A parsed field as one line: Beast keeps "name: value\r\n" in one piece; appended at once when
// it does (checked, not assumed), else piece by piece.
void append_field_line(std::string& out, std::string_view name, std::string_view value) {
  if (value.data() == name.data() + name.size() + 2 && name.data()[name.size()] == ':' &&
      name.data()[name.size() + 1] == ' ' && value.data()[value.size()] == '\r' &&
      value.data()[value.size() + 1] == '\n') {
    out.append(name.data(), name.size() + 2 + value.size() + 2);
    return;
  }
  append_field(out, name, value);
}

// One normalized framing field for the body the upstream gets (none without a body).
void append_framing(std::string& out, const BodyFraming& framing) {
  if (framing.kind == BodyFraming::Kind::length) {
    std::array<char, 24> digits;
    const auto end = std::to_chars(digits.begin(), digits.end(), framing.length).ptr;
    append_field(out, "Content-Length", std::string_view(digits.data(), end - digits.begin()));
  } else if (framing.kind == BodyFraming::Kind::chunked) {
    out += "Transfer-Encoding: chunked\r\n";
  }
}

// The forwarding fields (the client appended to X-Forwarded-For, X-Forwarded-Proto set, this
// proxy appended to Via as `via_entry`) and the empty line that end an upstream request head.
void end_upstream_request_head(std::string& out, const UpstreamRequestOptions& options,
                               const Names& forwarded_for, const Names& via,
                               std::string_view via_entry) {
  append_list(out, kXForwardedFor, forwarded_for, options.client_ip);
  out += "X-Forwarded-Proto: ";
  out += options.scheme;
  out += "\r\n";
  append_list(out, "Via", via, via_entry);
  out += kCrlf;
}

// The same forwarding fields for an HTTP/2 upstream, as fields.
void add_forwarding_fields(std::vector<HeaderField>& out, const UpstreamRequestOptions& options,
                           const Names& forwarded_for, const Names& via,
                           std::string_view via_entry) {
  HeaderField& forwarded = out.emplace_back();
  forwarded.name = "x-forwarded-for";
  append_joined(forwarded.value, forwarded_for, options.client_ip);
  out.push_back({"x-forwarded-proto", std::string(options.scheme)});
  HeaderField& via_field = out.emplace_back();
  via_field.name = "via";
  append_joined(via_field.value, via, via_entry);
}

// Appends `name` in lower case, as HTTP/2 carries field names: copied whole, then lowered in
// place (appending the bytes one by one cost more than parsing the whole head).
void append_lower(std::string& out, std::string_view name) {
  const std::size_t at = out.size();
  out.append(name);
  char* const end = out.data() + out.size();
  for (char* c = out.data() + at; c != end; ++c) *c = http1::to_lower(*c);
}

std::string lower_name(std::string_view name) {
  std::string lower;
  append_lower(lower, name);
  return lower;
}

// --- responses ----------------------------------------------------------------------------------

// `Connection: close` / `keep-alive` (comma-separated, any case); false for any other token.
bool read_connection(std::string_view value, bool& close, bool& keep_alive) noexcept {
  while (!value.empty()) {
    const auto comma = value.find(',');
    const std::string_view token = trim(value.substr(0, comma));
    if (equals_lower(token, "close")) {
      close = true;
    } else if (equals_lower(token, "keep-alive")) {
      keep_alive = true;
    } else if (!token.empty()) {
      return false;
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return true;
}

// The scans below run over a head that ends in CRLF CRLF: CR is neither a token nor a text byte,
// so every loop stops inside the head without a bounds check.

// The first byte at or after `p` that is not text (at the latest the CR at `end` - 4). Sixteen
// bytes at a time where SSE2 is there (every x86-64): a field value is most of a head's bytes.
const char* skip_text(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
  const __m128i below_space = _mm_set1_epi8(0x1f);
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i del = _mm_set1_epi8(0x7f);
  for (; end - p >= 16; p += 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // bytes <= 0x1f (unsigned) other than tab, or 0x7f
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(bytes, below_space), bytes);
    const __m128i bad = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(bytes, tab), control),
                                     _mm_cmpeq_epi8(bytes, del));
    if (const int mask = _mm_movemask_epi8(bad); mask != 0)
      return p + std::countr_zero(static_cast<unsigned>(mask));
  }
#endif
  (void)end;
  while (http1::is(http1::kFieldValue, *p)) ++p;
  return p;
}

// "HTTP/1.x SP 3DIGIT SP reason CRLF": the index just past it, 0 when not simple.
std::size_t read_status_line(std::string_view head, SimpleResponse& response) noexcept {
  if (head.size() < 17 || head.substr(0, 7) != "HTTP/1." || (head[7] != '0' && head[7] != '1') ||
      head[8] != ' ' || !is_digit(head[9]) || !is_digit(head[10]) || !is_digit(head[11]) ||
      head[12] != ' ') {
    return 0;
  }
  response.version = head[7] == '1' ? 11 : 10;
  response.status =
      static_cast<unsigned>((head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0'));
  const char* p = skip_text(head.data() + 13, head.data() + head.size());
  if (p[0] != '\r' || p[1] != '\n') return 0;
  return static_cast<std::size_t>(p + 2 - head.data());
}

// One strict field line at `pos`: token ":" value CRLF, the value all text. Sets `line_end` (just
// past the CRLF), the name and the trimmed value; false when the line is not strict.
[[gnu::always_inline]] inline bool read_field_line(std::string_view head, std::size_t pos,
                                                   std::size_t& line_end, std::string_view& name,
                                                   std::string_view& value) noexcept {
  const char* const first = head.data() + pos;
  const char* p = first;
  while (is_token_char(*p)) ++p;
  if (p == first || *p != ':') return false;
  name = {first, static_cast<std::size_t>(p - first)};
  ++p;
  while (*p == ' ' || *p == '\t') ++p;
  const char* const value_start = p;
  p = skip_text(p, head.data() + head.size());
  if (p[0] != '\r' || p[1] != '\n') return false;
  const char* value_end = p;
  while (value_end != value_start && (value_end[-1] == ' ' || value_end[-1] == '\t')) --value_end;
  value = {value_start, static_cast<std::size_t>(value_end - value_start)};
  line_end = static_cast<std::size_t>(p + 2 - head.data());
  return true;
}

SimpleResponse::Span span_of(std::string_view head, std::string_view part) noexcept {
  const auto begin = static_cast<std::uint16_t>(part.data() - head.data());
  return {begin, static_cast<std::uint16_t>(begin + part.size())};
}

}  // namespace

KnownField known_field(http::field name) noexcept {
  const auto index = static_cast<std::size_t>(name);
  return index < kKnownFields.size() ? kKnownFields[index] : KnownField::other;
}

void write_upstream_request_head(const http::request_header<>& request,
                                 const UpstreamRequestOptions& options, std::string& out) {
  Names connection_listed;
  for (const auto& field : request) {
    if (field.name() != http::field::connection) continue;
    for (auto token : http::token_list{field.value()}) {
      if (removable_by_connection(token, options.upgrade)) connection_listed.push_back(token);
    }
  }
  Names forwarded_for;
  Names via;
  bool has_host = false;
  out += request.method_string();
  out += ' ';
  out += request.target();
  out += " HTTP/1.1\r\n";
  for (const auto& field : request) {
    const std::string_view name = field.name_string();
    const KnownField known = known_field(field.name());
    if (known != KnownField::other) {
      if (http1::drops_as_hop_by_hop(known, options.upgrade)) continue;
      // Framing: sent again below, normalized.
      if (known == KnownField::content_length || known == KnownField::transfer_encoding) continue;
    }
    if (field.name() == http::field::expect && options.drop_expect) continue;
    if (field.name() == http::field::host) has_host = true;
    if (!connection_listed.empty() && listed(connection_listed, name)) continue;
    if (known == KnownField::via) {
      via.push_back(field.value());
    } else if (equals_lower(name, "x-forwarded-for")) {
      forwarded_for.push_back(field.value());
    } else if (!equals_lower(name, "x-forwarded-proto")) {
      append_field_line(out, name, field.value());
    }
  }
  if (options.upgrade) out += "Connection: upgrade\r\n";
  append_framing(out, options.framing);
  if (!has_host) append_field(out, "Host", options.default_host);
  end_upstream_request_head(out, options, forwarded_for, via,
                            options.received_version == 10 ? "1.0 bgproxy" : "1.1 bgproxy");
}

void write_upstream_request_head(const Http2RequestHead& request,
                                 const UpstreamRequestOptions& options, std::string& out) {
  Names forwarded_for;
  Names via;
  out += request.method;
  out += ' ';
  out += request.path;
  out += " HTTP/1.1\r\n";
  append_field(out, "Host", request.authority);
  for (const HeaderField& field : request.fields) {
    const std::string_view name = field.name;
    // `te`: of the client's hop only (its codec refuses the other connection-specific fields;
    // `trailer` passes). `expect`: the proxy answers 100-continue itself.
    if (name == "host" || name == "te" || name == "content-length" || name == "expect" ||
        name == "x-forwarded-proto") {
      continue;
    }
    if (name == "via") {
      via.push_back(field.value);
    } else if (name == "x-forwarded-for") {
      forwarded_for.push_back(field.value);
    } else {
      append_field(out, name, field.value);
    }
  }
  append_framing(out, options.framing);
  end_upstream_request_head(out, options, forwarded_for, via, "2.0 bgproxy");
}

void http2_upstream_fields(std::span<const HeaderField> fields,
                           const UpstreamRequestOptions& options, std::vector<HeaderField>& out) {
  Names forwarded_for;
  Names via;
  for (const HeaderField& field : fields) {
    const std::string_view name = field.name;
    if (name == "host" || name == "expect" || name == "x-forwarded-proto") continue;
    if (name == "via") {
      via.push_back(field.value);
    } else if (name == "x-forwarded-for") {
      forwarded_for.push_back(field.value);
    } else {
      out.push_back(field);
    }
  }
  add_forwarding_fields(out, options, forwarded_for, via, "2.0 bgproxy");
}

void http2_upstream_fields(const http::request_header<>& request,
                           const UpstreamRequestOptions& options, std::vector<HeaderField>& out) {
  Names connection_listed;
  for (const auto& field : request) {
    if (field.name() != http::field::connection) continue;
    for (auto token : http::token_list{field.value()}) {
      if (removable_by_connection(token, false)) connection_listed.push_back(token);
    }
  }
  Names forwarded_for;
  Names via;
  for (const auto& field : request) {
    const std::string_view name = field.name_string();
    const KnownField known = known_field(field.name());
    if (known == KnownField::te) {  // only `trailers` may cross into HTTP/2 (RFC 9113 8.2.2)
      if (http::token_list{field.value()}.exists("trailers")) out.push_back({"te", "trailers"});
      continue;
    }
    if (http1::is_hop_by_hop(known)) continue;
    switch (field.name()) {
      case http::field::host:               // :authority carries it
      case http::field::content_length:     // sent again below, normalized
      case http::field::transfer_encoding:  // HTTP/2 frames the body itself
        continue;
      case http::field::expect:
        if (options.drop_expect) continue;
        break;
      case http::field::via:
        via.push_back(field.value());
        continue;
      default:
        break;
    }
    if (!connection_listed.empty() && listed(connection_listed, name)) continue;
    if (equals_lower(name, "x-forwarded-for")) {
      forwarded_for.push_back(field.value());
    } else if (!equals_lower(name, "x-forwarded-proto")) {
      out.push_back({lower_name(name), std::string(field.value())});
    }
  }
  if (options.framing.kind == BodyFraming::Kind::length) {
    out.push_back({"content-length", std::to_string(options.framing.length)});
  }
  add_forwarding_fields(out, options, forwarded_for, via,
                        options.received_version == 10 ? "1.0 bgproxy" : "1.1 bgproxy");
}

void write_client_head_for_http2(unsigned status, std::span<const HeaderField> fields,
                                 const BodyFraming& framing, unsigned client_version,
                                 bool keep_alive, std::string& out) {
  out += client_version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ";
  out += std::to_string(status);
  out += ' ';
  out += http::obsolete_reason(static_cast<http::status>(status));
  out += kCrlf;
  Names via;
  for (const HeaderField& field : fields) {
    if (field.name == "content-length") continue;  // written below as `framing` says
    if (field.name == "via") {
      via.push_back(field.value);
    } else {
      append_field(out, field.name, field.value);
    }
  }
  append_framing(out, framing);
  append_list(out, "Via", via, "2.0 bgproxy");
  if (client_version >= 11 && !keep_alive) out += "Connection: close\r\n";
  if (client_version < 11 && keep_alive) out += "Connection: keep-alive\r\n";
  out += kCrlf;
}

void response_fields_for_http2(const http::response_header<>& response,
                               std::vector<HeaderField>& out) {
  Names connection_listed;
  for (const auto& field : response) {
    if (field.name() != http::field::connection) continue;
    for (auto token : http::token_list{field.value()}) {
      if (removable_by_connection(token, false)) connection_listed.push_back(token);
    }
  }
  Names via;
  for (const auto& field : response) {
    if (http1::is_hop_by_hop(known_field(field.name()))) continue;
    switch (field.name()) {
      case http::field::transfer_encoding:  // HTTP/2 frames the body itself
        continue;
      case http::field::via:
        via.push_back(field.value());
        continue;
      default:
        break;
    }
    const std::string_view name = field.name_string();
    if (!connection_listed.empty() && listed(connection_listed, name)) continue;
    out.push_back({lower_name(name), std::string(field.value())});
  }
  HeaderField& via_field = out.emplace_back();
  via_field.name = "via";
  append_joined(via_field.value, via, response.version() == 10 ? "1.0 bgproxy" : "1.1 bgproxy");
}

std::optional<SimpleResponse> parse_simple_response(std::string_view head) noexcept {
  SimpleResponse response;
  if (head.size() > std::numeric_limits<std::uint16_t>::max() || !head.ends_with("\r\n\r\n")) {
    return std::nullopt;
  }
  std::size_t pos = read_status_line(head, response);
  if (pos == 0 || response.status < 200 || response.status > 599) return std::nullopt;
  response.status_line_end = static_cast<std::uint16_t>(pos);
  bool connection_seen = false;
  bool close = false;
  bool keep_alive = false;
  while (head[pos] != '\r') {
    std::size_t line_end = 0;
    std::string_view name;
    std::string_view value;
    if (!read_field_line(head, pos, line_end, name, value)) return std::nullopt;
    const SimpleResponse::Span line{static_cast<std::uint16_t>(pos),
                                    static_cast<std::uint16_t>(line_end)};
    pos = line_end;
    // One switch on the name's length and one compare (known_field is inlined): this runs for
    // every field of every response.
    const KnownField known = http1::known_field(name);
    switch (known) {
      case KnownField::other:
        continue;
      case KnownField::transfer_encoding:
      case KnownField::proxy_connection:  // Beast's parser checks it as a token list: left to it
      case KnownField::close:  // `Connection: close` removes a field named Close: left to Beast
        return std::nullopt;
      case KnownField::content_length:
        if (response.content_length) return std::nullopt;
        response.content_length = http1::parse_length(value);
        if (!response.content_length) return std::nullopt;
        continue;
      case KnownField::connection:
        if (connection_seen || !read_connection(value, close, keep_alive)) return std::nullopt;
        connection_seen = true;
        break;
      case KnownField::via:
        if (response.via_count == SimpleResponse::kMaxVia) return std::nullopt;
        response.via[response.via_count++] = span_of(head, value);
        break;
      default:  // the other hop-by-hop fields: dropped
        if (!http1::is_hop_by_hop(known)) continue;
        break;
    }
    if (response.dropped_count == SimpleResponse::kMaxDropped) return std::nullopt;
    response.dropped[response.dropped_count++] = line;
  }
  if (pos + 2 != head.size() || (close && keep_alive)) return std::nullopt;
  response.fields_end = static_cast<std::uint16_t>(pos);
  response.keep_alive = response.version >= 11 ? !close : keep_alive;
  return response;
}

void response_fields_for_http2(std::string_view upstream_head, const SimpleResponse& response,
                               std::vector<HeaderFieldRef>& out, std::string& scratch) {
  // Room for every name and Via's value at once, so that no view into scratch moves: the names
  // and Via's values are disjoint parts of the head, the rest is separators and ours.
  constexpr std::string_view kVia[] = {"1.0 bgproxy", "1.1 bgproxy"};
  scratch.clear();
  scratch.reserve(upstream_head.size() + 2 * SimpleResponse::kMaxVia + kVia[1].size());
  [[maybe_unused]] const char* const room = scratch.data();
  std::size_t pos = response.status_line_end;
  while (pos < response.fields_end) {
    std::size_t line_end = 0;
    std::string_view name;
    std::string_view value;
    if (!read_field_line(upstream_head, pos, line_end, name, value)) break;  // checked already
    pos = line_end;
    const KnownField known = http1::known_field(name);
    // Connection lists only close and keep-alive, and no field is named Close: the fields it
    // removes are the hop-by-hop ones. Via is appended below.
    if (known != KnownField::other && known != KnownField::content_length) continue;
    const std::size_t at = scratch.size();
    append_lower(scratch, name);
    out.push_back({std::string_view(scratch).substr(at), value});
  }
  Names via;
  for (std::size_t i = 0; i < response.via_count; ++i) {
    const SimpleResponse::Span span = response.via[i];
    via.push_back(upstream_head.substr(span.begin, span.end - span.begin));
  }
  const std::size_t at = scratch.size();
  append_joined(scratch, via, kVia[response.version == 10 ? 0 : 1]);
  out.push_back({"via", std::string_view(scratch).substr(at)});
  assert(scratch.data() == room);  // the views above still see scratch's bytes
}

void write_client_response_head(std::string_view upstream_head, const SimpleResponse& response,
                                unsigned client_version, bool keep_alive, std::string& out) {
  const auto piece = [&](std::size_t begin, std::size_t end) {
    return upstream_head.substr(begin, end - begin);
  };
  out += client_version >= 11 ? "HTTP/1.1" : "HTTP/1.0";
  out += piece(8, response.status_line_end);  // " 200 OK\r\n"
  std::size_t pos = response.status_line_end;
  for (std::size_t i = 0; i < response.dropped_count; ++i) {
    out += piece(pos, response.dropped[i].begin);
    pos = response.dropped[i].end;
  }
  out += piece(pos, response.fields_end);
  Names via;
  for (std::size_t i = 0; i < response.via_count; ++i) {
    via.push_back(piece(response.via[i].begin, response.via[i].end));
  }
  append_list(out, "Via", via, response.version == 10 ? "1.0 bgproxy" : "1.1 bgproxy");
  if (client_version >= 11 && !keep_alive) out += "Connection: close\r\n";
  if (client_version < 11 && keep_alive) out += "Connection: keep-alive\r\n";
  out += kCrlf;
}

std::size_t find_head_end(std::string_view bytes, std::size_t& scanned, bool& bare_lf) noexcept {
  for (auto lf = bytes.find('\n', scanned); lf != std::string_view::npos;
       lf = bytes.find('\n', lf + 1)) {
    if (lf == 0 || bytes[lf - 1] != '\r') {
      bare_lf = true;
      return 0;
    }
    if (lf >= 3 && bytes[lf - 2] == '\n') return lf + 1;
  }
  scanned = bytes.size();
  return 0;
}

}  // namespace bgp
