// `bgproxy ctl`: the operator CLI over the admin API (docs/cli.md).
// Exit 0 ok, 1 refused or unreachable, 2 usage; `wait` also 3 (rolled back) and 4 (timeout).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

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
using namespace std::chrono_literals;

constexpr std::string_view kHelp = R"(usage: bgproxy ctl [--admin URL] [--token T] [--json] COMMAND

commands:
  status                      the rollout: state, weights, step, windows, evidence, history
  start [--steps 10,50,100] [--step-duration 30s]
                              start a rollout (the config's steps unless given)
  pause | resume              hold at the current step / go on
  promote                     the candidate takes all traffic and becomes live now
  rollback                    all traffic back to the live (or the retained) color now
  set-weight N                the candidate's share by hand, 0 to 100
  watch [--timeout D]         print each event as it happens until the rollout ends
  wait [--timeout D]          wait for the outcome: exit 0 promoted, 3 rolled back, 4 timeout
                              (D defaults to 30m)
  help                        this text

options:
  --admin URL   the admin API, e.g. http://127.0.0.1:9901 (env BGPROXY_ADMIN)
  --token T     the bearer token for changes (env BGPROXY_TOKEN)
  --json        print the API's JSON answer instead of text
exit: 0 ok, 1 refused or unreachable, 2 usage, 3 rolled back (wait), 4 timeout (wait)
)";

constexpr int kRolledBack = 3;
constexpr int kTimedOut = 4;
constexpr auto kPollEvery = 250ms;

struct AdminUrl {
  Address address{"127.0.0.1", 9901};
  std::string prefix;  // a path prefix, e.g. "/bgproxy" behind a reverse proxy
};

struct CtlOptions {
  AdminUrl admin;
  std::string token;
  bool json = false;
  std::string command;
  std::optional<double> weight;
  std::optional<std::string> steps;
  std::optional<std::string> step_duration;
  Duration timeout = std::chrono::minutes(30);
};

struct Reply {
  unsigned status = 0;
  json::value body;
};

// A failure to talk to the admin API, in one plain sentence.
struct Unreachable {
  std::string message;
};

int usage(std::string_view message) {
  fmt::print(stderr, "bgproxy ctl: {}\n(bgproxy ctl --help lists the commands)\n", message);
  return 2;
}

std::optional<AdminUrl> parse_admin_url(std::string_view url) {
  if (url.starts_with("http://")) url.remove_prefix(7);
  AdminUrl admin;
  if (const auto slash = url.find('/'); slash != std::string_view::npos) {
    admin.prefix = std::string(url.substr(slash));
    while (admin.prefix.ends_with('/')) admin.prefix.pop_back();
    url = url.substr(0, slash);
  }
  const auto address = parse_address(url);
  if (!address) return std::nullopt;
  admin.address = *address;
  return admin;
}

Reply call(const CtlOptions& options, http::verb method, std::string_view path,
           const std::optional<json::object>& body = std::nullopt) {
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  boost::asio::ip::tcp::resolver resolver(io);
  const Address& address = options.admin.address;
  boost::system::error_code ec;
  const auto endpoints = resolver.resolve(address.host, std::to_string(address.port), ec);
  const auto fail = [&](std::string_view what) {
    return Unreachable{fmt::format("cannot reach the admin API at {}: {}: {}", address.to_string(),
                                   what, ec.message())};
  };
  if (ec) throw fail("resolving the address");
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(endpoints, ec);
  if (ec) throw fail("connecting");
  http::request<http::string_body> request{method, options.admin.prefix + std::string(path), 11};
  request.set(http::field::host, address.to_string());
  if (!options.token.empty()) request.set(http::field::authorization, "Bearer " + options.token);
  if (body) {
    request.set(http::field::content_type, "application/json");
    request.body() = json::serialize(*body);
  }
  request.prepare_payload();
  http::write(stream, request, ec);
  if (ec) throw fail("sending the request");
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response, ec);
  if (ec) throw fail("reading the answer");
  json::value parsed = json::parse(response.body(), ec);
  return {response.result_int(), ec ? json::value(response.body()) : std::move(parsed)};
}

// --- reading /status ---

