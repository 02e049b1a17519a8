// The YAML loader: walks the document against a table of known keys per section, keeps the
// default of every key that is absent, and collects every error with its position and key path.
#include "config/config.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "config/tls_files.h"
#include "config/value_parsers.h"

namespace bgp {
namespace {

using config_detail::Parsed;

struct Position {  // 1-based, as printed
  int line = 1;
  int column = 1;
};

Position position_of(const YAML::Mark& mark) {
  if (mark.is_null()) return {};
  return {mark.line + 1, mark.column + 1};
}

// A node being read, with its key path and where to point at it.
struct Value {
  YAML::Node node;
  std::string path;
  Position position;
};

std::string describe_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return fmt::format("'{}'", node.Scalar());
    default:
      return "nothing";
  }
}

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
}

std::string as_percent(std::uint32_t basis_points) {
  return fmt::format("{}", basis_points / 100.0);
}

using Reader = std::function<void(const Value&)>;
struct Field {
  std::string_view key;
  Reader read;
};
using Fields = std::vector<Field>;
using Check = std::string (*)(std::string_view);  // "" when acceptable, else why not

template <typename E>
struct Choice {
  std::string_view name;
  E value;
};
constexpr std::array<Choice<Color>, 2> kColorChoices{
    {{"blue", Color::blue}, {"green", Color::green}}};
constexpr std::array<Choice<UpstreamProtocol>, 3> kUpstreamProtocols{
    {{"http1", UpstreamProtocol::http1},
     {"h2c", UpstreamProtocol::h2c},
     {"h2", UpstreamProtocol::h2}}};
constexpr std::array<Choice<LogLevel>, 4> kLogLevels{{{"debug", LogLevel::debug},
                                                      {"info", LogLevel::info},
                                                      {"warn", LogLevel::warn},
                                                      {"error", LogLevel::error}}};
constexpr std::array<Choice<LogFormat>, 2> kLogFormats{
    {{"text", LogFormat::text}, {"json", LogFormat::json}}};
constexpr std::array<Choice<HealthCheckType>, 2> kHealthCheckTypes{
    {{"http", HealthCheckType::http}, {"grpc", HealthCheckType::grpc}}};

enum class PortZero { allowed, rejected };
constexpr Duration kPositive = 1ms;  // the smallest duration where zero makes no sense
constexpr Duration kZeroAllowed = 0ms;

std::string unknown_key_message(std::string_view name, const Fields& fields) {
  const Field* closest = nullptr;
  std::size_t closest_distance = std::numeric_limits<std::size_t>::max();
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& field : fields) {
    const auto distance = config_detail::edit_distance(lower, field.key);
    if (distance < closest_distance) {
      closest = &field;
      closest_distance = distance;
    }
  }
  if (closest != nullptr && closest_distance <= 2 && closest_distance < closest->key.size()) {
    return fmt::format("unknown key '{}', did you mean '{}'?", name, closest->key);
  }
  std::vector<std::string_view> known;
  for (const auto& field : fields) known.push_back(field.key);
  return fmt::format("unknown key '{}' (known keys: {})", name, fmt::join(known, ", "));
}

