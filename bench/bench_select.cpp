// Selection engine benchmarks, each beside its baseline. Buffers are allocated and filled once
// (never first touch in timed loops); the engine reuses a select_workspace.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "tiers.hpp"
#include <nnprune/select/select.hpp>

namespace {

const std::vector<float>& data(std::size_t n) {
    static std::vector<float> v;
    if (v.size() < n) {
        v.resize(n);
        std::mt19937 g(1);
        std::normal_distribution<float> d(0.f, 1.f);
        for (auto& x : v) x = std::abs(d(g));
    }
    return v;
}

std::vector<float>& copy_buf(std::size_t n) {
    static std::vector<float> v;
    if (v.size() < n) v.assign(n, 0.f);
    return v;
}

nnprune::select_workspace& ws() {
    static nnprune::select_workspace w;
    return w;
}

constexpr std::size_t kth_n = 100'000'000, rows = 4096, cols = 11008;

void bm_kth_nth_element_copy(benchmark::State& st) {
    const auto& v = data(kth_n);
    auto& c = copy_buf(kth_n);
    for (auto _ : st) {
        std::copy(v.begin(), v.begin() + kth_n, c.begin());
        std::nth_element(c.begin(), c.begin() + kth_n / 2, c.begin() + kth_n);
        benchmark::DoNotOptimize(c[kth_n / 2]);
    }
}

void bm_kth_engine(benchmark::State& st) {
    const bench::tier_scope tier(st, st.range(1));
    const auto& v = data(kth_n);
    nnprune::select_options o;
    o.workspace = &ws();
    o.threads = static_cast<unsigned>(st.range(0));
    for (auto _ : st)
        benchmark::DoNotOptimize(
            nnprune::kth_smallest(nnprune::vector_view<const float>(v.data(), kth_n), kth_n / 2, o));
}

void bm_per_tensor_mask_engine(benchmark::State& st) {
    const bench::tier_scope tier(st, st.range(1));
    const auto& v = data(kth_n);
    static nnprune::mask m(nnprune::shape{kth_n});
    nnprune::select_options o;
    o.workspace = &ws();
    o.threads = static_cast<unsigned>(st.range(0));
    for (auto _ : st)
        benchmark::DoNotOptimize(
            nnprune::select_mask(nnprune::vector_view<const float>(v.data(), kth_n), nnprune::per_tensor{}, 0.5, m, o));
}

void bm_per_row_wanda_stable_sort(benchmark::State& st) {
    const auto& v = data(rows * cols);
    static nnprune::mask m(nnprune::shape{rows, cols});
    std::vector<std::uint32_t> idx(cols);
    for (auto _ : st) {
        for (std::size_t r = 0; r < rows; ++r) {
            const float* p = v.data() + r * cols;
            std::iota(idx.begin(), idx.end(), 0u);
            std::stable_sort(idx.begin(), idx.end(), [&](std::uint32_t a, std::uint32_t b) { return p[a] < p[b]; });
            for (std::size_t t = 0; t < cols; ++t) m.set(r * cols + idx[t], t >= cols / 2);
        }
        benchmark::ClobberMemory();
    }
}

void bm_per_row_engine(benchmark::State& st) {
    const bench::tier_scope tier(st, st.range(1));
    const auto& v = data(rows * cols);
    static nnprune::mask m(nnprune::shape{rows, cols});
    nnprune::select_options o;
    o.workspace = &ws();
    o.threads = static_cast<unsigned>(st.range(0));
    nnprune::matrix_view<const float> view(v.data(), rows, cols);
    for (auto _ : st) benchmark::DoNotOptimize(nnprune::select_mask(view, nnprune::per_row{}, 0.5, m, o));
}

void bm_per_column_engine(benchmark::State& st) {
    const auto& v = data(rows * cols);
    static nnprune::mask m(nnprune::shape{rows, cols});
    nnprune::select_options o;
    o.workspace = &ws();
    o.threads = static_cast<unsigned>(st.range(0));
    nnprune::matrix_view<const float> view(v.data(), rows, cols);
    for (auto _ : st) benchmark::DoNotOptimize(nnprune::select_mask(view, nnprune::per_column{}, 0.5, m, o));
}

void bm_nm_read_baseline(benchmark::State& st) {
    const auto& v = data(rows * cols);
    for (auto _ : st) {
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (std::size_t i = 0; i + 4 <= rows * cols; i += 4) {
            a0 += v[i];
            a1 += v[i + 1];
            a2 += v[i + 2];
            a3 += v[i + 3];
        }
        benchmark::DoNotOptimize(a0 + a1 + a2 + a3);
    }
}

void bm_nm_2_4_engine(benchmark::State& st) {
    const bench::tier_scope tier(st, st.range(1));
    const auto& v = data(rows * cols);
    static nnprune::mask m(nnprune::shape{rows, cols});
    nnprune::select_options o;
    o.workspace = &ws();
    o.threads = static_cast<unsigned>(st.range(0));
    nnprune::matrix_view<const float> view(v.data(), rows, cols);
    for (auto _ : st) benchmark::DoNotOptimize(nnprune::select_mask(view, nnprune::keep_n_of_m<2, 4>{}, m, o));
}

// Global: 64 tensors over a total of 2.5e8 f32 (1e9 would need 4 GB next to other work).
constexpr std::size_t global_total = 250'000'000, n_tensors = 64;

void bm_global_nth_element_concat(benchmark::State& st) {
    const auto& v = data(global_total);
    auto& c = copy_buf(global_total);
    for (auto _ : st) {
        std::copy(v.begin(), v.begin() + global_total, c.begin());
        std::nth_element(c.begin(), c.begin() + global_total / 2, c.begin() + global_total);
        benchmark::DoNotOptimize(c[global_total / 2]);
    }
}

void bm_global_engine(benchmark::State& st) {
    const bench::tier_scope tier(st, st.range(1));
    const auto& v = data(global_total);
    static std::vector<nnprune::mask> masks;
    std::vector<nnprune::tensor_ref> refs;
    std::vector<nnprune::mask_view> outs;
    std::size_t at = 0;
    for (std::size_t t = 0; t < n_tensors; ++t) {
        const std::size_t len = t + 1 == n_tensors ? global_total - at : global_total / n_tensors + (t % 3) * 4099;
        refs.push_back(nnprune::vector_view<const float>(v.data() + at, len));
        if (masks.size() < n_tensors) masks.emplace_back(nnprune::shape{len});
        at += len;
    }
    for (auto& m : masks) outs.push_back(m);
    nnprune::global_options o;
    o.workspace = &ws();
    o.threads = static_cast<unsigned>(st.range(0));
    for (auto _ : st) benchmark::DoNotOptimize(nnprune::select_global(refs, 0.5, outs, o));
}

// Global at the full scale: 64 tensors totalling 1e9 scores, f32 (4 GB) or bf16 (2 GB), beside a
// plain read of the same bytes in the same run. Filled once by a cheap generator (|x| of a
// splitmix64 uniform, spread over many exponents). Counter workspace_MB: the engine's scratch.
// one_pass: 1 writes the masks in the counting pass (select_options::one_pass, as prune() does).
constexpr std::size_t big_total = 1'000'000'000;

template <class T>
const std::vector<T>& big_data() {
    static std::vector<T> v;
    if (v.empty()) {
        v.resize(big_total);
        std::uint64_t x = 12345;
        for (auto& e : v) {
            x += 0x9E3779B97F4A7C15ull;
            std::uint64_t z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            const float u = static_cast<float>(z >> 40) / static_cast<float>(1u << 24);  // [0, 1)
            e = T(u * u * u * 8.0f);
        }
    }
    return v;
}

template <class T>
std::vector<nnprune::tensor_ref> big_refs(const std::vector<T>& v) {
    std::vector<nnprune::tensor_ref> refs;
    std::size_t at = 0;
    for (std::size_t t = 0; t < n_tensors; ++t) {
        const std::size_t len = t + 1 == n_tensors ? big_total - at : big_total / n_tensors + (t % 3) * 4099;
        refs.push_back(nnprune::vector_view<const T>(v.data() + at, len));
        at += len;
    }
    return refs;
}

template <class T>
void bm_global_1e9_read(benchmark::State& st) {
    const auto& v = big_data<T>();
    const auto* p = reinterpret_cast<const std::uint64_t*>(v.data());
    const std::size_t words = v.size() * sizeof(T) / 8;
    for (auto _ : st) {
        std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (std::size_t i = 0; i + 4 <= words; i += 4) {
            a0 ^= p[i];
            a1 ^= p[i + 1];
            a2 ^= p[i + 2];
            a3 ^= p[i + 3];
        }
        benchmark::DoNotOptimize(a0 ^ a1 ^ a2 ^ a3);
    }
}

template <class T>
void bm_global_1e9_engine(benchmark::State& st) {
    const auto& v = big_data<T>();
    const auto refs = big_refs(v);
    static std::vector<nnprune::mask> masks;
    if (masks.empty())
        for (const auto& r : refs) masks.emplace_back(r.shape());
    std::vector<nnprune::mask_view> outs;
    for (auto& m : masks) outs.push_back(m);
    nnprune::select_workspace w;  // its own, so workspace_MB is this case's scratch alone
    nnprune::global_options o;
    o.workspace = &w;
    o.threads = static_cast<unsigned>(st.range(0));
    o.one_pass = st.range(1) != 0;
    benchmark::DoNotOptimize(nnprune::select_global(refs, 0.5, outs, o));  // untimed: the scratch's first touch
    for (auto _ : st) benchmark::DoNotOptimize(nnprune::select_global(refs, 0.5, outs, o));
    st.counters["workspace_MB"] = static_cast<double>(w.bytes()) / (1024.0 * 1024.0);
}

}  // namespace

BENCHMARK(bm_kth_nth_element_copy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_kth_engine)
    ->ArgNames({"threads", "tier"})
    ->ArgsProduct({{1, 2}, bench::tier_args})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_per_tensor_mask_engine)
    ->ArgNames({"threads", "tier"})
    ->ArgsProduct({{1, 2}, bench::tier_args})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_per_row_wanda_stable_sort)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(bm_per_row_engine)
    ->ArgNames({"threads", "tier"})
    ->ArgsProduct({{1, 2}, bench::tier_args})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_per_column_engine)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_nm_read_baseline)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_nm_2_4_engine)
    ->ArgNames({"threads", "tier"})
    ->ArgsProduct({{1, 2}, bench::tier_args})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_global_nth_element_concat)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(bm_global_engine)
    ->ArgNames({"threads", "tier"})
    ->ArgsProduct({{1, 2}, bench::tier_args})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_global_1e9_read<float>)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_global_1e9_engine<float>)
    ->ArgNames({"threads", "one_pass"})
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_global_1e9_read<nnprune::bfloat16>)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_global_1e9_engine<nnprune::bfloat16>)
    ->ArgNames({"threads", "one_pass"})
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
