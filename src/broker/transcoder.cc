// SPDX-License-Identifier: Apache-2.0
#include "broker/transcoder.h"

#include <algorithm>
#include <functional>

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>

#include "bundle/bundle.h"

namespace mumba {
namespace {
constexpr char kTypeUrlPrefix[] = "type.googleapis.com";
}  // namespace

Transcoder::~Transcoder() = default;

void Transcoder::Finish() {
  factory_ = std::make_unique<google::protobuf::DynamicMessageFactory>(pool_.get());
  resolver_.reset(google::protobuf::util::NewTypeResolverForDescriptorPool(kTypeUrlPrefix, pool_.get()));
}

std::string Transcoder::TypeUrl(const google::protobuf::Descriptor* type) {
  return std::string(kTypeUrlPrefix) + "/" + type->full_name();
}

Expected<std::shared_ptr<const Transcoder>> Transcoder::Load(
    const std::filesystem::path& descriptor_set, std::vector<std::string> services) {
  std::shared_ptr<Transcoder> t(new Transcoder());
  if (!services.empty() || std::filesystem::exists(descriptor_set)) {
    auto pool = LoadDescriptorPool(descriptor_set);
    if (!pool.ok()) return pool.status();
    t->pool_ = std::move(*pool);
    t->Finish();
  }
  t->services_ = std::move(services);
  return std::shared_ptr<const Transcoder>(std::move(t));
}

Expected<std::shared_ptr<const Transcoder>> Transcoder::FromCompiled(
    const std::vector<const google::protobuf::FileDescriptor*>& files, std::vector<std::string> services) {
  std::shared_ptr<Transcoder> t(new Transcoder());
  t->pool_ = std::make_unique<google::protobuf::DescriptorPool>();
  // Imports first: a pool builds a file only once everything it imports is in it.
  std::function<Status(const google::protobuf::FileDescriptor*)> add =
      [&](const google::protobuf::FileDescriptor* f) -> Status {
    if (t->pool_->FindFileByName(f->name())) return {};
    for (int i = 0; i < f->dependency_count(); ++i) MUMBA_TRY(add(f->dependency(i)));
    google::protobuf::FileDescriptorProto proto;
    f->CopyTo(&proto);
    if (!t->pool_->BuildFile(proto)) return Internal("cannot rebuild the descriptors of " + f->name());
    return {};
  };
  for (const auto* f : files) MUMBA_TRY(add(f));
  t->Finish();
  t->services_ = std::move(services);
  return std::shared_ptr<const Transcoder>(std::move(t));
}

Expected<const google::protobuf::MethodDescriptor*> Transcoder::FindMethod(
    const std::string& name) const {
  auto slash = name.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == name.size()) {
    return InvalidArgument("method '" + name + "' must look like package.Service/Method");
  }
  std::string service = name.substr(0, slash);
  std::string method = name.substr(slash + 1);
  if (std::find(services_.begin(), services_.end(), service) == services_.end()) {
    std::string list;
    for (const auto& s : services_) list += (list.empty() ? "" : ", ") + s;
    return NotFound("service " + service + " is not exported by this app" +
                    (list.empty() ? " (it exports none)" : " (exports: " + list + ")"));
  }
  const auto* sd = pool_ ? pool_->FindServiceByName(service) : nullptr;
  if (!sd) return NotFound("service " + service + " is not in the app's descriptor set");
  const auto* md = sd->FindMethodByName(method);
  if (!md) return NotFound("service " + service + " has no method " + method);
  if (md->client_streaming() || md->server_streaming()) {
    return Unimplemented(name + " is a streaming method; only unary methods can be called this way");
  }
  return md;
}

Expected<std::string> Transcoder::RequestFromJson(const google::protobuf::MethodDescriptor* method,
                                                  const std::string& json) const {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  // Straight to the wire form: what JsonStringToMessage does inside, without a
  // message to fill and serialize again.
  std::string out;
  auto st = google::protobuf::util::JsonToBinaryString(resolver_.get(), TypeUrl(method->input_type()),
                                                       json.empty() ? "{}" : json, &out, options);
  if (!st.ok()) {
    // The parser's message may go on to quote the input with a caret; keep line one.
    std::string why(st.message());
    why = why.substr(0, why.find('\n'));
    return InvalidArgument("request does not fit " + method->input_type()->full_name() + ": " +
                           why);
  }
  return out;
}

Expected<std::string> Transcoder::ResponseToJson(const google::protobuf::MethodDescriptor* method,
                                                 const std::string& bytes) const {
  // Parsing checks the reply is a valid message (the printer below would print a
  // truncated one as far as it goes).
  std::unique_ptr<google::protobuf::Message> msg(
      factory_->GetPrototype(method->output_type())->New());
  if (!msg->ParseFromString(bytes)) {
    return Internal("the daemon's reply is not a valid " + method->output_type()->full_name());
  }
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  auto st = google::protobuf::util::BinaryToJsonString(resolver_.get(), TypeUrl(method->output_type()), bytes, &out,
                                                       options);
  if (!st.ok()) return Internal("cannot print reply as JSON: " + std::string(st.message()));
  return out;
}

}  // namespace mumba
