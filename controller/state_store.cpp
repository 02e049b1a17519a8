#include "controller/state_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <boost/json.hpp>

namespace bgp {
namespace {

namespace json = boost::json;
constexpr std::int64_t kFormatVersion = 1;
constexpr std::uint64_t kMaxDurationMs = 1'000'000'000'000;  // ~31 years: anything above is corrupt

// --- writing ---

json::value optional_time(const std::optional<TimePoint>& t) {
  return t ? json::value(format_time(*t)) : json::value(nullptr);
}

json::value optional_index(const std::optional<std::size_t>& i) {
  return i ? json::value(static_cast<std::uint64_t>(*i)) : json::value(nullptr);
}

json::object weights_json(const Weights& w) {
  return {{"blue", w.of(Color::blue)}, {"green", w.of(Color::green)}};
}

json::array steps_json(const std::vector<RolloutStep>& steps) {
  json::array out;
  for (const RolloutStep& step : steps) {
    out.push_back(json::object{{"weight_bp", step.weight_bp},
                               {"duration_ms", step.duration ? json::value(step.duration->count())
                                                             : json::value(nullptr)}});
  }
  return out;
}

json::object rollbacks_json(const std::array<std::uint64_t, kRollbackReasons>& counts) {
  json::object out;
  for (std::size_t i = 0; i < kRollbackReasons; ++i) {
    out[name(static_cast<RollbackReason>(i))] = counts[i];
  }
  return out;
}

json::array history_json(const std::vector<HistoryEvent>& history) {
  json::array out;
  for (const HistoryEvent& e : history) {
    out.push_back(json::object{{"at", format_time(e.at)},
                               {"event", name(e.event)},
                               {"step", optional_index(e.step)},
                               {"weights_bp", weights_json(e.weights)},
                               {"detail", e.detail}});
  }
  return out;
}

// A window: per color its counts and the non-empty latency buckets as [bucket, count] pairs.
json::object samples_json_of(const ColorSamples& samples) {
  json::object out;
  for (Color c : kColors) {
    const Sample& sample = samples.of(c);
    json::array buckets;
    for (std::size_t b = 0; b < HistogramLayout::kBuckets; ++b) {
      if (const auto n = sample.latency.bucket_count(b)) buckets.push_back(json::array{b, n});
    }
    out[name(c)] = json::object{
        {"requests", sample.requests}, {"errors", sample.errors}, {"latency", std::move(buckets)}};
  }
  return out;
}

// --- reading: every accessor names the key path of what is wrong ---

class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(std::string_view path, std::string_view problem) const {
    fail(fmt::format("{}: {}", path, problem));
  }
  [[noreturn]] void fail(std::string_view problem) const {
    throw std::runtime_error(fmt::format("state file {}: {}", source_, problem));
  }

