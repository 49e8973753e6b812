// SPDX-License-Identifier: Apache-2.0
// mumba call APP package.Service/Method JSON | mumba route URL
#include <cstdio>
#include <fstream>
#include <iostream>
#include <unistd.h>
#include <iterator>

#include "cli/cli.h"

namespace mumba::cli {
namespace hv1 = mumba::host::v1;

void AddCallCommands(CLI::App& app, Context& ctx) {
  auto* call = app.add_subcommand(
      "call", "Call an exported unary gRPC method of an app with a JSON request; prints the JSON reply");
  static std::string app_ref, method, json = "{}";
  call->add_option("APP", app_ref, "App name or id")->required();
  call->add_option("METHOD", method, "package.Service/Method, e.g. hello.v1.Greeter/SayHello")->required();
  call->add_option("JSON", json, "The request message as JSON ('-' reads stdin)")->default_val("{}");
  OnRun(call, [&ctx] {
    if (json == "-") json.assign(std::istreambuf_iterator<char>(std::cin), {});
    auto stub = ConnectHost(ctx);
    if (!stub.ok()) return Fail(stub.status());
    grpc::ClientContext c;
    hv1::CallRequest req;
    req.set_app(app_ref);
    req.set_method(method);
    req.set_json(json);
    hv1::CallResponse resp;
    auto s = (*stub)->Call(&c, req, &resp);
    if (!s.ok()) return Fail(s);
    std::printf("%s\n", resp.json().c_str());
    return 0;
  });

  auto* route = app.add_subcommand(
      "route", "Send a request to an app's route, e.g. hello://greet?name=Ann, and print the body");
  static std::string url, http_method = "GET", data;
  static std::vector<std::string> headers;
  static bool include = false;
  route->add_option("URL", url, "APP://path?query, or mumba://<id>/path?query")->required();
  route->add_option("-X,--method", http_method, "Request method")->default_val("GET");
  route->add_option("-d,--data", data, "Request body ('@FILE' reads a file; implies POST unless -X)");
  route->add_option("-H,--header", headers, "Request header 'Name: value' (repeatable)");
  route->add_flag("-i,--include", include, "Print the status line and headers first");
  OnRun(route, [&ctx, route] {
    hv1::RouteCallRequest req;
    req.set_url(url);
    auto* r = req.mutable_request();
    std::string m = http_method;
    for (char& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (!data.empty() && route->get_option("--method")->count() == 0) m = "POST";
    r->set_method(m);
    if (data.starts_with("@")) {
      std::ifstream in(data.substr(1), std::ios::binary);
      if (!in) return Fail(NotFound("cannot read " + data.substr(1)));
      r->set_body(std::string(std::istreambuf_iterator<char>(in), {}));
    } else {
      r->set_body(data);
    }
    for (const auto& h : headers) {
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
    auto stub = ConnectHost(ctx);
    if (!stub.ok()) return Fail(stub.status());
    grpc::ClientContext c;
    mumba::app::v1::RouteResponse resp;
    auto s = (*stub)->Route(&c, req, &resp);
    if (!s.ok()) return Fail(s);
    int status = resp.status() == 0 ? 200 : resp.status();
    if (include) {
      std::printf("%d\n", status);
      for (const auto& h : resp.headers()) std::printf("%s: %s\n", h.name().c_str(), h.value().c_str());
      std::printf("\n");
    }
    std::fwrite(resp.body().data(), 1, resp.body().size(), stdout);
    if (!resp.body().empty() && resp.body().back() != '\n' && isatty(1)) std::printf("\n");
    std::fflush(stdout);
    if (status >= 400) {
      std::fprintf(stderr, "mumba: %s answered %d\n", url.c_str(), status);
      return 1;
    }
    return 0;
  });
}

}  // namespace mumba::cli
