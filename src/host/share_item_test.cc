// SPDX-License-Identifier: Apache-2.0
#include "host/share_item.h"

#include <gtest/gtest.h>

namespace mumba {
namespace {

const std::string kAddress = "mumba://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

ShareItem Good() {
  return ShareItem{kAddress, 3, "sql", "posts", 123456, std::string(40, 'a'), std::string(64, 'b')};
}

TEST(ShareItemTest, WhatIsSignedReadsBackTheSame) {
  auto fields = EncodeShareItem(Good());
  ASSERT_TRUE(fields.ok()) << fields.status().message();
  auto item = DecodeShareItem(kAddress, 3, *fields);
  ASSERT_TRUE(item.ok()) << item.status().message();
  EXPECT_EQ(item->kind, "sql");
  EXPECT_EQ(item->db, "posts");
  EXPECT_EQ(item->size, 123456u);
  EXPECT_EQ(item->info_hash, std::string(40, 'a'));
  EXPECT_EQ(item->info_hash_v2, std::string(64, 'b'));
  EXPECT_EQ(item->seq, 3);
  EXPECT_EQ(ShareTorrentName(3), "mumba-share-3");
}

TEST(ShareItemTest, AnAppsItemIsNoShare) {
  auto fields = *EncodeShareItem(Good());
  fields.erase("share");
  fields["name"] = "hello";
  fields["version"] = "0.1.0";
  auto item = DecodeShareItem(kAddress, 1, fields);
  ASSERT_FALSE(item.ok());
  EXPECT_NE(item.status().message().find("not a share"), std::string::npos);
}

TEST(ShareItemTest, EachBadFieldIsRefused) {
  const auto good = *EncodeShareItem(Good());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"share", "blobs"}, {"db", ""},          {"db", "../x"},         {"db", std::string(64, 'a')},
      {"size", ""},       {"size", "-1"},      {"size", "+5"},         {"size", "12 "},
      {"size", "99999999999999999999"},        {"ih", std::string(19, 'x')}, {"v2", std::string(31, 'x')},
  };
  for (const auto& [key, value] : bad) {
    auto fields = good;
    fields[key] = value;
    auto item = DecodeShareItem(kAddress, 1, fields);
    EXPECT_FALSE(item.ok()) << key << "=" << value;
    if (!item.ok()) EXPECT_EQ(item.status().code(), Code::kInvalidArgument);
  }
  // A file tree names no database.
  auto files = good;
  files["share"] = "files";
  EXPECT_FALSE(DecodeShareItem(kAddress, 1, files).ok());
  files["db"] = "";
  EXPECT_TRUE(DecodeShareItem(kAddress, 1, files).ok());
}

TEST(ShareItemTest, AHostNeverSignsWhatFollowersRefuse) {
  auto item = Good();
  item.kind = "blobs";
  EXPECT_FALSE(EncodeShareItem(item).ok());
  item = Good();
  item.info_hash = "ABC";
  EXPECT_FALSE(EncodeShareItem(item).ok());
}

}  // namespace
}  // namespace mumba
