// SPDX-License-Identifier: Apache-2.0
#include "host/automation_service.h"

#include <condition_variable>
#include <deque>
#include <mutex>

#include "common/grpc_status.h"
#include "host/windows.h"
#include "shell/cdp_connection.h"
#include "shell/dom.h"
#include "shell/input.h"
#include "shell/page.h"
#include "shell/runtime.h"

namespace mumba {

namespace uv1 = mumba::ui::v1;

namespace {

void FillWindow(const WindowView& v, uv1::Window* out) {
  out->set_id(v.id);
  out->set_url(v.url);
  out->set_title(v.title);
  out->set_headless(v.headless);
}

// Runs `body` and turns its Status into the call's.
template <typename F>
grpc::Status Run(F&& body) {
  return ToGrpc(body());
}

}  // namespace

grpc::Status AutomationService::ListWindows(ServerContext* ctx, const uv1::ListWindowsRequest*,
                                            uv1::ListWindowsResponse* resp) {
  return Run([&]() -> Status {
    MUMBA_ASSIGN_OR_RETURN(std::string app_id, app_of_(*ctx));
    for (const auto& w : windows_.List(app_id)) FillWindow(w, resp->add_windows());
    return {};
  });
}

grpc::Status AutomationService::OpenWindow(ServerContext* ctx, const uv1::OpenWindowRequest* req, uv1::Window* resp) {
  return Run([&]() -> Status {
    MUMBA_ASSIGN_OR_RETURN(std::string app_id, app_of_(*ctx));
    MUMBA_ASSIGN_OR_RETURN(WindowView v, app_windows_.Launch(app_id, req->path(), /*force_headless=*/false));
    FillWindow(v, resp);
    return {};
  });
}

grpc::Status AutomationService::CloseWindow(ServerContext* ctx, const uv1::WindowRequest* req, uv1::Done*) {
  return Run([&]() -> Status {
    MUMBA_ASSIGN_OR_RETURN(std::string app_id, app_of_(*ctx));
    return windows_.Close(req->window(), app_id);
  });
}

grpc::Status AutomationService::Navigate(ServerContext* ctx, const uv1::NavigateRequest* req, uv1::Window* resp) {
  return Run([&]() -> Status {
    MUMBA_ASSIGN_OR_RETURN(std::string app_id, app_of_(*ctx));
    // Only the app's own origin: a daemon cannot point its window at another app.
    if (req->path().empty() || req->path()[0] != '/') {
      return InvalidArgument("navigate takes a path of the app's own origin, like /page.html");
    }
    MUMBA_ASSIGN_OR_RETURN(WindowSession s, windows_.Session(req->window(), app_id));
    MUMBA_ASSIGN_OR_RETURN(std::string origin, app_windows_.OriginOf(app_id));
    shell::PageClient page(s.cdp.get(), s.session_id);
    MUMBA_TRY(page.Navigate(origin + req->path()));
    for (const auto& w : windows_.List(app_id)) {
      if (w.id == req->window()) FillWindow(w, resp);
    }
    resp->set_url(origin + req->path());
    return {};
  });
}

Expected<WindowSession> AutomationService::AppSession(const std::string& app_id, const std::string& window) const {
  MUMBA_ASSIGN_OR_RETURN(WindowSession s, windows_.Session(window, app_id));
  // The window may show another origin the page went to: what is there is not the
  // app's to read, change or type into (a daemon without the network would have
  // its window as a way out), so only the app's own origin is served.
  MUMBA_TRY(windows_.AppContext(window, app_id).status());
  return s;
}

grpc::Status AutomationService::Evaluate(ServerContext* ctx, const uv1::EvaluateRequest* req,
                                         uv1::EvaluateResponse* resp) {
  return Run([&]() -> Status {
    MUMBA_ASSIGN_OR_RETURN(std::string app_id, app_of_(*ctx));
    MUMBA_ASSIGN_OR_RETURN(WindowSession s, windows_.Session(req->window(), app_id));
    // Only in a document of the app's own origin, named by a context id unique
    // across processes: should the window navigate away before the call arrives,
    // the context is gone and the call fails instead of running in another origin.
    MUMBA_ASSIGN_OR_RETURN(std::string context, windows_.AppContext(req->window(), app_id));
    MUMBA_ASSIGN_OR_RETURN(nlohmann::json answer,
                           s.cdp->Call("Runtime.evaluate",
                                       {{"expression", req->expression()}, {"returnByValue", true},
                                        {"awaitPromise", true}, {"uniqueContextId", context}},
                                       s.session_id));
    MUMBA_TRY(shell::StatusFromRuntimeAnswer("Runtime.evaluate", answer));
    resp->set_json(shell::ValueOfRemoteObject(answer.value("result", nlohmann::json::object())).dump());
    return {};
  });
}

grpc::Status AutomationService::Query(ServerContext* ctx, const uv1::QueryRequest* req, uv1::QueryResponse* resp) {
  return Run([&]() -> Status {
    MUMBA_ASSIGN_OR_RETURN(std::string app_id, app_of_(*ctx));
    MUMBA_ASSIGN_OR_RETURN(WindowSession s, AppSession(app_id, req->window()));
    shell::DomClient dom(s.cdp.get(), s.session_id);
    MUMBA_ASSIGN_OR_RETURN(std::vector<int> nodes, dom.QuerySelectorAll(req->selector()));
    for (int id : nodes) {
      auto* n = resp->add_nodes();
      MUMBA_ASSIGN_OR_RETURN(std::string html, dom.GetOuterHTML(id));
      n->set_outer_html(html);
      MUMBA_ASSIGN_OR_RETURN(std::string text, dom.GetText(id));
      n->set_text(text);
      MUMBA_ASSIGN_OR_RETURN(auto attributes, dom.GetAttributes(id));
      for (const auto& [k, v] : attributes) (*n->mutable_attributes())[k] = v;
    }
    return {};
  });
}

grpc::Status AutomationService::Change(ServerContext* ctx, const uv1::ChangeRequest* req, uv1::ChangeResponse* resp) {
  return Run([&]() -> Status {
    MUMBA_ASSIGN_OR_RETURN(std::string app_id, app_of_(*ctx));
    MUMBA_ASSIGN_OR_RETURN(WindowSession s, AppSession(app_id, req->window()));
    shell::DomClient dom(s.cdp.get(), s.session_id);
    MUMBA_ASSIGN_OR_RETURN(std::vector<int> nodes, dom.QuerySelectorAll(req->selector()));
    for (int id : nodes) {
      switch (req->change_case()) {
        case uv1::ChangeRequest::kSetText: MUMBA_TRY(dom.SetText(id, req->set_text())); break;
        case uv1::ChangeRequest::kSetOuterHtml: MUMBA_TRY(dom.SetOuterHTML(id, req->set_outer_html())); break;
        case uv1::ChangeRequest::kSetAttribute:
          MUMBA_TRY(dom.SetAttribute(id, req->set_attribute().name(), req->set_attribute().value()));
          break;
        case uv1::ChangeRequest::kRemove:
          if (req->remove()) MUMBA_TRY(dom.RemoveNode(id));
          break;
        default: return InvalidArgument("a change needs one of set_text, set_outer_html, set_attribute, remove");
      }
    }
    resp->set_changed(static_cast<int>(nodes.size()));
    return {};
  });
}

grpc::Status AutomationService::Input(ServerContext* ctx, const uv1::InputRequest* req, uv1::Done*) {
  return Run([&]() -> Status {
    MUMBA_ASSIGN_OR_RETURN(std::string app_id, app_of_(*ctx));
    MUMBA_ASSIGN_OR_RETURN(WindowSession s, AppSession(app_id, req->window()));
    shell::InputClient input(s.cdp.get(), s.session_id);
    switch (req->input_case()) {
      case uv1::InputRequest::kClickSelector: {
        shell::DomClient dom(s.cdp.get(), s.session_id);
        MUMBA_ASSIGN_OR_RETURN(std::vector<int> nodes, dom.QuerySelectorAll(req->click_selector()));
        if (nodes.empty()) return NotFound("nothing matches " + req->click_selector());
        MUMBA_ASSIGN_OR_RETURN(shell::Point p, dom.GetCenter(nodes.front()));
        return input.Click(p.x, p.y);
      }
      case uv1::InputRequest::kClickAt: return input.Click(req->click_at().x(), req->click_at().y());
      case uv1::InputRequest::kTypeText: return input.InsertText(req->type_text());
      case uv1::InputRequest::kPressKey: return input.PressKey(req->press_key());
      default: return InvalidArgument("an input needs one of click_selector, click_at, type_text, press_key");
    }
  });
}

grpc::Status AutomationService::Screenshot(ServerContext* ctx, const uv1::ScreenshotRequest* req,
                                           uv1::ScreenshotResponse* resp) {
  return Run([&]() -> Status {
    MUMBA_ASSIGN_OR_RETURN(std::string app_id, app_of_(*ctx));
    MUMBA_ASSIGN_OR_RETURN(WindowSession s, AppSession(app_id, req->window()));
    shell::PageClient page(s.cdp.get(), s.session_id);
    MUMBA_ASSIGN_OR_RETURN(std::string png, page.CaptureScreenshot());
    resp->set_png(std::move(png));
    return {};
  });
}

// One Automation.Events stream: each event of the app's windows is written as it
// comes, one write at a time, the rest queued (up to kEventBacklog). gRPC may run a
// reaction inline at the end of a Start* call, so none is made holding a lock.
// Deleted on the pump thread once the call is done.
class AutomationService::EventsReactor final : public grpc::ServerWriteReactor<uv1::PageEvent> {
 public:
  EventsReactor(AutomationService& service, const std::string& app_id, std::string only)
      : service_(service), state_(std::make_shared<State>()) {
    state_->reactor = this;
    service_.StreamOpened();
    // Windows calls this holding its lock, and gRPC may run a reaction (OnDone
    // among them, which unsubscribes) inline at the end of a Start* call: so the
    // write is started on the service's pump thread, never here.
    subscription_ = service_.windows_.Subscribe(
        app_id, [state = state_, pump = &service_.pump_, only = std::move(only)](const uv1::PageEvent& e) {
          if (!only.empty() && e.window() != only) return;
          std::lock_guard lock(state->mu);
          if (!state->reactor) return;
          if (state->events.size() < kEventBacklog) state->events.push_back(e);
          if (state->pump_posted) return;
          state->pump_posted = true;
          pump->Post([state] {
            EventsReactor* reactor = nullptr;
            {
              std::lock_guard lock(state->mu);
              state->pump_posted = false;
              reactor = state->reactor;
            }
            // Deleted only by a later task of this same thread (OnDone).
            if (reactor) reactor->WriteNext();
          });
        });
    // Tells the caller it is subscribed: events from now on will reach it.
    StartSendInitialMetadata();
  }

