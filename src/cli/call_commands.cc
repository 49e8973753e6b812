// SPDX-License-Identifier: Apache-2.0
// mumba call APP package.Service/Method [JSON | --lines] | mumba route URL
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

#include "cli/cli.h"
#include "cli/each_line.h"
#include "cli/json_lines.h"
#include "cli/options.h"

namespace mumba::cli {
namespace hv1 = mumba::host::v1;

namespace {

int Call(const Context& ctx, CallOptions& o) {
  if (o.lines) {
    auto caller = JsonLineCaller::Open(ctx, o.app, o.method);
    if (!caller.ok()) return Fail(caller.status());
    JsonLineCaller& c = **caller;
    if (Status st = CallEachLine([&c](const std::string& line) { return c.Call(line); }, stdin, stdout); !st.ok()) {
      return Fail(st);
    }
    return 0;
  }
  // One call: the host's relay, one request to the host and no other connection.
  if (o.json == "-") o.json.assign(std::istreambuf_iterator<char>(std::cin), {});
  hv1::CallRequest req;
  req.set_app(o.app);
  req.set_method(o.method);
  req.set_json(o.json);
  hv1::CallResponse resp;
  if (int rc = Unary(ctx, &hv1::Control::Stub::Call, req, &resp)) return rc;
  std::printf("%s\n", resp.json().c_str());
  return 0;
}

int Route(const Context& ctx, const RouteOptions& o) {
  hv1::RouteCallRequest req;
  req.set_url(o.url);
  auto* r = req.mutable_request();
  std::string m = o.method;
  for (char& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (!o.data.empty() && o.method_option->count() == 0) m = "POST";
  r->set_method(m);
  if (o.data.starts_with("@")) {
    std::ifstream in(o.data.substr(1), std::ios::binary);
    if (!in) return Fail(NotFound("cannot read " + o.data.substr(1)));
    r->set_body(std::string(std::istreambuf_iterator<char>(in), {}));
  } else {
    r->set_body(o.data);
  }
  for (const auto& h : o.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      return Fail(InvalidArgument("header '" + h + "' must look like 'Name: value'"));
    }
    auto* hdr = r->add_headers();
    hdr->set_name(h.substr(0, colon));
    auto value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    hdr->set_value(value);
  }
  mumba::app::v1::RouteResponse resp;
  if (int rc = Unary(ctx, &hv1::Control::Stub::Route, req, &resp)) return rc;
  int status = resp.status() == 0 ? 200 : resp.status();
  if (o.include) {
    std::printf("%d\n", status);
    for (const auto& h : resp.headers()) std::printf("%s: %s\n", h.name().c_str(), h.value().c_str());
    std::printf("\n");
  }
  std::fwrite(resp.body().data(), 1, resp.body().size(), stdout);
  if (!resp.body().empty() && resp.body().back() != '\n' && isatty(1)) std::printf("\n");
  std::fflush(stdout);
  if (status >= 400) {
    std::fprintf(stderr, "mumba: %s answered %d\n", o.url.c_str(), status);
    return 1;
  }
  return 0;
}

}  // namespace

void AddCallCommands(CLI::App& app, Context& ctx) {
  AddCommand<CallOptions>(
      app, "call", "Call an exported unary gRPC method of an app with a JSON request; prints the JSON reply "
      "(--lines: one call per line of stdin)",
      [&ctx](CallOptions& o) { return Call(ctx, o); });
  AddCommand<RouteOptions>(
      app, "route", "Send a request to an app's route, e.g. hello://greet?name=Ann, and print the body",
      [&ctx](RouteOptions& o) { return Route(ctx, o); });
}

}  // namespace mumba::cli
