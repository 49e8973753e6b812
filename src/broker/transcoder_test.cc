// SPDX-License-Identifier: Apache-2.0
// JSON <-> protobuf for exported methods, with the storage API (compiled into the
// program) standing in for an app's descriptor set: what is found, what converts,
// and the errors callers see.
#include "broker/transcoder.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mumba/storage/v1/storage.pb.h"

namespace mumba {
namespace {

namespace sv1 = mumba::storage::v1;

std::shared_ptr<const Transcoder> StorageTranscoder() {
  auto t = Transcoder::FromCompiled({sv1::StoreRef::descriptor()->file()}, {"mumba.storage.v1.Kv"});
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? *t : nullptr;
}

TEST(TranscoderTest, OnlyUnaryMethodsOfExportedServicesAreFound) {
  auto t = StorageTranscoder();
  ASSERT_TRUE(t);
  auto get = t->FindMethod("mumba.storage.v1.Kv/Get");
  ASSERT_TRUE(get.ok()) << get.status().message();
  EXPECT_EQ((*get)->full_name(), "mumba.storage.v1.Kv.Get");
  EXPECT_EQ(t->FindMethod("mumba.storage.v1.Sql/Execute").status().code(), Code::kNotFound);
  EXPECT_EQ(t->FindMethod("mumba.storage.v1.Kv/Nope").status().code(), Code::kNotFound);
  EXPECT_EQ(t->FindMethod("mumba.storage.v1.Kv/Watch").status().code(), Code::kUnimplemented);
  EXPECT_EQ(t->FindMethod("no-slash").status().code(), Code::kInvalidArgument);
}

TEST(TranscoderTest, ARequestBecomesTheWireFormOfItsMessage) {
  auto t = StorageTranscoder();
  ASSERT_TRUE(t);
  const auto* get = *t->FindMethod("mumba.storage.v1.Kv/Get");
  auto bytes = t->RequestFromJson(get, R"({"store": {"db": "main"}, "key": "a2V5"})");
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  sv1::KvGetRequest request;
  ASSERT_TRUE(request.ParseFromString(*bytes));
  EXPECT_EQ(request.store().db(), "main");
  EXPECT_EQ(request.key(), "key");
  // An empty request is the empty message; so is "{}".
  EXPECT_EQ(*t->RequestFromJson(get, ""), "");
  EXPECT_EQ(*t->RequestFromJson(get, "{}"), "");
}

TEST(TranscoderTest, ARequestThatDoesNotFitSaysWhichFieldOnOneLine) {
  auto t = StorageTranscoder();
  ASSERT_TRUE(t);
  const auto* get = *t->FindMethod("mumba.storage.v1.Kv/Get");
  for (const char* json : {R"({"kee": "a2V5"})", R"({"store": 5})", "{not json", "[1]"}) {
    auto bad = t->RequestFromJson(get, json);
    ASSERT_FALSE(bad.ok()) << json;
    EXPECT_EQ(bad.status().code(), Code::kInvalidArgument) << json;
    EXPECT_NE(bad.status().message().find("mumba.storage.v1.KvGetRequest"), std::string::npos);
    EXPECT_EQ(bad.status().message().find('\n'), std::string::npos) << bad.status().message();
  }
  EXPECT_NE(t->RequestFromJson(get, R"({"kee": "a2V5"})").status().message().find("kee"), std::string::npos);
}

TEST(TranscoderTest, AReplyBecomesJsonWithTheProtoFieldNames) {
  auto t = StorageTranscoder();
  ASSERT_TRUE(t);
  const auto* get = *t->FindMethod("mumba.storage.v1.Kv/Get");
  sv1::KvGetResponse reply;
  reply.set_found(true);
  reply.set_value("v");
  auto json = t->ResponseToJson(get, reply.SerializeAsString());
  ASSERT_TRUE(json.ok()) << json.status().message();
  EXPECT_EQ(*json, R"({"found":true,"value":"dg=="})");
  EXPECT_EQ(*t->ResponseToJson(get, ""), "{}");
  // Bytes that are no message of the reply's type are the daemon's fault.
  EXPECT_EQ(t->ResponseToJson(get, std::string("\x12\x05v", 3)).status().code(), Code::kInternal);
}

TEST(TranscoderTest, ConvertsFromManyThreadsAtOnce) {
  auto t = StorageTranscoder();
  ASSERT_TRUE(t);
  const auto* get = *t->FindMethod("mumba.storage.v1.Kv/Get");
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < 500; ++n) {
        auto bytes = t->RequestFromJson(get, R"({"store": {"db": "d)" + std::to_string(i) + R"("}})");
        sv1::KvGetRequest request;
        if (!bytes.ok() || !request.ParseFromString(*bytes) || request.store().db() != "d" + std::to_string(i)) ++wrong;
        auto json = t->ResponseToJson(get, "");
        if (!json.ok() || *json != "{}") ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace mumba