Parsed<std::string> read_whole_file(const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    return Parsed<std::string>::fail("it is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Parsed<std::string>::fail(std::strerror(errno));
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return Parsed<std::string>::fail("read error");
  return {std::move(text), {}};
}

class Loader {
 public:
  explicit Loader(std::string_view source_name) : source_(source_name) {}

  ConfigResult load(std::string_view yaml);

 private:
  // ---- errors and positions ----
  void fail(Position where, std::string path, std::string message) {
    errors_.push_back({source_, where.line, where.column, std::move(path), std::move(message)});
  }
  void fail(const Value& value, std::string message) {
    fail(value.position, value.path, std::move(message));
  }
  // Where `path` was written, else where its closest written parent was.
  Position position_for(std::string path) const;
  bool has_error_under(std::string_view path) const;

  // ---- structure ----
  void read_map(const Value& map, const Fields& fields);
  void read_entry(const std::string& parent, const YAML::Node& key, const YAML::Node& value,
                  const Fields& fields, std::set<std::string>& seen);
  static Value element(const Value& list, std::size_t index);
  std::optional<std::string> scalar(const Value& value, std::string_view expected);

  // ---- single values ----
  std::optional<Duration> read_duration(const Value& value, Duration minimum);
  std::optional<std::uint64_t> read_whole_number(const Value& value, std::uint64_t minimum,
                                                 std::uint64_t maximum, bool open_ended);
  std::optional<double> read_number(const Value& value, double minimum, double maximum);
  std::optional<bool> read_flag(const Value& value);
  std::optional<Address> read_address(const Value& value, PortZero port_zero);
  std::optional<std::uint32_t> read_weight(const Value& value);

  // ---- fields: a key and where its value goes ----
  Field section(std::string_view key, Fields fields);
  Field text(std::string_view key, std::string& target, Check check = nullptr);
  Field duration(std::string_view key, Duration& target, Duration minimum);
  Field number(std::string_view key, double& target, double minimum, double maximum);
  Field flag(std::string_view key, bool& target);
  Field address(std::string_view key, Address& target, PortZero port_zero);
  template <typename T>
  Field whole_number(std::string_view key, T& target, std::uint64_t minimum,
                     std::optional<std::uint64_t> maximum = std::nullopt);
  template <typename E, std::size_t N>
  Field choice(std::string_view key, E& target, const std::array<Choice<E>, N>& choices);

  // ---- sections ----
  Fields root_fields(Config& config);
  Fields admin_fields(AdminConfig& admin);
  Fields backends_fields(BackendsConfig& backends);
  Fields health_check_fields(HealthCheckConfig& health_check);
  Fields rollout_fields(RolloutConfig& rollout);
  Fields thresholds_fields(Thresholds& thresholds);
  Fields judge_fields(JudgeConfig& judge);
  Fields fleet_fields(FleetConfig& fleet);
  Fields tls_fields(TlsConfig& tls);
  Fields backend_tls_fields(BackendTlsConfig& tls);
  void read_tls_version(const Value& value, TlsVersion& target);
  void read_alpn(const Value& list, std::vector<std::string>& target);
  void read_protocols(const Value& list, bool& h2c);
  void read_grpc_codes(const Value& list, GrpcCodeSet& target);
  // The names of a non-empty list without duplicates, each one of `known`; nullopt after an error.
  std::optional<std::vector<std::string>> read_names(const Value& list,
                                                     const std::vector<std::string>& known);
  void read_quantiles(const Value& list, std::vector<double>& target);
  Fields routing_fields(RoutingConfig& routing);
  Fields timeouts_fields(TimeoutsConfig& timeouts);
  Fields limits_fields(LimitsConfig& limits);
  void read_endpoints(const Value& list, std::vector<Address>& target);
  void read_steps(const Value& list, std::vector<RolloutStep>& target);
  std::optional<RolloutStep> read_step(const Value& step);
  std::optional<RolloutStep> read_step_map(const Value& step);

  // ---- rules that span several keys ----
  void check_live_endpoints(const Config& config);
  void check_listeners_differ(const Config& config);
  void check_state_file_directory(const Config& config);
  void check_tls_listener(const Config& config);
  void check_tls_files(const TlsConfig& tls);
  void check_backend_tls(const Config& config);
  void check_health_check_type(const HealthCheckConfig& health_check);
  void check_webhook_ca(const NotifyConfig& notify);
  void resolve_admin_token(AdminConfig& admin);
  bool read_token_file(AdminConfig& admin);  // into admin.token; false after an error

  std::string source_;
  std::vector<ConfigError> errors_;
  std::map<std::string, Position, std::less<>> positions_;  // of every key read
};

ConfigResult Loader::load(std::string_view yaml) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    fail(position_of(e.mark), "", e.msg);
    return {std::nullopt, std::move(errors_)};
  }
  Config config;
  if (documents.size() > 1) {
    fail(position_of(documents[1].Mark()), "", "only one YAML document is allowed");
  }
  if (!documents.empty()) {
    const auto& root = documents.front();
    read_map({root, "", position_of(root.Mark())}, root_fields(config));
  }
  check_live_endpoints(config);
  resolve_admin_token(config.admin);
  check_listeners_differ(config);
  check_state_file_directory(config);
  check_tls_listener(config);
  check_backend_tls(config);
  check_health_check_type(config.backends.health_check);
  check_webhook_ca(config.notify);
  if (errors_.empty()) return {std::move(config), {}};
  std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return {std::nullopt, std::move(errors_)};
}

Position Loader::position_for(std::string path) const {
  for (;;) {
    if (const auto found = positions_.find(path); found != positions_.end()) return found->second;
    if (path.empty()) return {};
    const auto cut = path.find_last_of(".[");
    path.resize(cut == std::string::npos ? 0 : cut);
  }
}

bool Loader::has_error_under(std::string_view path) const {
  return std::any_of(errors_.begin(), errors_.end(),
                     [&](const ConfigError& e) { return e.key_path.starts_with(path); });
}

// ---- structure ----

void Loader::read_map(const Value& map, const Fields& fields) {
  positions_.emplace(map.path, map.position);
  if (map.node.IsNull()) return;  // `admin:` with nothing under it: all defaults
  if (!map.node.IsMap()) {
    fail(map, fmt::format("expected a map of keys, got {}", describe_kind(map.node)));
    return;
  }
  std::set<std::string> seen;
  for (const auto& entry : map.node) read_entry(map.path, entry.first, entry.second, fields, seen);
}