std::string number(const json::value& v, int decimals = 2) {
  if (v.is_double()) return fmt::format("{:.{}f}", v.as_double(), decimals);
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  return "-";
}

std::string text(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return "-";
  if (v->is_bool()) return v->as_bool() ? "yes" : "no";
  return v->is_string() ? std::string(v->as_string()) : number(*v);
}

const json::object* object_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

const json::array* array_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_array() ? &v->as_array() : nullptr;
}

// "step 2 of 5" (people count from 1; the API from 0).
std::string step_text(const json::value& step, std::size_t steps) {
  return step.is_number() ? fmt::format("{} of {}", step.to_number<std::size_t>() + 1, steps) : "-";
}

std::string history_line(const json::object& e) {
  const auto* step = e.if_contains("step");
  const std::string at_step = step && step->is_number()
                                  ? fmt::format(" (step {})", step->to_number<std::size_t>() + 1)
                                  : "";
  return fmt::format("{} {}{}: {}", text(e, "at"), text(e, "event"), at_step, text(e, "detail"));
}

void print_windows(const json::object& s) {
  const auto* window = object_at(s, "window");
  if (!window) return;
  for (const auto& [color, w] : *window) {
    const auto& o = w.as_object();
    fmt::print("window:    {:<5} {} requests, {} errors ({:.2f}%), p99 {} ms\n",
               std::string_view(color), text(o, "requests"), text(o, "errors"),
               o.at("error_rate").to_number<double>() * 100, text(o, "p99_ms"));
  }
}

void print_evidence(const json::object& s) {
  const auto* evidence = array_at(s, "evidence");
  if (!evidence) return;
  for (const auto& rule : *evidence) {
    const auto& o = rule.as_object();
    fmt::print("evidence:  {:<12} e={} of {}{}  estimate {} threshold {}  ({} vs {} requests)\n",
               text(o, "rule"), text(o, "e"), text(o, "bar"),
               o.at("breached").as_bool() ? " BREACH" : "", text(o, "estimate"),
               text(o, "threshold"), text(o, "candidate_requests"), text(o, "reference_requests"));
  }
}

void print_status(const json::object& s) {
  const auto& weights = s.at("weights").as_object();
  fmt::print("state:     {}{}\n", text(s, "state"),
             s.if_contains("held") && s.at("held").as_bool() ? " (held: too few requests)" : "");
  fmt::print("live:      {}   candidate: {}\n", text(s, "live"), text(s, "candidate"));
  fmt::print("weights:   blue {}%  green {}%\n", number(weights.at("blue")),
             number(weights.at("green")));
  if (const auto* step = s.if_contains("step"); step && !step->is_null()) {
    fmt::print("step:      {}   started {}   next {}\n",
               step_text(*step, s.at("steps").as_array().size()), text(s, "step_started_at"),
               text(s, "next_step_at"));
  }
  print_windows(s);
  print_evidence(s);
  if (const auto* watch = object_at(s, "watch")) {
    fmt::print("watch:     the live color is judged until {}\n", text(*watch, "until"));
  }
  if (const auto* retained = object_at(s, "retained")) {
    fmt::print("retained:  {} until {} (rollback returns to it)\n", text(*retained, "color"),
               text(*retained, "until"));
  }
  if (const auto* persisted = s.if_contains("persisted");
      persisted && persisted->is_bool() && !persisted->as_bool()) {
    fmt::print("persisted: no: {}\n", text(s, "persist_error"));
  }
  if (text(s, "last_decision") != "" && text(s, "last_decision") != "-") {
    fmt::print("decision:  {}\n", text(s, "last_decision"));
  }
  // The last rollback while it is the outcome; once a rollout starts again or a promotion comes
  // after it, it is history, not news.
  if (const auto* rb = object_at(s, "last_rollback"); rb && text(s, "state") == "rolled_back") {
    fmt::print("rollback:  {} ({}) {}\n", text(*rb, "at"), text(*rb, "reason"),
               text(*rb, "detail"));
  }
  if (const auto* history = array_at(s, "history")) {
    const std::size_t shown = std::min<std::size_t>(history->size(), 5);
    for (std::size_t i = history->size() - shown; i < history->size(); ++i) {
      fmt::print("history:   {}\n", history_line((*history)[i].as_object()));
    }
  }
}

