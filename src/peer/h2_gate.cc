// SPDX-License-Identifier: Apache-2.0
// H2Gate: HTTP/2 framing (RFC 9113) and HPACK (RFC 7541) as far as the gate needs
// them. nghttp2 is used for its HPACK decoder only; frames are read here and what is
// sent on is encoded here.
#include "peer/h2_gate.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

namespace mumba {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kFrameHeaderSize = 9;

enum FrameType : uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPushPromise = 5,
  kPing = 6,
  kGoaway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};
constexpr uint8_t kEndStream = 0x1;
constexpr uint8_t kAck = 0x1;
constexpr uint8_t kEndHeaders = 0x4;
constexpr uint8_t kPadded = 0x8;
constexpr uint8_t kPriorityFlag = 0x20;
constexpr uint16_t kSettingsHeaderTableSize = 1;
constexpr uint16_t kSettingsMaxFrameSize = 5;
// Every HTTP/2 endpoint accepts frames this large (SETTINGS_MAX_FRAME_SIZE's floor).
constexpr size_t kSafeFrameSize = 16384;
// A refusal's grpc-message is cut to this many bytes before it is encoded.
constexpr size_t kMaxRefusalMessage = 1024;

uint32_t ReadU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t(u[0]) << 24 | uint32_t(u[1]) << 16 | uint32_t(u[2]) << 8 | u[3];
}

void AppendU32(std::string* out, uint32_t v) {
  const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  out->append(b, 4);
}

void AppendFrameHeader(std::string* out, size_t length, uint8_t type, uint8_t flags, uint32_t stream) {
  const char b[5] = {char(length >> 16), char(length >> 8), char(length), char(type), char(flags)};
  out->append(b, 5);
  AppendU32(out, stream);
}

// An HPACK integer with an N-bit prefix (RFC 7541 5.1); `first` holds the bits above it.
void AppendInt(std::string* out, uint8_t first, int prefix_bits, size_t value) {
  const size_t max = (size_t{1} << prefix_bits) - 1;
  if (value < max) {
    out->push_back(char(first | value));
    return;
  }
  out->push_back(char(first | max));
  value -= max;
  while (value >= 128) {
    out->push_back(char(0x80 | (value & 127)));
    value >>= 7;
  }
  out->push_back(char(value));
}

// A "literal header field without indexing, new name" with plain (not Huffman)
// strings: the receiver's decoder stores nothing, so its table never changes.
void AppendLiteral(std::string* out, std::string_view name, std::string_view value) {
  out->push_back(0);
  AppendInt(out, 0, 7, name.size());
  out->append(name);
  AppendInt(out, 0, 7, value.size());
  out->append(value);
}

// A header block as HEADERS and as many CONTINUATION frames as it takes.
void AppendHeaderBlock(std::string* out, uint32_t stream, bool end_stream, std::string_view block) {
  uint8_t type = kHeaders;
  uint8_t flags = end_stream ? kEndStream : 0;
  do {
    const size_t n = std::min(block.size(), kSafeFrameSize);
    if (n == block.size()) flags |= kEndHeaders;
    AppendFrameHeader(out, n, type, flags, stream);
    out->append(block.substr(0, n));
    block.remove_prefix(n);
    type = kContinuation;
    flags = 0;
  } while (!block.empty());
}

// Headers named "mumba-..." in any case are the host's alone.
bool IsHostHeader(std::string_view name) {
  static constexpr std::string_view kPrefix = "mumba-";
  if (name.size() < kPrefix.size()) return false;
  for (size_t i = 0; i < kPrefix.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (c != kPrefix[i]) return false;
  }
  return true;
}

// grpc-message's encoding (gRPC's HTTP/2 protocol document): bytes outside
// printable ASCII, and '%', as %XX.
std::string PercentEncode(std::string_view text) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 15]);
    }
  }
  return out;
}

Status Broken(const std::string& what) { return InvalidArgument("HTTP/2 from the peer: " + what); }
Status TooMuch(const std::string& what) { return ResourceExhausted("HTTP/2 from the peer: " + what); }

}  // namespace