void Loader::read_entry(const std::string& parent, const YAML::Node& key, const YAML::Node& value,
                        const Fields& fields, std::set<std::string>& seen) {
  const Position key_position = position_of(key.Mark());
  if (!key.IsScalar()) {
    fail(key_position, parent, "keys must be plain names");
    return;
  }
  const std::string& name = key.Scalar();
  const std::string path = child_path(parent, name);
  if (!seen.insert(name).second) {
    fail(key_position, path, "duplicate key");
    return;
  }
  const auto field =
      std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.key == name; });
  if (field == fields.end()) {
    fail(key_position, path, unknown_key_message(name, fields));
    return;
  }
  // An empty value's mark points past it, at the next token: point at its key instead.
  const Position value_position = value.IsNull() ? key_position : position_of(value.Mark());
  positions_[path] = value_position;
  field->read({value, path, value_position});
}

Value Loader::element(const Value& list, std::size_t index) {
  const YAML::Node node = list.node[index];
  return {node, fmt::format("{}[{}]", list.path, index), position_of(node.Mark())};
}

std::optional<std::string> Loader::scalar(const Value& value, std::string_view expected) {
  if (value.node.IsScalar()) return value.node.Scalar();
  fail(value, fmt::format("expected {}, got {}", expected, describe_kind(value.node)));
  return std::nullopt;
}

// ---- single values ----