  void OnSendInitialMetadataDone(bool ok) override {
    if (!ok) return Stop();
    {
      std::lock_guard lock(state_->mu);
      ready_ = true;
    }
    WriteNext();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return Stop();
    {
      std::lock_guard lock(state_->mu);
      writing_ = false;
    }
    WriteNext();
  }
  void OnCancel() override { Stop(); }
  void OnDone() override {
    {
      std::lock_guard lock(state_->mu);
      state_->reactor = nullptr;
    }
    service_.windows_.Unsubscribe(subscription_);
    service_.StreamClosed();
    // A pump task may be writing to this reactor now: it goes after that task, on
    // the pump's one thread.
    service_.pump_.Post([this] { delete this; });
  }

 private:
  // What the window subscription and the reactions share.
  struct State {
    std::mutex mu;
    std::deque<uv1::PageEvent> events;
    EventsReactor* reactor = nullptr;  // Null once the call is done.
    bool pump_posted = false;          // A task to write is waiting on the pump.
  };
  static constexpr size_t kEventBacklog = 4096;

  // Starts writing the next queued event unless a write is under way.
  void WriteNext() {
    {
      std::lock_guard lock(state_->mu);
      if (!ready_ || writing_ || finished_ || state_->events.empty()) return;
      current_ = std::move(state_->events.front());
      state_->events.pop_front();
      writing_ = true;
    }
    StartWrite(&current_);
  }
  // Ends the call once (the caller went away, a write failed or the server stops).
  void Stop() {
    {
      std::lock_guard lock(state_->mu);
      if (finished_) return;
      finished_ = true;
    }
    Finish(grpc::Status::OK);
  }