void H2Gate::InflaterDeleter::operator()(nghttp2_hd_inflater* inflater) const { nghttp2_hd_inflate_del(inflater); }

H2Gate::H2Gate(Decide decide, Headers set_headers) : decide_(std::move(decide)) {
  for (const auto& [name, value] : set_headers) AppendLiteral(&set_headers_, name, value);
  nghttp2_hd_inflater* inflater = nullptr;
  if (nghttp2_hd_inflate_new(&inflater) != 0) {
    failed_ = Internal("out of memory for an HPACK decoder");
    return;
  }
  inflater_.reset(inflater);
}

H2Gate::~H2Gate() = default;

Status H2Gate::FromRemote(std::string_view bytes, std::string* to_local, std::string* to_remote) {
  if (!failed_.ok()) return failed_;
  // The caller must see the daemon's SETTINGS before any other frame (RFC 9113 3.4),
  // so the gate's answers wait for it.
  if (!daemon_settings_seen_) to_remote = &held_answers_;
  Status status = ReadRemote(bytes, to_local, to_remote);
  if (!status.ok()) {
    failed_ = status;
    return status;
  }
  // What was dropped of the caller's DATA goes back to its connection window at once,
  // or refused calls with large bodies would stall the calls after them.
  while (credit_ > 0) {
    const uint32_t n = uint32_t(std::min<uint64_t>(credit_, 0x7fffffff));
    AppendFrameHeader(to_remote, 4, kWindowUpdate, 0, 0);
    AppendU32(to_remote, n);
    credit_ -= n;
  }
  if (held_answers_.size() > kMaxHeaderBlock) {
    failed_ = TooMuch("too many calls before the daemon's SETTINGS");
    return failed_;
  }
  return status;
}

Status H2Gate::ReadRemote(std::string_view bytes, std::string* to_local, std::string* to_remote) {
  while (!bytes.empty()) {
    if (preface_seen_ < kPreface.size()) {
      const size_t n = std::min(bytes.size(), kPreface.size() - preface_seen_);
      if (bytes.substr(0, n) != kPreface.substr(preface_seen_, n)) return Broken("not a client connection preface");
      to_local->append(bytes.substr(0, n));
      preface_seen_ += n;
      bytes.remove_prefix(n);
      continue;
    }
    if (data_left_ > 0) {
      const size_t n = std::min<size_t>(bytes.size(), data_left_);
      if (data_forward_) to_local->append(bytes.substr(0, n));
      data_left_ -= uint32_t(n);
      bytes.remove_prefix(n);
      continue;
    }
    if (header_have_ < kFrameHeaderSize) {
      const size_t n = std::min(bytes.size(), kFrameHeaderSize - header_have_);
      std::memcpy(header_ + header_have_, bytes.data(), n);
      header_have_ += n;
      bytes.remove_prefix(n);
      if (header_have_ < kFrameHeaderSize) break;
      const auto* h = reinterpret_cast<const unsigned char*>(header_);
      frame_.length = uint32_t(h[0]) << 16 | uint32_t(h[1]) << 8 | h[2];
      frame_.type = h[3];
      frame_.flags = h[4];
      frame_.stream = ReadU32(header_ + 5) & 0x7fffffff;
      MUMBA_TRY(StartFrame(to_local));
      if (frame_.type == kData) {
        header_have_ = 0;
        continue;
      }
      payload_.clear();
    }
    const size_t n = std::min<size_t>(bytes.size(), frame_.length - payload_.size());
    payload_.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
    if (payload_.size() == frame_.length) {
      header_have_ = 0;
      MUMBA_TRY(OnFrame(payload_, to_local, to_remote));
    }
  }
  return Status::Ok();
}

