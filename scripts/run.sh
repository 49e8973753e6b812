#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job: builds Mumba, installs it for this user under ~/.local (or
# $MUMBA_PREFIX): mumba and mumba-host in bin/, the SDK in include/ and lib/, the home
# app in share/mumba/. Then, with the installed copy only, it starts the host of
# $MUMBA_HOME (default $XDG_DATA_HOME/mumba, i.e. ~/.local/share/mumba), builds the
# example app apps/hello against the installed SDK, installs, starts and calls it
# both ways, and opens the host's home app. The host keeps running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX="${MUMBA_PREFIX:-$HOME/.local}"
ORIGINAL_PATH="$PATH"

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build

# A host that already runs keeps the binaries it started with: stop it before they
# are replaced, and start the installed one below (its running apps start again).
restart_unit=0
if command -v systemctl >/dev/null && systemctl --user is-active --quiet mumba-host.service 2>/dev/null; then
  restart_unit=1
elif build/bin/mumba host status >/dev/null 2>&1; then
  build/bin/mumba host stop
fi

cmake --install build --prefix "$PREFIX" --strip
export PATH="$PREFIX/bin:$PATH"
hash -r
if [ "$(command -v mumba)" != "$PREFIX/bin/mumba" ]; then
  echo "run.sh: another mumba comes first in PATH: $(command -v mumba)" >&2
  exit 1
fi
if [ "$restart_unit" = 1 ]; then systemctl --user restart mumba-host.service; fi

step() { printf '\n$ %s\n' "$*"; "$@"; }
step mumba host start
step mumba install apps/hello
step mumba start hello
step mumba list
step mumba call hello hello.v1.Greeter/SayHello '{"name":"Ann"}'
step mumba route 'hello://greet?name=Ann'
# The host's home app: a window where there is a display, headless otherwise.
step mumba launch home
echo

case ":$ORIGINAL_PATH:" in
  *":$PREFIX/bin:"*) path_hint="" ;;
  *) path_hint="
$PREFIX/bin is not on your PATH yet. Add it (then open a new shell):
  echo 'export PATH=\"$PREFIX/bin:\$PATH\"' >> ~/.profile
" ;;
esac
cat <<MSG

Mumba is installed in $PREFIX (mumba, mumba-host, the SDK) and its host runs with hello.
$path_hint
Try:
  mumba status hello
  mumba logs hello
  mumba launch hello                # its page; \`mumba windows\` lists the windows
  mumba shim hello                  # ~/.local/bin/hello and a desktop entry
  mumba host status                 # the gateway's port: http://hello.localhost:PORT/
  mumba host enable                 # start the host at login (systemd user unit)
  mumba doctor                      # checks what the platform needs
  mumba new myapp && mumba install myapp && mumba start myapp
  mumba host stop
MSG
