// SPDX-License-Identifier: Apache-2.0
#include "broker/grants.h"

#include <gtest/gtest.h>

namespace mumba {
namespace {

const std::string kHello = "mumba://arjuenkjhs3sd3im55zspf2cxboadfjgb4hwpwefwvc7obep66aa";
const std::string kHowdy = "mumba://cgl6mtbpxouc22wgfpeaqzoda2zupc7ntep2bwqtdvrkq3cgbzjq";
const std::string kBook = "mumba://onyo2dloppshki2aljfvcquct7fqvmfhtzfdbwkzerbfymogzwna";

std::vector<Callee> Apps() {
  return {
      {kHello, "hello", {"hello.v1.Greeter", "hello.v1.Admin"}, true},
      {kHowdy, "howdy", {"hello.v1.Greeter"}, false},
      {kBook, "guestbook", {"guestbook.v1.Book"}, true},
  };
}

TEST(GrantsTest, AsksComeFromTheManifest) {
  Manifest m;
  m.permissions.network = true;
  m.permissions.call = {kHello, "mail.v1.Mailer"};
  EXPECT_EQ(AsksOf(m), (std::vector<std::string>{"network", "call:" + kHello, "call:mail.v1.Mailer"}));
  EXPECT_EQ(UngrantedAsks(m, {"network"}), (std::vector<std::string>{"call:" + kHello, "call:mail.v1.Mailer"}));
  EXPECT_EQ(DescribeAsk("network"), "the network");
  EXPECT_EQ(DescribeAsk("call:mail.v1.Mailer"), "to use any app that implements mail.v1.Mailer");
  EXPECT_EQ(DescribeAsk("call:" + kHello + "/hello.v1.Greeter"), "to call hello.v1.Greeter of app " + kHello);
}

TEST(GrantsTest, AnAppGrantAllowsAllItExportsAndItsRoutes) {
  auto d = DecideConnection(kHello, kBook, {"call:" + kHello}, Apps());
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->callee.name, "hello");
  EXPECT_EQ(d->services, (std::vector<std::string>{"hello.v1.Admin", "hello.v1.Greeter", "mumba.app.v1.Routes"}));
  // By name too.
  d = DecideConnection("hello", kBook, {"call:" + kHello}, Apps());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->callee.id, kHello);
}

TEST(GrantsTest, AServiceGrantAllowsThatServiceOnly) {
  auto d = DecideConnection(kHello, kBook, {"call:" + kHello + "/hello.v1.Greeter"}, Apps());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->services, (std::vector<std::string>{"hello.v1.Greeter"}));
}

TEST(GrantsTest, NoGrantIsRefused) {
  auto d = DecideConnection(kHello, kBook, {}, Apps());
  EXPECT_EQ(d.status().code(), Code::kPermissionDenied);
  // A grant of another app, or of a service the callee does not export, is no grant.
  d = DecideConnection(kHello, kBook, {"call:" + kHowdy, "call:" + kHello + "/hello.v1.Nope"}, Apps());
  EXPECT_EQ(d.status().code(), Code::kPermissionDenied);
  // An ask the owner never granted counts for nothing, whatever the manifest said.
  d = DecideConnection("hello.v1.Greeter", kBook, {"network"}, Apps());
  EXPECT_EQ(d.status().code(), Code::kPermissionDenied);
}

TEST(GrantsTest, InterfacesWithZeroOneAndTwoProviders) {
  auto none = DecideConnection("mail.v1.Mailer", kBook, {"call:mail.v1.Mailer"}, Apps());
  EXPECT_EQ(none.status().code(), Code::kNotFound);
  auto one = DecideConnection("guestbook.v1.Book", kHello, {"call:guestbook.v1.Book"}, Apps());
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->callee.id, kBook);
  EXPECT_TRUE(one->note.empty());
  auto two = DecideConnection("hello.v1.Greeter", kBook, {"call:hello.v1.Greeter"}, Apps());
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->callee.name, "hello");
  EXPECT_EQ(two->services, (std::vector<std::string>{"hello.v1.Greeter"}));
  EXPECT_NE(two->note.find("howdy"), std::string::npos) << two->note;
  // With a grant of one provider only, that one is picked and nothing is said.
  auto granted_one = DecideConnection("hello.v1.Greeter", kBook, {"call:" + kHowdy}, Apps());
  ASSERT_TRUE(granted_one.ok());
  EXPECT_EQ(granted_one->callee.name, "howdy");
  EXPECT_TRUE(granted_one->note.empty());
  // An interface connection serves the interface alone, even under an app grant.
  auto narrow = DecideConnection("hello.v1.Greeter", kBook, {"call:" + kHello}, Apps());
  ASSERT_TRUE(narrow.ok());
  EXPECT_EQ(narrow->services, (std::vector<std::string>{"hello.v1.Greeter"}));
}

TEST(GrantsTest, BadTargets) {
  EXPECT_EQ(DecideConnection("", kBook, {}, Apps()).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DecideConnection("nobody", kBook, {}, Apps()).status().code(), Code::kNotFound);
  EXPECT_EQ(DecideConnection(kBook, kBook, {"call:" + kBook}, Apps()).status().code(), Code::kInvalidArgument);
  auto twins = Apps();
  twins[1].name = "hello";
  EXPECT_EQ(DecideConnection("hello", kBook, {}, twins).status().code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace mumba