// --- parsing the command line ---

std::optional<std::string> take_value(std::span<char*> args, std::size_t& i) {
  if (i + 1 >= args.size()) return std::nullopt;
  return std::string(args[++i]);
}

// Options that belong to one command; an empty string when `arg` was one, else the error.
std::optional<std::string> parse_command_option(std::span<char*> args, std::size_t& i,
                                                CtlOptions& o) {
  const std::string_view arg = args[i];
  const auto value = take_value(args, i);
  if (!value) return fmt::format("{} needs a value", arg);
  if (arg == "--steps" && o.command == "start") {
    o.steps = *value;
  } else if (arg == "--step-duration" && o.command == "start") {
    o.step_duration = *value;
  } else if (arg == "--timeout" && (o.command == "wait" || o.command == "watch")) {
    const auto timeout = parse_duration(*value);
    if (!timeout || timeout->count() <= 0) return fmt::format("bad --timeout '{}'", *value);
    o.timeout = *timeout;
  } else {
    return fmt::format("unexpected argument '{}'", arg);
  }
  return std::string();
}

std::optional<CtlOptions> parse(std::span<char*> args, std::string& error) {
  CtlOptions options;
  if (const char* token = std::getenv("BGPROXY_TOKEN")) options.token = token;
  if (const char* admin = std::getenv("BGPROXY_ADMIN"); admin && *admin) {
    auto url = parse_admin_url(admin);
    if (!url) return error = "bad BGPROXY_ADMIN URL (want http://host:port)", std::nullopt;
    options.admin = *url;
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (is_help_option(arg)) {
      options.command = "help";
    } else if (arg == "--json") {
      options.json = true;
    } else if (arg == "--admin" || arg == "--token") {
      const auto value = take_value(args, i);
      if (!value) return error = fmt::format("{} needs a value", arg), std::nullopt;
      if (arg == "--token") {
        options.token = *value;
        continue;
      }
      auto url = parse_admin_url(*value);
      if (!url) return error = "bad --admin URL (want http://host:port)", std::nullopt;
      options.admin = *url;
    } else if (arg.starts_with("--") && !options.command.empty()) {
      auto problem = parse_command_option(args, i, options);
      if (!problem->empty()) return error = *problem, std::nullopt;
    } else if (options.command.empty()) {
      options.command = arg;
      if (arg == "set-weight") {
        const auto value = take_value(args, i);
        if (!value) return error = "set-weight needs N (percent)", std::nullopt;
        char* end = nullptr;
        options.weight = std::strtod(value->c_str(), &end);
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

// --start's body: {"steps": [10, 50, 100], "step_duration": "30s"}.
std::optional<json::object> start_body(const CtlOptions& o, std::string& error) {
  json::object body;
  if (o.steps) {
    json::array steps;
    std::string_view rest = *o.steps;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string item(rest.substr(0, comma));
      char* end = nullptr;
      const double weight = std::strtod(item.c_str(), &end);
      if (item.empty() || *end != '\0') {
        error = fmt::format("--steps: '{}' is not a percent (want e.g. 10,50,100)", item);
        return std::nullopt;
      }
      steps.push_back(weight);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    body["steps"] = std::move(steps);
  }
  if (o.step_duration) body["step_duration"] = *o.step_duration;
  return body;
}

// --- commands ---

// Prints a refusal in one sentence; 1.
int refused(const Reply& reply) {
  const auto* message =
      reply.body.is_object() ? reply.body.as_object().if_contains("error") : nullptr;
  fmt::print(stderr, "refused ({}): {}\n", reply.status,
             message && message->is_string() ? std::string(message->as_string())
                                             : json::serialize(reply.body));
  return 1;
}

bool rollout_over(const json::object& s) {
  const std::string state = text(s, "state");
  return state == "stable" || state == "rolled_back";
}

// Prints the events of `history` newer than `last_seen` (all of them the first time, when the
// watch starts: only the last one, for context).
void print_new_events(const CtlOptions& o, const json::array& history,
                      std::optional<std::string>& last_seen) {
  std::size_t from = history.empty() ? 0 : history.size() - 1;
  if (last_seen) {
    from = 0;  // the last one seen may have left the 100 kept: then everything is new
    for (std::size_t i = history.size(); i-- > 0;) {
      if (json::serialize(history[i]) == *last_seen) {
        from = i + 1;
        break;
      }
    }
  }
  for (std::size_t i = from; i < history.size(); ++i) {
    const auto& e = history[i].as_object();
    fmt::print("{}\n", o.json ? json::serialize(e) : history_line(e));
  }
  std::fflush(stdout);
  if (!history.empty()) last_seen = json::serialize(history.back());
}

// Polls /status until the rollout ends or `timeout`; prints new history events when `print`.
// Returns the exit code: 0 promoted (or nothing ran), 3 rolled back, 4 timeout.
int follow(const CtlOptions& o, bool print) {
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  std::optional<std::string> last_seen;  // the newest history event printed, serialized
  for (;;) {
    const Reply reply = call(o, http::verb::get, "/status");
    if (reply.status != 200 || !reply.body.is_object()) return refused(reply);
    const auto& s = reply.body.as_object();
    if (const auto* history = array_at(s, "history"); history && print) {
      print_new_events(o, *history, last_seen);
    }
    if (rollout_over(s)) {
      const bool rolled_back = text(s, "state") == "rolled_back";
      if (!print) {
        fmt::print("{}\n",
                   o.json ? json::serialize(s)
                          : fmt::format("{}: live {}", rolled_back ? "rolled back" : "promoted",
                                        text(s, "live")));
      }
      return rolled_back ? kRolledBack : 0;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      fmt::print(stderr, "timed out after {}: the rollout is still {}\n",
                 format_duration(o.timeout), text(s, "state"));
      return kTimedOut;
    }
    std::this_thread::sleep_for(kPollEvery);  // polling the API: the CLI has nothing else to do
  }
}

int show(const CtlOptions& o, const Reply& reply) {
  if (reply.status >= 300) return refused(reply);
  if (o.json) {
    fmt::print("{}\n", json::serialize(reply.body));
  } else if (o.command == "status" && reply.body.is_object()) {
    print_status(reply.body.as_object());
  } else {
    fmt::print("ok: {}\n", o.command);
  }
  return 0;
}

int execute(const CtlOptions& o) {
  if (o.command == "status") return show(o, call(o, http::verb::get, "/status"));
  if (o.command == "watch") return follow(o, true) == kTimedOut ? kTimedOut : 0;
  if (o.command == "wait") return follow(o, false);
  if (o.command == "set-weight") {
    // N is the candidate's share: ask the proxy which color that is.
    const Reply status = call(o, http::verb::get, "/status");
    if (status.status != 200) return refused(status);
    const std::string candidate(status.body.at("candidate").as_string());
    return show(o, call(o, http::verb::put, "/weights", json::object{{candidate, *o.weight}}));
  }
  if (o.command == "start") {
    std::string error;
    const auto body = start_body(o, error);
    if (!body) return usage(error);
    return show(o, call(o, http::verb::post, "/rollout/start", *body));
  }
  return show(o, call(o, http::verb::post, "/rollout/" + o.command));
}

}  // namespace

int ctl_command(std::span<char*> args) {
  std::string error;
  const auto options = parse(args, error);
  if (!options) return usage(error);
  if (options->command == "help") {
    fmt::print("{}", kHelp);
    return 0;
  }
  static constexpr std::string_view kCommands[] = {
      "status", "start", "pause", "resume", "promote", "rollback", "watch", "wait", "set-weight"};
  if (std::find(std::begin(kCommands), std::end(kCommands), options->command) ==
      std::end(kCommands)) {
    return usage(fmt::format("unknown command '{}'", options->command));
  }
  try {
    return execute(*options);
  } catch (const Unreachable& e) {
    fmt::print(stderr, "{}\n", e.message);
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "unexpected answer from the admin API at {}: {}\n",
               options->admin.address.to_string(), e.what());
    return 1;
  }
}

}  // namespace bgp
