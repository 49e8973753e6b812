// SPDX-License-Identifier: Apache-2.0
// H2Gate: the receiving host's per-call gate on a peer tunnel (issue 13). The remote
// side of the tunnel is another node's daemon speaking HTTP/2 (gRPC) as a client; the
// local side is this node's daemon, the server. The gate reads every frame the caller
// sends, asks the host's policy once per new request stream, lets allowed calls on
// to the daemon with the host's own headers added (which node called), and answers
// refused calls itself, so the daemon never sees anything of them.
//
// The caller is treated as hostile: its header blocks are decoded with one HPACK
// decoder that follows its encoder, and what goes on to the daemon is encoded again
// as literals the daemon's decoder never stores, so any block can be dropped or
// changed without desynchronising the daemon. Limits (frame size, header block and
// header list size, open streams) end the tunnel when broken. See README.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mumba/status.h"
#include "peer/tunnel_filter.h"

struct nghttp2_hd_inflater;

namespace mumba {

// What policy says of one call.
struct H2GateVerdict {
  // OK lets the call through; anything else is the gRPC status the caller gets.
  Status refusal;
  // Ends the whole tunnel (with `refusal` as the reason when it is not OK).
  bool cut = false;
};

// One gate per tunnel (one HTTP/2 connection). Not thread-safe: the tunnel's pump
// calls it from its one thread, as TunnelFilter says.
class H2Gate final : public TunnelFilter {
 public:
  // Called once per new request stream with its :path (exactly one, or the tunnel
  // ends first), before the daemon sees anything of the stream.
  using Decide = std::function<H2GateVerdict(std::string_view path)>;
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // Frames from the caller larger than this end the tunnel, DATA frames only when
  // they are also larger than the daemon's SETTINGS_MAX_FRAME_SIZE.
  static constexpr size_t kMaxFramePayload = 1 << 20;
  // A header block (HEADERS + CONTINUATION) or its decoded list larger than this
  // ends the tunnel.
  static constexpr size_t kMaxHeaderBlock = 64 << 10;
  static constexpr size_t kMaxHeaderList = 64 << 10;
  // The largest HPACK table the caller may use, whatever the daemon allows.
  static constexpr size_t kMaxHeaderTable = 64 << 10;
  // Streams the gate keeps track of at once: refused ones the caller keeps open,
  // and allowed ones not yet closed on both sides. More ends the tunnel.
  static constexpr size_t kMaxRefusedOpen = 256;
  static constexpr size_t kMaxAllowedOpen = 4096;

  // `set_headers` (lowercase names starting with "mumba-") are added to every
  // request; any request header whose name starts with "mumba-" (the host's) is
  // dropped first. `decide` runs on the pump's thread, inside FromRemote.
  H2Gate(Decide decide, Headers set_headers);
  ~H2Gate() override;
  H2Gate(const H2Gate&) = delete;
  H2Gate& operator=(const H2Gate&) = delete;

  // On success, appends what the daemon should see to `to_local` and the gate's own
  // answers (refusals, flow-control credit) to `to_remote`. On error (the caller
  // broke HTTP/2 or a limit, or policy cut it off) returns why, and keeps returning
  // it: the tunnel must end.
  Status FromRemote(std::string_view bytes, std::string* to_local, std::string* to_remote) override;

  // Passes the daemon's bytes on unchanged, but only in whole frames (a partial one
  // is held until it is complete), so the gate's answers land between frames. Never
  // fails unless the gate already has.
  Status FromLocal(std::string_view bytes, std::string* to_remote) override;

 private:
  struct FrameHeader {
    uint32_t length = 0;
    uint8_t type = 0;
    uint8_t flags = 0;
    uint32_t stream = 0;
  };
  struct Stream {
    bool refused = false;
    bool caller_open = true;  // The caller has not ended its side.
    bool daemon_open = true;  // The daemon has not ended its side (allowed only).
  };
  struct InflaterDeleter {
    void operator()(nghttp2_hd_inflater* inflater) const;
  };

  Status ReadRemote(std::string_view bytes, std::string* to_local, std::string* to_remote);
  Status StartFrame(std::string* to_local);
  Status StartData(std::string* to_local);
  Status OnFrame(std::string_view payload, std::string* to_local, std::string* to_remote);
  Status OnHeaders(std::string_view payload);
  Status OnHeaderBlock(std::string* to_local, std::string* to_remote);
  Status Decode(std::string_view block, std::string* encoded, std::string* path);
  Status OnStreamFrame(std::string_view payload, std::string* to_local);
  void CallerEnded(uint32_t id, bool reset);
  void DaemonEnded(uint32_t id, bool reset);
  void InspectLocalFrame(const FrameHeader& h, std::string_view payload);

  Decide decide_;
  std::string set_headers_;  // Already encoded.
  std::unique_ptr<nghttp2_hd_inflater, InflaterDeleter> inflater_;
  size_t table_limit_ = 4096;
  Status failed_;

  // Request direction.
  size_t preface_seen_ = 0;
  bool settings_seen_ = false;
  FrameHeader frame_;
  char header_[9];
  size_t header_have_ = 0;
  std::string payload_;        // The current frame's payload so far (not DATA).
  uint32_t data_left_ = 0;     // DATA payload bytes still to pass or drop.
  bool data_forward_ = false;  // Whether they go to the daemon.
  uint64_t credit_ = 0;        // Dropped DATA the caller gets back as window.
  uint32_t last_stream_ = 0;
  // A header block waiting for CONTINUATION: its stream, whether it ends the
  // stream, and its fragments so far.
  uint32_t block_stream_ = 0;
  bool block_end_stream_ = false;
  std::string block_;
  std::unordered_map<uint32_t, Stream> streams_;
  size_t refused_open_ = 0;

  // Response direction: a partial frame of the daemon's.
  std::string local_pending_;
  // The gate's answers wait here until the daemon's first SETTINGS has gone on.
  bool daemon_settings_seen_ = false;
  std::string held_answers_;
  size_t daemon_max_frame_ = 16384;
};

}  // namespace mumba