Status H2Gate::StartFrame(std::string* to_local) {
  // DATA is streamed, never held, so it may be as large as the daemon accepts (gRPC
  // allows 4 MiB); whatever the gate holds is bounded tighter.
  const size_t limit = frame_.type == kData ? std::max(kMaxFramePayload, daemon_max_frame_) : kMaxFramePayload;
  if (frame_.length > limit) return TooMuch("a frame of " + std::to_string(frame_.length) + " bytes");
  if (!settings_seen_) {
    if (frame_.type != kSettings || (frame_.flags & kAck)) return Broken("the preface is not followed by SETTINGS");
    settings_seen_ = true;
  }
  if (block_stream_ != 0 && (frame_.type != kContinuation || frame_.stream != block_stream_)) {
    return Broken("a header block is interrupted");
  }
  if (frame_.type == kData) return StartData(to_local);
  return Status::Ok();
}

Status H2Gate::StartData(std::string* to_local) {
  const uint32_t id = frame_.stream;
  if (id == 0 || id % 2 == 0 || id > last_stream_) return Broken("DATA on stream " + std::to_string(id));
  auto it = streams_.find(id);
  data_forward_ = it != streams_.end() && !it->second.refused && it->second.caller_open;
  data_left_ = frame_.length;
  if (data_forward_) {
    to_local->append(header_, kFrameHeaderSize);
  } else {
    // Refused or closed: the daemon never sees it, but the caller counted it against
    // the connection's window (padding included).
    credit_ += frame_.length;
  }
  if (frame_.flags & kEndStream) CallerEnded(id, false);
  return Status::Ok();
}

Status H2Gate::OnFrame(std::string_view payload, std::string* to_local, std::string* to_remote) {
  switch (frame_.type) {
    case kHeaders:
      MUMBA_TRY(OnHeaders(payload));
      break;
    case kContinuation:
      if (block_stream_ == 0) return Broken("CONTINUATION without HEADERS");
      if (block_.size() + payload.size() > kMaxHeaderBlock) return TooMuch("a header block over 64 KiB");
      block_.append(payload);
      break;
    case kPushPromise:
      return Broken("PUSH_PROMISE from a client");
    case kPriority:
      // Priorities are advice the daemon may ignore; the gate drops them.
      if (frame_.length != 5 || frame_.stream == 0) return Broken("a malformed PRIORITY frame");
      return Status::Ok();
    case kRstStream:
    case kWindowUpdate:
      if (frame_.type == kRstStream || frame_.stream != 0) return OnStreamFrame(payload, to_local);
      [[fallthrough]];
    case kSettings:
    case kPing:
    case kGoaway:
      if (frame_.stream != 0) return Broken("a connection frame on stream " + std::to_string(frame_.stream));
      to_local->append(header_, kFrameHeaderSize);
      to_local->append(payload);
      return Status::Ok();
    default:
      // Frames of unknown types must be ignored (RFC 9113 5.5); the daemon would.
      return Status::Ok();
  }
  if (frame_.flags & kEndHeaders) return OnHeaderBlock(to_local, to_remote);
  return Status::Ok();
}

Status H2Gate::OnHeaders(std::string_view payload) {
  const uint32_t id = frame_.stream;
  if (id == 0 || id % 2 == 0) return Broken("HEADERS on stream " + std::to_string(id));
  size_t start = 0;
  size_t pad = 0;
  if (frame_.flags & kPadded) {
    if (payload.empty()) return Broken("HEADERS without its pad length");
    pad = uint8_t(payload[0]);
    start = 1;
  }
  if (frame_.flags & kPriorityFlag) start += 5;
  if (start > payload.size() || pad > payload.size() - start) return Broken("HEADERS with too much padding");
  block_stream_ = id;
  block_end_stream_ = frame_.flags & kEndStream;
  block_.assign(payload.substr(start, payload.size() - start - pad));
  if (block_.size() > kMaxHeaderBlock) return TooMuch("a header block over 64 KiB");
  return Status::Ok();
}

