// SPDX-License-Identifier: Apache-2.0
// mumba keys list | new | export | import: the secret keys of the apps you publish.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>

#include "cli/cli.h"
#include "cli/options.h"
#include "common/files.h"
#include "common/keys.h"

namespace mumba::cli {
namespace {

int ListKeyAddresses(const Context& ctx) {
  for (const auto& a : ListKeys(ctx.Layout().keys_dir())) std::printf("%s\n", a.c_str());
  return 0;
}

int NewKey(const Context& ctx) {
  KeyPair pair = GenerateKeyPair();
  if (Status st = SaveKeyPair(ctx.Layout().keys_dir(), pair); !st.ok()) return Fail(st);
  std::printf("%s\n", AddressOf(pair.public_key).c_str());
  return 0;
}

int ExportKey(const Context& ctx, const KeysExportOptions& o) {
  auto pair = LoadKeyPair(ctx.Layout().keys_dir(), o.address);
  if (!pair.ok()) return Fail(pair.status());
  std::string line = ExportKeyPair(*pair) + "\n";
  if (!o.file.empty()) {
    if (Status st = WriteFileAtomic(o.file, line, 0600); !st.ok()) return Fail(st);
    return 0;
  }
  if (isatty(1)) std::fprintf(stderr, "mumba: this is a secret: whoever has it can publish as the app\n");
  std::fputs(line.c_str(), stdout);
  return 0;
}

int ImportKey(const Context& ctx, const KeysImportOptions& o) {
  std::string text;
  if (o.file.empty() || o.file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    auto read = ReadFile(o.file);
    if (!read.ok()) return Fail(read.status());
    text = *read;
  }
  auto pair = ImportKeyPair(text);
  if (!pair.ok()) return Fail(pair.status());
  Status st = SaveKeyPair(ctx.Layout().keys_dir(), *pair);
  if (!st.ok() && st.code() != Code::kAlreadyExists) return Fail(st);
  std::printf("%s\n", AddressOf(pair->public_key).c_str());
  return 0;
}

}  // namespace

void AddKeysCommand(CLI::App& app, Context& ctx) {
  auto* keys = app.add_subcommand(
      "keys", "Manage the secret keys of your apps ($MUMBA_HOME/keys): publishing an app needs its key");
  keys->require_subcommand(1);
  AddCommand(*keys, "list", "List the addresses whose secret keys are here", [&ctx] { return ListKeyAddresses(ctx); });
  AddCommand(*keys, "new", "Make a new key pair and print its address (an app id)", [&ctx] { return NewKey(ctx); });
  AddCommand<KeysExportOptions>(*keys, "export",
                            "Print the secret key of ADDRESS as one line, to move it to another machine",
                            [&ctx](KeysExportOptions& o) { return ExportKey(ctx, o); });
  AddCommand<KeysImportOptions>(*keys, "import", "Add a key exported by `mumba keys export`",
                            [&ctx](KeysImportOptions& o) { return ImportKey(ctx, o); });
}

}  // namespace mumba::cli
