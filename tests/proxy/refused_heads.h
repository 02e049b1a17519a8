// The hardening table of request heads (proxy/http1/request_head.h): every refused shape with
// the status it gets, under small limits. Shared by request_head_test.cpp, which reads each head
// whole, and http1_stream_test.cpp, which reads them through a stream a few bytes at a time.
#pragma once

#include <string>
#include <vector>

#include <boost/beast/http/status.hpp>

#include "proxy/http1/request_head.h"

namespace bgp::testing {

constexpr auto kBad = http::status::bad_request;

inline HeadLimits small_limits() {
  HeadLimits limits;
  limits.max_request_line = 100;
  limits.max_header_bytes = 200;
  limits.max_fields = 5;
  limits.max_body_bytes = 1000;
  return limits;
}

struct Shape {
  const char* name;
  std::string bytes;
  http::status status;
};

inline std::string post(std::string fields, std::string version = "1.1") {
  return "POST / HTTP/" + version + "\r\nHost: x\r\n" + fields + "\r\n";
}
inline std::string get_line(std::string request_line) {
  return request_line + "\r\nHost: x\r\n\r\n";
}

// The limits of the shapes below: request line 100, field lines 200 bytes, 5 fields, body 1000.
inline std::vector<Shape> refused_heads() {
  return {
      // Content-Length with Transfer-Encoding, in either order
      Shape{"LengthThenChunked", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), kBad},
      Shape{"ChunkedThenLength", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), kBad},
      Shape{"GzipWithLength", post("Transfer-Encoding: gzip\r\nContent-Length: 5\r\n"), kBad},
      // Transfer-Encoding other than exactly one final chunked
      Shape{"ChunkedNotLast", post("Transfer-Encoding: chunked, gzip\r\n"), kBad},
      Shape{"GzipThenChunked", post("Transfer-Encoding: gzip, chunked\r\n"), kBad},
      Shape{"ChunkedTwiceInOneField", post("Transfer-Encoding: chunked, chunked\r\n"), kBad},
      Shape{"ChunkedTwoFields",
            post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), kBad},
      Shape{"Identity", post("Transfer-Encoding: identity\r\n"), kBad},
      Shape{"GzipAlone", post("Transfer-Encoding: gzip\r\n"), kBad},
      Shape{"LeadingComma", post("Transfer-Encoding: ,chunked\r\n"), kBad},
      Shape{"TrailingSpace", post("Transfer-Encoding: CHUNKED \r\n"), kBad},
      Shape{"QuotedChunked", post("Transfer-Encoding: \"chunked\"\r\n"), kBad},
      Shape{"ChunkedWithParameter", post("Transfer-Encoding: chunked;q=1\r\n"), kBad},
      Shape{"EmptyEncoding", post("Transfer-Encoding:\r\n"), kBad},
      Shape{"ChunkedOnHttp10", post("Transfer-Encoding: chunked\r\n", "1.0"), kBad},
      Shape{"UnknownCoding", post("Transfer-Encoding: xchunked\r\n"),
            http::status::not_implemented},
      // malformed or differing Content-Length
      Shape{"EmptyLength", post("Content-Length:\r\n"), kBad},
      Shape{"PlusLength", post("Content-Length: +5\r\n"), kBad},
      Shape{"HexLength", post("Content-Length: 0x5\r\n"), kBad},
      Shape{"NegativeLength", post("Content-Length: -1\r\n"), kBad},
      Shape{"OverflowingLength", post("Content-Length: 99999999999999999999999\r\n"), kBad},
      Shape{"LengthList", post("Content-Length: 5, 5\r\n"), kBad},
      Shape{"LengthWithSpaceInside", post("Content-Length: 5 5\r\n"), kBad},
      Shape{"LengthTrailingSpace", post("Content-Length: 5 \r\n"), kBad},
      Shape{"DifferingLengths", post("Content-Length: 5\r\nContent-Length: 6\r\n"), kBad},
      Shape{"LengthOverBodyLimit", post("Content-Length: 1001\r\n"),
            http::status::payload_too_large},
      // the bytes of field lines
      Shape{"SpaceBeforeColon", post("X-A : b\r\n"), kBad},
      Shape{"TabBeforeColon", post("X-A\t: b\r\n"), kBad},
      Shape{"NoColon", post("X-A b\r\n"), kBad}, Shape{"EmptyName", post(": b\r\n"), kBad},
      Shape{"ObsFoldSpace", post("X-A: b\r\n c\r\n"), kBad},
      Shape{"ObsFoldTab", post("X-A: b\r\n\tc\r\n"), kBad},
      Shape{"WhitespaceLineAfterRequestLine", "GET / HTTP/1.1\r\n \r\nHost: x\r\n\r\n", kBad},
      Shape{"BareLineFeed", "GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", kBad},
      Shape{"BareLineFeedsOnly", "GET / HTTP/1.1\nHost: x\n\n", kBad},
      Shape{"BareCarriageReturn", post("X-A: b\rc\r\n"), kBad},
      Shape{"NulInValue", post(std::string("X-A: b\0c\r\n", 10)), kBad},
      Shape{"ControlInValue", post("X-A: b\x01\r\n"), kBad},
      Shape{"DeleteInValue", post("X-A: b\x7f\r\n"), kBad},
      Shape{"ParenInName", post("X(A): b\r\n"), kBad},
      Shape{"NonAsciiInName", post("X-\xc3\xa9: b\r\n"), kBad},
      // Host
      Shape{"NoHost", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", kBad},
      Shape{"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", kBad},
      Shape{"TwoHostsOnHttp10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", kBad},
      Shape{"EmptyHost", "GET / HTTP/1.1\r\nHost:\r\n\r\n", kBad},
      Shape{"HostWithSpace", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", kBad},
      Shape{"HostWithUserinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", kBad},
      Shape{"HostWithPath", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", kBad},
      Shape{"HostPortTooBig", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", kBad},
      Shape{"HostEmptyPort", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", kBad},
      Shape{"HostOpenBracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", kBad},
      Shape{"HostTwoGaps", "GET / HTTP/1.1\r\nHost: [1::2::3]\r\n\r\n", kBad},
      Shape{"HostZoneId", "GET / HTTP/1.1\r\nHost: [::1%25eth0]\r\n\r\n", kBad},
      Shape{"HostIpv6EmptyPort", "GET / HTTP/1.1\r\nHost: [::1]:\r\n\r\n", kBad},
      Shape{"AbsoluteBadIpv6", get_line("GET http://[1:2:3:4:5:6:7:8:9]/ HTTP/1.1"), kBad},
      Shape{"AbsoluteIpv6ZoneId", get_line("GET http://[fe80::1%25eth0]/ HTTP/1.1"), kBad},
      // the request line
      Shape{"DoubleSpace", get_line("GET  / HTTP/1.1"), kBad},
      Shape{"TabSeparator", get_line("GET\t/ HTTP/1.1"), kBad},
      Shape{"LeadingSpace", get_line(" GET / HTTP/1.1"), kBad},
      Shape{"TrailingSpaceInLine", get_line("GET / HTTP/1.1 "), kBad},
      Shape{"LongMinorVersion", get_line("GET / HTTP/1.01"), kBad},
      Shape{"LowercaseVersion", get_line("GET / http/1.1"), kBad},
      Shape{"NoVersion", get_line("GET /"), kBad},
      Shape{"Http2", get_line("GET / HTTP/2.0"), http::status::http_version_not_supported},
      Shape{"Http2Preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            http::status::http_version_not_supported},
      Shape{"Http12", get_line("GET / HTTP/1.2"), http::status::http_version_not_supported},
      Shape{"Fragment", get_line("GET /a#b HTTP/1.1"), kBad},
      Shape{"DeleteInTarget", get_line("GET /\x7f HTTP/1.1"), kBad},
      Shape{"NonAsciiInTarget", get_line("GET /\xc3\xa9 HTTP/1.1"), kBad},
      Shape{"AsteriskForGet", get_line("GET * HTTP/1.1"), kBad},
      Shape{"AuthorityFormForGet", get_line("GET example.com:80 HTTP/1.1"), kBad},
      Shape{"Connect", get_line("CONNECT example.com:443 HTTP/1.1"), http::status::not_implemented},
      Shape{"AbsoluteWithUserinfo", get_line("GET http://u@example.com/ HTTP/1.1"), kBad},
      Shape{"AbsoluteHttps", get_line("GET https://example.com/ HTTP/1.1"), kBad},
      Shape{"AbsoluteNoAuthority", get_line("GET http:///a HTTP/1.1"), kBad},
      // limits (small_limits: request line 100, field lines 200 bytes, 5 fields)
      Shape{"RequestLineTooLong", get_line("GET /" + std::string(100, 'a') + " HTTP/1.1"),
            http::status::uri_too_long},
      Shape{"HeaderBlockTooLarge", post("X-A: " + std::string(200, 'a') + "\r\n"),
            http::status::request_header_fields_too_large},
      Shape{"TooManyFields", post("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n"),
            http::status::request_header_fields_too_large},
      // Expect
      Shape{"UnknownExpectation", post("Expect: 200-ok\r\n"), http::status::expectation_failed},
      Shape{"TwoExpectations", post("Expect: 100-continue\r\nExpect: 100-continue\r\n"),
            http::status::expectation_failed}};
}

}  // namespace bgp::testing