  const json::object& object(const json::value& v, std::string_view path) const {
    if (!v.is_object()) fail(path, "expected an object");
    return v.get_object();
  }
  const json::array& array(const json::value& v, std::string_view path) const {
    if (!v.is_array()) fail(path, "expected an array");
    return v.get_array();
  }
  const json::value& field(const json::object& o, std::string_view key,
                           const std::string& path) const {
    const json::value* v = o.if_contains(key);
    if (!v) fail(path, "missing");
    return *v;
  }
  // nullptr when absent or null.
  const json::value* nullable(const json::object& o, std::string_view key) const {
    const json::value* v = o.if_contains(key);
    return v && !v->is_null() ? v : nullptr;
  }
  std::uint64_t unsigned_int(const json::value& v, std::string_view path) const {
    if (v.is_uint64()) return v.get_uint64();
    if (v.is_int64() && v.get_int64() >= 0) return static_cast<std::uint64_t>(v.get_int64());
    fail(path, "expected a non-negative integer");
  }
  std::uint64_t at_most(const json::value& v, std::uint64_t limit, std::string_view path) const {
    const std::uint64_t n = unsigned_int(v, path);
    if (n > limit) fail(path, fmt::format("{} is above {}", n, limit));
    return n;
  }
  double number(const json::value& v, std::string_view path) const {
    if (!v.is_number()) fail(path, "expected a number");
    return v.to_number<double>();
  }
  bool boolean(const json::value& v, std::string_view path) const {
    if (!v.is_bool()) fail(path, "expected true or false");
    return v.get_bool();
  }
  std::string_view string(const json::value& v, std::string_view path) const {
    if (!v.is_string()) fail(path, "expected a string");
    return v.get_string();
  }
  TimePoint time(const json::value& v, std::string_view path) const {
    const auto t = parse_time(string(v, path));
    if (!t) fail(path, "expected an RFC 3339 UTC time like 2026-11-22T10:00:00Z");
    return *t;
  }
  template <typename T, typename Parse>
  T one_of(const json::value& v, Parse parse, std::string_view path) const {
    const std::string_view text = string(v, path);
    const std::optional<T> value = parse(text);
    if (!value) fail(path, fmt::format("unknown value \"{}\"", text));
    return *value;
  }
  Color color(const json::value& v, std::string_view path) const {
    return one_of<Color>(v, parse_color, path);
  }
  Weights weights(const json::value& v, const std::string& path) const {
    const json::object& o = object(v, path);
    Weights w;
    for (Color c : kColors) {
      const std::string key{name(c)};
      w.bp[index(c)] = static_cast<std::uint32_t>(
          at_most(field(o, key, path + "." + key), kFullWeight, path + "." + key));
    }
    if (w.bp[0] + w.bp[1] != kFullWeight) fail(path, "the weights must sum to 10000 basis points");
    return w;
  }

 private:
  std::string_view source_;
};

std::vector<RolloutStep> read_steps(const Reader& r, const json::value& v) {
  std::vector<RolloutStep> steps;
  const json::array& items = r.array(v, "steps");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string path = fmt::format("steps[{}]", i);
    const json::object& o = r.object(items[i], path);
    RolloutStep step;
    step.weight_bp = static_cast<std::uint32_t>(
        r.at_most(r.field(o, "weight_bp", path + ".weight_bp"), kFullWeight, path + ".weight_bp"));
    if (const json::value* d = r.nullable(o, "duration_ms")) {
      step.duration = Duration{r.at_most(*d, kMaxDurationMs, path + ".duration_ms")};
    }
    steps.push_back(step);
  }
  return steps;
}

std::optional<Retained> read_retained(const Reader& r, const json::object& root) {
  const json::value* v = r.nullable(root, "retained");
  if (!v) return std::nullopt;
  const json::object& o = r.object(*v, "retained");
  return Retained{r.color(r.field(o, "color", "retained.color"), "retained.color"),
                  r.time(r.field(o, "until", "retained.until"), "retained.until")};
}

std::optional<LastRollback> read_last_rollback(const Reader& r, const json::object& root) {
  const json::value* v = r.nullable(root, "last_rollback");
  if (!v) return std::nullopt;
  const json::object& o = r.object(*v, "last_rollback");
  return LastRollback{
      r.time(r.field(o, "at", "last_rollback.at"), "last_rollback.at"),
      r.one_of<RollbackReason>(r.field(o, "reason", "last_rollback.reason"), parse_rollback_reason,
                               "last_rollback.reason"),
      std::string(r.string(r.field(o, "detail", "last_rollback.detail"), "last_rollback.detail"))};
}

std::array<std::uint64_t, kRollbackReasons> read_rollbacks(const Reader& r,
                                                           const json::object& root) {
  std::array<std::uint64_t, kRollbackReasons> counts{};
  const json::object& o = r.object(r.field(root, "rollbacks", "rollbacks"), "rollbacks");
  for (std::size_t i = 0; i < kRollbackReasons; ++i) {
    const std::string key{name(static_cast<RollbackReason>(i))};
    if (const json::value* v = r.nullable(o, key))
      counts[i] = r.unsigned_int(*v, "rollbacks." + key);
  }
  return counts;
}

