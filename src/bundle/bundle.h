// SPDX-License-Identifier: Apache-2.0
// Checks on a bundle folder, and the copy used to stage installs.
#pragma once

#include <filesystem>
#include <memory>

#include <google/protobuf/descriptor.h>

#include "bundle/manifest.h"
#include "mumba/status.h"

namespace mumba {

// The compiled descriptor set every bundle that exports services carries.
inline constexpr const char* kDescriptorSetPath = "proto/api.binpb";

// Refuses anything below `root` that is not a regular file, a folder, or a
// relative symlink that resolves inside `root`. The error names the path.
Status CheckBundleTree(const std::filesystem::path& root);

// The runtime this program was built against (gRPC and protobuf, MAJOR.MINOR),
// which is what `mumba build` records and what a host can run.
RuntimeDecl HostRuntime();
// "gRPC 1.51, protobuf 3.21".
std::string DescribeRuntime(const RuntimeDecl& runtime);

// The whole check an install runs: manifest, tree, daemon command present and
// executable, UI entry and icon present, every exported service in the
// descriptor set, and a recorded runtime that is this host's (FAILED_PRECONDITION
// saying both when it is not). Returns the parsed manifest.
Expected<Manifest> ValidateBundle(const std::filesystem::path& root);

// Copies the tree at `src` to `dst` (which must not exist), keeping modes;
// symlinks are copied as links after the same checks as CheckBundleTree.
Status CopyBundleTree(const std::filesystem::path& src, const std::filesystem::path& dst);

// Loads a FileDescriptorSet file into a new pool.
Expected<std::unique_ptr<google::protobuf::DescriptorPool>> LoadDescriptorPool(
    const std::filesystem::path& file);

}  // namespace mumba
