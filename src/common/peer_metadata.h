// SPDX-License-Identifier: Apache-2.0
// The gRPC metadata of calls between nodes, shared by the host and the SDK.
// Header-only: the SDK includes it without linking anything of the host.
#pragma once

namespace mumba {

// Host -> daemon: the node that made a call, as its link proved it (PeerOf). Only
// the host sets it, on every call a tunnel carries; what a peer sends under this
// name (or any other "mumba-" name) is never forwarded.
inline constexpr char kPeerNodeMetadata[] = "mumba-peer-node";

}  // namespace mumba