std::vector<HistoryEvent> read_history(const Reader& r, const json::object& root) {
  std::vector<HistoryEvent> history;
  const json::array& items = r.array(r.field(root, "history", "history"), "history");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string path = fmt::format("history[{}]", i);
    const json::object& o = r.object(items[i], path);
    HistoryEvent e;
    e.at = r.time(r.field(o, "at", path + ".at"), path + ".at");
    e.event = r.one_of<EventKind>(r.field(o, "event", path + ".event"), parse_event_kind,
                                  path + ".event");
    if (const json::value* step = r.nullable(o, "step")) {
      e.step = r.unsigned_int(*step, path + ".step");
    }
    e.weights = r.weights(r.field(o, "weights_bp", path + ".weights_bp"), path + ".weights_bp");
    e.detail = r.string(r.field(o, "detail", path + ".detail"), path + ".detail");
    history.push_back(std::move(e));
  }
  if (history.size() > kHistoryLimit) {
    history.erase(history.begin(),
                  history.begin() + static_cast<std::ptrdiff_t>(history.size() - kHistoryLimit));
  }
  return history;
}

// A window written by samples_json_of, at `path`.
ColorSamples read_samples_at(const Reader& r, const json::value& v, std::string_view key) {
  ColorSamples samples;
  const json::object& o = r.object(v, key);
  for (Color c : kColors) {
    const std::string path = fmt::format("{}.{}", key, name(c));
    const json::value* color = o.if_contains(name(c));
    if (!color) continue;
    const json::object& w = r.object(*color, path);
    Sample& sample = samples.of(c);
    sample.requests =
        r.unsigned_int(r.field(w, "requests", path + ".requests"), path + ".requests");
    sample.errors = r.unsigned_int(r.field(w, "errors", path + ".errors"), path + ".errors");
    const json::array& buckets =
        r.array(r.field(w, "latency", path + ".latency"), path + ".latency");
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      const std::string item = fmt::format("{}.latency[{}]", path, i);
      const json::array& pair = r.array(buckets[i], item);
      if (pair.size() != 2) r.fail(item, "expected [bucket, count]");
      const auto bucket = r.at_most(pair[0], HistogramLayout::kBuckets - 1, item);
      sample.latency.add_to_bucket(bucket, r.unsigned_int(pair[1], item));
    }
    // A reading may catch a request's error a moment before the request itself: never refuse a
    // file for that.
    sample.errors = std::min(sample.errors, sample.requests);
  }
  return samples;
}

// A window of the state; absent (a file from before the judge kept windows) is empty.
ColorSamples read_samples(const Reader& r, const json::object& root, std::string_view key) {
  const json::value* v = r.nullable(root, key);
  return v ? read_samples_at(r, *v, key) : ColorSamples{};
}

// The rules the transitions keep, so that a hand-edited file cannot confuse the controller.
void check_consistency(const Reader& r, const RolloutState& s) {
  if (!s.steps.empty()) {
    if (auto problem = validate_steps(s.steps)) r.fail(*problem);  // names the step itself
  }
  if (s.step_duration.count() <= 0) r.fail("step_duration_ms", "must be positive");
  // A progressing rollout has a step; a paused one may not (a hand-set split); others have none.
  const bool step_needed = s.phase == Phase::progressing;
  if ((step_needed && !s.step) || (!s.running() && s.step)) {
    r.fail("step",
           fmt::format("must be {} when the phase is {}", s.step ? "null" : "set", name(s.phase)));
  }
  if (s.step && *s.step >= s.steps.size()) {
    r.fail("step", fmt::format("{} is beyond the {} steps", *s.step, s.steps.size()));
  }
}

// --- files ---

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int close() noexcept { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

// Removes the temporary file unless the rename made it the state file.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!committed_) ::unlink(path_.c_str());
  }
  void committed() noexcept { committed_ = true; }

 private:
  std::string path_;
  bool committed_ = false;
};

