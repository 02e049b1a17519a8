// The persisted rollout state: round trips, atomic writes, and refusing a bad file loudly.
#include "controller/state_store.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace bgp {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::AllOf;
using ::testing::HasSubstr;

const TimePoint t0 = *parse_time("2026-11-22T10:00:00Z");

// A fresh directory per test, removed afterwards.
class StateStore : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("bgproxy-state-" + std::to_string(::getpid()) + "-" + test->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& file = "state.json") const { return (dir_ / file).string(); }
  void write(const std::string& text) const { std::ofstream(path()) << text; }

  // The message load_state throws for the file's current contents.
  std::string load_error() const {
    try {
      load_state(path());
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    ADD_FAILURE() << "load_state accepted the file";
    return {};
  }

  // A valid file's JSON with one member replaced.
  void write_with(std::string_view key, boost::json::value value) const {
    boost::json::value json = state_to_json(rich_state());
    json.as_object()[key] = std::move(value);
    write(boost::json::serialize(json));
  }

  static RolloutState rich_state() {
    RolloutState s = initial_state(Color::green);
    s.phase = Phase::paused;
    s.weights.set(Color::blue, 50);
    s.steps = {{50, 1min}, {2500, {}}, {10000, 90s}};
    s.step_duration = 30s;
    s.step = 1;
    s.step_started_at = t0 + 1234ms;
    s.paused_at = t0 + 5min;
    s.consecutive_breaches = 2;
    s.held = true;
    s.step_window.of(Color::blue).requests = 40;
    s.step_window.of(Color::blue).errors = 1;
    s.step_window.of(Color::blue).latency.record(38'125);
    s.evidence_window.of(Color::green).requests = 3;
    for (std::uint64_t micros : {17u, 4'000u, 4'000u}) {
      s.evidence_window.of(Color::green).latency.record(micros);
    }
    s.last_check_at = t0 + 6min;
    s.watch_until = t0 + 30min;
    s.judge_looks = 7;
    s.retained = Retained{Color::blue, t0 + 24h};
    s.promotions = 7;
    s.rollbacks = {1, 2, 3, 4, 5};
    s.last_rollback = LastRollback{t0 - 1h, RollbackReason::p99_increase, "green p99 \"slow\""};
    s.history = {{t0, EventKind::start, 0, s.weights, "rollout started"},
                 {t0 + 1ms, EventKind::weights, std::nullopt, Weights::all_to(Color::blue), ""}};
    return s;
  }

  fs::path dir_;
};

TEST_F(StateStore, EverythingRoundTrips) {
  const RolloutState s = rich_state();
  save_state(path(), s);
  const std::optional<RolloutState> loaded = load_state(path());
  ASSERT_TRUE(loaded);
  EXPECT_EQ(*loaded, s);
}

TEST_F(StateStore, AnErrorCountAheadOfItsRequestsIsClampedNotRefused) {
  // A reading may catch a request's error a moment before the request itself.
  boost::json::value json = state_to_json(rich_state());
  json.as_object()["step_window"].as_object()["green"] =
      boost::json::object{{"requests", 0}, {"errors", 1}, {"latency", boost::json::array{}}};
  write(boost::json::serialize(json));
  const auto loaded = load_state(path());
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->step_window.of(Color::green).errors, 0u);
}

TEST_F(StateStore, InitialStateRoundTrips) {
  save_state(path(), initial_state(Color::blue));
  EXPECT_EQ(load_state(path()), initial_state(Color::blue));
}

TEST_F(StateStore, MissingFileIsNoState) {
  EXPECT_EQ(load_state(path()), std::nullopt);
}

TEST_F(StateStore, OverwritesAtomicallyLeavingNoTemporaryFiles) {
  save_state(path(), initial_state(Color::blue));
  RolloutState second = rich_state();
  save_state(path(), second);
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    files.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(files, std::vector<std::string>{"state.json"});
  EXPECT_EQ(load_state(path()), second);
}

TEST_F(StateStore, SaveFailureNamesTheFile) {
  const std::string missing_dir = (dir_ / "no-such-dir" / "state.json").string();
  try {
    save_state(missing_dir, initial_state(Color::blue));
    FAIL() << "saved into a missing directory";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(missing_dir));
  }
}

TEST_F(StateStore, CorruptJsonNamesTheFileAndThePlace) {
  write("{\"version\": 1,\n \"phase\": stable}");
  EXPECT_THAT(load_error(), AllOf(HasSubstr(path()), HasSubstr("invalid JSON at line 2")));
  write("");
  EXPECT_THAT(load_error(), AllOf(HasSubstr(path()), HasSubstr("invalid JSON")));
  write("{} {}");
  EXPECT_THAT(load_error(), HasSubstr("invalid JSON"));
}

TEST_F(StateStore, WrongTypesNameTheKey) {
  write("[]");
  EXPECT_THAT(load_error(), AllOf(HasSubstr(path()), HasSubstr("expected an object")));
  write_with("phase", 3);
  EXPECT_THAT(load_error(), AllOf(HasSubstr(path()), HasSubstr("phase: expected a string")));
  write_with("phase", "sideways");
  EXPECT_THAT(load_error(), HasSubstr("phase: unknown value \"sideways\""));
  write_with("promotions", -1);
  EXPECT_THAT(load_error(), HasSubstr("promotions: expected a non-negative integer"));
  write_with("step_started_at", "yesterday");
  EXPECT_THAT(load_error(), HasSubstr("step_started_at: expected an RFC 3339"));
  write_with("weights_bp", boost::json::object{{"blue", 5000}, {"green", 4000}});
  EXPECT_THAT(load_error(), HasSubstr("weights_bp: the weights must sum"));
  write_with("history", boost::json::array{boost::json::object{{"at", "x"}}});
  EXPECT_THAT(load_error(), HasSubstr("history[0].at"));
  write_with("version", 2);
  EXPECT_THAT(load_error(), HasSubstr("version: unsupported version 2"));
}

TEST_F(StateStore, MissingKeysAndInconsistentStatesAreRefused) {
  boost::json::value json = state_to_json(rich_state());
  json.as_object().erase("live");
  write(boost::json::serialize(json));
  EXPECT_THAT(load_error(), HasSubstr("live: missing"));

  write_with("step", 3);
  EXPECT_THAT(load_error(), HasSubstr("step: 3 is beyond the 3 steps"));
  json = state_to_json(rich_state());
  json.as_object()["phase"] = "progressing";
  json.as_object()["step"] = nullptr;
  write(boost::json::serialize(json));
  EXPECT_THAT(load_error(), HasSubstr("step: must be set when the phase is progressing"));
  write_with("steps", boost::json::array{boost::json::object{{"weight_bp", 5000}}});
  EXPECT_THAT(load_error(), HasSubstr("steps: the last step must be 100%"));
}

}  // namespace
}  // namespace bgp
