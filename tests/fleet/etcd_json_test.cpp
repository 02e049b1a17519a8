// Encoding of every request kind and decoding of responses recorded from a real etcd 3.4.23
// (Debian etcd-server) through its JSON gateway, quirks included.
#include "fleet/etcd_json.h"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace bgp::etcd {
namespace {

namespace bj = boost::json;
using namespace std::chrono_literals;

bj::value parsed(const std::string& body) {
  return bj::parse(body);
}

// ----- helpers

TEST(EtcdBase64, RoundTripsEveryLength) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("/a/x"), "L2EveA==");
  EXPECT_EQ(base64_encode("v1"), "djE=");
  EXPECT_EQ(base64_encode("/a/"), "L2Ev");
  const std::string binary("\0\xff\x10z", 4);
  for (std::size_t n = 0; n <= binary.size(); ++n) {
    EXPECT_EQ(base64_decode(base64_encode(binary.substr(0, n))), binary.substr(0, n));
  }
  EXPECT_EQ(base64_decode("L2EveA=="), "/a/x");
  EXPECT_EQ(base64_decode("L2EveA"), "/a/x");  // padding optional
  EXPECT_EQ(base64_decode("!!!"), std::nullopt);
  EXPECT_EQ(base64_decode("L"), std::nullopt);
}

TEST(EtcdPrefixEnd, IncrementsTheLastByteBelow0xff) {
  EXPECT_EQ(prefix_end("/a/"), "/a0");
  EXPECT_EQ(prefix_end("a"), "b");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_end(std::string("\xff\xff", 2)), std::string(1, '\0'));
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
}

// ----- encoding

TEST(EtcdEncode, RangePutDelete) {
  EXPECT_EQ(parsed(json::range_request("/a/x", "")), parsed(R"({"key":"L2EveA=="})"));
  EXPECT_EQ(parsed(json::range_request("/a/", "/a0")),
            parsed(R"({"key":"L2Ev","range_end":"L2Ew"})"));
  EXPECT_EQ(parsed(json::put_request("/a/x", "v1", 0)),
            parsed(R"({"key":"L2EveA==","value":"djE="})"));
  // int64 as a JSON string: a lease ID does not fit a double.
  EXPECT_EQ(parsed(json::put_request("/a/x", "", 4111120341755082254)),
            parsed(R"({"key":"L2EveA==","value":"","lease":"4111120341755082254"})"));
  EXPECT_EQ(parsed(json::delete_range_request("/a/", "/a0")),
            parsed(R"({"key":"L2Ev","range_end":"L2Ew"})"));
}

TEST(EtcdEncode, TxnWithEveryCompareTargetAndOperation) {
  Txn txn;
  txn.compare = {
      {"/a/x", Compare::Target::mod, Compare::Result::equal, 4, ""},
      {"/a/x", Compare::Target::create, Compare::Result::greater, 2, ""},
      {"/a/x", Compare::Target::version, Compare::Result::less, 3, ""},
      {"/a/x", Compare::Target::value, Compare::Result::not_equal, 0, "v3"},
      {"/a/x", Compare::Target::lease, Compare::Result::equal, 7, ""},
  };
  txn.success = {{Operation::Kind::put, "/a/x", "v3", "", 7},
                 {Operation::Kind::range, "/a/x", "", "", 0}};
  txn.failure = {{Operation::Kind::range, "/a/", "", "/a0", 0},
                 {Operation::Kind::delete_range, "/a/y", "", "", 0}};
  EXPECT_EQ(parsed(json::txn_request(txn)), parsed(R"({
    "compare":[
      {"key":"L2EveA==","target":"MOD","result":"EQUAL","mod_revision":"4"},
      {"key":"L2EveA==","target":"CREATE","result":"GREATER","create_revision":"2"},
      {"key":"L2EveA==","target":"VERSION","result":"LESS","version":"3"},
      {"key":"L2EveA==","target":"VALUE","result":"NOT_EQUAL","value":"djM="},
      {"key":"L2EveA==","target":"LEASE","result":"EQUAL","lease":"7"}],
    "success":[{"request_put":{"key":"L2EveA==","value":"djM=","lease":"7"}},
               {"request_range":{"key":"L2EveA=="}}],
    "failure":[{"request_range":{"key":"L2Ev","range_end":"L2Ew"}},
               {"request_delete_range":{"key":"L2EveQ=="}}]})"));
}

