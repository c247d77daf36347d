#define BOOST_TEST_MODULE cost_model
#include "services/analysis/cost_model.h"

#include <boost/test/unit_test.hpp>

#include "common/spec/spec.h"

using namespace tcobench;
namespace tt = boost::test_tools;

namespace {

v1::VariantResult* Add(v1::ComparisonResult* r, const char* name, double tps, double kld, double ppl) {
  v1::VariantResult* v = r->add_results();
  v->set_variant(name);
  v->set_hardware("cpu");
  v->set_prompt_tokens(64);
  v->set_output_tokens(32);
  v->mutable_throughput()->set_output_tokens_per_second(tps);
  v->mutable_throughput()->set_prefill_tokens_per_second(10 * tps);
  v->mutable_energy()->set_source("rapl");
  v->mutable_energy()->set_joules_per_token(20 / tps);
  v->mutable_energy()->set_average_watts(20);
  v->mutable_latency()->mutable_ttft_seconds()->set_p99(0.2);
  v->mutable_latency()->mutable_tpot_seconds()->set_p99(1 / tps);
  v->mutable_accuracy()->mutable_perplexity()->set_ppl(ppl);
  if (std::string(name) != "f16") {
    v->mutable_accuracy()->mutable_kld()->set_applicable(true);
    v->mutable_accuracy()->mutable_kld()->set_scored_tokens(1000);
    v->mutable_accuracy()->mutable_kld()->set_mean_kld(kld);
  }
  return v;
}

v1::ComparisonResult Example() {
  v1::ComparisonResult r;
  r.mutable_spec()->set_baseline("f16");
  Add(&r, "f16", 10, 0, 5.00);
  Add(&r, "q8_0", 15, 0.001, 5.05);
  Add(&r, "q4_k_m", 25, 0.02, 5.40);  // PPL ratio 1.08: beyond the default floor
  Add(&r, "q5", 12, 0.03, 5.10);      // dearer than q8_0 and less accurate
  return r;
}

v1::Cost ExampleCost() {
  auto c = ParseCostJson(R"({
    "energyUsdPerKwh": 0.2, "pue": 1.5, "gridGramsCo2PerKwh": 300,
    "hardware": {"cpu": {"usdPerHour": 0.5, "utilization": 0.5}},
    "load": {"tokensPerDay": 864000}})");
  BOOST_REQUIRE(c.ok());
  return *c;
}

}  // namespace

BOOST_AUTO_TEST_CASE(formulas_by_hand) {
  const v1::Cost cost = ExampleCost();
  auto rep = ComputeCostReport(Example(), &cost);
  BOOST_REQUIRE(rep.ok());
  const v1::VariantCost& f16 = rep->rows(0);
  // Hardware: $0.50 / (10 tok/s x 0.5 x 3600 s) per token.
  BOOST_TEST(f16.hardware_usd_per_million_output_tokens() == 0.5 / 18000 * 1e6, tt::tolerance(1e-9));
  // Energy: 2 J/token x 1.5 PUE at $0.2 per 3.6e6 J.
  BOOST_TEST(f16.energy_usd_per_million_output_tokens() == 2 * 1.5 * 0.2 / 3.6e6 * 1e6, tt::tolerance(1e-9));
  BOOST_TEST(f16.usd_per_million_output_tokens() ==
                 f16.hardware_usd_per_million_output_tokens() + f16.energy_usd_per_million_output_tokens(),
             tt::tolerance(1e-12));
  // Input: the prefill's time (100 tok/s) at the hourly price over utilization, plus 20 W.
  BOOST_TEST(f16.usd_per_million_input_tokens() == (0.5 / 0.5 / 3600 + 20 * 1.5 * 0.2 / 3.6e6) / 100 * 1e6,
             tt::tolerance(1e-9));
  BOOST_TEST(f16.wh_per_thousand_tokens() == 2 * 1.5 * 1000 / 3600, tt::tolerance(1e-9));
  BOOST_TEST(f16.grams_co2_per_million_tokens() == 2 * 1.5 * 1e6 / 3.6e6 * 300, tt::tolerance(1e-9));
  // The load: 10 output tokens/s; one instance gives 10 x 0.5 -> 2 instances.
  BOOST_TEST(f16.instances() == 2);
  BOOST_TEST(f16.monthly_hardware_usd() == 2 * 0.5 * 730, tt::tolerance(1e-9));
  BOOST_TEST(f16.monthly_kwh() == 10.0 * 730 * 3600 * 2 * 1.5 / 3.6e6, tt::tolerance(1e-9));
  BOOST_TEST(f16.monthly_energy_usd() == f16.monthly_kwh() * 0.2, tt::tolerance(1e-9));
  BOOST_TEST(f16.price_source() == "spec: rented");
}

