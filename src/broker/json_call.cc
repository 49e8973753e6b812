// SPDX-License-Identifier: Apache-2.0
#include "broker/json_call.h"

#include "common/grpc_status.h"

namespace mumba {

void CallJson(DaemonClient& daemons, const std::string& socket, const std::shared_ptr<const Transcoder>& transcoder,
              const std::string& method, const std::string& json, std::function<void(Expected<std::string>)> done) {
  auto md = transcoder->FindMethod(method);
  if (!md.ok()) return done(md.status());
  auto request = transcoder->RequestFromJson(*md, json);
  if (!request.ok()) return done(request.status());
  const auto* m = *md;
  daemons.CallUnary(socket, "/" + m->service()->full_name() + "/" + m->name(), std::move(*request),
                    [done = std::move(done), transcoder, m](grpc::Status s, std::string reply) {
                      if (!s.ok()) return done(FromGrpc(s));
                      done(transcoder->ResponseToJson(m, reply));
                    });
}

}  // namespace mumba
