// SPDX-License-Identifier: Apache-2.0
// The installer on real folders, a real registry and real SQLite stores, with the
// running apps faked: a refused bundle leaves nothing behind, a failed migration
// leaves the previous version as it was (and running), uninstall tells every part.
#include "host/installer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "common/files.h"
#include "common/temp_dir.h"

namespace fs = std::filesystem;

namespace mumba {
namespace {

constexpr const char* kAddress = "mumba://onyo2dloppshki2aljfvcquct7fqvmfhtzfdbwkzerbfymogzwna";

// Records what the installer asks of the running apps.
class FakeRuntime final : public AppRuntime {
 public:
  std::shared_ptr<std::mutex> OpLock(const std::string&) override { return lock_; }
  bool Active(const std::string& id) const override { return running.count(id) > 0; }
  Status StopDaemon(const std::string& id) override {
    running.erase(id);
    stops.push_back(id);
    return Status();
  }
  Status StartLocked(const InstalledApp& app) override {
    running.insert(app.record.id);
    started_versions.push_back(app.record.version);
    return Status();
  }
  AppView ViewOf(const InstalledApp& app) const override {
    AppView view;
    view.record = app.record;
    view.manifest = app.manifest;
    return view;
  }

  std::set<std::string> running;
  std::vector<std::string> stops;
  std::vector<std::string> started_versions;

 private:
  std::shared_ptr<std::mutex> lock_ = std::make_shared<std::mutex>();
};

class InstallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& d : {layout_.apps_dir(), layout_.staging_dir(), layout_.data_dir()}) fs::create_directories(d);
    auto registry = Registry::Open(layout_.registry());
    ASSERT_TRUE(registry.ok()) << registry.status().message();
    registry_ = std::move(*registry);
    apps_ = std::make_unique<InstalledApps>(*registry_, config_);
    stores_ = std::make_unique<StoreManager>(layout_.stores_dir(), apps_.get());
    installer_ = std::make_unique<Installer>(layout_, *apps_, *stores_, runtime_);
  }

  // A good bundle of version `version` in a folder of its own; `extra` goes into
  // its manifest, `files` into the bundle.
  fs::path Bundle(const std::string& version, const std::string& extra = "",
                  const std::map<std::string, std::string>& files = {}) {
    fs::path dir = tmp_.path() / ("src-" + version + "-" + std::to_string(bundles_++));
    WriteTestFile(dir / "mumba.toml", std::string("id = \"") + kAddress + "\"\nname = \"hello\"\nversion = \"" +
                                  version + "\"\n" + extra + "[daemon]\ncommand = \"bin/hello\"\n");
    WriteTestFile(dir / "bin/hello", "#!/bin/sh\nexit 0\n", fs::perms(0755));
    for (const auto& [path, text] : files) WriteTestFile(dir / path, text);
    return dir;
  }

  std::vector<std::string> Listing(const fs::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path AppDir() { return layout_.apps_dir() / std::string(kAddress).substr(8); }

  Expected<std::vector<engine::SqlRowValues>> Query(const std::string& sql) {
    auto store = stores_->SqlForHost(kAddress, "main");
    if (!store.ok()) return store.status();
    MUMBA_ASSIGN_OR_RETURN(auto out, (*store)->Execute({{sql, {}}}));
    return out.front().rows;
  }

  TempDir tmp_;
  HomeLayout layout_{tmp_.path() / "home"};
  HostConfig config_;
  FakeRuntime runtime_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<InstalledApps> apps_;
  std::unique_ptr<StoreManager> stores_;
  std::unique_ptr<Installer> installer_;
  int bundles_ = 0;
};

TEST_F(InstallerTest, InstallsIntoPlaceAndRecordsIt) {
  auto result = installer_->Install(Bundle("1.0.0"));
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_FALSE(result->replaced);
  EXPECT_EQ(result->app.record.version, "1.0.0");
  EXPECT_TRUE(fs::exists(AppDir() / "1.0.0" / "bin/hello"));
  EXPECT_TRUE(Listing(layout_.staging_dir()).empty());
  auto found = apps_->Find("hello");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->record.install_dir, (AppDir() / "1.0.0").string());
  EXPECT_EQ(registry_->List().size(), 1u);
  EXPECT_TRUE(runtime_.started_versions.empty());  // Installing does not start it.
}