[[noreturn]] void fail_write(const std::string& path, std::string_view what) {
  throw std::runtime_error(
      fmt::format("cannot write state file {}: {}: {}", path, what, std::strerror(errno)));
}

void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_write(path, "write");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void sync_directory(const std::string& directory, const std::string& path) {
  FileDescriptor dir{::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!dir.valid() || ::fsync(dir.get()) != 0) fail_write(path, "fsync of " + directory);
}

// "line 3, column 7" of a byte offset.
std::string position(std::string_view text, std::size_t offset) {
  const std::string_view before = text.substr(0, std::min(offset, text.size()));
  const std::size_t line =
      1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
  const std::size_t line_start = before.rfind('\n');
  const std::size_t column =
      before.size() - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1;
  return fmt::format("line {}, column {}", line, column);
}

json::value parse_json(std::string_view text, std::string_view source) {
  json::stream_parser parser;
  boost::system::error_code ec;
  const std::size_t consumed = parser.write_some(text.data(), text.size(), ec);
  if (!ec && consumed < text.size()) {
    ec = json::error::extra_data;
  }
  if (!ec) parser.finish(ec);
  if (ec) {
    throw std::runtime_error(fmt::format("state file {}: invalid JSON at {}: {}", source,
                                         position(text, consumed), ec.message()));
  }
  return parser.release();
}

}  // namespace

json::object samples_to_json(const ColorSamples& samples) {
  return samples_json_of(samples);
}

ColorSamples samples_from_json(const json::value& json, std::string_view source) {
  return read_samples_at(Reader(source), json, "samples");
}

json::value state_to_json(const RolloutState& s) {
  return json::object{
      {"version", kFormatVersion},
      {"phase", name(s.phase)},
      {"live", name(s.live)},
      {"weights_bp", weights_json(s.weights)},
      {"steps", steps_json(s.steps)},
      {"step_duration_ms", s.step_duration.count()},
      {"step", optional_index(s.step)},
      {"step_started_at", format_time(s.step_started_at)},
      {"paused_at", optional_time(s.paused_at)},
      {"consecutive_breaches", s.consecutive_breaches},
      {"held", s.held},
      {"step_window", samples_json_of(s.step_window)},
      {"evidence_window", samples_json_of(s.evidence_window)},
      {"last_check_at", optional_time(s.last_check_at)},
      {"watch_until", optional_time(s.watch_until)},
      {"judge_looks", s.judge_looks},
      {"retained", s.retained ? json::value(json::object{{"color", name(s.retained->color)},
                                                         {"until", format_time(s.retained->until)}})
                              : json::value(nullptr)},
      {"promotions", s.promotions},
      {"rollbacks", rollbacks_json(s.rollbacks)},
      {"last_rollback", s.last_rollback
                            ? json::value(json::object{{"at", format_time(s.last_rollback->at)},
                                                       {"reason", name(s.last_rollback->reason)},
                                                       {"detail", s.last_rollback->detail}})
                            : json::value(nullptr)},
      {"history", history_json(s.history)},
  };
}

