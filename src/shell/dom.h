// SPDX-License-Identifier: Apache-2.0
// The DevTools DOM domain for one attached tab: finding and changing elements.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "mumba/status.h"
#include "shell/cdp_connection.h"

namespace mumba::shell {

// A point in CSS pixels relative to the viewport, as Input events take it.
struct Point {
  double x = 0;
  double y = 0;
};

// Node ids are the DevTools protocol's: valid within this session until the
// document changes (a navigation). Borrows `cdp`, which must outlive it;
// `session_id` comes from TargetClient::AttachToTarget. Thread-safe like
// CdpConnection. Errors are CdpConnection::Call's (UNKNOWN "Could not find node
// with given id" for a stale id) unless said otherwise.
class DomClient {
 public:
  DomClient(CdpConnection* cdp, std::string session_id)
      : cdp_(cdp), session_id_(std::move(session_id)) {}

  // The ids of the elements matching a CSS `selector` in the current document, in
  // document order; empty when none match.
  Expected<std::vector<int>> QuerySelectorAll(const std::string& selector);

  Expected<std::string> GetOuterHTML(int node_id);
  // Replaces the node with the nodes `html` parses into; `node_id` is then stale.
  Status SetOuterHTML(int node_id, const std::string& html);

  Expected<std::map<std::string, std::string>> GetAttributes(int node_id);
  Status SetAttribute(int node_id, const std::string& name, const std::string& value);
  Status RemoveNode(int node_id);

  // The node's textContent, read and replaced through the page's own DOM API.
  Expected<std::string> GetText(int node_id);
  Status SetText(int node_id, const std::string& text);

  // The centre of the node's border box, where a click lands on it. UNKNOWN
  // ("Could not compute box model") when it is not rendered.
  Expected<Point> GetCenter(int node_id);

 private:
  // The document's node id, fetched once: every DOM.getDocument forgets the node
  // ids handed out before it, so it is called again only when the old one is stale.
  Expected<int> DocumentNodeId(bool refresh);
  // Calls `function_declaration` with the node as `this` and `arguments`.
  Expected<nlohmann::json> CallOnNode(int node_id, const std::string& function_declaration,
                                      nlohmann::json arguments);

  CdpConnection* cdp_;
  std::string session_id_;
  std::mutex mu_;
  int document_node_id_ = 0;
};

}  // namespace mumba::shell
