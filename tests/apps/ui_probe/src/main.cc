// ui-probe: each route drives one call of the SDK's window automation and answers
// with its result, so tests can check the whole path (SDK -> host -> Chromium).
//
//   GET  /probe/windows                       [{"id":..,"url":..,"title":..}]
//   POST /probe/open?path=/                   the new window's id
//   GET  /probe/eval?w=ID&js=EXPR             the value as JSON
//   GET  /probe/query?w=ID&sel=SEL            [{"html":..,"text":..,"attrs":{..}}]
//   POST /probe/set-text|set-html|set-attr|remove?w=ID&sel=SEL[&text=|&html=|&name=&value=]
//   POST /probe/click?w=ID&sel=SEL | /probe/type?w=ID&text=T | /probe/press?w=ID&key=K
//   POST /probe/navigate?w=ID&path=P
//   GET  /probe/screenshot?w=ID               image/png
//   POST /probe/close?w=ID
//   GET  /probe/events                        every page event seen since start, as JSON lines
//   POST /probe/sink                          streamed: reads the body, answers "<bytes> <fnv1a64 hex>"
//   GET  /probe/bytes?mb=N                    streamed: N MiB of bytes i % 251
//   GET  /probe/raw-eval?w=ID&js=EXPR         Automation.Evaluate on any window id, bypassing
//                                             the SDK: the host alone must refuse other apps' windows
#include <cstdio>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <mumba/app.h>

#include "mumba/ui/v1/automation.grpc.pb.h"

