#include "proxy/http1/request_head.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include "proxy/http1/syntax.h"

namespace bgp {

namespace {

using boost::system::error_code;

constexpr auto kBad = http::status::bad_request;
using http1::iequals;
using http1::is;
using http1::is_digit;
using http1::kFieldValue;
using http1::kHex;
using http1::kHost;
using http1::kToken;
using http1::parse_length;

// request-target bytes: visible ASCII except '#' (a fragment is never sent).
constexpr bool is_target_char(char c) noexcept {
  return c > 0x20 && c < 0x7f && c != '#';
}

bool all_of(std::string_view s, bool (*predicate)(char)) noexcept {
  return std::all_of(s.begin(), s.end(), predicate);
}

std::string_view slice(std::string_view s, std::size_t pos, std::size_t n) noexcept {
  return pos > s.size() ? std::string_view{} : s.substr(pos, n);
}

HeadScan refuse(HeadScan scan, http::status status) noexcept {
  scan.refusal = status;
  return scan;
}

// --- the raw bytes ----------------------------------------------------------------------------

struct LineCheck {
  std::size_t end = 0;  // just past the line's CRLF
  std::optional<http::status> refusal;
};

// HTTP-version = "HTTP/" DIGIT "." DIGIT; this port speaks 1.0 and 1.1 (RFC 9110 section 6.2).
std::optional<http::status> check_version(std::string_view version) noexcept {
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7])) {
    return kBad;
  }
  if (version[5] == '1' && (version[7] == '0' || version[7] == '1')) return std::nullopt;
  return http::status::http_version_not_supported;
}

// request-line = method SP request-target SP HTTP-version CRLF, single spaces, no tabs.
LineCheck check_request_line(std::string_view head, std::size_t max_line) noexcept {
  const auto fail = [&](std::size_t at) {
    return LineCheck{0, at > max_line ? http::status::uri_too_long : kBad};
  };
  std::size_t i = 0;
  while (i < head.size() && is(kToken, head[i])) ++i;
  if (i == 0 || i == head.size() || head[i] != ' ') return fail(i);
  const std::size_t target = ++i;
  while (i < head.size() && is_target_char(head[i])) ++i;
  if (i == target || i == head.size() || head[i] != ' ') return fail(i);
  const std::size_t line_length = i + 9;
  if (line_length > max_line) return fail(line_length);
  if (slice(head, line_length, 2) != "\r\n") return fail(line_length);
  if (const auto refusal = check_version(slice(head, i + 1, 8))) return {0, refusal};
  return {line_length + 2, std::nullopt};
}

bool is_framing_field(std::string_view name) noexcept {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding");
}

// field-line = field-name ":" OWS field-value OWS CRLF, starting at `start`. Refuses obs-fold and
// whitespace before the colon (no name then), control bytes, bare CR or LF, and, in a request,
// trailing whitespace in a framing field (read differently by different servers; a response's is
// legal and met in the wild, and Beast's parser reads it as every other parser does).
enum class Sender { client, upstream };
LineCheck check_field_line(std::string_view block, std::size_t start, Sender sender) noexcept {
  std::size_t i = start;
  while (i < block.size() && is(kToken, block[i])) ++i;
  if (i == start || i == block.size() || block[i] != ':') return {0, kBad};
  const bool framing = is_framing_field(block.substr(start, i - start));
  char last = ':';
  for (++i; i < block.size() && is(kFieldValue, block[i]); ++i) last = block[i];
  if (slice(block, i, 2) != "\r\n") return {0, kBad};
  if (sender == Sender::client && framing && (last == ' ' || last == '\t')) return {0, kBad};
  return {i + 2, std::nullopt};
}

// The field lines after the request line, then the empty line that must end `block`.
std::optional<http::status> check_field_block(std::string_view block,
                                              const HeadLimits& limits) noexcept {
  if (block.size() > limits.max_header_bytes + 2) {
    return http::status::request_header_fields_too_large;
  }
  std::size_t count = 0;
  for (std::size_t i = 0; i < block.size();) {
    if (block[i] == '\r') return block.substr(i) == "\r\n" ? std::nullopt : std::optional{kBad};
    if (++count > limits.max_fields) return http::status::request_header_fields_too_large;
    const LineCheck line = check_field_line(block, i, Sender::client);
    if (line.refusal) return line.refusal;
    i = line.end;
  }
  return kBad;  // no empty line
}

// status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF (RFC 9112 section 4): just past
// its CRLF, 0 when malformed. Any HTTP/1.x: which minor versions are spoken is not a byte rule.
std::size_t check_status_line(std::string_view head) noexcept {
  if (head.size() < 13 || head.substr(0, 7) != "HTTP/1." || !is_digit(head[7]) || head[8] != ' ' ||
      !all_of(head.substr(9, 3), is_digit) || head[12] != ' ') {
    return 0;
  }
  std::size_t i = 13;
  while (i < head.size() && is(kFieldValue, head[i])) ++i;
  return slice(head, i, 2) == "\r\n" ? i + 2 : 0;
}

