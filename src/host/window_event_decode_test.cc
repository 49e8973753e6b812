// SPDX-License-Identifier: Apache-2.0
// DecodeWindowEvent: what an app's browser says, and what a hostile renderer could.
#include "host/window_event_decode.h"

#include <gtest/gtest.h>

#include <string>

namespace mumba {
namespace {

using json = nlohmann::json;
using Kind = WindowEvent::Kind;

constexpr char kBinding[] = "__mumbaNotify";

WindowEvent Decode(const std::string& method, const std::string& params_text) {
  return DecodeWindowEvent(method, json::parse(params_text), kBinding);
}

TEST(WindowEventDecodeTest, ReadsWhatChromiumSends) {
  WindowEvent e = Decode("Target.targetInfoChanged",
                         R"({"targetInfo":{"targetId":"T1","url":"http://a.localhost:1/","title":"A"}})");
  EXPECT_EQ(e.kind, Kind::kTargetInfoChanged);
  EXPECT_EQ(e.target_id, "T1");
  EXPECT_EQ(e.url, "http://a.localhost:1/");
  EXPECT_EQ(e.title, "A");

  e = Decode("Target.targetDestroyed", R"({"targetId":"T1"})");
  EXPECT_EQ(e.kind, Kind::kTargetDestroyed);
  EXPECT_EQ(e.target_id, "T1");

  e = Decode("Runtime.executionContextCreated",
             R"({"context":{"id":3,"origin":"http://a.localhost:1","uniqueId":"-1.2",
                 "auxData":{"frameId":"T1","isDefault":true}}})");
  EXPECT_EQ(e.kind, Kind::kContextCreated);
  EXPECT_EQ(e.context_id, 3);
  EXPECT_EQ(e.origin, "http://a.localhost:1");
  EXPECT_EQ(e.unique_id, "-1.2");
  EXPECT_EQ(e.frame_id, "T1");
  EXPECT_TRUE(e.is_default);

  EXPECT_EQ(Decode("Runtime.executionContextDestroyed", R"({"executionContextId":3})").context_id, 3);
  EXPECT_EQ(Decode("Runtime.executionContextsCleared", "{}").kind, Kind::kContextsCleared);

  e = Decode("Runtime.consoleAPICalled",
             R"({"type":"log","args":[{"type":"string","value":"a"},{"type":"number","value":1},
                 {"type":"object","description":"Object"}]})");
  EXPECT_EQ(e.kind, Kind::kConsole);
  EXPECT_EQ(e.level, "log");
  EXPECT_EQ(e.text, "a 1 Object");

  e = Decode("Runtime.bindingCalled", R"({"name":"__mumbaNotify","payload":"{\"n\":1}","executionContextId":3})");
  EXPECT_EQ(e.kind, Kind::kNotify);
  EXPECT_EQ(e.context_id, 3);
  EXPECT_EQ(e.payload, R"({"n":1})");

  e = Decode("Page.frameNavigated", R"({"frame":{"id":"T1","url":"http://a.localhost:1/x"}})");
  EXPECT_EQ(e.kind, Kind::kMainFrameNavigated);
  EXPECT_EQ(e.url, "http://a.localhost:1/x");
}