  AutomationService& service_;
  std::shared_ptr<State> state_;
  int subscription_ = 0;
  // Guarded by state_->mu.
  bool ready_ = false;    // The initial metadata went out.
  bool writing_ = false;  // current_ is being written.
  bool finished_ = false;
  uv1::PageEvent current_;
};

grpc::ServerWriteReactor<uv1::PageEvent>* AutomationService::Events(grpc::CallbackServerContext* ctx,
                                                                   const uv1::EventsRequest* req) {
  auto app_id = app_of_(*ctx);
  if (!app_id.ok()) {
    class Refused final : public grpc::ServerWriteReactor<uv1::PageEvent> {
     public:
      explicit Refused(const grpc::Status& s) { Finish(s); }
      void OnDone() override { delete this; }
    };
    return new Refused(ToGrpc(app_id.status()));
  }
  return new EventsReactor(*this, *app_id, req->window());
}

AutomationService::~AutomationService() {
  {
    std::lock_guard lock(reaper_mu_);
    reaper_stop_ = true;
  }
  reaper_cv_.notify_all();
  if (reaper_.joinable()) reaper_.join();
}

void AutomationService::StreamOpened() {
  std::lock_guard lock(reaper_mu_);
  ++open_streams_;
  if (!reaper_.joinable()) reaper_ = std::thread([this] { ReapWhileStreamsAreOpen(); });
  reaper_cv_.notify_all();
}

void AutomationService::StreamClosed() {
  std::lock_guard lock(reaper_mu_);
  --open_streams_;
}

void AutomationService::ReapWhileStreamsAreOpen() {
  std::unique_lock lock(reaper_mu_);
  while (!reaper_stop_) {
    if (open_streams_ == 0) {
      reaper_cv_.wait(lock, [this] { return reaper_stop_ || open_streams_ > 0; });
      continue;
    }
    lock.unlock();
    if (!stopping_) (void)windows_.List();
    lock.lock();
    reaper_cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return reaper_stop_; });
  }
}

}  // namespace mumba