TEST(EtcdEncode, LeasesWatchCompaction) {
  // "TTL", not "ttl": the gateway ignores the lower-case name.
  EXPECT_EQ(parsed(json::grant_request(2s)), parsed(R"({"TTL":"2"})"));
  EXPECT_EQ(parsed(json::lease_request(4111120341755082264)),
            parsed(R"({"ID":"4111120341755082264"})"));
  EXPECT_EQ(parsed(json::watch_request("/w/", "/w0", 15)), parsed(R"({"create_request":{
    "key":"L3cv","range_end":"L3cw","start_revision":"15","prev_kv":true,"progress_notify":true}})"));
  EXPECT_EQ(parsed(json::watch_request("/w/x", "", 0)), parsed(R"({"create_request":{
    "key":"L3cveA==","prev_kv":true,"progress_notify":true}})"));
  EXPECT_EQ(parsed(json::compaction_request(9)), parsed(R"({"revision":"9"})"));
}

// ----- decoding: recorded responses

constexpr std::string_view kHeader =
    R"("header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"3","raft_term":"2"})";

std::string with_header(std::string_view rest) {
  return "{" + std::string(kHeader) + std::string(rest) + "}";
}

TEST(EtcdDecode, PutAndDeleteRangeGiveTheHeaderRevision) {
  auto put = json::decode_revision(with_header(""));
  ASSERT_TRUE(put);
  EXPECT_EQ(*put.value, 3);
  EXPECT_FALSE(json::decode_revision("{}"));
  EXPECT_EQ(json::decode_revision("{}").error->kind, Error::Kind::bad_response);
}

TEST(EtcdDecode, RangeWithKvsAndCount) {
  auto range = json::decode_range(with_header(
      R"(,"kvs":[{"key":"L2EveA==","create_revision":"2","mod_revision":"2","version":"1","value":"djE="},)"
      R"({"key":"L2EveQ==","create_revision":"3","mod_revision":"3","version":"1","value":"djI=","lease":"4111120341755082264"}],"count":"2")"));
  ASSERT_TRUE(range) << range.error->message;
  EXPECT_EQ(range.value->revision, 3);
  ASSERT_EQ(range.value->kvs.size(), 2u);
  const KeyValue& x = range.value->kvs[0];
  EXPECT_EQ(x.key, "/a/x");
  EXPECT_EQ(x.value, "v1");
  EXPECT_EQ(x.create_revision, 2);
  EXPECT_EQ(x.mod_revision, 2);
  EXPECT_EQ(x.version, 1);
  EXPECT_EQ(x.lease, 0);
  EXPECT_EQ(range.value->kvs[1].lease, 4111120341755082264);
}

TEST(EtcdDecode, MissingKeyHasOnlyAHeader) {
  auto range = json::decode_range(with_header(""));
  ASSERT_TRUE(range);
  EXPECT_EQ(range.value->revision, 3);
  EXPECT_TRUE(range.value->kvs.empty());
}

TEST(EtcdDecode, EmptyValueIsLeftOut) {
  auto range = json::decode_range(with_header(
      R"(,"kvs":[{"key":"L2EveA==","create_revision":"2","mod_revision":"2","version":"1"}],"count":"1")"));
  ASSERT_TRUE(range);
  EXPECT_EQ(range.value->kvs.at(0).value, "");
}

TEST(EtcdDecode, TxnSucceededWithRangeResponse) {
  auto txn = json::decode_txn(with_header(
      R"(,"succeeded":true,"responses":[{"response_put":{"header":{"revision":"4"}}},)"
      R"({"response_range":{"header":{"revision":"4"},"kvs":[{"key":"L2EveA==","create_revision":"2","mod_revision":"4","version":"2","value":"djM="}],"count":"1"}}])"));
  ASSERT_TRUE(txn) << txn.error->message;
  EXPECT_TRUE(txn.value->succeeded);
  EXPECT_EQ(txn.value->revision, 3);
  ASSERT_EQ(txn.value->ranges.size(), 1u);
  EXPECT_EQ(txn.value->ranges[0].revision, 4);
  EXPECT_EQ(txn.value->ranges[0].kvs.at(0).value, "v3");
}

TEST(EtcdDecode, FailedTxnHasNoSucceededField) {
  auto txn = json::decode_txn(with_header(
      R"(,"responses":[{"response_range":{"header":{"revision":"4"},"kvs":[{"key":"L2EveA==","create_revision":"2","mod_revision":"4","version":"2","value":"djM="}],"count":"1"}},)"
      R"({"response_delete_range":{"header":{"revision":"5"},"deleted":"1"}}])"));
  ASSERT_TRUE(txn);
  EXPECT_FALSE(txn.value->succeeded);
  ASSERT_EQ(txn.value->ranges.size(), 1u);
  EXPECT_EQ(txn.value->ranges[0].kvs.at(0).mod_revision, 4);
}

