# SPDX-License-Identifier: Apache-2.0
# Sourced by every bench's run.sh, with $root set to the source tree: sets $build
# to BUILD_DIR (default: build/ in the source tree) and configures it with Ninja
# if it is not yet.
build=${BUILD_DIR:-$root/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja
fi

# Makes sure the hello bundle the storage and p2p benches install exists.
ensure_hello_bundle() {
  if [ ! -f "$build/tests/hello/bundle/mumba.toml" ]; then
    # The CLI builds apps/hello against the SDK and its CMake package.
    cmake --build "$build" --target mumba mumba-cli >&2
    ctest --test-dir "$build" -R '^build_hello_bundle$' --output-on-failure >&2
  fi
}
