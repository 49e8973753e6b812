// SPDX-License-Identifier: Apache-2.0
// mumba keys list | new | export | import | protect | unprotect: the secret keys of
// the apps you publish, and the passphrases that may protect them at rest.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/passphrase.h"
#include "common/files.h"
#include "common/keys.h"

namespace mumba::cli {
namespace {

int ListKeyAddresses(const Context& ctx) {
  auto dir = ctx.Layout().keys_dir();
  for (const auto& a : ListKeys(dir)) {
    auto is_protected = IsKeyProtected(dir, a);
    const char* note = !is_protected.ok() ? "  damaged" : *is_protected ? "  protected" : "";
    std::printf("%s%s\n", a.c_str(), note);
  }
  return 0;
}

int NewKey(const Context& ctx) {
  KeyPair pair = GenerateKeyPair();
  if (Status st = SaveKeyPair(ctx.Layout().keys_dir(), pair); !st.ok()) return Fail(st);
  std::printf("%s\n", AddressOf(pair.public_key).c_str());
  return 0;
}

int ExportKey(const Context& ctx, const KeysExportOptions& o) {
  auto dir = ctx.Layout().keys_dir();
  auto passphrase = PassphraseFor(dir, o.address, o.passphrase_file);
  if (!passphrase.ok()) return Fail(passphrase.status());
  auto pair = LoadKeyPair(dir, o.address, passphrase->view());
  passphrase->Clear();
  if (!pair.ok()) return Fail(pair.status());
  std::string line = ExportKeyPair(*pair) + "\n";
  Status st;
  if (!o.file.empty()) {
    st = WriteFileAtomic(o.file, line, 0600);
  } else {
    if (isatty(1)) std::fprintf(stderr, "mumba: this is a secret: whoever has it can publish as the app\n");
    std::fputs(line.c_str(), stdout);
  }
  WipeString(line);
  return st.ok() ? 0 : Fail(st);
}

int ProtectKeyFile(const Context& ctx, const KeysProtectOptions& o) {
  auto canonical = NormalizeAddress(o.address);
  if (!canonical.ok()) return Fail(canonical.status());
  auto dir = ctx.Layout().keys_dir();
  // Refused before asking: a passphrase typed twice for nothing is a poor answer.
  auto is_protected = IsKeyProtected(dir, *canonical);
  if (!is_protected.ok()) return Fail(is_protected.status());
  if (*is_protected) return Fail(ProtectKey(dir, *canonical, "-"));
  auto passphrase = ReadPassphrase(o.passphrase_file, "New passphrase for the key of " + *canonical + ": ", true);
  if (!passphrase.ok()) return Fail(passphrase.status());
  if (Status st = ProtectKey(dir, *canonical, passphrase->view()); !st.ok()) return Fail(st);
  std::printf("protected %s\n", canonical->c_str());
  return 0;
}

int UnprotectKeyFile(const Context& ctx, const KeysProtectOptions& o) {
  auto canonical = NormalizeAddress(o.address);
  if (!canonical.ok()) return Fail(canonical.status());
  auto dir = ctx.Layout().keys_dir();
  auto is_protected = IsKeyProtected(dir, *canonical);
  if (!is_protected.ok()) return Fail(is_protected.status());
  if (!*is_protected) return Fail(UnprotectKey(dir, *canonical, ""));
  auto passphrase = ReadPassphrase(o.passphrase_file, "Passphrase of the key of " + *canonical + ": ", false);
  if (!passphrase.ok()) return Fail(passphrase.status());
  if (Status st = UnprotectKey(dir, *canonical, passphrase->view()); !st.ok()) return Fail(st);
  std::printf("unprotected %s\n", canonical->c_str());
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
  WipeString(text);
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
  AddCommand(*keys, "list", "List the addresses whose secret keys are here; protected ones say so",
             [&ctx] { return ListKeyAddresses(ctx); });
  AddCommand(*keys, "new", "Make a new key pair and print its address (an app id)", [&ctx] { return NewKey(ctx); });
  AddCommand<KeysExportOptions>(*keys, "export",
                            "Print the secret key of ADDRESS as one line, to move it to another machine "
                            "(unprotected: protect it again there; asks for the passphrase of a protected key)",
                            [&ctx](KeysExportOptions& o) { return ExportKey(ctx, o); });
  AddCommand<KeysImportOptions>(*keys, "import", "Add a key exported by `mumba keys export`",
                            [&ctx](KeysImportOptions& o) { return ImportKey(ctx, o); });
  AddCommand<KeysProtectOptions>(
      *keys, "protect",
      "Encrypt the key of ADDRESS with a passphrase (Argon2id, about a second to open): a copy of "
      "the keys folder then publishes nothing; publish and export ask for the passphrase",
      [&ctx](KeysProtectOptions& o) { return ProtectKeyFile(ctx, o); });
  AddCommand<KeysProtectOptions>(*keys, "unprotect", "Decrypt the key of ADDRESS back to a file that needs no passphrase",
                                 [&ctx](KeysProtectOptions& o) { return UnprotectKeyFile(ctx, o); });
}

}  // namespace mumba::cli