RolloutState state_from_json(const json::value& v, std::string_view source) {
  const Reader r(source);
  const json::object& root = r.object(v, "(top level)");
  const std::uint64_t version = r.unsigned_int(r.field(root, "version", "version"), "version");
  if (version != kFormatVersion) r.fail("version", fmt::format("unsupported version {}", version));

  RolloutState s;
  s.phase = r.one_of<Phase>(r.field(root, "phase", "phase"), parse_phase, "phase");
  s.live = r.color(r.field(root, "live", "live"), "live");
  s.weights = r.weights(r.field(root, "weights_bp", "weights_bp"), "weights_bp");
  s.steps = read_steps(r, r.field(root, "steps", "steps"));
  s.step_duration = Duration{r.at_most(r.field(root, "step_duration_ms", "step_duration_ms"),
                                       kMaxDurationMs, "step_duration_ms")};
  if (const json::value* step = r.nullable(root, "step")) s.step = r.unsigned_int(*step, "step");
  s.step_started_at =
      r.time(r.field(root, "step_started_at", "step_started_at"), "step_started_at");
  if (const json::value* t = r.nullable(root, "paused_at")) s.paused_at = r.time(*t, "paused_at");
  s.consecutive_breaches =
      static_cast<int>(r.at_most(r.field(root, "consecutive_breaches", "consecutive_breaches"),
                                 1'000'000, "consecutive_breaches"));
  s.held = r.boolean(r.field(root, "held", "held"), "held");
  s.step_window = read_samples(r, root, "step_window");
  s.evidence_window = read_samples(r, root, "evidence_window");
  if (const json::value* t = r.nullable(root, "last_check_at")) {
    s.last_check_at = r.time(*t, "last_check_at");
  }
  if (const json::value* t = r.nullable(root, "watch_until")) {
    s.watch_until = r.time(*t, "watch_until");
  }
  if (const json::value* looks = r.nullable(root, "judge_looks")) {
    s.judge_looks = static_cast<std::uint32_t>(r.at_most(*looks, 1000, "judge_looks"));
  }
  s.retained = read_retained(r, root);
  s.promotions = r.unsigned_int(r.field(root, "promotions", "promotions"), "promotions");
  s.rollbacks = read_rollbacks(r, root);
  s.last_rollback = read_last_rollback(r, root);
  s.history = read_history(r, root);
  check_consistency(r, s);
  return s;
}

StateFileLock::StateFileLock(const std::string& state_path) {
  const std::string lock_path = state_path + ".lock";
  fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::runtime_error(fmt::format("state file {}: cannot create the lock file {}: {}",
                                         state_path, lock_path, std::strerror(errno)));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::runtime_error(
        error == EWOULDBLOCK
            ? fmt::format("state file {} is in use by another bgproxy process (it holds {})",
                          state_path, lock_path)
            : fmt::format("state file {}: cannot lock {}: {}", state_path, lock_path,
                          std::strerror(error)));
  }
  const std::string directory = std::filesystem::path(state_path).parent_path().string();
  if (::access(directory.empty() ? "." : directory.c_str(), W_OK) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::runtime_error(fmt::format("state file {}: directory {} cannot be written: {}",
                                         state_path, directory.empty() ? "." : directory,
                                         std::strerror(error)));
  }
}

StateFileLock::~StateFileLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

void save_state(const std::string& path, const RolloutState& state) {
  const std::string text = json::serialize(state_to_json(state)) + '\n';
  const std::filesystem::path target(path);
  const std::string directory =
      target.has_parent_path() ? target.parent_path().string() : std::string(".");
  std::string temp =
      (std::filesystem::path(directory) / ("." + target.filename().string() + ".tmp.XXXXXX"))
          .string();
  FileDescriptor file{::mkstemp(temp.data())};
  if (!file.valid()) fail_write(path, "cannot create a temporary file in " + directory);
  TempFile guard(temp);
  write_all(file.get(), text, path);
  if (::fsync(file.get()) != 0) fail_write(path, "fsync");
  if (file.close() != 0) fail_write(path, "close");
  if (::rename(temp.c_str(), path.c_str()) != 0) fail_write(path, "rename");
  guard.committed();
  sync_directory(directory, path);
}

std::optional<RolloutState> load_state(const std::string& path) {
  std::error_code ec;
  const auto type = std::filesystem::status(path, ec).type();
  if (type == std::filesystem::file_type::not_found) return std::nullopt;
  if (type == std::filesystem::file_type::directory) {
    throw std::runtime_error(fmt::format("state file {}: is a directory", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(
        fmt::format("state file {}: cannot open: {}", path, std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) throw std::runtime_error(fmt::format("state file {}: cannot read", path));
  return state_from_json(parse_json(contents.str(), path), path);
}

}  // namespace bgp
