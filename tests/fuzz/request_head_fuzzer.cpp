// libFuzzer target over the request-head path of proxy/http1/request_head.h, the code that decides
// what reaches a backend. Whatever it accepts must mean the same to an independent strict reader:
//   1. a plain reading of the raw bytes (split at CRLF, SP and the first colon) sees the same
//      method, target, version, fields and framing as the parsed head: nothing was normalised away;
//   2. the parsed head, serialised again, is accepted and reads back as the same message;
//   3. finding the end of a head in two pieces agrees with finding it in one;
// and the body after an accepted head is never delivered beyond its framing.
// A violated property aborts, which libFuzzer reports with the input.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include "proxy/http1/request_head.h"
#include "proxy/http1/syntax.h"

#include "tests/fuzz/require.h"

namespace {

using namespace bgp;
using bgp::http1::iequals;

using bgp::fuzz::require;

HeadLimits fuzz_limits() {
  HeadLimits limits;  // small, so that inputs reach every limit
  limits.max_request_line = 256;
  limits.max_header_bytes = 512;
  limits.max_fields = 16;
  limits.max_body_bytes = 4096;
  return limits;
}

// --- an independent strict reader ------------------------------------------------------------

struct Field {
  std::string name;
  std::string value;
  bool operator==(const Field&) const = default;
};

struct Message {
  std::string method;
  std::string target;
  std::string version;
  std::vector<Field> fields;
  bool operator==(const Message&) const = default;
};

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The plainest reading of a head that passed: one line per CRLF, the request line split at its
// two spaces, each field at its first colon with the whitespace around the value dropped.
std::optional<Message> plain_reading(std::string_view head) {
  Message message;
  auto eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) return std::nullopt;
  if (line.find(' ', sp2 + 1) != std::string_view::npos) return std::nullopt;
  message.method = line.substr(0, sp1);
  message.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  message.version = line.substr(sp2 + 1);
  for (head.remove_prefix(eol + 2); !head.starts_with("\r\n"); head.remove_prefix(eol + 2)) {
    eol = head.find("\r\n");
    const std::string_view field = head.substr(0, eol);
    const auto colon = field.find(':');
    if (eol == std::string_view::npos || colon == std::string_view::npos) return std::nullopt;
    message.fields.push_back(
        {std::string(field.substr(0, colon)), std::string(trim_ows(field.substr(colon + 1)))});
  }
  return message;
}

