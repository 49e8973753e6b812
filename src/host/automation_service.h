// SPDX-License-Identifier: Apache-2.0
// mumba.ui.v1.Automation on the apps' host sockets: an app's daemon drives its own
// windows (and only those) through the host's DevTools connections; the app of a
// call is the app whose host socket it came through. Events streams are callback
// calls: an open stream holds no thread and wakes nothing while no event comes.
// Evaluate runs only in a document of the app's own origin (FAILED_PRECONDITION
// when the window shows another).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "common/work_queue.h"
#include "host/app_endpoints.h"
#include "host/app_windows.h"
#include "host/windows.h"
#include "mumba/ui/v1/automation.grpc.pb.h"

namespace mumba {

class AutomationService final
    : public mumba::ui::v1::Automation::WithCallbackMethod_Events<mumba::ui::v1::Automation::Service> {
 public:
  // Everything is borrowed and must outlive the service; event streams end once
  // `stopping` is true. `app_of` tells each call's app (a call it cannot place is
  // refused with its error).
  AutomationService(Windows& windows, AppWindows& app_windows, const std::atomic<bool>& stopping,
                    AppOfCall app_of)
      : windows_(windows), app_windows_(app_windows), stopping_(stopping), app_of_(std::move(app_of)) {}
  // Stops the reaper; the server's calls must be done (its Shutdown waits for them).
  ~AutomationService() override;

  using ServerContext = grpc::ServerContext;
  grpc::Status ListWindows(ServerContext*, const mumba::ui::v1::ListWindowsRequest*,
                           mumba::ui::v1::ListWindowsResponse*) override;
  grpc::Status OpenWindow(ServerContext*, const mumba::ui::v1::OpenWindowRequest*, mumba::ui::v1::Window*) override;
  grpc::Status CloseWindow(ServerContext*, const mumba::ui::v1::WindowRequest*, mumba::ui::v1::Done*) override;
  grpc::Status Navigate(ServerContext*, const mumba::ui::v1::NavigateRequest*, mumba::ui::v1::Window*) override;
  grpc::Status Evaluate(ServerContext*, const mumba::ui::v1::EvaluateRequest*,
                        mumba::ui::v1::EvaluateResponse*) override;
  grpc::Status Query(ServerContext*, const mumba::ui::v1::QueryRequest*, mumba::ui::v1::QueryResponse*) override;
  grpc::Status Change(ServerContext*, const mumba::ui::v1::ChangeRequest*, mumba::ui::v1::ChangeResponse*) override;
  grpc::Status Input(ServerContext*, const mumba::ui::v1::InputRequest*, mumba::ui::v1::Done*) override;
  grpc::Status Screenshot(ServerContext*, const mumba::ui::v1::ScreenshotRequest*,
                          mumba::ui::v1::ScreenshotResponse*) override;
  // Streams the app's page events until the caller cancels or the server shuts down.
  grpc::ServerWriteReactor<mumba::ui::v1::PageEvent>* Events(grpc::CallbackServerContext* ctx,
                                                             const mumba::ui::v1::EventsRequest* req) override;

 private:
  // The window's session when it shows app `app_id`'s own origin now; NOT_FOUND for
  // no such window of that app, FAILED_PRECONDITION when it shows another origin.
  Expected<WindowSession> AppSession(const std::string& app_id, const std::string& window) const;

  Windows& windows_;
  AppWindows& app_windows_;
  const std::atomic<bool>& stopping_;
  AppOfCall app_of_;

  class EventsReactor;

  // While any Events stream is open, one thread lists the windows five times a
  // second, which notices a browser that went away without a word and tells its
  // windows' streams they are CLOSED. It sleeps while no stream is open.
  void StreamOpened();
  void StreamClosed();
  void ReapWhileStreamsAreOpen();
  std::mutex reaper_mu_;
  std::condition_variable reaper_cv_;
  int open_streams_ = 0;
  bool reaper_stop_ = false;
  std::thread reaper_;
  // Starts the writes of Events streams when events come (see EventsReactor) and
  // deletes finished streams; one thread, so each task sees the ones before done.
  WorkQueue pump_{1};
};

}  // namespace mumba
