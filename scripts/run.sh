#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job: builds Mumba, starts the host of $MUMBA_HOME (default
# $XDG_DATA_HOME/mumba, i.e. ~/.local/share/mumba), installs and starts the example
# app apps/hello, calls it both ways, and opens the host's home app. The host keeps
# running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build
export PATH="$PWD/build/bin:$PATH"

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
cat <<MSG

The host is running with hello. Try:
  export PATH="$PWD/build/bin:\$PATH"
  mumba status hello
  mumba logs hello
  mumba launch hello                # its page; \`mumba windows\` lists the windows
  mumba host status                 # the gateway's port: http://hello.localhost:PORT/
  mumba new myapp && mumba install myapp && mumba start myapp
  mumba host stop
MSG
