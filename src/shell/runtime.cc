// SPDX-License-Identifier: Apache-2.0
#include "shell/runtime.h"

#include "shell/json_fields.h"

namespace mumba::shell {

using json = nlohmann::json;

Status StatusFromRuntimeAnswer(const std::string& context, const json& answer) {
  const json& details = Field(answer, "exceptionDetails");
  if (!details.is_object()) return Status::Ok();
  // Chromium puts "Uncaught" in text and the error itself in the exception's
  // description ("Error: boom\n    at <anonymous>:1:7"); for a rejected promise the
  // text already holds both ("Uncaught (in promise) Error: rej").
  std::string text = StringField(details, "text");
  const json& exception = Field(details, "exception");
  std::string what = StringField(exception, "description");
  if (what.empty()) {
    const json& value = Field(exception, "value");
    if (!value.is_null()) what = value.is_string() ? value.get<std::string>() : value.dump();
  }
  what = what.substr(0, what.find('\n'));
  if (!what.empty() && text.find(what) == std::string::npos)
    text += (text.empty() ? "" : " ") + what;
  if (text.empty()) text = "exception";
  return Status(Code::kUnknown, context + ": " + text);
}

json ValueOfRemoteObject(const json& remote_object) {
  const json& value = Field(remote_object, "value");
  if (!value.is_null()) return value;
  std::string unserializable = StringField(remote_object, "unserializableValue");
  if (!unserializable.empty()) return unserializable;
  return nullptr;
}

Status RuntimeClient::Enable() {
  return cdp_->Call("Runtime.enable", json::object(), session_id_).status();
}

Expected<json> RuntimeClient::Evaluate(const std::string& expression,
                                       std::chrono::milliseconds timeout) {
  MUMBA_ASSIGN_OR_RETURN(
      json answer,
      cdp_->Call("Runtime.evaluate",
                 {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}},
                 session_id_, timeout));
  MUMBA_TRY(StatusFromRuntimeAnswer("Runtime.evaluate", answer));
  return ValueOfRemoteObject(Field(answer, "result"));
}

Status RuntimeClient::AddBinding(const std::string& name) {
  return cdp_->Call("Runtime.addBinding", {{"name", name}}, session_id_).status();
}

}  // namespace mumba::shell
