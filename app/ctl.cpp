// `bgproxy ctl`: the operator CLI over the admin API. Exit 0 ok, 1 refused or unreachable, 2 usage.
#include <cstdlib>
#include <optional>
#include <string>

#include <fmt/core.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "app/commands.h"
#include "config/config.h"

namespace bgp {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;

struct CtlOptions {
  Address admin{"127.0.0.1", 9901};
  std::string token;
  std::string command;
  std::optional<double> weight;
};

struct Reply {
  unsigned status = 0;
  json::value body;
};

int usage(std::string_view message) {
  fmt::print(stderr,
             "bgproxy ctl: {}\nusage: bgproxy ctl [--admin URL] [--token T] "
             "status|start|pause|resume|promote|rollback|set-weight N\n",
             message);
  return 2;
}

std::optional<Address> parse_admin_url(std::string_view url) {
  if (url.starts_with("http://")) url.remove_prefix(7);
  if (const auto slash = url.find('/'); slash != std::string_view::npos) url = url.substr(0, slash);
  return parse_address(url);
}

Reply call(const CtlOptions& options, http::verb method, std::string_view target,
           const std::optional<json::object>& body = std::nullopt) {
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  boost::asio::ip::tcp::resolver resolver(io);
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(resolver.resolve(options.admin.host, std::to_string(options.admin.port)));
  http::request<http::string_body> request{method, target, 11};
  request.set(http::field::host, options.admin.to_string());
  if (!options.token.empty()) request.set(http::field::authorization, "Bearer " + options.token);
  if (body) {
    request.set(http::field::content_type, "application/json");
    request.body() = json::serialize(*body);
  }
  request.prepare_payload();
  http::write(stream, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  boost::system::error_code ec;
  json::value parsed = json::parse(response.body(), ec);
  return {response.result_int(), ec ? json::value(response.body()) : std::move(parsed)};
}

std::string number(const json::value& v, int decimals = 2) {
  if (v.is_double()) return fmt::format("{:.{}f}", v.as_double(), decimals);
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  return "-";
}

std::string text(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return "-";
  return v->is_string() ? std::string(v->as_string()) : number(*v);
}

void print_status(const json::object& s) {
  const auto& weights = s.at("weights").as_object();
  fmt::print("state:     {}\n", text(s, "state"));
  fmt::print("live:      {}   candidate: {}\n", text(s, "live"), text(s, "candidate"));
  fmt::print("weights:   blue {}%  green {}%\n", number(weights.at("blue")),
             number(weights.at("green")));
  if (const auto* step = s.if_contains("step"); step && !step->is_null()) {
    fmt::print("step:      {} of {}   started {}   next {}\n", number(*step),
               s.at("steps").as_array().size(), text(s, "step_started_at"),
               text(s, "next_step_at"));
  }
  if (const auto* window = s.if_contains("window"); window && window->is_object()) {
    for (const auto& [color, w] : window->as_object()) {
      const auto& o = w.as_object();
      fmt::print("window:    {:<5} {} requests, {} errors ({:.2f}%), p99 {} ms\n",
                 std::string_view(color), text(o, "requests"), text(o, "errors"),
                 o.at("error_rate").to_number<double>() * 100, text(o, "p99_ms"));
    }
  }
  if (const auto* evidence = s.if_contains("evidence"); evidence && evidence->is_array()) {
    for (const auto& rule : evidence->as_array()) {
      const auto& o = rule.as_object();
      fmt::print("evidence:  {:<12} e={}/{}{}  estimate {} threshold {}  ({} vs {} requests)\n",
                 text(o, "rule"), text(o, "e"), text(o, "bar"),
                 o.at("breached").as_bool() ? " BREACH" : "", text(o, "estimate"),
                 text(o, "threshold"), text(o, "candidate_requests"),
                 text(o, "reference_requests"));
    }
  }
  if (const auto* watch = s.if_contains("watch"); watch && watch->is_object()) {
    fmt::print("watch:     the live color is judged until {}\n", text(watch->as_object(), "until"));
  }
  if (const auto* rb = s.if_contains("last_rollback"); rb && rb->is_object()) {
    const auto& o = rb->as_object();
    fmt::print("rollback:  {} ({}) {}\n", text(o, "at"), text(o, "reason"), text(o, "detail"));
  }
}

std::optional<CtlOptions> parse(std::span<char*> args, std::string& error) {
  CtlOptions options;
  if (const char* token = std::getenv("BGPROXY_TOKEN")) options.token = token;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    const bool has_value = i + 1 < args.size();
    if (arg == "--admin" && has_value) {
      auto admin = parse_admin_url(args[++i]);
      if (!admin) return error = "bad --admin URL (want http://host:port)", std::nullopt;
      options.admin = *admin;
    } else if (arg == "--token" && has_value) {
      options.token = args[++i];
    } else if (options.command.empty() && !arg.starts_with("--")) {
      options.command = arg;
      if (arg == "set-weight") {
        if (!has_value) return error = "set-weight needs N (percent)", std::nullopt;
        char* end = nullptr;
        options.weight = std::strtod(args[++i], &end);
        if (*end != '\0' || *options.weight < 0 || *options.weight > 100) {
          return error = "set-weight takes a percent from 0 to 100", std::nullopt;
        }
      }
    } else {
      return error = fmt::format("unexpected argument '{}'", arg), std::nullopt;
    }
  }
  if (options.command.empty()) return error = "missing command", std::nullopt;
  return options;
}

Reply execute(const CtlOptions& o) {
  if (o.command == "status") return call(o, http::verb::get, "/status");
  if (o.command == "set-weight") {
    // N is the candidate's share: ask the proxy which color that is.
    const Reply status = call(o, http::verb::get, "/status");
    if (status.status != 200) return status;
    const std::string candidate(status.body.at("candidate").as_string());
    return call(o, http::verb::put, "/weights", json::object{{candidate, *o.weight}});
  }
  return call(o, http::verb::post, "/rollout/" + o.command);
}

}  // namespace

int ctl_command(std::span<char*> args) {
  std::string error;
  const auto options = parse(args, error);
  if (!options) return usage(error);
  static constexpr std::string_view kCommands[] = {"status",  "start",    "pause",     "resume",
                                                   "promote", "rollback", "set-weight"};
  if (std::find(std::begin(kCommands), std::end(kCommands), options->command) ==
      std::end(kCommands)) {
    return usage(fmt::format("unknown command '{}'", options->command));
  }
  try {
    const Reply reply = execute(*options);
    if (reply.status >= 300) {
      const auto* message =
          reply.body.is_object() ? reply.body.as_object().if_contains("error") : nullptr;
      fmt::print(stderr, "refused ({}): {}\n", reply.status,
                 message && message->is_string() ? std::string(message->as_string())
                                                 : json::serialize(reply.body));
      return 1;
    }
    if (options->command == "status" && reply.body.is_object()) {
      print_status(reply.body.as_object());
    } else {
      fmt::print("ok: {}\n", options->command);
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "cannot reach the admin API at {}: {}\n", options->admin.to_string(),
               e.what());
    return 1;
  }
}

}  // namespace bgp
