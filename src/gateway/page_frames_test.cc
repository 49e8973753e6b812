// SPDX-License-Identifier: Apache-2.0
// The frames of a page's socket alone: what parses, what is refused and how, and
// what the answers look like to mumba.js.
#include "gateway/page_frames.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mumba::gateway_internal {
namespace {

using json = nlohmann::json;

PageRequest Parse(std::string_view frame) {
  auto parsed = ParsePageFrame(frame);
  EXPECT_TRUE(parsed.request.ok()) << frame << ": " << parsed.request.status().message();
  EXPECT_TRUE(parsed.id.has_value()) << frame;
  return parsed.request.ok() ? *parsed.request : PageRequest{};
}

// A frame refused with INVALID_ARGUMENT; `id` is what it could still be answered to.
void ExpectRefused(std::string_view frame, std::optional<uint64_t> id) {
  auto parsed = ParsePageFrame(frame);
  ASSERT_FALSE(parsed.request.ok()) << frame;
  EXPECT_EQ(parsed.request.status().code(), Code::kInvalidArgument) << frame;
  EXPECT_EQ(parsed.id, id) << frame;
}

TEST(PageFramesTest, ACallCarriesItsRequestVerbatim) {
  PageRequest r = Parse("{\"id\":7,\"call\":\"hello.v1.Greeter/SayHello\"}\n{\"name\": \"Ann\", \"n\": 1.50}");
  EXPECT_EQ(r.id, 7u);
  auto* call = std::get_if<PageCall>(&r.what);
  ASSERT_NE(call, nullptr);
  EXPECT_EQ(call->method, "hello.v1.Greeter/SayHello");
  EXPECT_EQ(call->json, "{\"name\": \"Ann\", \"n\": 1.50}");
}

TEST(PageFramesTest, ACallWithoutABodySendsAnEmptyObject) {
  PageRequest bare = Parse(R"({"id":0,"call":"a.B/C"})");
  PageRequest empty = Parse("{\"id\":1,\"call\":\"a.B/C\"}\n");
  for (const PageRequest* r : {&bare, &empty}) {
    auto* call = std::get_if<PageCall>(&r->what);
    ASSERT_NE(call, nullptr);
    EXPECT_EQ(call->json, "{}");
  }
}

TEST(PageFramesTest, ARouteCarriesMethodHeadersAndABodyOfAnyBytes) {
  const std::string body("line one\nline two\0\xff", 19);
  PageRequest r = Parse(R"({"id":9,"route":"/greet?name=A%20n","method":"POST","headers":[["Content-Type","text/plain"],["x-a","1"],["x-a","2"]]})"
                        "\n" + body);
  auto* route = std::get_if<PageRoute>(&r.what);
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->method, "POST");
  EXPECT_EQ(route->target, "/greet?name=A%20n");
  ASSERT_EQ(route->headers.size(), 3u);
  EXPECT_EQ(route->headers[0], std::make_pair(std::string("Content-Type"), std::string("text/plain")));
  EXPECT_EQ(route->headers[2].second, "2");
  EXPECT_EQ(route->body, body);
  PageRequest plain = Parse(R"({"id":10,"route":"/"})");
  auto* get = std::get_if<PageRoute>(&plain.what);
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(get->method, "GET");
}

TEST(PageFramesTest, AFrameWithoutAnIdCannotBeAnswered) {
  ExpectRefused("", std::nullopt);
  ExpectRefused("hello", std::nullopt);
  ExpectRefused("[1,2]", std::nullopt);
  ExpectRefused(R"({"call":"a.B/C"})", std::nullopt);
  ExpectRefused(R"({"id":-1,"call":"a.B/C"})", std::nullopt);
  ExpectRefused(R"({"id":1.5,"call":"a.B/C"})", std::nullopt);
  ExpectRefused(R"({"id":"1","call":"a.B/C"})", std::nullopt);
  ExpectRefused(R"({"id":9007199254740992,"call":"a.B/C"})", std::nullopt);
  // The header is the first line alone.
  ExpectRefused("{\"id\":1,\n\"call\":\"a.B/C\"}", std::nullopt);
}

