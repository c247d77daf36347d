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
