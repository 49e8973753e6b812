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

grpc::Status AutomationService::Events(ServerContext* ctx, const uv1::EventsRequest* req,
                                       grpc::ServerWriter<uv1::PageEvent>* writer) {
  struct Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<uv1::PageEvent> events;
  };
  auto app = app_of_(*ctx);
  if (!app.ok()) return ToGrpc(app.status());
  const std::string app_id = *app;
  auto q = std::make_shared<Queue>();
  const std::string only = req->window();
  int sub = windows_.Subscribe(app_id, [q, only](const uv1::PageEvent& e) {
    if (!only.empty() && e.window() != only) return;
    std::lock_guard lock(q->mu);
    if (q->events.size() < 4096) q->events.push_back(e);
    q->cv.notify_one();
  });
  // Tells the caller it is subscribed: events from now on will reach it.
  writer->SendInitialMetadata();
  while (!ctx->IsCancelled() && !stopping_) {
    std::deque<uv1::PageEvent> batch;
    {
      std::unique_lock lock(q->mu);
      q->cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return !q->events.empty(); });
      batch.swap(q->events);
    }
    bool ok = true;
    for (const auto& e : batch) ok = ok && writer->Write(e);
    if (!ok) break;
    // Notices a browser that went away without a word (its windows are CLOSED).
    if (batch.empty()) (void)windows_.List(app_id);
  }
  windows_.Unsubscribe(sub);
  return grpc::Status::OK;
}

}  // namespace mumba