BOOST_AUTO_TEST_CASE(owned_hardware_uses_the_capital_recovery_factor) {
  BOOST_TEST(CapitalRecoveryFactor(0, 4) == 0.25);
  // i (1+i)^n / ((1+i)^n - 1) at 5% over 4 years.
  BOOST_TEST(CapitalRecoveryFactor(0.05, 4) == 0.05 * 1.21550625 / 0.21550625, tt::tolerance(1e-12));
  v1::Cost::HardwarePrice p;
  p.set_purchase_usd(10000);
  p.set_residual_usd(1000);
  p.set_annual_interest_rate(0.05);
  p.set_lifetime_years(4);
  BOOST_TEST(HourlyPrice(p) == (9000 * CapitalRecoveryFactor(0.05, 4) + 1000 * 0.05) / 8760, tt::tolerance(1e-12));
  p.set_lifetime_years(0);  // the default, 4 years
  BOOST_TEST(HourlyPrice(p) == (9000 * CapitalRecoveryFactor(0.05, 4) + 1000 * 0.05) / 8760, tt::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(recommendation_floor_slo_and_pareto) {
  v1::Cost cost = ExampleCost();
  v1::ComparisonResult r = Example();
  auto rep = ComputeCostReport(r, &cost);
  BOOST_REQUIRE(rep.ok());
  // q4_k_m is cheapest but beyond the default PPL floor; q8_0 is next.
  BOOST_TEST(rep->rows(2).meets_accuracy() == false);
  BOOST_TEST(rep->rows(2).why(0).find("PPL ratio 1.0800 > floor 1.0500") != std::string::npos);
  BOOST_TEST(rep->recommended_variant() == "q8_0");
  BOOST_TEST(rep->recommendation().find("Serve q8_0 on cpu") != std::string::npos);
  BOOST_TEST(rep->recommendation().find("baseline f16") != std::string::npos);
  // The front: accuracy (1 - mean KLD) against $ per million output tokens.
  BOOST_TEST(rep->pareto_metric() == "mean_kld");
  BOOST_TEST(rep->rows(0).on_pareto_front());
  BOOST_TEST(rep->rows(1).on_pareto_front());
  BOOST_TEST(rep->rows(2).on_pareto_front());
  BOOST_TEST(!rep->rows(3).on_pareto_front());
  // A KLD floor the user sets (q5, KLD 0.03, fails it) and an SLO q8_0
  // misses: f16 is recommended.
  cost.mutable_accuracy_floor()->set_max_mean_kld(0.01);
  cost.mutable_slo()->set_tpot_p99_seconds(0.105);
  r.mutable_results(1)->mutable_latency()->mutable_tpot_seconds()->set_p99(0.11);
  rep = ComputeCostReport(r, &cost);
  BOOST_REQUIRE(rep.ok());
  BOOST_TEST(!rep->rows(1).meets_slo());
  BOOST_TEST(rep->rows(1).why(0).find("TPOT p99") != std::string::npos);
  BOOST_TEST(!rep->rows(3).meets_accuracy());
  BOOST_TEST(rep->recommended_variant() == "f16");
  // Nothing meets: said so, not a silent pick.
  cost.mutable_slo()->set_ttft_p99_seconds(0.1);
  rep = ComputeCostReport(r, &cost);
  BOOST_TEST(rep->recommended_variant().empty());
  BOOST_TEST(rep->recommendation().find("No variant meets") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(worker_prices_and_missing_inputs) {
  v1::ComparisonResult r = Example();
  for (auto& v : *r.mutable_results()) v.set_advertised_usd_per_hour(0.25);
  auto rep = ComputeCostReport(r);  // the spec has no cost block: every default
  BOOST_REQUIRE(rep.ok());
  BOOST_TEST(rep->rows(0).price_source() == "worker");
  BOOST_TEST(rep->rows(0).usd_per_hour() == 0.25);
  BOOST_TEST(rep->inputs().pue() == kDefaultPue);
  BOOST_TEST(rep->rows(0).monthly_tco_usd() == 0);  // no load
  // No price anywhere: energy only, and a note says so.
  r = Example();
  rep = ComputeCostReport(r);
  BOOST_TEST(rep->rows(0).price_source() == "none");
  BOOST_TEST(rep->rows(0).hardware_usd_per_million_output_tokens() == 0);
  bool noted = false;
  for (const auto& n : rep->notes()) noted |= n.find("no price for hardware 'cpu'") != std::string::npos;
  BOOST_TEST(noted);
  // A floor set on a metric that was not measured fails the row.
  v1::Cost cost;
  cost.mutable_accuracy_floor()->set_min_choice_accuracy_ratio(0.99);
  rep = ComputeCostReport(r, &cost);
  BOOST_TEST(!rep->rows(1).meets_accuracy());
  BOOST_TEST(rep->recommended_variant().empty());
}

BOOST_AUTO_TEST_CASE(bad_cost_inputs_name_the_field) {
  auto check = [](const char* json, const char* field) {
    auto c = ParseCostJson(json);
    BOOST_REQUIRE(c.ok());
    absl::Status s = ValidateCost(*c);
    BOOST_TEST(!s.ok());
    BOOST_TEST(std::string(s.message()).find(field) != std::string::npos, s.message());
  };
  check(R"({"pue": 0.5})", "cost.pue");
  check(R"({"hardware": {"cpu": {"utilization": 1.5}}})", "cost.hardware.cpu.utilization");
  check(R"({"hardware": {"cpu": {"usdPerHour": 1, "purchaseUsd": 5000}}})", "cost.hardware.cpu");
  check(R"({"hardware": {"cpu": {"purchaseUsd": 5000, "residualUsd": 6000}}})", "cost.hardware.cpu.residualUsd");
  check(R"({"load": {"tokensPerDay": 1, "requestsPerSecond": 1}})", "cost.load");
  check(R"({"accuracyFloor": {"maxPplRatio": 0.9}})", "cost.accuracyFloor.maxPplRatio");
  BOOST_TEST(!ParseCostJson(R"({"energyUsdPerKWh": 0.1})").ok());  // a misspelt field
  // In a spec, cost.hardware must name a hardware target.
  auto spec = ParseSpecJson(R"({"baseline": "a", "variants": [{"name": "a", "model": "m.gguf"}],
    "workload": {"scenario": "SINGLE_STREAM", "promptTokens": 8, "outputTokens": 8, "measuredRuns": 1},
    "cost": {"hardware": {"gpu": {"usdPerHour": 2}}}})");
  BOOST_REQUIRE(spec.ok());
  absl::Status s = ValidateSpec(*spec);
  BOOST_TEST(std::string(s.message()).find("cost.hardware.gpu: no hardware target") != std::string::npos);
}

namespace {

// The demo's case (issue 19): three variants on one 1-vCPU box whose costs
// differ by less than their uncertainty; the energy is the CPU model's
// (+-50%) and each throughput has a 95% interval of +-`spread`.
v1::ComparisonResult Tied(double spread) {
  v1::ComparisonResult r;
  r.mutable_spec()->set_baseline("f32");
  struct Row {
    const char* name;
    double tps, kld;
    int64_t bytes;
  };
  for (const Row& row : {Row{"f32", 560, 0, 4000000}, Row{"q8_0", 590, 0.000021, 1100000},
                         Row{"q4_k_m", 600, 0.00173, 700000}}) {
    v1::VariantResult* v = Add(&r, row.name, row.tps, row.kld, 5.0 * (1 + row.kld));
    v->set_hardware("avx2-1t");
    v->mutable_memory()->set_model_bytes(row.bytes);
    v->mutable_energy()->set_source("model");
    v->mutable_energy()->set_uncertainty_fraction(0.5);
    v->mutable_throughput()->set_output_tokens_per_second_ci95_low(row.tps * (1 - spread));
    v->mutable_throughput()->set_output_tokens_per_second_ci95_high(row.tps * (1 + spread));
    if (std::string(row.name) == "f32") v->mutable_accuracy()->clear_kld();
  }
  r.mutable_spec()->set_baseline("f32");
  return r;
}

v1::Cost PerToken() {
  auto c = ParseCostJson(R"({"hardware": {"avx2-1t": {"usdPerHour": 0.05}}})");
  BOOST_REQUIRE(c.ok());
  return *c;
}

}  // namespace

// Costs within each other's intervals are the same cost: the most accurate
// of them wins, and the sentence says so; it is on the front.
BOOST_AUTO_TEST_CASE(recommendation_ties_within_the_uncertainty_go_to_the_most_accurate) {
  const v1::Cost cost = PerToken();
  auto rep = ComputeCostReport(Tied(0.08), &cost);
  BOOST_REQUIRE(rep.ok());
  BOOST_TEST(rep->cost_axis() == "usd_per_million_output_tokens");
  BOOST_TEST(rep->recommended_variant() == "f32", rep->recommendation());
  BOOST_TEST(rep->recommendation().find("cost the same within ±") != std::string::npos, rep->recommendation());
  BOOST_TEST(rep->recommendation().find("f32 is the most accurate of them") != std::string::npos,
             rep->recommendation());
  for (const auto& row : rep->rows()) {
    BOOST_TEST(row.usd_per_million_output_tokens_low() < row.usd_per_million_output_tokens());
    BOOST_TEST(row.usd_per_million_output_tokens_high() > row.usd_per_million_output_tokens());
    if (row.variant() == rep->recommended_variant()) BOOST_TEST(row.on_pareto_front());
  }
}

// Without the baseline in the running, q8_0 and q4_k_m tie and q8_0, more
// accurate, is recommended although q4_k_m looks a sliver cheaper.
BOOST_AUTO_TEST_CASE(a_sliver_never_decides) {
  v1::ComparisonResult r = Tied(0.08);
  r.mutable_results(0)->mutable_latency()->mutable_tpot_seconds()->set_p99(1);  // f32 breaks the SLO
  v1::Cost cost = PerToken();
  cost.mutable_slo()->set_tpot_p99_seconds(0.1);
  auto rep = ComputeCostReport(r, &cost);
  BOOST_REQUIRE(rep.ok());
  BOOST_TEST(rep->recommended_variant() == "q8_0", rep->recommendation());
  BOOST_TEST(rep->recommendation().find("q8_0 on avx2-1t and q4_k_m on avx2-1t cost the same within ±") !=
                 std::string::npos,
             rep->recommendation());
  BOOST_TEST(rep->recommendation().find("q8_0 is the most accurate of them") != std::string::npos);
  const v1::VariantCost* q4 = nullptr;
  for (const auto& row : rep->rows()) {
    if (row.variant() == "q4_k_m") q4 = &row;
    if (row.variant() == "q8_0") BOOST_TEST(row.on_pareto_front());
  }
  BOOST_REQUIRE(q4 != nullptr);
  // q4_k_m's point cost is lower, yet q8_0 beats it within the noise.
  BOOST_TEST(!q4->on_pareto_front());
}

// Exact figures (no intervals): a clearly cheaper row wins as before, and
// equal accuracy falls to the smaller model.
BOOST_AUTO_TEST_CASE(clear_differences_still_decide_and_memory_breaks_ties) {
  const v1::Cost cost = PerToken();
  v1::ComparisonResult r = Tied(0.0);
  for (auto& v : *r.mutable_results()) v.mutable_energy()->set_uncertainty_fraction(0);
  auto rep = ComputeCostReport(r, &cost);
  BOOST_REQUIRE(rep.ok());
  BOOST_TEST(rep->recommended_variant() == "q4_k_m", rep->recommendation());  // cheapest, exactly
  // Two rows with the same throughput and accuracy: the smaller one.
  v1::ComparisonResult same;
  same.mutable_spec()->set_baseline("a");
  for (const char* name : {"a", "b"}) {
    v1::VariantResult* v = Add(&same, name, 100, 0, 5.0);
    v->set_hardware("avx2-1t");
    v->mutable_accuracy()->clear_kld();
    v->mutable_memory()->set_model_bytes(std::string(name) == "a" ? 2000 : 1000);
  }
  rep = ComputeCostReport(same, &cost);
  BOOST_REQUIRE(rep.ok());
  BOOST_TEST(rep->recommended_variant() == "b", rep->recommendation());
  BOOST_TEST(rep->recommendation().find("equally accurate, and b is the smallest in memory") != std::string::npos,
             rep->recommendation());
}

// A seeded sweep: whatever the noise, the recommended row is on the front
// and no eligible row is clearly cheaper at the same or better accuracy.
BOOST_AUTO_TEST_CASE(the_recommendation_is_always_on_the_front) {
  const v1::Cost cost = PerToken();
  uint64_t seed = 12345;
  auto next = [&] {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(seed >> 11) / 9007199254740992.0;
  };
  for (int t = 0; t < 300; ++t) {
    v1::ComparisonResult r;
    r.mutable_spec()->set_baseline("v0");
    for (int i = 0; i < 5; ++i) {
      std::string name = "v";
      name += std::to_string(i);
      const double tps = 100 + 400 * next();
      v1::VariantResult* v = Add(&r, name.c_str(), tps, i == 0 ? 0 : 0.005 * next(), 5.0);
      v->set_hardware("avx2-1t");
      v->mutable_memory()->set_model_bytes(1000 + static_cast<int64_t>(1000 * next()));
      const double spread = 0.2 * next();
      v->mutable_throughput()->set_output_tokens_per_second_ci95_low(tps * (1 - spread));
      v->mutable_throughput()->set_output_tokens_per_second_ci95_high(tps * (1 + spread));
      if (i == 0) v->mutable_accuracy()->clear_kld();
    }
    auto rep = ComputeCostReport(r, &cost);
    BOOST_REQUIRE(rep.ok());
    for (const auto& row : rep->rows()) {
      if (row.variant() == rep->recommended_variant()) BOOST_TEST_REQUIRE(row.on_pareto_front(), rep->recommendation());
    }
  }
}

BOOST_AUTO_TEST_CASE(monthly_tco_intervals_and_a_contaminated_row_is_flagged) {
  v1::Cost cost = PerToken();
  cost.mutable_load()->set_tokens_per_day(5e6);
  v1::ComparisonResult r = Tied(0.08);
  r.mutable_results(1)->mutable_interference()->set_contaminated(true);
  r.mutable_results(1)->mutable_interference()->set_reason("other processes used 60% of the CPUs (threshold 10%)");
  auto rep = ComputeCostReport(r, &cost);
  BOOST_REQUIRE(rep.ok());
  BOOST_TEST(rep->cost_axis() == "monthly_tco_usd");
  for (const auto& row : rep->rows()) {
    BOOST_TEST(row.monthly_tco_usd_low() <= row.monthly_tco_usd());
    BOOST_TEST(row.monthly_tco_usd_high() >= row.monthly_tco_usd());
  }
  BOOST_TEST(rep->rows(1).contaminated());
  bool noted = false;
  for (const auto& n : rep->notes()) noted |= n.find("q8_0 on avx2-1t (64/32): contaminated measurement") == 0;
  BOOST_TEST(noted);
}