TEST(EtcdDecode, TxnWithAnEmptyRangeInTheBranch) {
  auto txn = json::decode_txn(
      with_header(R"(,"responses":[{"response_range":{"header":{"revision":"5"}}}])"));
  ASSERT_TRUE(txn);
  ASSERT_EQ(txn.value->ranges.size(), 1u);
  EXPECT_TRUE(txn.value->ranges[0].kvs.empty());
}

TEST(EtcdDecode, LeaseGrant) {
  auto lease = json::decode_grant(with_header(R"(,"ID":"4111120341755082254","TTL":"2")"));
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease.value->id, 4111120341755082254);
  EXPECT_EQ(lease.value->ttl, 2);
}

TEST(EtcdDecode, KeepAlive) {
  // A stream endpoint: the object is wrapped in "result" and followed by a newline.
  auto lease = json::decode_keepalive(
      "{\"result\":" + with_header(R"(,"ID":"4111120341755082264","TTL":"5")") + "}\n");
  ASSERT_TRUE(lease) << lease.error->message;
  EXPECT_EQ(lease.value->id, 4111120341755082264);
  EXPECT_EQ(lease.value->ttl, 5);
}

TEST(EtcdDecode, KeepAliveOfAnExpiredLeaseHasNoTtl) {
  auto lease = json::decode_keepalive("{\"result\":" + with_header(R"(,"ID":"12345")") + "}\n");
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error->kind, Error::Kind::lease_not_found);
  auto minus_one =
      json::decode_keepalive("{\"result\":" + with_header(R"(,"ID":"12345","TTL":"-1")") + "}");
  ASSERT_FALSE(minus_one);
  EXPECT_EQ(minus_one.error->kind, Error::Kind::lease_not_found);
}

TEST(EtcdDecode, RevokeAndRevokeOfAnUnknownLease) {
  EXPECT_TRUE(json::decode_revoke(with_header("")));
  auto missing = json::decode_revoke(
      R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5})");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error->kind, Error::Kind::lease_not_found);
  EXPECT_EQ(missing.error->grpc_code, 5);
  EXPECT_EQ(missing.error->message, "etcdserver: requested lease not found");
}

TEST(EtcdDecode, UnaryErrorShapes) {
  auto bad = json::decode_revision(
      R"({"error":"illegal base64 data at input byte 0","message":"illegal base64 data at input byte 0","code":3})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error->kind, Error::Kind::server);
  EXPECT_EQ(bad.error->grpc_code, 3);
  // A member that lost its leader gives up on a write after its request timeout.
  auto timeout = json::decode_revision(
      R"({"error":"context deadline exceeded","message":"context deadline exceeded","code":2})");
  ASSERT_FALSE(timeout);
  EXPECT_EQ(timeout.error->kind, Error::Kind::timeout);
  auto unavailable = json::decode_range(
      R"({"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14})");
  ASSERT_FALSE(unavailable);
  EXPECT_EQ(unavailable.error->kind, Error::Kind::unavailable);
  auto compacted = json::decode_range(
      R"({"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11})");
  ASSERT_FALSE(compacted);
  EXPECT_EQ(compacted.error->kind, Error::Kind::compacted);
}

TEST(EtcdDecode, NotJsonIsABadResponse) {
  for (std::string_view body : {"", "<html>", "[]", "404 page not found"}) {
    auto range = json::decode_range(body);
    ASSERT_FALSE(range) << body;
    EXPECT_EQ(range.error->kind, Error::Kind::bad_response) << body;
  }
  auto bad_key = json::decode_range(with_header(R"(,"kvs":[{"key":"!!"}])"));
  ASSERT_FALSE(bad_key);
  EXPECT_EQ(bad_key.error->kind, Error::Kind::bad_response);
}

// ----- decoding: watch stream lines, recorded

TEST(EtcdWatchLine, CreatedFirst) {
  auto m = json::decode_watch_line(
      R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"6","raft_term":"2"},"created":true}})");
  EXPECT_TRUE(m.created);
  EXPECT_FALSE(m.batch);
  EXPECT_FALSE(m.end);
}

