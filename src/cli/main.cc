// SPDX-License-Identifier: Apache-2.0
// mumba: the command-line client of the Mumba host.
#include <signal.h>

#include "cli/cli.h"

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{
      "mumba: install, run and call peer-to-peer apps.\n"
      "Every command talks to the host of $MUMBA_HOME (default $XDG_DATA_HOME/mumba)\n"
      "and starts it when none is running, except `host status|stop|enable|disable` and\n"
      "`doctor`, which checks what the platform needs."};
  app.set_version_flag("--version", MUMBA_VERSION);
  mumba::cli::Context ctx;
  app.add_option("--home", ctx.home_flag, "Host state folder (overrides $MUMBA_HOME)");
  app.require_subcommand(1);
  app.fallthrough();
  mumba::cli::AddHostCommands(app, ctx);
  mumba::cli::AddNewCommand(app, ctx);
  mumba::cli::AddDevCommand(app, ctx);
  mumba::cli::AddBuildCommand(app, ctx);
  mumba::cli::AddAppCommands(app, ctx);
  mumba::cli::AddCallCommands(app, ctx);
  mumba::cli::AddStorageCommands(app, ctx);
  mumba::cli::AddKeysCommand(app, ctx);
  mumba::cli::AddP2pCommands(app, ctx);
  mumba::cli::AddPeerCommands(app, ctx);
  mumba::cli::AddShareCommands(app, ctx);
  mumba::cli::AddWindowCommands(app, ctx);
  mumba::cli::AddDoctorCommand(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