Message parsed_message(const http::request_header<>& head) {
  Message message{std::string(head.method_string()),
                  std::string(head.target()),
                  head.version() == 10 ? "HTTP/1.0" : "HTTP/1.1",
                  {}};
  for (const auto& field : head) {
    message.fields.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  return message;
}

// The framing a strict reader derives from fields the proxy accepted: chunked when
// Transfer-Encoding is present, else the one Content-Length value.
BodyFraming plain_framing(const Message& message) {
  BodyFraming framing;
  for (const auto& field : message.fields) {
    if (iequals(field.name, "transfer-encoding")) {
      require(iequals(field.value, "chunked"), "an accepted Transfer-Encoding is chunked");
      require(framing.kind != BodyFraming::Kind::length, "never Content-Length and chunked");
      framing.kind = BodyFraming::Kind::chunked;
    } else if (iequals(field.name, "content-length")) {
      require(framing.kind != BodyFraming::Kind::chunked, "never chunked and Content-Length");
      require(!field.value.empty() && field.value.size() <= 18 &&
                  field.value.find_first_not_of("0123456789") == std::string::npos,
              "an accepted Content-Length is plain digits");
      const auto length = std::stoull(field.value);
      require(framing.kind == BodyFraming::Kind::none || framing.length == length,
              "accepted Content-Length fields agree");
      framing = {BodyFraming::Kind::length, length};
    }
  }
  return framing;
}

std::size_t count_fields(const Message& message, std::string_view name) {
  std::size_t n = 0;
  for (const auto& field : message.fields) n += iequals(field.name, name) ? 1 : 0;
  return n;
}

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The fields as a message means them (RFC 9110 section 5.3): the order of fields of one name is
// kept, the order between names is not (Beast moves a repeated field next to its first one).
std::vector<Field> by_name(std::vector<Field> fields) {
  std::stable_sort(fields.begin(), fields.end(), [](const Field& a, const Field& b) {
    return lowercase(a.name) < lowercase(b.name);
  });
  return fields;
}

std::vector<Field> without_host(std::vector<Field> fields) {
  std::erase_if(fields, [](const Field& f) { return iequals(f.name, "host"); });
  return by_name(std::move(fields));
}

std::string serialise(const Message& message) {
  std::string out = message.method + " " + message.target + " " + message.version + "\r\n";
  for (const auto& field : message.fields) {
    out += field.name + (field.value.empty() ? ":" : ": ") + field.value + "\r\n";
  }
  return out + "\r\n";
}

// --- the properties ----------------------------------------------------------------------------

// Property 3: the scan resumes where it stopped without changing its verdict.
void check_scan_in_pieces(std::string_view bytes, const HeadScan& whole, const HeadLimits& limits) {
  const HeadScan first = scan_request_head(bytes.substr(0, bytes.size() / 2), {}, limits);
  if (first.refusal) {
    require(whole.refusal == first.refusal, "a refusal of a prefix holds for the whole");
    return;
  }
  if (first.end > 0) {
    require(first.end == whole.end, "the end found in a prefix is the end");
    return;
  }
  const HeadScan second = scan_request_head(bytes, first, limits);
  require(second.refusal == whole.refusal, "resumed scan: same refusal");
  require(second.refusal || second.end == whole.end, "resumed scan: same end");
}

// Property 1: the parsed head is the plain reading of the raw bytes.
void check_plain_reading(std::string_view head, const Message& parsed, const BodyFraming& framing) {
  const auto plain = plain_reading(head);
  require(plain.has_value(), "an accepted head has a plain reading");
  require(plain->method == parsed.method, "same method");
  require(plain->version == parsed.version, "same version");
  require(plain->version == "HTTP/1.1" || plain->version == "HTTP/1.0", "HTTP/1.0 or 1.1");
  require(count_fields(*plain, "host") == 1 ||
              (plain->version == "HTTP/1.0" && count_fields(*plain, "host") == 0),
          "one Host (none only on HTTP/1.0)");
  require(plain_framing(*plain) == framing, "same framing");
  require(parsed.target.starts_with("/") || parsed.target == "*", "origin form or *");
  if (plain->target == parsed.target) {
    require(by_name(plain->fields) == by_name(parsed.fields), "same fields, same order per name");
  } else {  // absolute form: the target's authority became Host
    require(plain->target.ends_with(parsed.target) || parsed.target == "/" ||
                parsed.target.starts_with("/?"),
            "the origin form comes from the absolute form");
    require(without_host(plain->fields) == without_host(parsed.fields), "same fields but Host");
  }
}

// Property 2: serialised again, the head is accepted as the same message with the same framing.
void check_round_trip(const Message& parsed, const BodyFraming& framing, HeadLimits limits) {
  const std::string again = serialise(parsed);
  limits.max_request_line += 16;  // ": " after every name may make a head longer, never shorter
  limits.max_header_bytes += 2 * limits.max_fields + 512;  // and Host may now hold the authority
  limits.max_fields += 1;  // an absolute form adds Host to an HTTP/1.0 head without one
  const HeadScan scan = scan_request_head(again, {}, limits);
  require(!scan.refusal && scan.end == again.size(), "the serialised head is found whole");
  RequestParser parser;
  const HeadVerdict verdict = read_request_head(again, limits, parser);
  require(!verdict.refusal, "the serialised head is accepted");
  require(verdict.framing == framing, "the serialised head has the same framing");
  require(parsed_message(parser.get()) == parsed, "the serialised head reads back the same");
}

// The body after an accepted head: whatever the bytes, never more than the framing allows.
void check_body(RequestParser& parser, std::string_view body, const BodyFraming& framing,
                const HeadLimits& limits) {
  std::vector<char> sink(64);
  std::uint64_t delivered = 0;
  for (int step = 0; step < 100'000 && !parser.is_done(); ++step) {
    parser.get().body() = {sink.data(), sink.size(), true};
    boost::system::error_code ec;
    const auto used = parser.put(boost::asio::buffer(body.data(), body.size()), ec);
    body.remove_prefix(used);
    delivered += sink.size() - parser.get().body().size;
    if (ec && ec != http::error::need_buffer) break;
    if (!ec && used == 0) break;
  }
  if (framing.kind == BodyFraming::Kind::none) require(delivered == 0, "no framing, no body");
  if (framing.kind == BodyFraming::Kind::length) require(delivered <= framing.length, "length");
  require(delivered <= limits.max_body_bytes, "the body limit holds");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const HeadLimits limits = fuzz_limits();
  bytes.remove_prefix(leading_empty_lines(bytes));
  const HeadScan scan = scan_request_head(bytes, {}, limits);
  check_scan_in_pieces(bytes, scan, limits);
  if (scan.refusal || scan.end == 0) return 0;
  require(scan.end <= limits.max_head_bytes(), "a head found is within the limits");

  const std::string_view head = bytes.substr(0, scan.end);
  RequestParser parser;
  const HeadVerdict verdict = read_request_head(head, limits, parser);
  if (verdict.refusal) {
    require(is_framing_refusal(*verdict.refusal), "a refusal has a status of the table");
    return 0;
  }
  const Message parsed = parsed_message(parser.get());
  check_plain_reading(head, parsed, verdict.framing);
  check_round_trip(parsed, verdict.framing, limits);
  check_body(parser, bytes.substr(scan.end), verdict.framing, limits);
  return 0;
}