// --- the parsed head --------------------------------------------------------------------------

bool is_reg_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (is(kHost, name[i])) continue;
    if (name[i] != '%' || i + 2 >= name.size() || !is(kHex, name[i + 1]) ||
        !is(kHex, name[i + 2])) {
      return false;
    }
    i += 2;
  }
  return true;
}

// dec-octet: 0 to 255, no leading zero (RFC 3986 section 3.2.2).
bool is_dec_octet(std::string_view s) noexcept {
  if (s.empty() || s.size() > 3 || !all_of(s, is_digit) || (s.size() > 1 && s[0] == '0')) {
    return false;
  }
  unsigned value = 0;
  for (char c : s) value = value * 10 + static_cast<unsigned>(c - '0');
  return value <= 255;
}

bool is_ipv4_address(std::string_view s) noexcept {
  for (int i = 0; i < 3; ++i) {
    const auto dot = s.find('.');
    if (dot == std::string_view::npos || !is_dec_octet(s.substr(0, dot))) return false;
    s.remove_prefix(dot + 1);
  }
  return is_dec_octet(s);
}

bool is_h16(std::string_view s) noexcept {
  return !s.empty() && s.size() <= 4 && all_of(s, [](char c) { return is(kHex, c); });
}

// The 16-bit groups in `part` (h16 *(":" h16), or empty), a trailing IPv4 address counting as
// two when `ipv4_last`; -1 when malformed.
int count_ipv6_groups(std::string_view part, bool ipv4_last) noexcept {
  if (part.empty()) return 0;
  for (int groups = 0;; ++groups) {
    const auto colon = part.find(':');
    const auto piece = part.substr(0, colon);
    if (colon == std::string_view::npos && ipv4_last && piece.find('.') != piece.npos) {
      return is_ipv4_address(piece) ? groups + 2 : -1;
    }
    if (!is_h16(piece)) return -1;
    if (colon == std::string_view::npos) return groups + 1;
    part.remove_prefix(colon + 1);
  }
}

// The nine forms of IPv6address (RFC 3986 section 3.2.2): eight groups, or at most seven around
// one "::" (which stands for at least one); no zone id, which RFC 9110 does not allow in Host.
bool is_ipv6_address(std::string_view s) noexcept {
  const auto gap = s.find("::");
  if (gap == std::string_view::npos) return count_ipv6_groups(s, true) == 8;
  const int before = count_ipv6_groups(s.substr(0, gap), false);
  const int after = count_ipv6_groups(s.substr(gap + 2), true);
  return before >= 0 && after >= 0 && before + after <= 7;
}

// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
bool is_ipv_future(std::string_view s) noexcept {
  const auto dot = s.find('.');
  if (s.empty() || http1::to_lower(s[0]) != 'v' || dot == std::string_view::npos || dot < 2 ||
      dot + 1 == s.size()) {
    return false;
  }
  return all_of(s.substr(1, dot - 1), [](char c) { return is(kHex, c); }) &&
         all_of(s.substr(dot + 1), [](char c) { return is(kHost, c) || c == ':'; });
}

// IP-literal = "[" ( IPv6address / IPvFuture ) "]"
bool is_ip_literal(std::string_view literal) noexcept {
  if (literal.size() < 2 || literal.front() != '[' || literal.back() != ']') return false;
  const auto inside = literal.substr(1, literal.size() - 2);
  return is_ipv6_address(inside) || is_ipv_future(inside);
}

bool is_port(std::string_view port) noexcept {
  if (port.empty() || port.size() > 5 || !all_of(port, is_digit)) return false;
  unsigned value = 0;
  for (char c : port) value = value * 10 + static_cast<unsigned>(c - '0');
  return value <= std::numeric_limits<std::uint16_t>::max();
}

std::optional<http::status> check_host(const http::request_header<>& request) noexcept {
  const auto hosts = request.equal_range(http::field::host);
  const auto count = std::distance(hosts.first, hosts.second);
  if (count > 1 || (count == 0 && request.version() >= 11)) return kBad;
  if (count == 1 && !is_valid_host(hosts.first->value())) return kBad;
  return std::nullopt;
}