TEST(PageFramesTest, ABadRequestWithAnIdIsAnsweredWithAnError) {
  ExpectRefused(R"({"id":1})", 1);
  ExpectRefused(R"({"id":2,"call":"a.B/C","route":"/x"})", 2);
  ExpectRefused(R"({"id":3,"call":5})", 3);
  ExpectRefused(R"({"id":4,"call":"a.B/C\u0000"})", 4);
  ExpectRefused(R"({"id":5,"call":""})", 5);
  ExpectRefused(R"({"id":6,"route":"greet"})", 6);
  ExpectRefused(R"({"id":7,"route":"/a b"})", 7);
  ExpectRefused(R"({"id":8,"route":"/x","method":"GE T"})", 8);
  ExpectRefused(R"({"id":9,"route":"/x","headers":{"a":"b"}})", 9);
  ExpectRefused(R"({"id":10,"route":"/x","headers":[["a","b\r\nc: d"]]})", 10);
  ExpectRefused(R"({"id":11,"route":"/x","headers":[["a b","c"]]})", 11);
  ExpectRefused(R"({"id":12,"route":"/x","headers":[["a"]]})", 12);
  ExpectRefused(R"({"id":9007199254740991,"route":7})", 9007199254740991u);
}

TEST(PageFramesTest, AnswersAreWhatMumbaJsReads) {
  EXPECT_EQ(CallReplyFrame(3, R"({"message":"Hi"})"), R"({"id":3,"reply":{"message":"Hi"}})");
  EXPECT_EQ(FetchFrame(4), R"({"id":4,"fetch":true})");
  // An error has the HTTP error body's fields and the status it would have had.
  EXPECT_EQ(json::parse(ErrorFrame(5, NotFound("no method X"))),
            (json{{"id", 5}, {"error", "no method X"}, {"code", "NOT_FOUND"}, {"status", 404}}));
  EXPECT_EQ(json::parse(ErrorFrame(6, ResourceExhausted("too many")))["status"], 413);
  // A message quoting bytes that are not UTF-8 still makes a frame.
  EXPECT_NO_THROW(json::parse(ErrorFrame(7, InvalidArgument(std::string("bad \xff path")))));
  GatewayLimits limits;
  limits.max_call_frame_bytes = 1000;
  limits.max_calls_in_flight = 3;
  EXPECT_EQ(HelloFrame(limits), R"({"hello":{"max_frame":1000,"max_in_flight":3}})");
}

TEST(PageFramesTest, ARouteReplyIsAHeaderLineAndTheBody) {
  mumba::app::v1::RouteResponse reply;
  reply.set_body(std::string("bytes\n\0\xff", 8));
  auto* h = reply.add_headers();
  h->set_name("Content-Length");  // The gateway frames replies itself.
  h->set_value("99");
  h = reply.add_headers();
  h->set_name("X-Daemon");
  h->set_value("yes");
  std::string frame = RouteReplyFrame(8, reply);
  const size_t newline = frame.find('\n');
  ASSERT_NE(newline, std::string::npos);
  EXPECT_EQ(json::parse(frame.substr(0, newline)),
            (json{{"id", 8},
                  {"status", 200},
                  {"headers", json::array({json::array({"X-Daemon", "yes"}),
                                           json::array({"content-type", "text/plain; charset=utf-8"})})}}));
  EXPECT_EQ(frame.substr(newline + 1), reply.body());
  reply.set_status(201);
  reply.clear_headers();
  h = reply.add_headers();
  h->set_name("content-type");
  h->set_value("application/json");
  frame = RouteReplyFrame(9, reply);
  EXPECT_EQ(json::parse(frame.substr(0, frame.find('\n'))),
            (json{{"id", 9}, {"status", 201}, {"headers", json::array({json::array({"content-type", "application/json"})})}}));
}

}  // namespace
}  // namespace mumba::gateway_internal
