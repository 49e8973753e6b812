// SPDX-License-Identifier: Apache-2.0
// The gRPC metadata of calls between nodes, shared by the host and the SDK.
// Header-only: the SDK includes it without linking anything of the host.
#pragma once

namespace mumba {

// Daemon -> its host: the node a call on the host socket is for (App::PeerChannel).
inline constexpr char kPeerMetadata[] = "mumba-peer";
// Host -> daemon: the node that made a call, as its link proved it (PeerOf). Only
// the host sets it; what a peer sends under this name is never forwarded.
inline constexpr char kPeerNodeMetadata[] = "mumba-peer-node";
// Host -> host: the app a call over a link is for (its canonical address).
inline constexpr char kPeerAppMetadata[] = "mumba-app";

}  // namespace mumba
