// SPDX-License-Identifier: Apache-2.0
#include "gateway/origin.h"

#include <cctype>

namespace mumba {

Expected<std::string> AppLabelFromHost(std::string_view host, int port) {
  auto refuse = [&] { return PermissionDenied("unknown host '" + std::string(host) + "'"); };
  const std::string suffix = ".localhost:" + std::to_string(port);
  if (host.size() <= suffix.size()) return refuse();
  std::string lower;
  for (char c : host) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) != 0) return refuse();
  std::string label = lower.substr(0, lower.size() - suffix.size());
  if (label.empty() || label.size() > 63) return refuse();
  for (char c : label) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '-')) {
      return refuse();
    }
  }
  return label;
}

bool IsSameOriginRequest(std::string_view host, std::string_view origin, std::string_view sec_fetch_site) {
  if (!origin.empty() && origin != "http://" + std::string(host)) return false;
  // "none": the user typed the URL or opened a bookmark.
  if (!sec_fetch_site.empty() && sec_fetch_site != "same-origin" && sec_fetch_site != "none") return false;
  return true;
}

}  // namespace mumba
