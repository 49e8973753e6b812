// SPDX-License-Identifier: Apache-2.0
// mumba/ui.h: the app's windows through the host's Automation service.
#include "mumba/ui.h"

#include <thread>

#include "host_connection.h"
#include "mumba/app.h"

namespace mumba {

namespace uv1 = mumba::ui::v1;
using sdk_internal::HostConnection;

namespace {

PageEvent FromProto(const uv1::PageEvent& e) {
  PageEvent out;
  switch (e.kind()) {
    case uv1::PageEvent::NAVIGATED: out.kind = PageEvent::Kind::kNavigated; break;
    case uv1::PageEvent::NOTIFY: out.kind = PageEvent::Kind::kNotify; break;
    case uv1::PageEvent::CLOSED: out.kind = PageEvent::Kind::kClosed; break;
    default: out.kind = PageEvent::Kind::kConsole; break;
  }
  out.window = e.window();
  out.level = e.level();
  out.text = e.text();
  out.url = e.url();
  out.json = e.json();
  return out;
}

}  // namespace

inline namespace ui_v1 {

// A thread reading the host's event stream. The host sends the stream's headers
// once the subscription is in place, so OnEvent returns only when events from then
// on will be delivered.
struct EventSubscription::Impl {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<uv1::PageEvent>> reader;
  std::thread thread;
  ~Impl() {
    ctx.TryCancel();
    if (thread.joinable()) thread.join();
  }
};

EventSubscription::EventSubscription(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventSubscription::~EventSubscription() = default;

}  // namespace ui_v1

namespace sdk_internal {

Expected<std::unique_ptr<EventSubscription>> UiAccess::Subscribe(const std::shared_ptr<const HostConnection>& host,
                                                                 const std::string& window,
                                                                 std::function<void(const PageEvent&)> fn) {
  MUMBA_TRY(host->Usable());
  if (!fn) return InvalidArgument("an event subscription needs a callback");
  auto impl = std::make_unique<EventSubscription::Impl>();
  uv1::EventsRequest req;
  req.set_window(window);
  impl->reader = host->automation->Events(&impl->ctx, req);
  impl->reader->WaitForInitialMetadata();
  impl->thread = std::thread([r = impl->reader.get(), fn = std::move(fn)] {
    uv1::PageEvent e;
    while (r->Read(&e)) fn(FromProto(e));
    (void)r->Finish();
  });
  return std::unique_ptr<EventSubscription>(new EventSubscription(std::move(impl)));
}

}  // namespace sdk_internal

inline namespace ui_v1 {

Selection::Selection(std::shared_ptr<const HostConnection> host, std::string window, std::string selector)
    : host_(std::move(host)), window_(std::move(window)), selector_(std::move(selector)) {}

Expected<std::vector<Selection::Node>> Selection::Get() const {
  uv1::QueryRequest req;
  req.set_window(window_);
  req.set_selector(selector_);
  uv1::QueryResponse resp;
  MUMBA_TRY(host_->Call(host_->automation, &uv1::Automation::Stub::Query, req, &resp));
  std::vector<Node> out;
  for (const auto& n : resp.nodes()) {
    out.push_back(Node{n.outer_html(), n.text(), {n.attributes().begin(), n.attributes().end()}});
  }
  return out;
}

namespace {

template <typename Set>
Expected<int> ChangeNodes(const std::shared_ptr<const HostConnection>& host, const std::string& window,
                          const std::string& selector, Set&& set) {
  uv1::ChangeRequest req;
  req.set_window(window);
  req.set_selector(selector);
  set(req);
  uv1::ChangeResponse resp;
  MUMBA_TRY(host->Call(host->automation, &uv1::Automation::Stub::Change, req, &resp));
  return resp.changed();
}

}  // namespace

Expected<int> Selection::SetText(std::string_view text) const {
  return ChangeNodes(host_, window_, selector_, [&](uv1::ChangeRequest& r) { r.set_set_text(std::string(text)); });
}

Expected<int> Selection::SetOuterHtml(std::string_view html) const {
  return ChangeNodes(host_, window_, selector_,
                     [&](uv1::ChangeRequest& r) { r.set_set_outer_html(std::string(html)); });
}

Expected<int> Selection::SetAttribute(std::string_view name, std::string_view value) const {
  return ChangeNodes(host_, window_, selector_, [&](uv1::ChangeRequest& r) {
    r.mutable_set_attribute()->set_name(std::string(name));
    r.mutable_set_attribute()->set_value(std::string(value));
  });
}

Expected<int> Selection::Remove() const {
  return ChangeNodes(host_, window_, selector_, [](uv1::ChangeRequest& r) { r.set_remove(true); });
}

Window::Window(std::shared_ptr<const HostConnection> host, std::string id, std::string url, std::string title)
    : host_(std::move(host)), id_(std::move(id)), url_(std::move(url)), title_(std::move(title)) {}

Status Window::Navigate(std::string_view path) const {
  uv1::NavigateRequest req;
  req.set_window(id_);
  req.set_path(std::string(path));
  uv1::Window resp;
  return host_->Call(host_->automation, &uv1::Automation::Stub::Navigate, req, &resp);
}

Expected<std::string> Window::Evaluate(std::string_view expression) const {
  uv1::EvaluateRequest req;
  req.set_window(id_);
  req.set_expression(std::string(expression));
  uv1::EvaluateResponse resp;
  MUMBA_TRY(host_->Call(host_->automation, &uv1::Automation::Stub::Evaluate, req, &resp));
  return resp.json();
}

Selection Window::Query(std::string selector) const { return Selection(host_, id_, std::move(selector)); }

namespace {

// Sends one input event to `window`; `set` says which.
template <typename Set>
Status SendInput(const std::shared_ptr<const HostConnection>& host, const std::string& window, Set&& set) {
  uv1::InputRequest req;
  req.set_window(window);
  set(req);
  uv1::Done resp;
  return host->Call(host->automation, &uv1::Automation::Stub::Input, req, &resp);
}

}  // namespace

Status Window::Click(std::string_view selector) const {
  return SendInput(host_, id_, [&](uv1::InputRequest& r) { r.set_click_selector(std::string(selector)); });
}

Status Window::Type(std::string_view text) const {
  return SendInput(host_, id_, [&](uv1::InputRequest& r) { r.set_type_text(std::string(text)); });
}

Status Window::Press(std::string_view key) const {
  return SendInput(host_, id_, [&](uv1::InputRequest& r) { r.set_press_key(std::string(key)); });
}

Expected<std::string> Window::Screenshot() const {
  uv1::ScreenshotRequest req;
  req.set_window(id_);
  uv1::ScreenshotResponse resp;
  MUMBA_TRY(host_->Call(host_->automation, &uv1::Automation::Stub::Screenshot, req, &resp));
  return resp.png();
}

Status Window::Close() const {
  uv1::WindowRequest req;
  req.set_window(id_);
  uv1::Done resp;
  return host_->Call(host_->automation, &uv1::Automation::Stub::CloseWindow, req, &resp);
}

Expected<std::unique_ptr<EventSubscription>> Window::OnEvent(std::function<void(const PageEvent&)> fn) const {
  return sdk_internal::UiAccess::Subscribe(host_, id_, std::move(fn));
}

}  // namespace ui_v1
}  // namespace mumba
