// SPDX-License-Identifier: Apache-2.0
#include "host/config.h"

#include <algorithm>

#include <toml++/toml.h>

namespace mumba {
namespace {

std::string Where(const std::filesystem::path& file, const toml::node& node) {
  return file.string() + ":" + std::to_string(node.source().begin.line) + ": ";
}

Expected<uint64_t> Bytes(const std::filesystem::path& file, const toml::node& node,
                         const std::string& key) {
  auto v = node.value<int64_t>();
  if (!v || *v < 0) return InvalidArgument(Where(file, node) + key + ": must be a number of bytes >= 0");
  return static_cast<uint64_t>(*v);
}

}  // namespace

Expected<HostConfig> HostConfig::Load(const std::filesystem::path& file) {
  HostConfig config;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return config;
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    return InvalidArgument(file.string() + ":" + std::to_string(e.source().begin.line) + ": " +
                           std::string(e.description()));
  }
  for (const auto& [key, node] : root) {
    std::string k(key.str());
    if (k == "storage" && node.is_table()) {
      for (const auto& [skey, snode] : *node.as_table()) {
        std::string name = "storage." + std::string(skey.str());
        if (skey.str() == "quota_bytes") {
          MUMBA_ASSIGN_OR_RETURN(config.quota_bytes, Bytes(file, snode, name));
        } else if (skey.str() == "sql_timeout_ms") {
          MUMBA_ASSIGN_OR_RETURN(config.sql_timeout_ms, Bytes(file, snode, name));
        } else {
          return InvalidArgument(Where(file, snode) + name + ": unknown key (known: quota_bytes, sql_timeout_ms)");
        }
      }
    } else if (k == "p2p" && node.is_table()) {
      P2pConfig& p = config.p2p;
      p.start_with_host = true;
      for (const auto& [pkey, v] : *node.as_table()) {
        std::string name = "p2p." + std::string(pkey.str());
        if (pkey.str() == "listen") {
          if (!v.is_string()) return InvalidArgument(Where(file, v) + name + ": must be \"IP:PORT\"");
          p.listen = *v.value<std::string>();
        } else if (pkey.str() == "bootstrap") {
          const toml::array* arr = v.as_array();
          if (!arr) return InvalidArgument(Where(file, v) + name + ": must be a list of \"HOST:PORT\"");
          p.bootstrap.clear();
          for (const auto& item : *arr) {
            if (!item.is_string()) return InvalidArgument(Where(file, item) + name + ": must be a list of \"HOST:PORT\"");
            p.bootstrap.push_back(*item.value<std::string>());
          }
        } else if (pkey.str() == "seed") {
          if (!v.is_boolean()) return InvalidArgument(Where(file, v) + name + ": must be true or false");
          p.seed = *v.value<bool>();
        } else if (pkey.str() == "upload_rate_limit" || pkey.str() == "download_rate_limit" ||
                   pkey.str() == "update_interval_s") {
          MUMBA_ASSIGN_OR_RETURN(uint64_t n, Bytes(file, v, name));
          int value = static_cast<int>(std::min<uint64_t>(n, 1u << 30));
          if (pkey.str() == "upload_rate_limit") p.upload_rate_limit = value;
          else if (pkey.str() == "download_rate_limit") p.download_rate_limit = value;
          else p.update_interval_s = value;
        } else if (pkey.str() == "max_bundle_bytes") {
          MUMBA_ASSIGN_OR_RETURN(p.max_bundle_bytes, Bytes(file, v, name));
        } else if (pkey.str() == "max_bundle_files") {
          MUMBA_ASSIGN_OR_RETURN(p.max_bundle_files, Bytes(file, v, name));
        } else if (pkey.str() == "peer_listen") {
          if (!v.is_string()) return InvalidArgument(Where(file, v) + name + ": must be \"IP:PORT\"");
          p.peer_listen = *v.value<std::string>();
        } else if (pkey.str() == "peer_refresh_ms" || pkey.str() == "peer_expiry_ms" ||
                   pkey.str() == "follow_poll_ms") {
          MUMBA_ASSIGN_OR_RETURN(uint64_t n, Bytes(file, v, name));
          if (n < 100) return InvalidArgument(Where(file, v) + name + ": must be at least 100");
          int value = static_cast<int>(std::min<uint64_t>(n, 1u << 30));
          (pkey.str() == "peer_refresh_ms"  ? p.peer_refresh_ms
           : pkey.str() == "peer_expiry_ms" ? p.peer_expiry_ms
                                            : p.follow_poll_ms) = value;
        } else {
          return InvalidArgument(Where(file, v) + name +
                                 ": unknown key (known: listen, bootstrap, seed, upload_rate_limit, "
                                 "download_rate_limit, update_interval_s, max_bundle_bytes, "
                                 "max_bundle_files, peer_listen, peer_refresh_ms, peer_expiry_ms, follow_poll_ms)");
        }
      }
    } else if (k == "gateway" && node.is_table()) {
      for (const auto& [gkey, v] : *node.as_table()) {
        const std::string name = "gateway." + std::string(gkey.str());
        GatewayLimits& limits = config.gateway_limits;
        if (gkey.str() != "port") {
          // Every limit is a count, milliseconds or bytes above 0: 0 would refuse everything.
          auto n = v.value<int64_t>();
          if (!n || !v.is_integer() || *n <= 0) {
            return InvalidArgument(Where(file, v) + name + ": must be a number > 0");
          }
          if (gkey.str() == "max_connections") {
            limits.max_connections = static_cast<int>(std::min<int64_t>(*n, 1 << 20));
          } else if (gkey.str() == "header_timeout_ms") {
            limits.header_timeout = std::chrono::milliseconds(*n);
          } else if (gkey.str() == "body_timeout_ms") {
            limits.body_timeout = std::chrono::milliseconds(*n);
          } else if (gkey.str() == "idle_timeout_ms") {
            limits.idle_timeout = std::chrono::milliseconds(*n);
          } else if (gkey.str() == "max_body_bytes") {
            limits.max_body_bytes = static_cast<uint64_t>(*n);
          } else if (gkey.str() == "max_buffered_bytes") {
            limits.max_buffered_bytes = static_cast<uint64_t>(*n);
          } else {
            return InvalidArgument(Where(file, v) + name +
                                   ": unknown key (known: port, max_connections, header_timeout_ms, "
                                   "body_timeout_ms, idle_timeout_ms, max_body_bytes, max_buffered_bytes)");
          }
          continue;
        }
        auto port = v.value<int64_t>();
        if (!port || *port < 0 || *port > 65535) {
          return InvalidArgument(Where(file, v) + "gateway.port: must be a port number 0-65535");
        }
        config.gateway_port = static_cast<int>(*port);
      }
    } else if (k == "security" && node.is_table()) {
      for (const auto& [skey, v] : *node.as_table()) {
        if (skey.str() != "sandbox") {
          return InvalidArgument(Where(file, v) + "security." + std::string(skey.str()) +
                                 ": unknown key (known: sandbox)");
        }
        auto on = v.value<bool>();
        if (!on || !v.is_boolean()) return InvalidArgument(Where(file, v) + "security.sandbox: must be true or false");
        config.sandbox = *on;
      }
    } else if (k == "apps" && node.is_table()) {
      for (const auto& [app, anode] : *node.as_table()) {
        std::string name = "apps." + std::string(app.str());
        if (!anode.is_table()) return InvalidArgument(Where(file, anode) + name + ": must be a table");
        for (const auto& [akey, v] : *anode.as_table()) {
          if (akey.str() != "quota_bytes") {
            return InvalidArgument(Where(file, v) + name + "." + std::string(akey.str()) + ": unknown key");
          }
          MUMBA_ASSIGN_OR_RETURN(config.app_quota_bytes[std::string(app.str())],
                                 Bytes(file, v, name + ".quota_bytes"));
        }
      }
    } else {
      return InvalidArgument(Where(file, node) + k + ": unknown key (known: storage, p2p, security, gateway, apps)");
    }
  }
  return config;
}

uint64_t HostConfig::QuotaFor(const std::string& id, const std::string& name) const {
  if (auto it = app_quota_bytes.find(id); it != app_quota_bytes.end()) return it->second;
  if (auto it = app_quota_bytes.find(name); it != app_quota_bytes.end()) return it->second;
  return quota_bytes;
}

}  // namespace mumba