TEST(WindowEventDecodeTest, OtherEventsAndOtherBindingsAreIgnored) {
  EXPECT_EQ(Decode("Page.loadEventFired", "{}").kind, Kind::kIgnored);
  EXPECT_EQ(Decode("Runtime.bindingCalled", R"({"name":"other","payload":"1","executionContextId":3})").kind,
            Kind::kIgnored);
  EXPECT_EQ(Decode("Page.frameNavigated", R"({"frame":{"parentId":"T1","url":"http://x/"}})").kind, Kind::kIgnored);
  EXPECT_EQ(DecodeWindowEvent("Runtime.bindingCalled", json::parse(R"({"name":"","executionContextId":1})"), "").kind,
            Kind::kIgnored);
}

// Before decoding moved here, windows.cc called json::value() on params and on
// the context, which throws when they are not objects: every such event was
// dropped by an exception. Now each reads as empty.
TEST(WindowEventDecodeTest, FieldsOfTheWrongTypeReadAsEmpty) {
  for (const char* params : {"null", "[]", "5", R"("text")", R"({"targetInfo":7})", R"({"context":[1]})",
                             R"({"context":{"id":1,"auxData":"x"}})", R"({"frame":"x"})", R"({"args":{"a":1}})"}) {
    for (const char* method : {"Target.targetDestroyed", "Target.targetInfoChanged", "Runtime.executionContextCreated",
                               "Runtime.executionContextDestroyed", "Runtime.consoleAPICalled",
                               "Runtime.bindingCalled", "Page.frameNavigated"}) {
      WindowEvent e;
      ASSERT_NO_THROW(e = Decode(method, params)) << method << " " << params;
      EXPECT_TRUE(e.target_id.empty() && e.url.empty() && e.payload.empty()) << method << " " << params;
    }
  }
  WindowEvent e = Decode("Runtime.executionContextCreated", R"({"context":{"id":1,"auxData":"x"}})");
  EXPECT_EQ(e.kind, Kind::kContextCreated);
  EXPECT_FALSE(e.is_default);
}

// A context without an id, or with one no int holds, used to be stored under -1
// (or a wrapped value), where a binding call without an id would find it.
TEST(WindowEventDecodeTest, ContextIdsMustBeIntegersThatFit) {
  for (const char* id : {"", R"("id":"3",)", R"("id":3.5,)", R"("id":4294967299,)", R"("id":-2,)"}) {
    const std::string params = std::string(R"({"context":{)") + id + R"("origin":"http://a.localhost:1"}})";
    EXPECT_EQ(Decode("Runtime.executionContextCreated", params).kind, Kind::kIgnored) << params;
  }
  EXPECT_EQ(Decode("Runtime.bindingCalled", R"({"name":"__mumbaNotify","payload":"1"})").kind, Kind::kIgnored);
  EXPECT_EQ(Decode("Runtime.executionContextDestroyed", R"({"executionContextId":1e3})").kind, Kind::kIgnored);
}

TEST(WindowEventDecodeTest, ConsoleTextIsCutAtACharacter) {
  json args = json::array();
  for (int i = 0; i < 1000; ++i) args.push_back({{"type", "string"}, {"value", std::string(999, 'a') + "é"}});
  WindowEvent e = DecodeWindowEvent("Runtime.consoleAPICalled", {{"type", "log"}, {"args", args}}, kBinding);
  ASSERT_LE(e.text.size(), kMaxConsoleTextBytes);
  EXPECT_GT(e.text.size(), kMaxConsoleTextBytes - 8);
  EXPECT_EQ(e.text.substr(e.text.size() - 3), "…");
  // What is left before the mark ends with a whole character.
  const std::string kept = e.text.substr(0, e.text.size() - 3);
  EXPECT_NE(static_cast<unsigned char>(kept.back()) & 0xC0, 0x80u);
  EXPECT_NO_THROW((void)json(e.text).dump());
}

// Writing a value as JSON recurses once per level: a console argument nested a
// million deep overflowed the reader thread's stack and ended the host (SIGSEGV
// before this decoder). It is shown by its description instead.
TEST(WindowEventDecodeTest, DeeplyNestedConsoleValuesAreNotWrittenOut) {
  const int depth = 1'000'000;
  const std::string text = R"j({"type":"log","args":[{"type":"object","description":"Array(1)","value":)j" +
                           std::string(depth, '[') + std::string(depth, ']') + "}]}";
  WindowEvent e = Decode("Runtime.consoleAPICalled", text);
  EXPECT_EQ(e.kind, Kind::kConsole);
  EXPECT_EQ(e.text, "Array(1)");
  EXPECT_EQ(Decode("Runtime.consoleAPICalled", R"({"args":[{"value":[[1]]}]})").text, "[[1]]");
  // Copying such a value recurses too (windows.cc read targetInfo by copy).
  const std::string info = R"({"targetInfo":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  EXPECT_EQ(Decode("Target.targetInfoChanged", info).kind, Kind::kIgnored);
}

}  // namespace
}  // namespace mumba