Status H2Gate::OnHeaderBlock(std::string* to_local, std::string* to_remote) {
  const uint32_t id = std::exchange(block_stream_, 0);
  const bool end_stream = block_end_stream_;
  std::string encoded;
  if (id <= last_stream_) {
    // Trailers of a stream the caller has open; anything else is not HTTP/2 (a
    // reused stream id would otherwise reach the daemon as a request no one decided).
    auto it = streams_.find(id);
    if (it == streams_.end() || !it->second.caller_open) return Broken("HEADERS on closed stream " + std::to_string(id));
    MUMBA_TRY(Decode(block_, &encoded, nullptr));
    if (!it->second.refused) AppendHeaderBlock(to_local, id, end_stream, encoded);
    if (end_stream) CallerEnded(id, false);
    return Status::Ok();
  }
  last_stream_ = id;
  std::string path;
  MUMBA_TRY(Decode(block_, &encoded, &path));
  H2GateVerdict verdict = decide_(path);
  if (verdict.cut) return verdict.refusal.ok() ? PermissionDenied("the peer is cut off") : verdict.refusal;
  if (verdict.refusal.ok()) {
    if (streams_.size() - refused_open_ >= kMaxAllowedOpen) return TooMuch("too many open streams");
    // Tracked until both sides end: the caller's WINDOW_UPDATEs go on until then.
    streams_[id] = Stream{false, !end_stream, true};
    encoded += set_headers_;
    AppendHeaderBlock(to_local, id, end_stream, encoded);
    return Status::Ok();
  }
  // A trailers-only gRPC response, in literals, so the caller's decoder state stays
  // the one the daemon's encoder expects.
  std::string answer;
  AppendLiteral(&answer, ":status", "200");
  AppendLiteral(&answer, "content-type", "application/grpc");
  AppendLiteral(&answer, "grpc-status", std::to_string(int(verdict.refusal.code())));
  const std::string& message = verdict.refusal.message();
  if (!message.empty()) {
    AppendLiteral(&answer, "grpc-message", PercentEncode(std::string_view(message).substr(0, kMaxRefusalMessage)));
  }
  AppendHeaderBlock(to_remote, id, true, answer);
  if (!end_stream) {
    if (refused_open_ >= kMaxRefusedOpen) return TooMuch("too many refused streams left open");
    streams_[id] = Stream{true, true, false};
    ++refused_open_;
  }
  return Status::Ok();
}

Status H2Gate::Decode(std::string_view block, std::string* encoded, std::string* path) {
  const auto* in = reinterpret_cast<const uint8_t*>(block.data());
  size_t left = block.size();
  size_t list_size = 0;
  int paths = 0;
  for (;;) {
    nghttp2_nv nv;
    int flags = 0;
    const ssize_t n = nghttp2_hd_inflate_hd2(inflater_.get(), &nv, &flags, in, left, 1);
    if (n < 0) return Broken("a header block that does not decode");
    in += n;
    left -= size_t(n);
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      // Each field counts as RFC 9113's SETTINGS_MAX_HEADER_LIST_SIZE does: a small
      // block can name a large table entry many times over.
      list_size += nv.namelen + nv.valuelen + 32;
      if (list_size > kMaxHeaderList) return TooMuch("a header list over 64 KiB");
      const std::string_view name(reinterpret_cast<const char*>(nv.name), nv.namelen);
      const std::string_view value(reinterpret_cast<const char*>(nv.value), nv.valuelen);
      if (path != nullptr && name == ":path") {
        ++paths;
        path->assign(value);
      }
      if (!IsHostHeader(name)) AppendLiteral(encoded, name, value);
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(inflater_.get());
      break;
    }
    if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) return Broken("a header block that does not end");
  }
  if (path != nullptr && paths != 1) return Broken("a request without exactly one :path");
  return Status::Ok();
}

