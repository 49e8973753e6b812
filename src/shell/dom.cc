// SPDX-License-Identifier: Apache-2.0
#include "shell/dom.h"

#include "shell/json_fields.h"
#include "shell/runtime.h"

namespace mumba::shell {

using json = nlohmann::json;

Expected<int> DomClient::DocumentNodeId(bool refresh) {
  std::lock_guard lock(mu_);
  if (document_node_id_ != 0 && !refresh) return document_node_id_;
  MUMBA_ASSIGN_OR_RETURN(json result, cdp_->Call("DOM.getDocument", {{"depth", 0}}, session_id_));
  const json& id = Field(Field(result, "root"), "nodeId");
  if (!id.is_number_integer()) return Internal("DOM.getDocument: the answer has no root node");
  document_node_id_ = id.get<int>();
  return document_node_id_;
}

Expected<std::vector<int>> DomClient::QuerySelectorAll(const std::string& selector) {
  Expected<json> result = Status(Code::kInternal, "not queried");
  for (bool refresh : {false, true}) {
    MUMBA_ASSIGN_OR_RETURN(int document, DocumentNodeId(refresh));
    result = cdp_->Call("DOM.querySelectorAll", {{"nodeId", document}, {"selector", selector}},
                        session_id_);
    // A failure may only mean the cached document is gone: try once with a fresh one.
    if (result.ok()) break;
  }
  if (!result.ok()) return result.status();
  std::vector<int> ids;
  for (const json& id : Field(*result, "nodeIds")) {
    if (id.is_number_integer()) ids.push_back(id.get<int>());
  }
  return ids;
}

Expected<std::string> DomClient::GetOuterHTML(int node_id) {
  MUMBA_ASSIGN_OR_RETURN(json result,
                         cdp_->Call("DOM.getOuterHTML", {{"nodeId", node_id}}, session_id_));
  return StringField(result, "outerHTML");
}

Status DomClient::SetOuterHTML(int node_id, const std::string& html) {
  return cdp_->Call("DOM.setOuterHTML", {{"nodeId", node_id}, {"outerHTML", html}}, session_id_)
      .status();
}

Expected<std::map<std::string, std::string>> DomClient::GetAttributes(int node_id) {
  MUMBA_ASSIGN_OR_RETURN(json result,
                         cdp_->Call("DOM.getAttributes", {{"nodeId", node_id}}, session_id_));
  // The protocol sends them flattened: [name1, value1, name2, value2, ...].
  const json& flat = Field(result, "attributes");
  std::map<std::string, std::string> attributes;
  for (size_t i = 0; flat.is_array() && i + 1 < flat.size(); i += 2) {
    if (flat[i].is_string() && flat[i + 1].is_string()) {
      attributes[flat[i].get<std::string>()] = flat[i + 1].get<std::string>();
    }
  }
  return attributes;
}

Status DomClient::SetAttribute(int node_id, const std::string& name, const std::string& value) {
  return cdp_
      ->Call("DOM.setAttributeValue", {{"nodeId", node_id}, {"name", name}, {"value", value}},
             session_id_)
      .status();
}

Status DomClient::RemoveNode(int node_id) {
  return cdp_->Call("DOM.removeNode", {{"nodeId", node_id}}, session_id_).status();
}

Expected<json> DomClient::CallOnNode(int node_id, const std::string& function_declaration,
                                     json arguments) {
  MUMBA_ASSIGN_OR_RETURN(json resolved,
                         cdp_->Call("DOM.resolveNode", {{"nodeId", node_id}}, session_id_));
  std::string object_id = StringField(Field(resolved, "object"), "objectId");
  if (object_id.empty()) return Internal("DOM.resolveNode: the answer has no objectId");
  auto answer = cdp_->Call("Runtime.callFunctionOn",
                           {{"objectId", object_id},
                            {"functionDeclaration", function_declaration},
                            {"arguments", std::move(arguments)},
                            {"returnByValue", true}},
                           session_id_);
  // The page keeps the object alive until released; a failure here leaks nothing
  // that outlives the document.
  (void)cdp_->Call("Runtime.releaseObject", {{"objectId", object_id}}, session_id_);
  if (!answer.ok()) return answer.status();
  MUMBA_TRY(StatusFromRuntimeAnswer("Runtime.callFunctionOn", *answer));
  return ValueOfRemoteObject(Field(*answer, "result"));
}

Expected<std::string> DomClient::GetText(int node_id) {
  MUMBA_ASSIGN_OR_RETURN(
      json text, CallOnNode(node_id, "function() { return this.textContent; }", json::array()));
  return text.is_string() ? text.get<std::string>() : std::string();
}

Status DomClient::SetText(int node_id, const std::string& text) {
  return CallOnNode(node_id, "function(text) { this.textContent = text; }",
                    json::array({{{"value", text}}}))
      .status();
}

Expected<Point> DomClient::GetCenter(int node_id) {
  MUMBA_ASSIGN_OR_RETURN(json result,
                         cdp_->Call("DOM.getBoxModel", {{"nodeId", node_id}}, session_id_));
  // A quad is four corners, flattened: [x1, y1, x2, y2, x3, y3, x4, y4].
  const json& quad = Field(Field(result, "model"), "border");
  if (!quad.is_array() || quad.size() != 8)
    return Internal("DOM.getBoxModel: the answer has no border quad");
  Point center;
  for (size_t i = 0; i < 8; ++i) {
    if (!quad[i].is_number()) return Internal("DOM.getBoxModel: the border quad is not numbers");
    (i % 2 == 0 ? center.x : center.y) += quad[i].get<double>() / 4;
  }
  return center;
}

}  // namespace mumba::shell
