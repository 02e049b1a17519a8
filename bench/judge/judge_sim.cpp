// The judge's false-rollback rate and detection times over simulated rollouts (docs/judge.md):
//   build/bench/judge_sim [--healthy N] [--bad N] [--seed S] [--fast-only]
// prints a Markdown table: per setting and scenario, how many rollouts rolled back and when.
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "bench/judge/rollout_sim.h"

namespace {

using namespace bgp;
using namespace bgp::sim;

struct Scenario {
  const char* name;
  Traffic candidate;
};

std::vector<Scenario> scenarios() {
  const Traffic healthy;
  auto with = [&](auto change) {
    Traffic t = healthy;
    change(t);
    return t;
  };
  return {
      {"healthy (both 0.5% errors, 0.3 ms + Exp(4 ms))", healthy},
      {"healthy at the limit: 2% errors", with([](Traffic& t) { t.error_rate = 0.02; })},
      {"5% errors", with([](Traffic& t) { t.error_rate = 0.05; })},
      {"10% errors", with([](Traffic& t) { t.error_rate = 0.10; })},
      {"latency x2", with([](Traffic& t) { t.factor = 2; })},
      {"latency +50 ms", with([](Traffic& t) { t.add_ms = 50; })},
      {"5% of requests at 2.5 s", with([](Traffic& t) { t.slow_share = 0.05; })},
  };
}

std::string seconds(std::optional<double> s) {
  return s ? fmt::format("{:g} s", *s) : "-";
}

}  // namespace

int main(int argc, char** argv) {
  int healthy_runs = 2000, bad_runs = 500;
  std::uint64_t seed = 1;
  bool fast_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--healthy" && i + 1 < argc) {
      healthy_runs = std::atoi(argv[++i]);
    } else if (arg == "--bad" && i + 1 < argc) {
      bad_runs = std::atoi(argv[++i]);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--fast-only") {
      fast_only = true;
    } else {
      fmt::print(stderr, "usage: judge_sim [--healthy N] [--bad N] [--seed S] [--fast-only]\n");
      return 2;
    }
  }
  std::vector<Setting> settings{fast_setting()};
  if (!fast_only) {
    settings.push_back(defaults_setting(50));
    settings.push_back(defaults_setting(1000));
  }
  const Traffic live;
  fmt::print("| setting | candidate | rollouts | rolled back | median | p90 |\n");
  fmt::print("| --- | --- | ---: | ---: | ---: | ---: |\n");
  for (const Setting& setting : settings) {
    for (const Scenario& scenario : scenarios()) {
      const bool healthy = std::string_view(scenario.name).starts_with("healthy");
      const int runs = healthy ? healthy_runs : bad_runs;
      const auto outcomes = run_rollouts(setting, live, scenario.candidate, runs, seed);
      const int back = rolled_back(outcomes);
      fmt::print("| {} | {} | {} | {} ({:.1f}%) | {} | {} |\n", setting.name, scenario.name, runs,
                 back, 100.0 * back / runs, seconds(detection_quantile(outcomes, 0.5)),
                 seconds(detection_quantile(outcomes, 0.9)));
      std::fflush(stdout);
    }
  }
}