TEST(EtcdWatchLine, PutHasNoType) {
  auto m = json::decode_watch_line(
      R"({"result":{"header":{"cluster_id":"1","member_id":"2","revision":"8","raft_term":"2"},"events":[{"kv":{"key":"L3cvYQ==","create_revision":"7","mod_revision":"8","version":"2","value":"Mg=="},"prev_kv":{"key":"L3cvYQ==","create_revision":"7","mod_revision":"7","version":"1","value":"MQ=="}}]}})");
  ASSERT_TRUE(m.batch);
  EXPECT_FALSE(m.end);
  EXPECT_EQ(m.batch->revision, 8);
  EXPECT_FALSE(m.batch->progress);
  ASSERT_EQ(m.batch->events.size(), 1u);
  EXPECT_EQ(m.batch->events[0].type, WatchEvent::Type::put);
  EXPECT_EQ(m.batch->events[0].kv.key, "/w/a");
  EXPECT_EQ(m.batch->events[0].kv.value, "2");
  EXPECT_EQ(m.batch->events[0].kv.mod_revision, 8);
}

TEST(EtcdWatchLine, OneTxnIsOneMessageWithPutAndDelete) {
  auto m = json::decode_watch_line(
      R"({"result":{"header":{"cluster_id":"1","member_id":"2","revision":"9","raft_term":"2"},"events":[{"kv":{"key":"L3cvYg==","create_revision":"9","mod_revision":"9","version":"1","value":"Mw=="}},{"type":"DELETE","kv":{"key":"L3cvYQ==","mod_revision":"9"},"prev_kv":{"key":"L3cvYQ==","create_revision":"7","mod_revision":"8","version":"2","value":"Mg=="}}]}})");
  ASSERT_TRUE(m.batch);
  ASSERT_EQ(m.batch->events.size(), 2u);
  EXPECT_EQ(m.batch->events[0].type, WatchEvent::Type::put);
  EXPECT_EQ(m.batch->events[0].kv.key, "/w/b");
  EXPECT_EQ(m.batch->events[1].type, WatchEvent::Type::del);
  EXPECT_EQ(m.batch->events[1].kv.key, "/w/a");
  EXPECT_EQ(m.batch->events[1].kv.mod_revision, 9);
  EXPECT_EQ(m.batch->events[1].kv.value, "");
}

TEST(EtcdWatchLine, ProgressNotification) {
  auto m = json::decode_watch_line(
      R"({"result":{"header":{"cluster_id":"1","member_id":"2","revision":"42","raft_term":"2"}}})");
  ASSERT_TRUE(m.batch);
  EXPECT_TRUE(m.batch->progress);
  EXPECT_EQ(m.batch->revision, 42);
  EXPECT_TRUE(m.batch->events.empty());
}

TEST(EtcdWatchLine, CanceledByCompactionHasNoRevisionInItsHeader) {
  auto m = json::decode_watch_line(
      R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","raft_term":"2"},"canceled":true,"compact_revision":"9"}})");
  ASSERT_TRUE(m.end);
  EXPECT_FALSE(m.batch);
  EXPECT_EQ(m.end->kind, Error::Kind::compacted);
  EXPECT_EQ(m.end->compact_revision, 9);
}

TEST(EtcdWatchLine, CanceledForAnotherReason) {
  auto m = json::decode_watch_line(
      R"({"result":{"header":{"revision":"5"},"canceled":true,"cancel_reason":"permission denied"}})");
  ASSERT_TRUE(m.end);
  EXPECT_EQ(m.end->kind, Error::Kind::server);
  EXPECT_NE(m.end->message.find("permission denied"), std::string::npos);
}

TEST(EtcdWatchLine, StreamErrorWhenTheMemberLostItsLeader) {
  // Recorded on a 3-member cluster after two members were killed (Grpc-Metadata-hasleader: true).
  auto m = json::decode_watch_line(
      R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}})");
  ASSERT_TRUE(m.end);
  EXPECT_EQ(m.end->kind, Error::Kind::unavailable);
  EXPECT_EQ(m.end->grpc_code, 14);
  EXPECT_EQ(m.end->message, "etcdserver: no leader");
}

TEST(EtcdWatchLine, GarbageEndsTheStream) {
  EXPECT_EQ(json::decode_watch_line("{\"result\":").end->kind, Error::Kind::bad_response);
  EXPECT_EQ(json::decode_watch_line("{}").end->kind, Error::Kind::bad_response);
}

}  // namespace
}  // namespace bgp::etcd
