// SPDX-License-Identifier: Apache-2.0
// The gRPC credentials of links between hosts: TLS in which each side presents a
// link certificate whose key is its ed25519 node key (link_certificate.h), and
// each side's custom verifier derives the other's node id from that key and
// nothing else. The handshake's CertificateVerify proves the peer holds the key.
//
// gRPC's TLS API (grpcpp/security/tls_*.h) is experimental in 1.51; every setting
// made here is covered by a test in link_credentials_test.cc that fails without it.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "mumba/status.h"
#include "peer/node_key.h"

namespace mumba {

// Credentials for a server that only links reach: it presents `self`'s link
// certificate, requires a client certificate, and accepts a client only when that
// certificate passes CheckLinkCertificate. A refused client's connection is closed
// in the handshake; no handler runs for it. Handlers learn the caller with
// PeerNodeOf. Any thread. Aborts (with a log line) only if OpenSSL cannot make a
// certificate from a valid key, which a working installation never does.
std::shared_ptr<grpc::ServerCredentials> LinkServerCredentials(const NodeKey& self);

// Credentials for a channel to the node `expected_peer_id`: the client presents
// `self`'s link certificate and accepts the server only if its certificate passes
// CheckLinkCertificate and its key is the one `expected_peer_id` names. Otherwise
// the handshake fails, the channel does not connect and its calls end UNAVAILABLE
// (an `expected_peer_id` that is not a node id, the empty one included, is never
// matched). Use with
// LinkChannelArguments. Any thread; aborts as LinkServerCredentials does.
std::shared_ptr<grpc::ChannelCredentials> LinkChannelCredentials(const NodeKey& self,
                                                                 const std::string& expected_peer_id);

// Credentials for a channel to whichever node is at an endpoint, for finding out
// which one it is: the client presents `self`'s certificate and accepts any server
// whose certificate passes CheckLinkCertificate. After a call, ServerNodeOf tells
// the node the handshake proved. Use it only to learn an id; keep talking to that
// node over LinkChannelCredentials(self, id), so that another key at the same
// endpoint is refused.
std::shared_ptr<grpc::ChannelCredentials> LinkChannelCredentialsToAnyNode(const NodeKey& self);

// The channel arguments every link channel is made with (grpc::CreateCustomChannel
// with LinkChannelCredentials): the fixed server name of link certificates in
// place of the target's host (which no one checks); reconnection backoff
// capped as for the host's other channels (common/unix_channel.h); keepalive pings
// at the interval servers accept by default.
grpc::ChannelArguments LinkChannelArguments();

// The node id of the host that made this call, as the certificate it proved in
// the link's handshake gives it. PERMISSION_DENIED if the call did not come over a
// link (no peer certificate, or one that is not a link certificate). Any thread
// that may use `ctx`. Cheap after a connection's first call: ids are remembered
// by certificate (a bounded cache), since OpenSSL takes ~100 us to read one.
Expected<std::string> PeerNodeOf(const grpc::ServerContextBase& ctx);

// The node id of the server a finished (or started) call on a link channel reached,
// as its certificate proved. PERMISSION_DENIED when the call did not go over a link.
Expected<std::string> ServerNodeOf(const grpc::ClientContext& ctx);

}  // namespace mumba
