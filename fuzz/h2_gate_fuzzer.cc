// SPDX-License-Identifier: Apache-2.0
// Fuzzes the receiving host's HTTP/2 gate (src/peer/h2_gate.h): another node sends
// any bytes as the caller, and the daemon's answers are fed back. The input's first
// byte says whether a valid client preface and the daemon's SETTINGS come first; the
// rest is records of [side][length: 2 bytes][bytes], side 0 the caller, 1 the daemon.
// Policy allows paths starting "/ok", cuts paths holding "cut", refuses the rest.
//
// Beyond not crashing: what reaches the daemon is the preface and frames whose header
// blocks decode with one decoder whose table stays empty; each new stream it sees
// was allowed, carries the host's header exactly once and no other "mumba-" header;
// no frame reaches it for a stream it never saw; new streams increase; the caller
// only ever gets whole frames; a gate that failed keeps failing.
#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "peer/h2_gate.h"

namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const std::string kEmptySettings("\0\0\0\4\0\0\0\0\0", 9);

size_t FrameLength(std::string_view at) {
  return size_t(uint8_t(at[0])) << 16 | size_t(uint8_t(at[1])) << 8 | uint8_t(at[2]);
}

// Checks what the daemon was sent: every whole frame of it.
void CheckDaemonView(std::string_view bytes) {
  FUZZ_CHECK(kPreface.substr(0, std::min(bytes.size(), kPreface.size())) == bytes.substr(0, kPreface.size()));
  if (bytes.size() < kPreface.size()) return;
  bytes.remove_prefix(kPreface.size());
  nghttp2_hd_inflater* inflater = nullptr;
  FUZZ_CHECK(nghttp2_hd_inflate_new(&inflater) == 0);
  std::set<uint32_t> seen;
  uint32_t last = 0;
  std::string block;
  uint32_t block_stream = 0;
  bool block_is_new = false;
  while (bytes.size() >= 9) {
    const size_t length = FrameLength(bytes);
    if (bytes.size() - 9 < length) break;  // DATA goes on in pieces.
    const uint8_t type = uint8_t(bytes[3]);
    const uint8_t flags = uint8_t(bytes[4]);
    const uint32_t stream = (uint32_t(uint8_t(bytes[5])) << 24 | uint32_t(uint8_t(bytes[6])) << 16 |
                             uint32_t(uint8_t(bytes[7])) << 8 | uint8_t(bytes[8])) & 0x7fffffff;
    const std::string_view payload = bytes.substr(9, length);
    bytes.remove_prefix(9 + length);
    FUZZ_CHECK(type != 2 && type != 5);  // No PRIORITY, no PUSH_PROMISE.
    if (block_stream != 0) FUZZ_CHECK(type == 9 && stream == block_stream);
    if (type == 1) {
      FUZZ_CHECK(stream % 2 == 1);
      block_is_new = !seen.contains(stream);
      if (block_is_new) {
        FUZZ_CHECK(stream > last);
        last = stream;
        seen.insert(stream);
      }
      FUZZ_CHECK((flags & ~(0x1 | 0x4)) == 0);  // No padding, no priority.
      block.assign(payload);
      block_stream = stream;
    } else if (type == 9) {
      FUZZ_CHECK(block_stream == stream);
      block.append(payload);
    } else if (type == 0 || type == 3 || (type == 8 && stream != 0)) {
      FUZZ_CHECK(seen.contains(stream));
    }
    if ((type == 1 || type == 9) && (flags & 0x4)) {
      block_stream = 0;
      const auto* in = reinterpret_cast<const uint8_t*>(block.data());
      size_t left = block.size();
      int paths = 0, host_headers = 0;
      for (;;) {
        nghttp2_nv nv;
        int f = 0;
        const ssize_t n = nghttp2_hd_inflate_hd2(inflater, &nv, &f, in, left, 1);
        FUZZ_CHECK(n >= 0);
        in += n;
        left -= size_t(n);
        if (f & NGHTTP2_HD_INFLATE_EMIT) {
          const std::string_view name(reinterpret_cast<const char*>(nv.name), nv.namelen);
          const std::string_view value(reinterpret_cast<const char*>(nv.value), nv.valuelen);
          if (name == ":path") {
            ++paths;
            if (block_is_new) FUZZ_CHECK(value.starts_with("/ok") && value.find("cut") == std::string_view::npos);
          }
          std::string lower(name.substr(0, 6));
          for (char& c : lower) c = char(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
          if (lower == "mumba-") {
            ++host_headers;
            FUZZ_CHECK(name == "mumba-peer-node" && value == "node");
          }
        }
        if (f & NGHTTP2_HD_INFLATE_FINAL) {
          nghttp2_hd_inflate_end_headers(inflater);
          break;
        }
        FUZZ_CHECK((f & NGHTTP2_HD_INFLATE_EMIT) || left > 0);
      }
      FUZZ_CHECK(nghttp2_hd_inflate_get_num_table_entries(inflater) == 61);
      if (block_is_new) FUZZ_CHECK(paths == 1 && host_headers == 1);
      if (!block_is_new) FUZZ_CHECK(host_headers == 0);
    }
  }
  nghttp2_hd_inflate_del(inflater);
}

// Walks the caller's bytes from `*at`; they must end on a frame boundary.
void CheckWholeFrames(const std::string& bytes, size_t* at) {
  while (bytes.size() - *at >= 9) {
    const size_t length = FrameLength(std::string_view(bytes).substr(*at));
    FUZZ_CHECK(bytes.size() - *at - 9 >= length);
    *at += 9 + length;
  }
  FUZZ_CHECK(*at == bytes.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const uint8_t mode = uint8_t(input[0]);
  input.remove_prefix(1);
  mumba::H2Gate gate(
      [](std::string_view path) {
        mumba::H2GateVerdict v;
        if (path.find("cut") != std::string_view::npos) {
          v.cut = true;
          v.refusal = mumba::ResourceExhausted("cut");
        } else if (!path.starts_with("/ok")) {
          v.refusal = mumba::PermissionDenied(std::string(path));
        }
        return v;
      },
      mumba::H2Gate::Headers{{"mumba-peer-node", "node"}});
  std::string to_local, to_remote;
  size_t remote_at = 0;
  bool failed = false;
  auto feed = [&](int side, std::string_view bytes) {
    const mumba::Status s =
        side == 0 ? gate.FromRemote(bytes, &to_local, &to_remote) : gate.FromLocal(bytes, &to_remote);
    if (failed) FUZZ_CHECK(!s.ok());
    if (!s.ok()) {
      failed = true;
      FUZZ_CHECK(!s.message().empty());
      return;
    }
    CheckWholeFrames(to_remote, &remote_at);
  };
  if (mode & 1) feed(1, kEmptySettings);
  if (mode & 2) feed(0, std::string(kPreface) + kEmptySettings);
  while (input.size() >= 3) {
    const int side = uint8_t(input[0]) & 1;
    const size_t n = std::min(input.size() - 3, size_t(uint8_t(input[1])) << 8 | uint8_t(input[2]));
    feed(side, input.substr(3, n));
    input.remove_prefix(3 + n);
  }
  CheckDaemonView(to_local);
  return 0;
}