std::optional<Duration> Loader::read_duration(const Value& value, Duration minimum) {
  const auto text = scalar(value, "a duration like 10s");
  if (!text) return std::nullopt;
  const auto parsed = config_detail::parse_duration_explained(*text);
  if (!parsed.value) {
    fail(value, fmt::format("invalid duration '{}': {}", *text, parsed.error));
    return std::nullopt;
  }
  if (*parsed.value < minimum) {
    fail(value, minimum <= kPositive
                    ? fmt::format("must be greater than 0, got {}", *text)
                    : fmt::format("must be at least {}, got {}", format_duration(minimum), *text));
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<std::uint64_t> Loader::read_whole_number(const Value& value, std::uint64_t minimum,
                                                       std::uint64_t maximum, bool open_ended) {
  const auto text = scalar(value, "a whole number");
  if (!text) return std::nullopt;
  const auto range = open_ended ? fmt::format("must be at least {}", minimum)
                                : fmt::format("must be between {} and {}", minimum, maximum);
  const bool negative = text->starts_with('-') &&
                        config_detail::parse_unsigned(std::string_view(*text).substr(1)).value;
  const auto parsed = config_detail::parse_unsigned(*text);
  if (negative || (parsed.value && *parsed.value < minimum)) {
    fail(value, fmt::format("{}, got {}", range, *text));
    return std::nullopt;
  }
  if (!parsed.value) {
    fail(value, parsed.error);
    return std::nullopt;
  }
  if (*parsed.value > maximum) {
    fail(value, open_ended ? fmt::format("{} is too large (at most {})", *text, maximum)
                           : fmt::format("{}, got {}", range, *text));
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<double> Loader::read_number(const Value& value, double minimum, double maximum) {
  const auto text = scalar(value, "a number");
  if (!text) return std::nullopt;
  const auto parsed = config_detail::parse_number(*text);
  if (!parsed.value) {
    fail(value, parsed.error);
    return std::nullopt;
  }
  if (*parsed.value < minimum || *parsed.value > maximum) {
    fail(value, maximum == std::numeric_limits<double>::infinity()
                    ? fmt::format("must be at least {}, got {}", minimum, *text)
                    : fmt::format("must be between {} and {}, got {}", minimum, maximum, *text));
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<bool> Loader::read_flag(const Value& value) {
  const auto text = scalar(value, "true or false");
  if (!text) return std::nullopt;
  if (*text == "true" || *text == "True" || *text == "TRUE") return true;
  if (*text == "false" || *text == "False" || *text == "FALSE") return false;
  fail(value, fmt::format("expected true or false, got '{}'", *text));
  return std::nullopt;
}

std::optional<Address> Loader::read_address(const Value& value, PortZero port_zero) {
  const auto text = scalar(value, "an address like 127.0.0.1:8080");
  if (!text) return std::nullopt;
  const auto parsed = config_detail::parse_address_explained(*text);
  if (!parsed.value) {
    fail(value, fmt::format("invalid address '{}': {}", *text, parsed.error));
    return std::nullopt;
  }
  if (parsed.value->port == 0 && port_zero == PortZero::rejected) {
    fail(value, fmt::format("invalid address '{}': the port must be 1..65535", *text));
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<std::uint32_t> Loader::read_weight(const Value& value) {
  const auto text = scalar(value, "a percentage like 10 or 0.5");
  if (!text) return std::nullopt;
  const auto number = config_detail::parse_number(*text);
  const auto weight = number.value ? config_detail::parse_weight_explained(*number.value)
                                   : Parsed<std::uint32_t>::fail(number.error);
  if (!weight.value) {
    fail(value, fmt::format("invalid weight '{}': {}", *text, weight.error));
    return std::nullopt;
  }
  return weight.value;
}

// ---- fields ----

Field Loader::section(std::string_view key, Fields fields) {
  return {key, [this, fields = std::move(fields)](const Value& v) { read_map(v, fields); }};
}

Field Loader::text(std::string_view key, std::string& target, Check check) {
  return {key, [this, &target, check](const Value& v) {
            if (v.node.IsNull()) {  // `key:` with nothing after it means ""
              target.clear();
              return;
            }
            const auto text = scalar(v, "a string");
            if (!text) return;
            if (const auto why = check && !text->empty() ? check(*text) : ""; !why.empty()) {
              fail(v, why);
              return;
            }
            target = *text;
          }};
}

Field Loader::duration(std::string_view key, Duration& target, Duration minimum) {
  return {key, [this, &target, minimum](const Value& v) {
            if (const auto d = read_duration(v, minimum)) target = *d;
          }};
}

Field Loader::number(std::string_view key, double& target, double minimum, double maximum) {
  return {key, [this, &target, minimum, maximum](const Value& v) {
            if (const auto n = read_number(v, minimum, maximum)) target = *n;
          }};
}

Field Loader::flag(std::string_view key, bool& target) {
  return {key, [this, &target](const Value& v) {
            if (const auto f = read_flag(v)) target = *f;
          }};
}

Field Loader::address(std::string_view key, Address& target, PortZero port_zero) {
  return {key, [this, &target, port_zero](const Value& v) {
            if (auto a = read_address(v, port_zero)) target = std::move(*a);
          }};
}

template <typename T>
Field Loader::whole_number(std::string_view key, T& target, std::uint64_t minimum,
                           std::optional<std::uint64_t> maximum) {
  const std::uint64_t limit = maximum.value_or(std::numeric_limits<T>::max());
  return {key, [this, &target, minimum, limit, open_ended = !maximum](const Value& v) {
            if (const auto n = read_whole_number(v, minimum, limit, open_ended)) {
              target = static_cast<T>(*n);
            }
          }};
}

template <typename E, std::size_t N>
Field Loader::choice(std::string_view key, E& target, const std::array<Choice<E>, N>& choices) {
  return {key, [this, &target, &choices](const Value& v) {
            const auto text = scalar(v, "a name");
            if (!text) return;
            for (const auto& c : choices) {
              if (c.name == *text) {
                target = c.value;
                return;
              }
            }
            std::vector<std::string_view> names;
            for (const auto& c : choices) names.push_back(c.name);
            fail(v, fmt::format("invalid value '{}': expected one of {}", *text,
                                fmt::join(names, ", ")));
          }};
}

// ---- sections ----

Fields Loader::root_fields(Config& c) {
  return {
      address("listen", c.listen, PortZero::allowed),
      {"protocols", [this, &c](const Value& v) { read_protocols(v, c.h2c); }},
      whole_number("workers", c.workers, 0, 1024),
      section("tls", tls_fields(c.tls)),
      section("admin", admin_fields(c.admin)),
      section("backends", backends_fields(c.backends)),
      section("rollout", rollout_fields(c.rollout)),
      section("routing", routing_fields(c.routing)),
      section("timeouts", timeouts_fields(c.timeouts)),
      section("limits", limits_fields(c.limits)),
      section("grpc", {{"error_codes",
                        [this, &c](const Value& v) { read_grpc_codes(v, c.grpc.error_codes); }}}),
      text("state_file", c.state_file),
      section("fleet", fleet_fields(c.fleet)),
      section("notify", {text("webhook", c.notify.webhook, config_detail::check_webhook_url),
                         text("webhook_ca", c.notify.webhook_ca)}),
      section("log", {choice("level", c.log.level, kLogLevels),
                      choice("format", c.log.format, kLogFormats), flag("access", c.log.access),
                      text("access_file", c.log.access_file)}),
  };
}

Fields Loader::admin_fields(AdminConfig& admin) {
  return {
      address("listen", admin.listen, PortZero::allowed),
      text("token", admin.token),
      text("token_file", admin.token_file),
      whole_number("max_connections", admin.max_connections, 1),
      duration("idle_timeout", admin.idle_timeout, kPositive),
  };
}

Fields Loader::backends_fields(BackendsConfig& backends) {
  auto endpoints_of = [this](ColorBackends& color) -> Fields {
    return {{"endpoints", [this, &color](const Value& v) { read_endpoints(v, color.endpoints); }},
            choice("protocol", color.protocol, kUpstreamProtocols),
            section("tls", backend_tls_fields(color.tls))};
  };
  return {
      choice("live", backends.live, kColorChoices),
      section("blue", endpoints_of(backends.blue)),
      section("green", endpoints_of(backends.green)),
      section("health_check", health_check_fields(backends.health_check)),
  };
}

Fields Loader::tls_fields(TlsConfig& tls) {
  return {
      {"listen",
       [this, &tls](const Value& v) {
         if (v.node.IsNull() || (v.node.IsScalar() && v.node.Scalar().empty())) {
           tls.listen.reset();  // `listen: ""`: no TLS listener
         } else if (auto a = read_address(v, PortZero::allowed)) {
           tls.listen = std::move(*a);
         }
       }},
      text("cert", tls.cert),
      text("key", tls.key),
      {"min_version", [this, &tls](const Value& v) { read_tls_version(v, tls.min_version); }},
      {"alpn", [this, &tls](const Value& v) { read_alpn(v, tls.alpn); }},
  };
}

Fields Loader::backend_tls_fields(BackendTlsConfig& tls) {
  return {
      flag("enabled", tls.enabled),
      text("ca", tls.ca),
      text("server_name", tls.server_name, config_detail::check_host),
      flag("verify", tls.verify),
  };
}

void Loader::read_tls_version(const Value& value, TlsVersion& target) {
  const auto text = scalar(value, "a TLS version, 1.2 or 1.3");
  if (!text) return;
  if (*text == "1.2" || *text == "1.3") {
    target = *text == "1.2" ? TlsVersion::v1_2 : TlsVersion::v1_3;
  } else if (*text == "1.0" || *text == "1.1") {
    fail(value, fmt::format("TLS {} is refused (deprecated by RFC 8996): use 1.2 or 1.3", *text));
  } else {
    fail(value, fmt::format("invalid value '{}': expected 1.2 or 1.3", *text));
  }
}

std::optional<std::vector<std::string>> Loader::read_names(const Value& list,
                                                           const std::vector<std::string>& known) {
  if (!list.node.IsSequence() || list.node.size() == 0) {
    fail(list, fmt::format("expected a non-empty list like [{}], got {}", fmt::join(known, ", "),
                           describe_kind(list.node)));
    return std::nullopt;
  }
  const auto errors_before = errors_.size();
  std::vector<std::string> names;
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    const Value item = element(list, i);
    const auto name = scalar(item, "a protocol name");
    if (!name) continue;
    if (std::find(known.begin(), known.end(), *name) == known.end()) {
      fail(item,
           fmt::format("unknown protocol '{}': expected one of {}", *name, fmt::join(known, ", ")));
    } else if (std::find(names.begin(), names.end(), *name) != names.end()) {
      fail(item, fmt::format("duplicate protocol {}", *name));
    } else {
      names.push_back(*name);
    }
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return names;
}

void Loader::read_alpn(const Value& list, std::vector<std::string>& target) {
  if (auto names = read_names(list, {"h2", "http/1.1"})) target = std::move(*names);
}

// HTTP/1.1 is always served on `listen`; h2c (HTTP/2 by prior knowledge) may join it.
void Loader::read_protocols(const Value& list, bool& h2c) {
  const auto names = read_names(list, {"http1", "h2c"});
  if (!names) return;
  if (std::find(names->begin(), names->end(), "http1") == names->end()) {
    fail(list, "http1 is always served on listen: list it, as in [http1, h2c]");
    return;
  }
  h2c = std::find(names->begin(), names->end(), "h2c") != names->end();
}

// A list of gRPC codes by name or number; [] counts no gRPC status as an error.
void Loader::read_grpc_codes(const Value& list, GrpcCodeSet& target) {
  if (!list.node.IsSequence()) {
    fail(list, fmt::format("expected a list of gRPC codes like [UNAVAILABLE, 13], got {}",
                           describe_kind(list.node)));
    return;
  }
  const auto errors_before = errors_.size();
  GrpcCodeSet codes;
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    const Value item = element(list, i);
    const auto text = scalar(item, "a gRPC code");
    if (!text) continue;
    const auto code = grpc_code_from_text(*text);
    if (!code) {
      fail(item, fmt::format("unknown gRPC code '{}': expected a name like UNAVAILABLE or a "
                             "number from 0 to 16",
                             *text));
    } else {
      codes.add(*code);
    }
  }
  if (errors_.size() == errors_before) target = codes;
}

Fields Loader::health_check_fields(HealthCheckConfig& hc) {
  return {
      choice("type", hc.type, kHealthCheckTypes),
      text("path", hc.path, config_detail::check_url_path),
      text("grpc_service", hc.grpc_service),
      duration("interval", hc.interval, kPositive),
      duration("timeout", hc.timeout, kPositive),
      whole_number("unhealthy_after", hc.unhealthy_after, 1),
      whole_number("healthy_after", hc.healthy_after, 1),
  };
}

Fields Loader::rollout_fields(RolloutConfig& r) {
  return {
      {"steps", [this, &r](const Value& v) { read_steps(v, r.steps); }},
      duration("step_duration", r.step_duration, kPositive),
      duration("check_interval", r.check_interval, kPositive),
      whole_number("min_requests", r.min_requests, 0),
      whole_number("failure_limit", r.failure_limit, 1),
      flag("auto_start", r.auto_start),
      duration("retain_previous", r.retain_previous, kZeroAllowed),
      section("thresholds", thresholds_fields(r.thresholds)),
      section("judge", judge_fields(r.judge)),
      duration("post_promotion_watch", r.post_promotion_watch, kZeroAllowed),
  };
}

Fields Loader::fleet_fields(FleetConfig& fleet) {
  return {
      {"etcd", [this, &fleet](const Value& v) { read_endpoints(v, fleet.etcd); }},
      text("cluster", fleet.cluster, config_detail::check_http_token),
      text("replica_id", fleet.replica_id),
      duration("lease_ttl", fleet.lease_ttl, std::chrono::seconds(2)),
  };
}

Fields Loader::judge_fields(JudgeConfig& judge) {
  // alpha = 0 would never roll back, 1 always: both ends are excluded.
  return {
      {"alpha",
       [this, &judge](const Value& v) {
         const auto alpha = read_number(v, 0, 1);
         if (alpha && (*alpha <= 0 || *alpha >= 1)) {
           fail(v, fmt::format("must be between 0 and 1, both excluded, got {}", *alpha));
         } else if (alpha) {
           judge.alpha = *alpha;
         }
       }},
      {"quantiles", [this, &judge](const Value& v) { read_quantiles(v, judge.quantiles); }},
  };
}

void Loader::read_quantiles(const Value& list, std::vector<double>& target) {
  if (!list.node.IsSequence()) {
    fail(list, fmt::format("expected a list of quantiles like [0.5, 0.9, 0.99], got {}",
                           describe_kind(list.node)));
    return;
  }
  const auto errors_before = errors_.size();
  std::vector<double> quantiles;
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    const Value item = element(list, i);
    const auto q = read_number(item, 0, 1);
    if (!q) continue;
    if (*q <= 0 || *q >= 1) {
      fail(item, fmt::format("a quantile is between 0 and 1, both excluded, got {}", *q));
    } else if (std::find(quantiles.begin(), quantiles.end(), *q) != quantiles.end()) {
      fail(item, fmt::format("duplicate quantile {}", *q));
    } else {
      quantiles.push_back(*q);
    }
  }
  if (errors_.size() == errors_before) target = std::move(quantiles);
}

Fields Loader::thresholds_fields(Thresholds& t) {
  constexpr double kUnbounded = std::numeric_limits<double>::infinity();
  return {
      number("max_error_rate", t.max_error_rate, 0, 1),
      duration("max_p99", t.max_p99, kPositive),
      number("max_p99_increase", t.max_p99_increase, 0, kUnbounded),
      duration("p99_noise_floor", t.p99_noise_floor, kZeroAllowed),
  };
}

Fields Loader::routing_fields(RoutingConfig& routing) {
  return {
      text("sticky_header", routing.sticky_header, config_detail::check_http_token),
      text("sticky_cookie", routing.sticky_cookie, config_detail::check_http_token),
      text("override_header", routing.override_header, config_detail::check_http_token),
  };
}

Fields Loader::timeouts_fields(TimeoutsConfig& t) {
  return {
      duration("client_header", t.client_header, kPositive),
      duration("client_idle", t.client_idle, kPositive),
      duration("upstream_connect", t.upstream_connect, kPositive),
      duration("upstream_response", t.upstream_response, kPositive),
      duration("upstream_idle", t.upstream_idle, kPositive),
      duration("http2_ping_interval", t.http2_ping_interval, kPositive),
      duration("http2_ping_timeout", t.http2_ping_timeout, kPositive),
      duration("drain", t.drain, kZeroAllowed),  // 0 = close at once
  };
}

Fields Loader::limits_fields(LimitsConfig& limits) {
  return {
      whole_number("max_header_bytes", limits.max_header_bytes, 1024),
      whole_number("max_body_bytes", limits.max_body_bytes, 0),
      whole_number("max_connections", limits.max_connections, 1),
  };
}

void Loader::read_endpoints(const Value& list, std::vector<Address>& target) {
  if (list.node.IsNull()) {  // `endpoints:` with nothing: none
    target.clear();
    return;
  }
  if (!list.node.IsSequence()) {
    fail(list, fmt::format("expected a list of host:port, got {}", describe_kind(list.node)));
    return;
  }
  const auto errors_before = errors_.size();
  std::vector<Address> endpoints;
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    const Value item = element(list, i);
    auto endpoint = read_address(item, PortZero::rejected);
    if (!endpoint) continue;
    if (std::find(endpoints.begin(), endpoints.end(), *endpoint) != endpoints.end()) {
      fail(item, fmt::format("duplicate endpoint {}", endpoint->to_string()));
      continue;
    }
    endpoints.push_back(std::move(*endpoint));
  }
  if (errors_.size() == errors_before) target = std::move(endpoints);
}

void Loader::read_steps(const Value& list, std::vector<RolloutStep>& target) {
  if (!list.node.IsSequence()) {
    fail(list, fmt::format("expected a list of steps like [10, 25, 50, 75, 100], got {}",
                           describe_kind(list.node)));
    return;
  }
  if (list.node.size() == 0) {
    fail(list, "at least one step is required, and the last one must be 100");
    return;
  }
  const auto errors_before = errors_.size();
  std::vector<RolloutStep> steps;
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    const Value item = element(list, i);
    const auto step = read_step(item);
    if (!step) continue;
    if (!steps.empty() && step->weight_bp <= steps.back().weight_bp) {
      fail(item, fmt::format("steps must be strictly increasing: {} follows {}",
                             as_percent(step->weight_bp), as_percent(steps.back().weight_bp)));
    }
    const bool last = i + 1 == list.node.size();
    if (last && step->weight_bp != kFullWeight) {
      fail(item, fmt::format("the last step must be 100, got {}", as_percent(step->weight_bp)));
    }
    steps.push_back(*step);
  }
  if (errors_.size() == errors_before) target = std::move(steps);
}

std::optional<RolloutStep> Loader::read_step(const Value& step) {
  if (step.node.IsMap()) return read_step_map(step);
  if (!step.node.IsScalar()) {
    fail(step, fmt::format("expected a percentage or {{weight: 10, duration: 10m}}, got {}",
                           describe_kind(step.node)));
    return std::nullopt;
  }
  const auto weight = read_weight(step);
  if (!weight) return std::nullopt;
  return RolloutStep{*weight, std::nullopt};
}

std::optional<RolloutStep> Loader::read_step_map(const Value& step) {
  RolloutStep result;
  bool has_weight = false;
  const Fields fields{
      {"weight",
       [&](const Value& v) {
         has_weight = true;
         if (const auto weight = read_weight(v)) result.weight_bp = *weight;
       }},
      {"duration",
       [&](const Value& v) {
         if (const auto d = read_duration(v, kPositive)) result.duration = *d;
       }},
  };
  const auto errors_before = errors_.size();
  read_map(step, fields);
  if (!has_weight) {
    fail(step.position, child_path(step.path, "weight"),
         "missing: a step map is {weight: 10, duration: 10m}");
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return result;
}

// ---- rules that span several keys ----

void Loader::check_live_endpoints(const Config& config) {
  const Color live = config.backends.live;
  const auto path = fmt::format("backends.{}", name(live));
  if (!config.backends.of(live).endpoints.empty() || has_error_under("backends.live") ||
      has_error_under(path)) {
    return;
  }
  const auto endpoints_path = path + ".endpoints";
  fail(position_for(endpoints_path), endpoints_path,
       fmt::format("the live color ({}) needs at least one endpoint", name(live)));
}

void Loader::check_listeners_differ(const Config& config) {
  if (config.listen.port == 0 || config.listen != config.admin.listen) return;
  fail(position_for("admin.listen"), "admin.listen",
       fmt::format("the admin API cannot share the data plane's address {}",
                   config.listen.to_string()));
}

// Found at load time (check-config, start, reload) rather than at the first state write.
void Loader::check_state_file_directory(const Config& config) {
  if (config.state_file.empty() || has_error_under("state_file")) return;
  const std::filesystem::path file(config.state_file);
  const std::filesystem::path directory = file.has_parent_path() ? file.parent_path() : ".";
  std::error_code ec;
  if (std::filesystem::is_directory(directory, ec)) return;
  fail(position_for("state_file"), "state_file",
       fmt::format("the directory '{}' does not exist", directory.string()));
}

void Loader::check_tls_listener(const Config& config) {
  const TlsConfig& tls = config.tls;
  for (const char* key : {"tls.listen", "tls.cert", "tls.key"}) {
    if (has_error_under(key)) return;
  }
  if (!tls.enabled()) {
    if (tls.cert.empty() && tls.key.empty()) return;
    fail(position_for("tls.listen"), "tls.listen",
         "tls.cert and tls.key are set but tls.listen is not: set the TLS listener's address");
    return;
  }
  for (const auto& [key, value] : {std::pair{"tls.cert", &tls.cert}, {"tls.key", &tls.key}}) {
    if (value->empty()) {
      fail(position_for(key), key, "required when tls.listen is set");
    }
  }
  const Address& listen = *tls.listen;
  if (listen.port != 0 && (listen == config.listen || listen == config.admin.listen)) {
    fail(position_for("tls.listen"), "tls.listen",
         fmt::format("the TLS listener cannot share the address {} with {}", listen.to_string(),
                     listen == config.listen ? "listen" : "admin.listen"));
  }
  if (!tls.cert.empty() && !tls.key.empty()) check_tls_files(tls);
}

// Read here, so that check-config, a start and a reload all refuse a pair that cannot serve.
void Loader::check_tls_files(const TlsConfig& tls) {
  const auto loaded = load_certificate_chain(tls.cert, tls.key, std::chrono::system_clock::now());
  if (loaded.ok()) return;
  const char* key = loaded.problem.file == TlsFile::key ? "tls.key" : "tls.cert";
  fail(position_for(key), key, loaded.problem.message);
}

void Loader::check_backend_tls(const Config& config) {
  for (const Color color : {Color::blue, Color::green}) {
    const BackendTlsConfig& tls = config.backends.of(color).tls;
    const UpstreamProtocol protocol = config.backends.of(color).protocol;
    const auto protocol_key = fmt::format("backends.{}.protocol", name(color));
    if (protocol == UpstreamProtocol::h2 && !tls.enabled) {
      fail(position_for(protocol_key), protocol_key,
           fmt::format("h2 is HTTP/2 over TLS: set backends.{}.tls.enabled: true, or use h2c for "
                       "cleartext",
                       name(color)));
    } else if (protocol == UpstreamProtocol::h2c && tls.enabled) {
      fail(position_for(protocol_key), protocol_key,
           "h2c is HTTP/2 in cleartext: over TLS (tls.enabled) use h2");
    }
    const auto path = fmt::format("backends.{}.tls.ca", name(color));
    if (!tls.enabled || tls.ca.empty() || has_error_under(path)) continue;
    const auto loaded = load_ca_file(tls.ca);
    if (!loaded.ok()) fail(position_for(path), path, loaded.problem.message);
  }
}

// Each check type has its own key: one set for the other type is a mistake, not a no-op.
void Loader::check_health_check_type(const HealthCheckConfig& health_check) {
  if (has_error_under("backends.health_check")) return;
  const bool grpc = health_check.type == HealthCheckType::grpc;
  if (grpc && !health_check.path.empty()) {
    fail(position_for("backends.health_check.path"), "backends.health_check.path",
         "not used with type: grpc (a gRPC check calls grpc.health.v1.Health/Check): remove it, "
         "or name the service in grpc_service");
  }
  if (!grpc && !health_check.grpc_service.empty()) {
    fail(position_for("backends.health_check.grpc_service"), "backends.health_check.grpc_service",
         "only used with type: grpc: set type: grpc, or remove it");
  }
}

// Read here like backends.<color>.tls.ca, so that a CA file that cannot be trusted refuses the
// start or the reload rather than failing every delivery later.
void Loader::check_webhook_ca(const NotifyConfig& notify) {
  if (notify.webhook_ca.empty() || notify.webhook.empty() || has_error_under("notify")) return;
  if (!notify.webhook.starts_with("https://")) {
    fail(position_for("notify.webhook_ca"), "notify.webhook_ca",
         "only used with an https:// notify.webhook");
    return;
  }
  const auto loaded = load_ca_file(notify.webhook_ca);
  if (!loaded.ok()) {
    fail(position_for("notify.webhook_ca"), "notify.webhook_ca", loaded.problem.message);
  }
}

void Loader::resolve_admin_token(AdminConfig& admin) {
  if (has_error_under("admin")) return;
  if (!admin.token_file.empty() && !read_token_file(admin)) return;
  if (admin.token.empty() && !is_loopback(admin.listen)) {
    fail(position_for("admin.token"), "admin.token",
         "a token is required when admin.listen is not a loopback address");
  }
}

bool Loader::read_token_file(AdminConfig& admin) {
  const auto why = [&]() -> std::string {
    if (!admin.token.empty()) return "admin.token and admin.token_file are mutually exclusive";
    const auto content = read_whole_file(admin.token_file);
    if (!content.value) {
      return fmt::format("cannot read token file '{}': {}", admin.token_file, content.error);
    }
    const auto end = content.value->find_last_not_of(" \t\r\n");  // editors add a newline
    if (end == std::string::npos) return fmt::format("token file '{}' is empty", admin.token_file);
    admin.token = content.value->substr(0, end + 1);
    return {};
  }();
  if (!why.empty()) fail(position_for("admin.token_file"), "admin.token_file", why);
  return why.empty();
}

}  // namespace

unsigned Config::worker_count() const {
  if (workers != 0) return workers;
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0) out += fmt::format(":{}:{}", line, column);
  out += ": ";
  if (!key_path.empty()) out += key_path + ": ";
  return out + message;
}

ConfigResult load_config_string(std::string_view yaml, std::string_view source_name) {
  return Loader(source_name).load(yaml);
}

ConfigResult load_config_file(const std::string& path) {
  const auto text = read_whole_file(path);
  if (!text.value) {
    return {std::nullopt, {{path, 0, 0, "", fmt::format("cannot read file: {}", text.error)}}};
  }
  return load_config_string(*text.value, path);
}

}  // namespace bgp