// absolute-form "http://authority[path][?query]" (RFC 9112 section 3.2.2): the authority replaces
// Host, and the target becomes origin form.
bool rewrite_absolute_form(http::request_header<>& request) {
  constexpr std::string_view kScheme = "http://";
  std::string_view target = request.target();
  if (target.size() < kScheme.size() || !iequals(target.substr(0, kScheme.size()), kScheme)) {
    return false;
  }
  target.remove_prefix(kScheme.size());
  const auto path = std::min(target.find('/'), target.find('?'));
  const std::string authority(target.substr(0, path));
  if (!is_valid_host(authority)) return false;
  const auto rest = path == std::string_view::npos ? std::string_view{} : target.substr(path);
  // Built by appending: GCC 12 warns (-Wrestrict, falsely) about insert(0, "/") here.
  std::string origin_form = rest.empty() || rest.front() == '?' ? "/" : "";
  origin_form += rest;
  request.target(origin_form);
  request.set(http::field::host, authority);
  return true;
}

// origin-form; "*" for OPTIONS only; absolute-form rewritten; authority-form (CONNECT's only) not.
std::optional<http::status> check_target(http::request_header<>& request) {
  const std::string_view target = request.target();
  if (target.front() == '/') return std::nullopt;
  if (target == "*") {
    return request.method() == http::verb::options ? std::nullopt : std::optional{kBad};
  }
  return rewrite_absolute_form(request) ? std::nullopt : std::optional{kBad};
}

// A transfer coding this proxy knows but cannot frame a request by (RFC 9112 section 6.3 rule 4).
bool is_known_coding(std::string_view coding) noexcept {
  for (std::string_view known :
       {"compress", "deflate", "gzip", "identity", "x-compress", "x-gzip"}) {
    if (iequals(coding, known)) return true;
  }
  return false;
}

// Exactly one Transfer-Encoding field holding exactly "chunked" (not on HTTP/1.0, not with
// Content-Length); else 400, or 501 for a single coding this proxy does not know.
std::optional<http::status> check_transfer_encoding(const http::request_header<>& request) {
  const auto encodings = request.equal_range(http::field::transfer_encoding);
  if (std::next(encodings.first) != encodings.second || request.version() < 11 ||
      request.count(http::field::content_length) > 0) {
    return kBad;
  }
  const std::string_view coding = encodings.first->value();
  if (iequals(coding, "chunked")) return std::nullopt;
  if (coding.empty() || !all_of(coding, [](char c) { return is(kToken, c); }) ||
      is_known_coding(coding)) {
    return kBad;
  }
  return http::status::not_implemented;
}

// Every Content-Length field is one plain decimal number, all the same, within the body limit.
std::optional<http::status> check_content_length(const http::request_header<>& request,
                                                 const HeadLimits& limits,
                                                 std::uint64_t& length) noexcept {
  std::optional<std::uint64_t> first;
  const auto lengths = request.equal_range(http::field::content_length);
  for (auto it = lengths.first; it != lengths.second; ++it) {
    const auto value = parse_length(it->value());
    if (!value || (first && *first != *value)) return kBad;
    first = value;
  }
  if (limits.max_body_bytes > 0 && *first > limits.max_body_bytes) {
    return http::status::payload_too_large;
  }
  length = *first;
  return std::nullopt;
}

std::optional<http::status> check_framing(const http::request_header<>& request,
                                          const HeadLimits& limits, BodyFraming& framing) {
  if (request.count(http::field::transfer_encoding) > 0) {
    framing.kind = BodyFraming::Kind::chunked;
    return check_transfer_encoding(request);
  }
  if (request.count(http::field::content_length) > 0) {
    framing.kind = BodyFraming::Kind::length;
    return check_content_length(request, limits, framing.length);
  }
  return std::nullopt;
}

// Only "100-continue" can be met (RFC 9110 section 10.1.1).
std::optional<http::status> check_expect(const http::request_header<>& request) noexcept {
  const auto expect = request.equal_range(http::field::expect);
  if (expect.first == expect.second) return std::nullopt;
  if (std::next(expect.first) == expect.second && iequals(expect.first->value(), "100-continue")) {
    return std::nullopt;
  }
  return http::status::expectation_failed;
}

// Beast's parse of a head the raw checks passed.
std::optional<http::status> parse_with_beast(std::string_view head, RequestParser& parser) {
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(head.size() + 1, std::numeric_limits<std::uint32_t>::max())));
  parser.body_limit(boost::none);  // Content-Length is judged below, chunks while they arrive
  error_code ec;
  const auto used = parser.put(boost::asio::const_buffer(head.data(), head.size()), ec);
  if (ec) return status_for_parse_error(ec);
  if (!parser.is_header_done() || used != head.size()) return kBad;
  return std::nullopt;
}

}  // namespace

http::status status_for_parse_error(const boost::system::error_code& ec) noexcept {
  if (ec == http::error::header_limit) return http::status::request_header_fields_too_large;
  if (ec == http::error::body_limit) return http::status::payload_too_large;
  return kBad;
}

