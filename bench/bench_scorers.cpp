// Scorer benchmarks, each beside its baseline in the same binary:
//  - Wanda end to end on a LLaMA-7B up_proj-sized layer W [11008, 4096]: accumulate scaler_row
//    from 128 calls of [2048, 4096] tokens, score |W| * sqrt(scaler), prune 50% per output row
//    (k = int(in * s)), apply; beside the reference way (plain accumulation, stable sort per row).
//    The phases are also timed on their own (accumulate, score + select), and score + select
//    through prune()'s generic path (whole-layer scores) beside its row-streaming path.
//  - Global magnitude over a model-sized set of layers (7 linear layers x 32 blocks of a 7B model,
//    each extent / 16): time and extra heap beside concatenate-and-sort.
// Extra memory: peak heap in use above the level before the call (mallinfo2, sampled every 0.2 ms
// on a helper thread in one untimed run), reported as the counter extra_MB.
// GCC 12 at -O3 reports a false -Wrestrict inside select_global's "#" + std::to_string(t)
// (select/select.hpp, not ours to edit): silence it for this translation unit only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <malloc.h>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "tiers.hpp"
#include <nnprune/calibration/wanda_accumulator.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/random.hpp>
#include <nnprune/scorers/wanda.hpp>

namespace {

constexpr std::size_t k_in = 4096, k_out = 11008, k_tokens = 2048, k_calls = 128;

std::vector<float> filled(std::size_t n, std::uint64_t seed) {
    nnprune::splitmix64 g(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = g.uniform() * 2.0f - 1.0f;
    return v;
}

struct wanda_data {
    std::vector<float> x = filled(k_tokens * k_in, 1);  // one calibration sequence, reused for every call
    std::vector<float> w0 = filled(k_out * k_in, 2);    // pristine weights
    std::vector<float> w = w0;                          // pruned in place, restored untimed
};

wanda_data& data() {
    static wanda_data d;
    return d;
}

std::size_t heap_in_use() {
    const auto mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/// Peak heap above the starting level while f runs (sampled on a helper thread).
template <class F>
double extra_mb(F&& f) {
    const std::size_t base = heap_in_use();
    std::atomic<bool> done{false};
    std::atomic<std::size_t> peak{base};
    std::thread t([&] {
        while (!done.load()) {
            const std::size_t h = heap_in_use();
            if (h > peak.load()) peak.store(h);
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    });
    f();
    done = true;
    t.join();
    return static_cast<double>(peak.load() - base) / (1024.0 * 1024.0);
}

// ---- Wanda, nnprune ---------------------------------------------------------------------------

std::vector<float> nnprune_accumulate(const wanda_data& d) {
    nnprune::wanda_accumulator acc(k_in);
    for (std::size_t c = 0; c < k_calls; ++c) acc.add(nnprune::matrix_view<const float>(d.x.data(), k_tokens, k_in));
    return {acc.values().begin(), acc.values().end()};
}

/// Wanda's scorer without the row_local trait: prune() takes its generic path (whole-layer score
/// buffer, select_mask, apply), the baseline of the row-streaming path.
struct wanda_whole_layer {
    void operator()(const nnprune::layer& l, nnprune::matrix_view<float> out) const { nnprune::wanda(l, out); }
};

/// prune() with wanda per_row 50% and apply (the row-streaming path), or with `S` instead.
template <class S = nnprune::wanda_scorer>
void nnprune_prune(wanda_data& d, const std::vector<float>& stat, const S& s = {}) {
    std::vector<nnprune::layer> layers{{"up_proj",
                                        nnprune::matrix_view<float>(d.w.data(), k_out, k_in),
                                        nnprune::vector_view<const float>(stat.data(), k_in),
                                        {}}};
    static std::vector<float> scratch;  // the score buffer, reused across calls as a model loop would
    nnprune::prune_options o;
    o.round = nnprune::rounding::truncate;
    o.apply = true;
    o.scratch = &scratch;
    auto r = nnprune::prune(layers, s, nnprune::per_row{}, 0.5, o);
    benchmark::DoNotOptimize(r.layers[0].kept);
}

// ---- Wanda, the reference way ------------------------------------------------------------------

std::vector<float> naive_accumulate(const wanda_data& d) {
    std::vector<float> scaler(k_in, 0.0f);
    std::vector<float> sq(k_in);
    std::uint64_t n = 0;
    for (std::size_t c = 0; c < k_calls; ++c) {
        std::fill(sq.begin(), sq.end(), 0.0f);
        for (std::size_t t = 0; t < k_tokens; ++t)
            for (std::size_t j = 0; j < k_in; ++j) sq[j] += d.x[t * k_in + j] * d.x[t * k_in + j];
        const auto ratio = static_cast<float>(static_cast<double>(n) / static_cast<double>(n + 1));
        ++n;
        for (std::size_t j = 0; j < k_in; ++j) scaler[j] = scaler[j] * ratio + sq[j] / static_cast<float>(n);
    }
    return scaler;
}

void naive_prune(wanda_data& d, const std::vector<float>& stat) {
    const auto k = static_cast<std::size_t>(static_cast<double>(k_in) * 0.5);
    std::vector<float> s(k_in);
    std::vector<std::size_t> idx(k_in);
    for (std::size_t i = 0; i < k_out; ++i) {
        float* row = d.w.data() + i * k_in;
        for (std::size_t j = 0; j < k_in; ++j) s[j] = std::fabs(row[j]) * std::sqrt(stat[j]);
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return s[a] < s[b]; });
        for (std::size_t t = 0; t < k; ++t) row[idx[t]] = 0.0f;
    }
}

void restore(benchmark::State& state, wanda_data& d) {
    state.PauseTiming();
    std::memcpy(d.w.data(), d.w0.data(), d.w.size() * sizeof(float));
    state.ResumeTiming();
}

void bm_wanda_end_to_end_nnprune(benchmark::State& state) {
    auto& d = data();
    nnprune_prune(d, nnprune_accumulate(d));  // untimed warm-up: the reused score buffer's first touch
    std::memcpy(d.w.data(), d.w0.data(), d.w.size() * sizeof(float));
    for (auto _ : state) {
        const auto stat = nnprune_accumulate(d);
        nnprune_prune(d, stat);
        restore(state, d);
    }
    state.counters["extra_MB"] = extra_mb([&] { nnprune_prune(d, nnprune_accumulate(d)); });
    std::memcpy(d.w.data(), d.w0.data(), d.w.size() * sizeof(float));
}

void bm_wanda_end_to_end_stable_sort(benchmark::State& state) {
    auto& d = data();
    for (auto _ : state) {
        const auto stat = naive_accumulate(d);
        naive_prune(d, stat);
        restore(state, d);
    }
    state.counters["extra_MB"] = extra_mb([&] { naive_prune(d, naive_accumulate(d)); });
    std::memcpy(d.w.data(), d.w0.data(), d.w.size() * sizeof(float));
}

void bm_wanda_accumulate_nnprune(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(nnprune_accumulate(data()).data());
}

void bm_wanda_accumulate_naive(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(naive_accumulate(data()).data());
}

void bm_wanda_prune_nnprune(benchmark::State& state) {
    const bench::tier_scope tier(state, state.range(0));
    auto& d = data();
    const std::vector<float> stat(k_in, 1.5f);
    nnprune_prune(d, stat);  // untimed warm-up: the reused score buffer's first touch
    std::memcpy(d.w.data(), d.w0.data(), d.w.size() * sizeof(float));
    for (auto _ : state) {
        nnprune_prune(d, stat);
        restore(state, d);
    }
}

void bm_wanda_prune_nnprune_whole_layer(benchmark::State& state) {
    auto& d = data();
    const std::vector<float> stat(k_in, 1.5f);
    nnprune_prune(d, stat, wanda_whole_layer{});  // untimed warm-up: the reused score buffer's first touch
    std::memcpy(d.w.data(), d.w0.data(), d.w.size() * sizeof(float));
    for (auto _ : state) {
        nnprune_prune(d, stat, wanda_whole_layer{});
        restore(state, d);
    }
}

void bm_wanda_prune_stable_sort(benchmark::State& state) {
    auto& d = data();
    const std::vector<float> stat(k_in, 1.5f);
    for (auto _ : state) {
        naive_prune(d, stat);
        restore(state, d);
    }
}

// ---- Global magnitude over 7 x 32 layers -------------------------------------------------------

struct model_data {
    std::vector<std::pair<std::size_t, std::size_t>> shapes;
    std::vector<float> all;
    std::vector<nnprune::layer> layers;

    model_data() {
        const std::size_t h = 4096 / 16, f = 11008 / 16;
        for (int b = 0; b < 32; ++b)
            for (auto s : {std::pair{h, h}, std::pair{h, h}, std::pair{h, h}, std::pair{h, h}, std::pair{f, h},
                           std::pair{f, h}, std::pair{h, f}})
                shapes.push_back(s);
        std::size_t n = 0;
        for (auto [r, c] : shapes) n += r * c;
        all = filled(n, 7);
        std::size_t off = 0;
        const char* names[] = {"q", "k", "v", "o", "gate", "up", "down"};
        for (std::size_t i = 0; i < shapes.size(); ++i) {
            std::string name = "blk.";
            name.append(std::to_string(i / 7)).append(".").append(names[i % 7]);
            layers.push_back(
                {name, nnprune::matrix_view<float>(all.data() + off, shapes[i].first, shapes[i].second), {}, {}});
            off += shapes[i].first * shapes[i].second;
        }
    }
};

model_data& model() {
    static model_data m;
    return m;
}

void global_nnprune(const model_data& m) {
    auto r = nnprune::prune(m.layers, nnprune::magnitude, nnprune::per_tensor{}, nnprune::global{0.5});
    benchmark::DoNotOptimize(r.layers[0].kept);
}

void global_concat_sort(const model_data& m) {
    std::vector<float> cat;
    cat.reserve(m.all.size());
    for (const auto& l : m.layers) {
        const float* p = static_cast<const float*>(l.weights.data_handle());
        for (std::size_t i = 0; i < l.weights.size(); ++i) cat.push_back(std::fabs(p[i]));
    }
    std::vector<float> sorted = cat;
    std::sort(sorted.begin(), sorted.end());
    const auto k = nnprune::count_to_prune(cat.size(), 0.5);
    const float thr = sorted[k - 1];
    std::vector<nnprune::mask> masks;
    std::size_t off = 0;
    for (const auto& l : m.layers) {
        nnprune::mask mk(l.weights.shape(), true);
        for (std::size_t i = 0; i < l.weights.size(); ++i)
            if (cat[off + i] <= thr) mk.set(i, false);  // threshold rule: ties at thr all pruned
        off += l.weights.size();
        masks.push_back(std::move(mk));
    }
    benchmark::DoNotOptimize(masks.data());
}

void bm_global_magnitude_nnprune(benchmark::State& state) {
    const auto& m = model();
    for (auto _ : state) global_nnprune(m);
    state.counters["extra_MB"] = extra_mb([&] { global_nnprune(m); });
    state.counters["weights_M"] = static_cast<double>(m.all.size()) / 1e6;
}

void bm_global_magnitude_concat_sort(benchmark::State& state) {
    const auto& m = model();
    for (auto _ : state) global_concat_sort(m);
    state.counters["extra_MB"] = extra_mb([&] { global_concat_sort(m); });
    state.counters["weights_M"] = static_cast<double>(m.all.size()) / 1e6;
}

}  // namespace

BENCHMARK(bm_wanda_end_to_end_nnprune)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(bm_wanda_end_to_end_stable_sort)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(bm_wanda_accumulate_nnprune)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_wanda_accumulate_naive)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_wanda_prune_nnprune)
    ->ArgName("tier")
    ->ArgsProduct({bench::tier_args})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);
BENCHMARK(bm_wanda_prune_nnprune_whole_layer)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(bm_wanda_prune_stable_sort)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(bm_global_magnitude_nnprune)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(bm_global_magnitude_concat_sort)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
