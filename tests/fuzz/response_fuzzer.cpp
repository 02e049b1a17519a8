// libFuzzer target over the response path: what an upstream sends back. Its first input byte
// picks what the rest is read as:
//   even: an upstream response head (and what follows it). Finding its end in two pieces agrees
//         with one; a head the fast path takes (parse_simple_response) passes the raw-byte check
//         (response_head_bytes_valid) and means the same to Beast's parser (status, version,
//         Content-Length, keep-alive); the head the client then gets parses back with the same
//         status and length and no hop-by-hop field; its HTTP/2 fields are those of Beast's
//         reading.
//   odd:  a chunked body. ChunkLines (the strict line check the session runs before Beast reads a
//         chunked body) gives the same verdict whatever the split, and agrees with Beast on where
//         the body ends: neither reads past the other's end.
// A violated property aborts, which libFuzzer reports with the input.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include "proxy/http1/chunk_lines.h"
#include "proxy/http1/relay_head.h"
#include "proxy/http1/request_head.h"
#include "proxy/http1/syntax.h"

#include "tests/fuzz/require.h"
#include "tests/support/simple_fields.h"

namespace {

using namespace bgp;
using bgp::http1::iequals;

using bgp::fuzz::require;

// --- response heads ------------------------------------------------------------------------------

// Beast's reading of a head (exactly through its empty line); nullopt when it refuses it.
struct BeastHead {
  http::response<http::empty_body> message;
  std::optional<std::uint64_t> content_length;
};
std::optional<BeastHead> beast_head(std::string_view head) {
  http::response_parser<http::empty_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(boost::none);  // as the session's parser: a large Content-Length is no error
  boost::system::error_code ec;
  const auto used = parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec || used != head.size() || !parser.is_header_done()) return std::nullopt;
  std::optional<std::uint64_t> length;
  if (const auto beast_length = parser.content_length()) length = *beast_length;
  return BeastHead{parser.release(), length};
}

void check_head_end(std::string_view bytes, std::size_t split) {
  std::size_t scanned = 0;
  bool bare_lf = false;
  const std::size_t whole = find_head_end(bytes, scanned, bare_lf);
  std::size_t scanned_twice = 0;
  bool bare_lf_twice = false;
  std::size_t end = find_head_end(bytes.substr(0, split), scanned_twice, bare_lf_twice);
  if (end == 0 && !bare_lf_twice) end = find_head_end(bytes, scanned_twice, bare_lf_twice);
  require(end == whole && bare_lf == bare_lf_twice, "a head's end depends on how it arrived");
}

void check_simple_response(std::string_view head) {
  const auto simple = parse_simple_response(head);
  if (!simple) return;
  require(response_head_bytes_valid(head), "the fast path took a head the byte check refuses");
  auto beast = beast_head(head);
  require(beast.has_value(), "the fast path took a head Beast refuses");
  const auto& message = beast->message;
  require(message.result_int() == simple->status, "status differs from Beast's");
  require(message.version() == simple->version, "version differs from Beast's");
  require(message.keep_alive() == simple->keep_alive, "keep-alive differs from Beast's");
  const auto length = beast->content_length;
  require(length.has_value() == simple->content_length.has_value() &&
              (!length || *length == *simple->content_length),
          "Content-Length differs from Beast's");

  // The HTTP/2 front's fast path reads the fields without Beast: the same fields as with it, the
  // values of each name in the same order (Beast lists a repeated name's fields together; the
  // fast path keeps the head's order, which means the same).
  std::vector<HeaderField> parsed_fields;
  response_fields_for_http2(message, parsed_fields);
  std::vector<HeaderField> simple_fields = bgp::testing::simple_fields_for_http2(head, *simple);
  const auto by_name = [](const HeaderField& a, const HeaderField& b) { return a.name < b.name; };
  std::stable_sort(parsed_fields.begin(), parsed_fields.end(), by_name);
  std::stable_sort(simple_fields.begin(), simple_fields.end(), by_name);
  require(simple_fields == parsed_fields, "the HTTP/2 fields differ from the parsed head's");

  for (const unsigned version : {10u, 11u}) {
    for (const bool keep_alive : {false, true}) {
      std::string out;
      write_client_response_head(head, *simple, version, keep_alive, out);
      auto relayed = beast_head(out);
      require(relayed.has_value(), "the client's head does not parse");
      const auto& client = relayed->message;
      require(client.result_int() == simple->status, "the client's status changed");
      const auto client_length = relayed->content_length;
      require(
          client_length.has_value() == length.has_value() && (!length || *client_length == *length),
          "the client's Content-Length changed");
      for (const auto& field : client) {
        const auto name = field.name_string();
        require(!iequals(name, "Keep-Alive") && !iequals(name, "Proxy-Connection") &&
                    !iequals(name, "TE") && !iequals(name, "Trailer") &&
                    !iequals(name, "Upgrade") && !iequals(name, "Transfer-Encoding"),
                "a hop-by-hop field reached the client");
      }
    }
  }
}

void fuzz_head(std::string_view bytes, std::size_t split) {
  check_head_end(bytes, split);
  std::size_t scanned = 0;
  bool bare_lf = false;
  const std::size_t end = find_head_end(bytes, scanned, bare_lf);
  if (end == 0 || bare_lf || end > 64 * 1024) return;
  check_simple_response(bytes.substr(0, end));
}

// --- chunked bodies ------------------------------------------------------------------------------

struct Verdict {
  bool failed = false;
  bool done = false;
  bool operator==(const Verdict&) const = default;
};

Verdict lines_verdict(std::string_view body, std::size_t split) {
  ChunkLines lines;
  lines.feed(body.substr(0, split));
  lines.feed(body.substr(split));
  return {lines.failed(), lines.done()};
}

// How many bytes of `body` Beast's parser takes as the chunked body; nullopt when it refuses it or
// wants more.
std::optional<std::size_t> beast_body_end(std::string_view body) {
  static constexpr std::string_view kHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  http::response_parser<http::buffer_body> parser;
  parser.eager(true);
  parser.body_limit(boost::none);
  const std::string bytes = std::string(kHead) + std::string(body);
  char sink[512];
  std::size_t used = 0;
  boost::system::error_code ec;
  while (!parser.is_done()) {
    parser.get().body() = {sink, sizeof sink, true};
    const auto n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_buffer) continue;
    if (ec || (n == 0 && !parser.is_done())) return std::nullopt;
  }
  return used - kHead.size();
}

void fuzz_chunked(std::string_view body, std::size_t split) {
  const Verdict whole = lines_verdict(body, body.size());
  require(lines_verdict(body, split) == whole, "the chunk line verdict depends on the split");
  const auto beast_end = beast_body_end(body);
  if (!beast_end || whole.failed) return;
  // Beast found the body's end and no line was malformed: the check ends there too, not later.
  ChunkLines lines;
  lines.feed(body.substr(0, *beast_end));
  require(lines.done(), "Beast and the line check disagree on where a chunked body ends");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::size_t split = input.empty() ? 0 : data[1] % (input.size() + 1);
  if (data[0] % 2 == 0) {
    fuzz_head(input, split);
  } else {
    fuzz_chunked(input, split);
  }
  return 0;
}