namespace {

using mumba::RouteRequest;
using mumba::RouteResponse;

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

int HttpStatus(mumba::Code code) {
  switch (code) {
    case mumba::Code::kInvalidArgument: return 400;
    case mumba::Code::kNotFound: return 404;
    case mumba::Code::kFailedPrecondition: return 409;
    case mumba::Code::kUnavailable: return 503;
    default: return 500;
  }
}

RouteResponse Error(const mumba::Status& st) { return RouteResponse::Text(st.message(), HttpStatus(st.code())); }

template <typename T>
RouteResponse Count(const mumba::Expected<T>& n) {
  return n.ok() ? RouteResponse::Text(std::to_string(*n)) : Error(n.status());
}

const char* KindName(mumba::PageEvent::Kind k) {
  switch (k) {
    case mumba::PageEvent::Kind::kConsole: return "console";
    case mumba::PageEvent::Kind::kNavigated: return "navigated";
    case mumba::PageEvent::Kind::kNotify: return "notify";
    case mumba::PageEvent::Kind::kClosed: return "closed";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  mumba::App app(argc, argv);

  // Windows are handles; a route names one by id.
  auto window = [&app](const RouteRequest& r) -> mumba::Expected<mumba::Window> {
    auto all = app.Windows();
    if (!all.ok()) return all.status();
    for (const auto& w : *all) {
      if (w.id() == r.Param("w")) return w;
    }
    return mumba::Status(mumba::Code::kNotFound, "no window " + r.Param("w") + " of this app");
  };

  std::mutex events_mu;
  std::vector<std::string> events;
  auto subscription = app.OnPageEvent([&](const mumba::PageEvent& e) {
    std::string line = "{\"kind\":" + Quote(KindName(e.kind)) + ",\"window\":" + Quote(e.window) +
                       ",\"level\":" + Quote(e.level) + ",\"text\":" + Quote(e.text) + ",\"url\":" + Quote(e.url) +
                       ",\"json\":" + Quote(e.json) + "}";
    std::lock_guard lock(events_mu);
    events.push_back(line);
  });
  if (!subscription.ok()) std::fprintf(stderr, "ui-probe: no page events: %s\n", subscription.status().message().c_str());

  app.Route("GET", "/probe/windows", [&app](const RouteRequest&) {
    auto all = app.Windows();
    if (!all.ok()) return Error(all.status());
    std::string out = "[";
    for (const auto& w : *all) {
      if (out.size() > 1) out += ",";
      out += "{\"id\":" + Quote(w.id()) + ",\"url\":" + Quote(w.url()) + ",\"title\":" + Quote(w.title()) + "}";
    }
    return RouteResponse::Json(out + "]");
  });
  app.Route("POST", "/probe/open", [&app](const RouteRequest& r) {
    auto w = app.OpenWindow(r.Param("path").empty() ? "/" : r.Param("path"));
    return w.ok() ? RouteResponse::Text(w->id()) : Error(w.status());
  });
  app.Route("GET", "/probe/eval", [&](const RouteRequest& r) {
    auto w = window(r);
    if (!w.ok()) return Error(w.status());
    auto v = w->Evaluate(r.Param("js"));
    return v.ok() ? RouteResponse::Json(*v) : Error(v.status());
  });
  app.Route("GET", "/probe/query", [&](const RouteRequest& r) {
    auto w = window(r);
    if (!w.ok()) return Error(w.status());
    auto nodes = w->Query(r.Param("sel")).Get();
    if (!nodes.ok()) return Error(nodes.status());
    std::string out = "[";
    for (const auto& n : *nodes) {
      if (out.size() > 1) out += ",";
      std::string attrs = "{";
      for (const auto& [k, v] : n.attributes) attrs += (attrs.size() > 1 ? "," : "") + Quote(k) + ":" + Quote(v);
      out += "{\"html\":" + Quote(n.outer_html) + ",\"text\":" + Quote(n.text) + ",\"attrs\":" + attrs + "}}";
    }
    return RouteResponse::Json(out + "]");
  });
  app.Route("POST", "/probe/set-text", [&](const RouteRequest& r) {
    auto w = window(r);
    return w.ok() ? Count(w->Query(r.Param("sel")).SetText(r.Param("text"))) : Error(w.status());
  });
  app.Route("POST", "/probe/set-html", [&](const RouteRequest& r) {
    auto w = window(r);
    return w.ok() ? Count(w->Query(r.Param("sel")).SetOuterHtml(r.Param("html"))) : Error(w.status());
  });
  app.Route("POST", "/probe/set-attr", [&](const RouteRequest& r) {
    auto w = window(r);
    return w.ok() ? Count(w->Query(r.Param("sel")).SetAttribute(r.Param("name"), r.Param("value")))
                  : Error(w.status());
  });
  app.Route("POST", "/probe/remove", [&](const RouteRequest& r) {
    auto w = window(r);
    return w.ok() ? Count(w->Query(r.Param("sel")).Remove()) : Error(w.status());
  });
  auto done = [](const mumba::Status& st) { return st.ok() ? RouteResponse::Text("ok") : Error(st); };
  app.Route("POST", "/probe/click", [&](const RouteRequest& r) {
    auto w = window(r);
    return w.ok() ? done(w->Click(r.Param("sel"))) : Error(w.status());
  });
  app.Route("POST", "/probe/type", [&](const RouteRequest& r) {
    auto w = window(r);
    return w.ok() ? done(w->Type(r.Param("text"))) : Error(w.status());
  });
  app.Route("POST", "/probe/press", [&](const RouteRequest& r) {
    auto w = window(r);
    return w.ok() ? done(w->Press(r.Param("key"))) : Error(w.status());
  });
  app.Route("POST", "/probe/navigate", [&](const RouteRequest& r) {
    auto w = window(r);
    return w.ok() ? done(w->Navigate(r.Param("path"))) : Error(w.status());
  });
  app.Route("POST", "/probe/close", [&](const RouteRequest& r) {
    auto w = window(r);
    return w.ok() ? done(w->Close()) : Error(w.status());
  });
  app.Route("GET", "/probe/screenshot", [&](const RouteRequest& r) {
    auto w = window(r);
    if (!w.ok()) return Error(w.status());
    auto png = w->Screenshot();
    if (!png.ok()) return Error(png.status());
    RouteResponse res;
    res.headers.emplace_back("Content-Type", "image/png");
    res.body = std::move(*png);
    return res;
  });
  app.Route("GET", "/probe/events", [&](const RouteRequest&) {
    std::lock_guard lock(events_mu);
    std::string out;
    for (const auto& e : events) out += e + "\n";
    return RouteResponse::Text(out);
  });
  // Streamed bodies: neither end is ever held whole, here or in the host.
  app.StreamRoute("POST", "/probe/sink", [](const RouteRequest&, mumba::RouteBodyReader& body,
                                            mumba::RouteResponseWriter& reply) {
    uint64_t n = 0, hash = 1469598103934665603ull;
    std::string chunk;
    while (body.Read(&chunk)) {
      n += chunk.size();
      for (unsigned char c : chunk) hash = (hash ^ c) * 1099511628211ull;
    }
    char out[64];
    std::snprintf(out, sizeof out, "%llu %016llx", static_cast<unsigned long long>(n),
                  static_cast<unsigned long long>(hash));
    reply.WriteHead(200, {{"content-type", "text/plain"}});
    reply.Write(out);
  });
  app.StreamRoute("GET", "/probe/bytes", [](const RouteRequest& r, mumba::RouteBodyReader&,
                                            mumba::RouteResponseWriter& reply) {
    const uint64_t total = std::strtoull(r.Param("mb").c_str(), nullptr, 10) << 20;
    reply.WriteHead(200, {{"content-type", "application/octet-stream"}});
    std::string chunk(256 * 1024, '\0');
    for (uint64_t at = 0; at < total;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), total - at));
      for (size_t i = 0; i < n; ++i) chunk[i] = static_cast<char>((at + i) % 251);
      if (!reply.Write(std::string_view(chunk.data(), n))) return;  // The caller went away.
      at += n;
    }
  });
  app.Route("GET", "/probe/raw-eval", [](const RouteRequest& r) {
    const char* socket = std::getenv("MUMBA_HOST_SOCKET");
    if (!socket) return RouteResponse::Text("no host socket", 503);
    auto stub = mumba::ui::v1::Automation::NewStub(
        grpc::CreateChannel(std::string("unix:") + socket, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    mumba::ui::v1::EvaluateRequest req;
    req.set_window(r.Param("w"));
    req.set_expression(r.Param("js"));
    mumba::ui::v1::EvaluateResponse resp;
    auto st = stub->Evaluate(&ctx, req, &resp);
    if (!st.ok()) return Error(mumba::Status(static_cast<mumba::Code>(st.error_code()), st.error_message()));
    return RouteResponse::Json(resp.json());
  });
  return app.Run();
}
