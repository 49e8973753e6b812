// SPDX-License-Identifier: Apache-2.0
#include "cli/each_line.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace mumba::cli {
namespace {

// A stream holding `text`, read from the start.
std::FILE* Input(const std::string& text) {
  std::FILE* f = std::tmpfile();
  std::fwrite(text.data(), 1, text.size(), f);
  std::rewind(f);
  return f;
}

std::string Contents(std::FILE* f) {
  std::rewind(f);
  std::string out;
  char buffer[256];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) out.append(buffer, n);
  return out;
}

struct Recorder {
  std::vector<std::string> lines;
  std::string fail_on;
  LineCall call() {
    return [this](const std::string& line) -> Expected<std::string> {
      lines.push_back(line);
      if (line == fail_on) return InvalidArgument("bad request");
      return "<" + line + ">";
    };
  }
};

TEST(CallEachLineTest, EachLineIsCalledInOrderAndBlankOnesAreSkipped) {
  Recorder r;
  std::FILE* in = Input("a\n\n  \t\nb\r\n\r\nc");  // CRLF, and a last line without a newline.
  std::FILE* out = std::tmpfile();
  EXPECT_TRUE(CallEachLine(r.call(), in, out).ok());
  EXPECT_EQ(r.lines, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(Contents(out), "<a>\n<b>\n<c>\n");
  std::fclose(in);
  std::fclose(out);
}

TEST(CallEachLineTest, TheFirstFailedCallStopsTheRunAndNamesItsLine) {
  Recorder r;
  r.fail_on = "bad";
  std::FILE* in = Input("a\n\nbad\nnever\n");
  std::FILE* out = std::tmpfile();
  Status st = CallEachLine(r.call(), in, out);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "line 3: bad request");
  EXPECT_EQ(r.lines, (std::vector<std::string>{"a", "bad"}));
  EXPECT_EQ(Contents(out), "<a>\n");
  std::fclose(in);
  std::fclose(out);
}

TEST(CallEachLineTest, NoInputIsNoCall) {
  Recorder r;
  std::FILE* in = Input("");
  std::FILE* out = std::tmpfile();
  EXPECT_TRUE(CallEachLine(r.call(), in, out).ok());
  EXPECT_TRUE(r.lines.empty());
  std::fclose(in);
  std::fclose(out);
}

TEST(CallEachLineTest, AnInputThatCannotBeReadIsAnErrorNotTheEnd) {
  Recorder r;
  std::FILE* in = std::fopen("/dev/null", "w");  // Open for writing only: reads fail.
  ASSERT_NE(in, nullptr);
  std::FILE* out = std::tmpfile();
  Status st = CallEachLine(r.call(), in, out);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("reading line 1"), std::string::npos) << st.message();
  std::fclose(in);
  std::fclose(out);
}

TEST(CallEachLineTest, AReplyThatCannotBeWrittenStopsTheRun) {
  Recorder r;
  std::FILE* in = Input("a\nb\n");
  std::FILE* out = std::fopen("/dev/null", "r");  // Open for reading only: writes fail.
  ASSERT_NE(out, nullptr);
  Status st = CallEachLine(r.call(), in, out);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("writing the reply to line 1"), std::string::npos) << st.message();
  EXPECT_EQ(r.lines, (std::vector<std::string>{"a"}));
  std::fclose(in);
  std::fclose(out);
}

}  // namespace
}  // namespace mumba::cli
