// SPDX-License-Identifier: Apache-2.0
#include "shell/target.h"

#include "shell/json_fields.h"

namespace mumba::shell {

using json = nlohmann::json;

Expected<std::string> TargetClient::CreateTarget(const std::string& url) {
  MUMBA_ASSIGN_OR_RETURN(json result, cdp_->Call("Target.createTarget", {{"url", url}}));
  std::string id = StringField(result, "targetId");
  if (id.empty()) return Internal("Target.createTarget: the answer has no targetId");
  return id;
}

Expected<std::string> TargetClient::AttachToTarget(const std::string& target_id) {
  MUMBA_ASSIGN_OR_RETURN(json result, cdp_->Call("Target.attachToTarget",
                                                 {{"targetId", target_id}, {"flatten", true}}));
  std::string session = StringField(result, "sessionId");
  if (session.empty()) return Internal("Target.attachToTarget: the answer has no sessionId");
  return session;
}

Status TargetClient::DetachFromSession(const std::string& session_id) {
  return cdp_->Call("Target.detachFromTarget", {{"sessionId", session_id}}).status();
}

Status TargetClient::CloseTarget(const std::string& target_id) {
  auto closed = cdp_->Call("Target.closeTarget", {{"targetId", target_id}});
  // Chromium answers an unknown id as if the params were malformed
  // ("No target with given id found"); say what it means.
  if (!closed.ok() && closed.status().message().find("No target") != std::string::npos) {
    return NotFound(closed.status().message());
  }
  return closed.status();
}

Expected<std::vector<TargetInfo>> TargetClient::GetTargets() {
  MUMBA_ASSIGN_OR_RETURN(json result, cdp_->Call("Target.getTargets", json::object()));
  std::vector<TargetInfo> targets;
  auto infos = result.find("targetInfos");
  if (infos == result.end() || !infos->is_array()) return targets;
  for (const json& info : *infos) {
    if (!info.is_object()) continue;
    const json& attached = Field(info, "attached");
    targets.push_back({StringField(info, "targetId"), StringField(info, "type"),
                       StringField(info, "title"), StringField(info, "url"),
                       attached.is_boolean() && attached.get<bool>()});
  }
  return targets;
}

}  // namespace mumba::shell
