// SPDX-License-Identifier: Apache-2.0
// What the three storage clients (storage_kv.cc, storage_sql.cc, storage_files.cc)
// share: the check that a handle can call, and requests addressed to a store.
// Internal to the SDK.
#pragma once

#include <memory>
#include <string>

#include "host_connection.h"
#include "mumba/status.h"

namespace mumba::sdk_internal {

// OK when `host` can take calls. FAILED_PRECONDITION for an empty handle of `kind`
// ("Kv", "Sql", "Files"), UNAVAILABLE for an app started by hand.
inline Status Ready(const std::shared_ptr<const HostConnection>& host, const char* kind) {
  if (!host) {
    return FailedPrecondition(std::string("empty ") + kind + " handle: get one from mumba::App::" + kind);
  }
  return host->Usable();
}

// A request of type `Request` addressed to database `db` of app `app` ("" for the
// calling app's own; `db` is "" for the file tree).
template <typename Request>
Request StoreRequest(const std::string& app, const std::string& db) {
  Request req;
  req.mutable_store()->set_app(app);
  req.mutable_store()->set_db(db);
  return req;
}

// Whether a read failed only because the app's own database does not exist yet:
// with no app named the host resolves nothing, so NOT_FOUND can mean nothing else.
inline bool OwnStoreMissing(const std::string& app, const Status& status) {
  return app.empty() && status.code() == Code::kNotFound;
}

}  // namespace mumba::sdk_internal
