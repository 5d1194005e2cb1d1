// DSnoT (reconstruct/dsnot.hpp) beside its baseline, the initial Wanda mask, in the same binary:
// W [4096, 11008] f32 (LLaMA-7B down_proj), statistics from 2048 calibration tokens
// (dsnot_accumulator, one call), per-row 50% (k = int(in * s)) and 2:4, threads 1 and 2:
//  - bm_dsnot_wanda_mask:   the initial mask, nnprune::prune(layers, wanda, per_row{} | 2:4)
//  - bm_dsnot_refine:       dsnot_refine alone on a copy of that mask (the copy untimed); the
//                           target is at most 2x bm_dsnot_wanda_mask
//  - bm_dsnot_wanda_refine: both, one after the other (a fresh mask each time, as a user runs it)
// Args: pattern (0: 50% per row, 1: 2:4), threads, and for bm_dsnot_refine the tier (tiers.hpp).
#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>

#include "tiers.hpp"
#include <nnprune/calibration/dsnot_accumulator.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/reconstruct/dsnot.hpp>
#include <nnprune/scorers/random.hpp>
#include <nnprune/scorers/wanda.hpp>

namespace {

constexpr std::size_t k_out = 4096, k_in = 11008, k_tokens = 2048;

struct dsnot_data {
    std::vector<float> w = std::vector<float>(k_out * k_in);
    nnprune::dsnot_accumulator acc{k_in};
    std::vector<float> scratch;

    dsnot_data() {
        nnprune::splitmix64 g(12);
        for (auto& x : w) x = (g.uniform() * 2.0f - 1.0f) * 0.02f;
        // activations with per-feature means and a few outlier features, as in LLMs
        std::vector<float> mean(k_in), sd(k_in), x(k_tokens * k_in);
        for (std::size_t j = 0; j < k_in; ++j) {
            mean[j] = (g.uniform() * 2.0f - 1.0f) * 0.5f;
            sd[j] = 0.2f + g.uniform();
            if (j % 97 == 0) {
                mean[j] *= 20.0f;
                sd[j] *= 10.0f;
            }
        }
        for (std::size_t t = 0; t < k_tokens; ++t)
            for (std::size_t j = 0; j < k_in; ++j)
                x[t * k_in + j] = mean[j] + sd[j] * (g.uniform() + g.uniform() + g.uniform() - 1.5f) * 2.0f;
        acc.add(nnprune::matrix_view<const float>(x.data(), k_tokens, k_in));
    }

    [[nodiscard]] std::vector<nnprune::layer> layers() const {
        return {{"mlp.down_proj",
                 nnprune::matrix_view<const float>(w.data(), k_out, k_in),
                 nnprune::vector_view<const float>(acc.scaler_row().data(), k_in),
                 {}}};
    }
};

dsnot_data& data() {
    static dsnot_data d;
    return d;
}

nnprune::mask wanda_mask(dsnot_data& d, bool nm, unsigned threads) {
    const auto layers = d.layers();
    nnprune::prune_options o;
    o.round = nnprune::rounding::truncate;
    o.threads = threads;
    o.scratch = &d.scratch;
    auto r = nm ? nnprune::prune(layers, nnprune::wanda, nnprune::wanda_n_of_m(2, 4), o)
                : nnprune::prune(layers, nnprune::wanda, nnprune::per_row{}, 0.5, o);
    return std::move(r.masks[0]);
}

nnprune::dsnot_report refine(const dsnot_data& d, nnprune::mask& m, bool nm, unsigned threads) {
    nnprune::dsnot_options o;
    o.threads = threads;
    if (nm) {
        o.keep_n = 2;
        o.group_m = 4;
    }
    return nnprune::dsnot_refine(nnprune::matrix_view<const float>(d.w.data(), k_out, k_in), d.acc.stats(), m, o);
}

void bm_dsnot_wanda_mask(benchmark::State& state) {
    auto& d = data();
    const bool nm = state.range(0) != 0;
    const auto threads = static_cast<unsigned>(state.range(1));
    (void)wanda_mask(d, nm, threads);  // untimed warm-up: the score buffer's first touch
    for (auto _ : state) {
        auto m = wanda_mask(d, nm, threads);
        benchmark::DoNotOptimize(m.words().data());
    }
}

void bm_dsnot_refine(benchmark::State& state) {
    auto& d = data();
    const bool nm = state.range(0) != 0;
    const auto threads = static_cast<unsigned>(state.range(1));
    const auto m0 = wanda_mask(d, nm, threads);
    const bench::tier_scope tier(state, state.range(2));
    auto m = m0;
    nnprune::dsnot_report rep;
    for (auto _ : state) {
        state.PauseTiming();
        std::memcpy(m.words().data(), m0.words().data(), m0.words().size_bytes());
        state.ResumeTiming();
        rep = refine(d, m, nm, threads);
        benchmark::DoNotOptimize(m.words().data());
    }
    state.counters["swaps"] = static_cast<double>(rep.swaps);
    state.counters["abs_e_before"] = rep.mean_abs_e_before;
    state.counters["abs_e_after"] = rep.mean_abs_e_after;
}

void bm_dsnot_wanda_refine(benchmark::State& state) {
    auto& d = data();
    const bool nm = state.range(0) != 0;
    const auto threads = static_cast<unsigned>(state.range(1));
    (void)wanda_mask(d, nm, threads);
    for (auto _ : state) {
        auto m = wanda_mask(d, nm, threads);
        auto rep = refine(d, m, nm, threads);
        benchmark::DoNotOptimize(rep.swaps);
    }
}

}  // namespace

BENCHMARK(bm_dsnot_wanda_mask)
    ->ArgNames({"nm", "threads"})
    ->ArgsProduct({{0, 1}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(5);
BENCHMARK(bm_dsnot_refine)
    ->ArgNames({"nm", "threads", "tier"})
    ->ArgsProduct({{0, 1}, {1, 2}, bench::tier_args})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(5);
BENCHMARK(bm_dsnot_wanda_refine)
    ->ArgNames({"nm", "threads"})
    ->ArgsProduct({{0, 1}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(5);