void RequestParser::on_field_impl(http::field name, boost::beast::string_view name_string,
                                  boost::beast::string_view value, boost::system::error_code&) {
  if (!is_header_done()) get().insert(name, name_string, value);
}

void RequestParser::ExtensionLimit::operator()(std::uint64_t, boost::beast::string_view extensions,
                                               boost::system::error_code& ec) const {
  if (extensions.size() > kMaxChunkExtensions) ec = http::error::bad_chunk_extension;
}

HeadScan scan_request_head(std::string_view bytes, HeadScan scan,
                           const HeadLimits& limits) noexcept {
  for (auto lf = bytes.find('\n', scan.scanned); lf != std::string_view::npos;
       lf = bytes.find('\n', lf + 1)) {
    // The limits before the line end: a read that stopped just before this LF got the limit's
    // status from the checks after the loop (the same bounds), and a head's status must not
    // depend on where its reads stopped.
    if (scan.line_end == 0 && lf > limits.max_request_line + 1) {
      return refuse(scan, http::status::uri_too_long);
    }
    if (scan.line_end > 0 && lf - scan.line_end >= limits.max_header_bytes + 2) {
      return refuse(scan, http::status::request_header_fields_too_large);
    }
    if (lf == 0 || bytes[lf - 1] != '\r') return refuse(scan, kBad);
    if (scan.line_end == 0) {
      scan.line_end = lf + 1;
      continue;
    }
    if (bytes[lf - 2] == '\n') {  // an empty line
      scan.end = lf + 1;
      return scan;
    }
  }
  scan.scanned = bytes.size();
  if (scan.line_end == 0 && bytes.size() > limits.max_request_line + 1) {
    return refuse(scan, http::status::uri_too_long);
  }
  if (scan.line_end > 0 && bytes.size() - scan.line_end >= limits.max_header_bytes + 2) {
    return refuse(scan, http::status::request_header_fields_too_large);
  }
  return scan;
}

std::size_t leading_empty_lines(std::string_view bytes) noexcept {
  std::size_t n = 0;
  while (bytes.substr(n, 2) == "\r\n") n += 2;
  return n;
}

std::optional<http::status> check_raw_request_head(std::string_view head,
                                                   const HeadLimits& limits) noexcept {
  const LineCheck line = check_request_line(head, limits.max_request_line);
  if (line.refusal) return line.refusal;
  return check_field_block(head.substr(line.end), limits);
}

bool is_framing_refusal(http::status status) noexcept {
  switch (status) {
    case http::status::bad_request:
    case http::status::payload_too_large:
    case http::status::uri_too_long:
    case http::status::expectation_failed:
    case http::status::request_header_fields_too_large:
    case http::status::not_implemented:
    case http::status::http_version_not_supported:
      return true;
    default:
      return false;
  }
}

bool response_head_bytes_valid(std::string_view head) noexcept {
  std::size_t i = check_status_line(head);
  if (i == 0) return false;
  while (i < head.size() && head[i] != '\r') {
    const LineCheck line = check_field_line(head, i, Sender::upstream);
    if (line.refusal) return false;
    i = line.end;
  }
  return head.substr(i) == "\r\n";
}

bool is_valid_http2_path(std::string_view path) noexcept {
  if (path == "*") return true;
  return path.starts_with('/') && std::all_of(path.begin(), path.end(), is_target_char);
}

bool is_valid_host(std::string_view host) noexcept {
  std::string_view name = host;
  std::optional<std::string_view> port;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    name = host.substr(0, close + 1);
    const auto rest = host.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    if (!rest.empty()) port = rest.substr(1);
    if (!is_ip_literal(name)) return false;
  } else {
    const auto colon = host.find(':');
    if (colon != std::string_view::npos) {
      name = host.substr(0, colon);
      port = host.substr(colon + 1);
    }
    if (!is_reg_name(name)) return false;
  }
  return !port || is_port(*port);
}

HeadVerdict read_request_head(std::string_view head, const HeadLimits& limits,
                              RequestParser& parser) {
  if (const auto refusal = check_raw_request_head(head, limits)) return {refusal, {}};
  if (const auto refusal = parse_with_beast(head, parser)) return {refusal, {}};
  auto& request = parser.get();
  // CONNECT asks for a tunnel, which this reverse proxy does not make.
  if (request.method() == http::verb::connect) return {http::status::not_implemented, {}};
  if (const auto refusal = check_host(request)) return {refusal, {}};
  if (const auto refusal = check_target(request)) return {refusal, {}};
  HeadVerdict verdict;
  verdict.refusal = check_framing(request, limits, verdict.framing);
  if (!verdict.refusal) verdict.refusal = check_expect(request);
  if (verdict.refusal) return verdict;
  if (limits.max_body_bytes > 0) parser.body_limit(limits.max_body_bytes);
  return verdict;
}

}  // namespace bgp