TEST_F(InstallerTest, RefusedBundlesLeaveNothingBehind) {
  fs::path no_daemon = Bundle("1.0.0");
  fs::remove(no_daemon / "bin/hello");
  fs::path bad_manifest = Bundle("1.0.0");
  WriteTestFile(bad_manifest / "mumba.toml", "id = \"not an address\"\n");
  fs::path escaping = Bundle("1.0.0");
  fs::create_symlink("/etc/passwd", escaping / "passwd");
  for (const auto& bundle : {no_daemon, bad_manifest, escaping}) {
    auto result = installer_->Install(bundle);
    EXPECT_FALSE(result.ok()) << bundle;
    EXPECT_EQ(result.status().code(), Code::kInvalidArgument) << result.status().message();
  }
  auto relative = installer_->Install("some/bundle");
  EXPECT_EQ(relative.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Listing(layout_.staging_dir()).empty());
  EXPECT_EQ(Listing(layout_.apps_dir()), std::vector<std::string>{".staging"});
  EXPECT_TRUE(registry_->List().empty());
}

TEST_F(InstallerTest, StagedInstallsComeOnlyFromStaging) {
  auto outside = installer_->InstallStaged(Bundle("1.0.0"));
  EXPECT_EQ(outside.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(registry_->List().empty());
}

TEST_F(InstallerTest, AStagedInstallNeverGoesBelowTheInstalledVersion) {
  ASSERT_TRUE(installer_->Install(Bundle("2.0.0")).ok());
  fs::path staged = layout_.staging_dir() / "fetch-x";
  fs::create_directories(staged);
  fs::copy(Bundle("1.9.9"), staged / "bundle", fs::copy_options::recursive);
  auto older = installer_->InstallStaged(staged / "bundle");
  ASSERT_FALSE(older.ok());
  EXPECT_EQ(older.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(older.status().message().find("1.9.9 is below the 2.0.0 installed"), std::string::npos)
      << older.status().message();
  EXPECT_EQ(apps_->Find("hello")->record.version, "2.0.0");
  EXPECT_EQ(Listing(AppDir()), std::vector<std::string>{"2.0.0"});

  // Up is fine, and so is the owner going back from a folder (what rollback does).
  fs::copy(Bundle("2.0.1"), staged / "newer", fs::copy_options::recursive);
  ASSERT_TRUE(installer_->InstallStaged(staged / "newer").ok());
  ASSERT_TRUE(installer_->Install(Bundle("1.0.0")).ok());
}

TEST(VersionOrderTest, FollowsSemverPrecedence) {
  const std::vector<std::string> ascending = {"0.0.9",       "0.1.0-alpha",  "0.1.0-alpha.1", "0.1.0-alpha.beta",
                                              "0.1.0-beta.2", "0.1.0-beta.11", "0.1.0-rc.1",    "0.1.0",
                                              "0.2.0",       "0.10.0",       "1.0.0",         "10.0.0"};
  for (size_t i = 0; i < ascending.size(); ++i) {
    EXPECT_EQ(CompareVersions(ascending[i], ascending[i]), 0) << ascending[i];
    for (size_t j = i + 1; j < ascending.size(); ++j) {
      EXPECT_LT(CompareVersions(ascending[i], ascending[j]), 0) << ascending[i] << " < " << ascending[j];
      EXPECT_GT(CompareVersions(ascending[j], ascending[i]), 0) << ascending[j] << " > " << ascending[i];
    }
  }
  EXPECT_EQ(CompareVersions("1.0.0+build.1", "1.0.0+build.2"), 0);
  EXPECT_LT(CompareVersions("99999999999999999999.0.0", "100000000000000000000.0.0"), 0);
}

TEST(NotBelowInstalledTest, RefusesAnOlderItemAnotherBundleAtTheSameSeqAndALowerVersion) {
  InstalledLevel installed{5, "aaaa", "0.2.0"};
  EXPECT_TRUE(CheckNotBelowInstalled("hello", {6, "0.3.0", "bbbb"}, installed).ok());
  EXPECT_TRUE(CheckNotBelowInstalled("hello", {5, "0.2.0", "aaaa"}, installed).ok());  // A reinstall.
  EXPECT_TRUE(CheckNotBelowInstalled("hello", {6, "0.2.0", "bbbb"}, installed).ok());  // Republished.

  Status older = CheckNotBelowInstalled("hello", {4, "0.1.0", "cccc"}, installed);
  EXPECT_EQ(older.code(), Code::kFailedPrecondition);
  EXPECT_NE(older.message().find("hello 0.1.0 (seq 4), older than the seq 5 installed"), std::string::npos)
      << older.message();
  // Even when the older item names a higher version.
  EXPECT_EQ(CheckNotBelowInstalled("hello", {4, "9.0.0", "cccc"}, installed).code(), Code::kFailedPrecondition);
  EXPECT_EQ(CheckNotBelowInstalled("hello", {5, "0.2.0", "dddd"}, installed).code(), Code::kFailedPrecondition);
  Status lower = CheckNotBelowInstalled("hello", {6, "0.1.9", "eeee"}, installed);
  EXPECT_EQ(lower.code(), Code::kFailedPrecondition);
  EXPECT_NE(lower.message().find("below the hello 0.2.0 installed"), std::string::npos) << lower.message();

  // Installed without an item (from a folder): the version still holds.
  EXPECT_EQ(CheckNotBelowInstalled("hello", {1, "0.1.0", "ffff"}, {std::nullopt, "", "0.2.0"}).code(),
            Code::kFailedPrecondition);
  // Nothing installed: anything goes.
  EXPECT_TRUE(CheckNotBelowInstalled("hello", {1, "0.0.1", "ffff"}, {}).ok());
}

TEST_F(InstallerTest, FailedMigrationKeepsThePreviousVersionRunningAndItsData) {
  ASSERT_TRUE(installer_->Install(Bundle("1.0.0", "", {{"data/setup.sql", "CREATE TABLE notes (body TEXT);"
                                                                           "INSERT INTO notes VALUES ('kept');"}}))
                  .ok());
  runtime_.running.insert(kAddress);
  auto upgrade = installer_->Install(Bundle("2.0.0", "[storage]\nschema_version = 2\n",
                                            {{"data/migrations/2.sql", "ALTER TABLE nowhere ADD x;"}}));
  ASSERT_FALSE(upgrade.ok());
  EXPECT_EQ(upgrade.status().code(), Code::kInvalidArgument);
  EXPECT_NE(upgrade.status().message().find("data/migrations/2.sql"), std::string::npos);
  // Stopped for the migration, started again on the version it had.
  EXPECT_EQ(runtime_.stops, std::vector<std::string>{kAddress});
  EXPECT_EQ(runtime_.started_versions, std::vector<std::string>{"1.0.0"});
  EXPECT_EQ(apps_->Find("hello")->record.version, "1.0.0");
  EXPECT_EQ(Listing(AppDir()), std::vector<std::string>{"1.0.0"});
  EXPECT_TRUE(Listing(layout_.staging_dir()).empty());
  auto rows = Query("SELECT body FROM notes");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(std::get<std::string>((*rows)[0][0]), "kept");
}

TEST_F(InstallerTest, UpgradeRestartsARunningAppOnTheNewVersionAndKeepsOnePrevious) {
  ASSERT_TRUE(installer_->Install(Bundle("1.0.0")).ok());
  ASSERT_TRUE(installer_->Install(Bundle("2.0.0")).ok());
  runtime_.running.insert(kAddress);
  auto third = installer_->Install(Bundle("3.0.0"));
  ASSERT_TRUE(third.ok()) << third.status().message();
  EXPECT_TRUE(third->replaced);
  EXPECT_EQ(runtime_.started_versions, std::vector<std::string>{"3.0.0"});
  EXPECT_EQ(Listing(AppDir()), (std::vector<std::string>{"2.0.0", "3.0.0"}));
}

TEST_F(InstallerTest, UninstallTellsEveryPartAndPurgeDeletesData) {
  ASSERT_TRUE(installer_->Install(Bundle("1.0.0")).ok());
  fs::path data = layout_.data_dir() / std::string(kAddress).substr(8);
  WriteTestFile(data / "state", "x");
  std::vector<std::string> told;
  installer_->OnUninstall([&](const std::string& id) { told.push_back(id); });
  ASSERT_TRUE(installer_->Uninstall("hello", /*purge=*/true).ok());
  EXPECT_EQ(told, std::vector<std::string>{kAddress});
  EXPECT_FALSE(fs::exists(AppDir()));
  EXPECT_FALSE(fs::exists(data));
  EXPECT_TRUE(registry_->List().empty());
  EXPECT_EQ(installer_->Uninstall("hello", false).code(), Code::kNotFound);
}

TEST_F(InstallerTest, SweepRemovesLeftoversButNotInstalledApps) {
  ASSERT_TRUE(installer_->Install(Bundle("1.0.0")).ok());
  fs::create_directories(layout_.staging_dir() / "half-copied");
  fs::create_directories(layout_.apps_dir() / "unknownappfolder");
  installer_->SweepStaging();
  EXPECT_TRUE(Listing(layout_.staging_dir()).empty());
  EXPECT_EQ(Listing(layout_.apps_dir()), (std::vector<std::string>{".staging", std::string(kAddress).substr(8)}));
}

TEST_F(InstallerTest, SweepRemovesAVersionMovedIntoPlaceButNeverRecorded) {
  // What a host killed between the move into place and the registry write leaves:
  // a whole 2.0.0 folder and its marker, while the registry still says 1.0.0.
  ASSERT_TRUE(installer_->Install(Bundle("1.0.0")).ok());
  fs::copy(AppDir() / "1.0.0", AppDir() / "2.0.0", fs::copy_options::recursive);
  WriteTestFile(AppDir() / ".installing-2.0.0", "");
  // A marker whose version was recorded only outlived a finished install.
  WriteTestFile(AppDir() / ".installing-1.0.0", "");
  installer_->SweepStaging();
  EXPECT_EQ(Listing(AppDir()), std::vector<std::string>{"1.0.0"});
  EXPECT_TRUE(apps_->Find("hello").ok());
}

TEST_F(InstallerTest, SweepFinishesAnInstallWhoseMigrationHadBegun) {
  // A host killed after the first of two migration steps of 2.0.0: the 1.0.0
  // recorded cannot use that database, so the install is finished instead.
  ASSERT_TRUE(installer_->Install(Bundle("1.0.0", "", {{"data/setup.sql", "CREATE TABLE notes (body TEXT);"}})).ok());
  fs::copy(Bundle("3.0.0", "[storage]\nschema_version = 3\n",
                  {{"data/migrations/2.sql", "ALTER TABLE notes ADD a INTEGER;"},
                   {"data/migrations/3.sql", "ALTER TABLE notes ADD b INTEGER;"}}),
           AppDir() / "3.0.0", fs::copy_options::recursive);
  WriteTestFile(AppDir() / ".installing-3.0.0", "");
  auto store = stores_->SqlForHost(kAddress, "main");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Migrate("ALTER TABLE notes ADD a INTEGER;", 2).ok());
  installer_->SweepStaging();
  EXPECT_EQ(apps_->Find("hello")->record.version, "3.0.0");
  EXPECT_EQ(registry_->List().front().version, "3.0.0");
  auto schema = (*store)->SchemaVersion();
  ASSERT_TRUE(schema.ok());
  EXPECT_EQ(*schema, 3);
  EXPECT_EQ(Listing(AppDir()), (std::vector<std::string>{"1.0.0", "3.0.0"}));
}

}  // namespace
}  // namespace mumba
