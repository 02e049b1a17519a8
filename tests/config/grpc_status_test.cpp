// gRPC status codes: names and numbers, the HTTP-to-gRPC mapping of the proxy's own answers, and
// the grpc.error_codes key.
#include "config/grpc_status.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"

namespace bgp {
namespace {

TEST(GrpcStatus, CodesAreReadByNameInAnyCaseOrByNumber) {
  EXPECT_EQ(grpc_code_from_text("UNAVAILABLE"), 14);
  EXPECT_EQ(grpc_code_from_text("deadline_exceeded"), 4);
  EXPECT_EQ(grpc_code_from_text("0"), 0);
  EXPECT_EQ(grpc_code_from_text("16"), 16);
  EXPECT_FALSE(grpc_code_from_text("17"));
  EXPECT_FALSE(grpc_code_from_text("UNAVAILABLE "));
  EXPECT_FALSE(grpc_code_from_text(""));
  for (std::size_t code = 0; code < kGrpcCodes; ++code) {
    EXPECT_EQ(grpc_code_from_text(kGrpcCodeNames[code]), code);
  }
}

TEST(GrpcStatus, TheProxysOwnAnswersMapAsGrpcSays) {
  EXPECT_EQ(grpc_status_for_http(502), 14);  // a failed connect or upstream
  EXPECT_EQ(grpc_status_for_http(503), 14);  // no healthy endpoint
  EXPECT_EQ(grpc_status_for_http(504), 4);   // a timeout
  EXPECT_EQ(grpc_status_for_http(413), 8);   // too large
  EXPECT_EQ(grpc_status_for_http(431), 8);
  EXPECT_EQ(grpc_status_for_http(404), 12);
  EXPECT_EQ(grpc_status_for_http(400), 13);
  EXPECT_EQ(grpc_status_for_http(418), 2);
}

TEST(GrpcStatus, ErrorCodesAreConfiguredByNameOrNumber) {
  const auto defaults = load_config_string("workers: 1\n", "t.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults.config->grpc.error_codes, kDefaultGrpcErrorCodes);
  const auto custom =
      load_config_string("grpc:\n  error_codes: [UNAVAILABLE, resource_exhausted, 13]\n", "t.yaml");
  ASSERT_TRUE(custom.ok());
  EXPECT_EQ(custom.config->grpc.error_codes, (GrpcCodeSet{14, 8, 13}));
  const auto none = load_config_string("grpc:\n  error_codes: []\n", "t.yaml");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none.config->grpc.error_codes, GrpcCodeSet{});
  const auto bad = load_config_string("grpc:\n  error_codes: [UNAVAILABLE, OOPS]\n", "t.yaml");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_THAT(bad.errors[0].to_string(),
              ::testing::HasSubstr("t.yaml:2:30: grpc.error_codes[1]: unknown gRPC code 'OOPS'"));
}

}  // namespace
}  // namespace bgp
