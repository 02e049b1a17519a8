// The single-value parsers that the loader, the admin API and the command line share.
#include <gtest/gtest.h>

#include "config/config.h"

namespace bgp {
namespace {

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("10s"), 10s);
  EXPECT_EQ(parse_duration("5m"), 5min);
  EXPECT_EQ(parse_duration("24h"), 24h);
}

TEST(ParseDuration, AcceptsSequencesOfAmounts) {
  EXPECT_EQ(parse_duration("1m30s"), 90s);
  EXPECT_EQ(parse_duration("1h2m3s4ms"), 1h + 2min + 3s + 4ms);
  EXPECT_EQ(parse_duration("1s500ms"), 1500ms);
}

TEST(ParseDuration, AcceptsZeroWithAUnit) {
  EXPECT_EQ(parse_duration("0s"), 0ms);
  EXPECT_EQ(parse_duration("0ms"), 0ms);
}

TEST(ParseDuration, RejectsMalformedText) {
  for (const char* text : {"", "10", "0", "-5s", "1.5s", "10d", "10us", "s", "10 s", " 10s", "10s ",
                           "10S", "+5s", "1m30", "ms10", "10sec"}) {
    EXPECT_EQ(parse_duration(text), std::nullopt) << "'" << text << "'";
  }
}

TEST(ParseDuration, RejectsOverflowAndAbsurdLengths) {
  EXPECT_EQ(parse_duration("99999999999999999999ms"), std::nullopt);
  EXPECT_EQ(parse_duration("9223372036854775807h"), std::nullopt);
  EXPECT_EQ(parse_duration("876001h"), std::nullopt);  // more than 100 years
  EXPECT_EQ(parse_duration("876000h"), std::chrono::hours(876000));
}

TEST(FormatDuration, PicksTheLargestExactUnit) {
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(300000ms), "5m");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(0ms), "0s");
  EXPECT_EQ(format_duration(-2s), "-2s");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (const Duration d : {Duration(1), Duration(999), Duration(61000), Duration(3600000 * 25)}) {
    EXPECT_EQ(parse_duration(format_duration(d)), d) << format_duration(d);
  }
}

TEST(ParseAddress, AcceptsHostNamesIpv4AndBracketedIpv6) {
  EXPECT_EQ(parse_address("127.0.0.1:8080"), (Address{"127.0.0.1", 8080}));
  EXPECT_EQ(parse_address("localhost:1"), (Address{"localhost", 1}));
  EXPECT_EQ(parse_address("api.internal-1.example:65535"),
            (Address{"api.internal-1.example", 65535}));
  EXPECT_EQ(parse_address("[::1]:9901"), (Address{"::1", 9901}));
  EXPECT_EQ(parse_address("[2001:db8::7]:80"), (Address{"2001:db8::7", 80}));
}

TEST(ParseAddress, AcceptsPortZeroForTheLoaderToJudge) {
  EXPECT_EQ(parse_address("127.0.0.1:0"), (Address{"127.0.0.1", 0}));
}

TEST(ParseAddress, RejectsMalformedAddresses) {
  for (const char* text :
       {"", "8080", ":8080", "host", "host:", "host:65536", "host:-1", "host:80a", "host:+80",
        "::1:8080", "[::1]8080", "[::1]", "[nonsense]:80", "256.0.0.1:80", "1.2.3:80",
        "bad host:80", "host/x:80"}) {
    EXPECT_EQ(parse_address(text), std::nullopt) << "'" << text << "'";
  }
}

TEST(Address, PrintsIpv6InBrackets) {
  EXPECT_EQ((Address{"::1", 8080}).to_string(), "[::1]:8080");
  EXPECT_EQ((Address{"10.0.0.1", 80}).to_string(), "10.0.0.1:80");
  EXPECT_EQ((Address{"db", 5432}).to_string(), "db:5432");
}

TEST(IsLoopback, KnowsTheLoopbackRanges) {
  EXPECT_TRUE(is_loopback({"127.0.0.1", 1}));
  EXPECT_TRUE(is_loopback({"127.255.3.4", 1}));
  EXPECT_TRUE(is_loopback({"::1", 1}));
  EXPECT_TRUE(is_loopback({"0:0:0:0:0:0:0:1", 1}));
  EXPECT_TRUE(is_loopback({"::ffff:127.0.0.1", 1}));
  EXPECT_TRUE(is_loopback({"localhost", 1}));
  EXPECT_TRUE(is_loopback({"LocalHost", 1}));
}

TEST(IsLoopback, RejectsEverythingElse) {
  EXPECT_FALSE(is_loopback({"0.0.0.0", 1}));
  EXPECT_FALSE(is_loopback({"128.0.0.1", 1}));
  EXPECT_FALSE(is_loopback({"10.0.0.1", 1}));
  EXPECT_FALSE(is_loopback({"::", 1}));
  EXPECT_FALSE(is_loopback({"::2", 1}));
  EXPECT_FALSE(is_loopback({"::ffff:10.0.0.1", 1}));
  EXPECT_FALSE(is_loopback({"localhost.example.com", 1}));
  EXPECT_FALSE(is_loopback({"my-host", 1}));
}

TEST(ParseWeight, ConvertsPercentToBasisPoints) {
  EXPECT_EQ(parse_weight_bp(0), 0u);
  EXPECT_EQ(parse_weight_bp(10), 1000u);
  EXPECT_EQ(parse_weight_bp(10.5), 1050u);
  EXPECT_EQ(parse_weight_bp(0.5), 50u);
  EXPECT_EQ(parse_weight_bp(100), 10000u);
}

TEST(ParseWeight, SurvivesBinaryFloatingPoint) {
  // None of these is exact in binary; a truncating conversion would be off by one.
  EXPECT_EQ(parse_weight_bp(0.29), 29u);
  EXPECT_EQ(parse_weight_bp(0.57), 57u);
  EXPECT_EQ(parse_weight_bp(33.33), 3333u);
  EXPECT_EQ(parse_weight_bp(99.99), 9999u);
  EXPECT_EQ(parse_weight_bp(0.01), 1u);
}

TEST(ParseWeight, RejectsOutOfRangeAndExtraDecimals) {
  EXPECT_EQ(parse_weight_bp(-0.01), std::nullopt);
  EXPECT_EQ(parse_weight_bp(100.01), std::nullopt);
  EXPECT_EQ(parse_weight_bp(10.555), std::nullopt);
  EXPECT_EQ(parse_weight_bp(0.001), std::nullopt);
  EXPECT_EQ(parse_weight_bp(std::numeric_limits<double>::quiet_NaN()), std::nullopt);
  EXPECT_EQ(parse_weight_bp(std::numeric_limits<double>::infinity()), std::nullopt);
}

TEST(WorkerCount, ZeroMeansOnePerCoreAndAtLeastOne) {
  Config config;
  EXPECT_GE(config.worker_count(), 1u);
  config.workers = 3;
  EXPECT_EQ(config.worker_count(), 3u);
}

}  // namespace
}  // namespace bgp