Status H2Gate::OnStreamFrame(std::string_view payload, std::string* to_local) {
  const uint32_t id = frame_.stream;
  if (frame_.length != 4) return Broken("a RST_STREAM or WINDOW_UPDATE that is not 4 bytes");
  if (id % 2 == 0 || id > last_stream_) return Broken("a frame for idle stream " + std::to_string(id));
  auto it = streams_.find(id);
  // Closed streams: the daemon may have forgotten them, so nothing about them goes on.
  if (it == streams_.end()) return Status::Ok();
  if (!it->second.refused) {
    to_local->append(header_, kFrameHeaderSize);
    to_local->append(payload);
  }
  if (frame_.type == kRstStream) CallerEnded(id, true);
  return Status::Ok();
}

void H2Gate::CallerEnded(uint32_t id, bool reset) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  if (it->second.refused) {
    streams_.erase(it);
    --refused_open_;
    return;
  }
  it->second.caller_open = false;
  if (reset || !it->second.daemon_open) streams_.erase(it);
}

void H2Gate::DaemonEnded(uint32_t id, bool reset) {
  auto it = streams_.find(id);
  if (it == streams_.end() || it->second.refused) return;
  it->second.daemon_open = false;
  if (reset || !it->second.caller_open) streams_.erase(it);
}

Status H2Gate::FromLocal(std::string_view bytes, std::string* to_remote) {
  if (!failed_.ok()) return failed_;
  std::string_view in = bytes;
  const bool held = !local_pending_.empty();
  if (held) {
    local_pending_.append(bytes);
    in = local_pending_;
  }
  size_t at = 0;
  while (in.size() - at >= kFrameHeaderSize) {
    const auto* h = reinterpret_cast<const unsigned char*>(in.data() + at);
    FrameHeader frame;
    frame.length = uint32_t(h[0]) << 16 | uint32_t(h[1]) << 8 | h[2];
    if (in.size() - at - kFrameHeaderSize < frame.length) break;
    frame.type = h[3];
    frame.flags = h[4];
    frame.stream = ReadU32(in.data() + at + 5) & 0x7fffffff;
    InspectLocalFrame(frame, in.substr(at + kFrameHeaderSize, frame.length));
    at += kFrameHeaderSize + frame.length;
  }
  to_remote->append(in.substr(0, at));
  if (daemon_settings_seen_ && !held_answers_.empty()) {
    to_remote->append(held_answers_);
    held_answers_.clear();
  }
  if (held) {
    local_pending_.erase(0, at);
  } else {
    local_pending_.assign(in.substr(at));
  }
  return Status::Ok();
}

void H2Gate::InspectLocalFrame(const FrameHeader& frame, std::string_view payload) {
  switch (frame.type) {
    case kData:
    case kHeaders:
      if (frame.flags & kEndStream) DaemonEnded(frame.stream, false);
      break;
    case kRstStream:
      DaemonEnded(frame.stream, true);
      break;
    case kSettings:
      if (frame.stream != 0 || (frame.flags & kAck)) break;
      daemon_settings_seen_ = true;
      for (size_t at = 0; at + 6 <= payload.size(); at += 6) {
        const auto* p = reinterpret_cast<const unsigned char*>(payload.data() + at);
        const uint16_t id = uint16_t(p[0]) << 8 | p[1];
        const uint32_t value = ReadU32(payload.data() + at + 2);
        if (id == kSettingsMaxFrameSize) daemon_max_frame_ = std::max<size_t>(daemon_max_frame_, value);
        if (id != kSettingsHeaderTableSize) continue;
        // The caller's encoder may use as large a table as the daemon allows; the
        // decoder follows, up to a cap (a larger table ends the tunnel when used).
        const size_t size = std::min<size_t>(value, kMaxHeaderTable);
        if (size > table_limit_ && nghttp2_hd_inflate_change_table_size(inflater_.get(), size) == 0) {
          table_limit_ = size;
        }
      }
      break;
    case kGoaway:
      // Streams above the last one the daemon took will never be answered by it.
      if (frame.stream != 0 || payload.size() < 8) break;
      std::erase_if(streams_, [last = ReadU32(payload.data()) & 0x7fffffff](const auto& entry) {
        return !entry.second.refused && entry.first > last;
      });
      break;
    default:
      break;
  }
}

}  // namespace mumba
