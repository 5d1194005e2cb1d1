// Token pruning benchmarks: DivPrune against the naive reference algorithm (full N x N distance
// matrix, then at every step a re-minimisation over the selected rows, as upstream does), run in
// the same binary on the same unit rows and the same dot kernel, so both select identically.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <map>
#include <stdexcept>
#include <tuple>
#include <vector>

#include <nnprune/tokens/divprune.hpp>

#include "token_data.hpp"

namespace {

using nnprune::matrix_view;

/// The naive reference: N x N matrix D = 1 - Xn Xn^T, seed = argmax_j min_{i != j} D(i, j),
/// then s_t = argmax over unselected j of min over selected rows (re-minimised each step).
std::vector<std::size_t> reference_divprune(const float* x, std::size_t n, std::size_t d, std::size_t k,
                                            nnprune::token_workspace& ws, std::vector<float>& dmat) {
    const auto u = nnprune::detail::normalize_tokens(matrix_view<const float>(x, n, d), ws, "reference");
    dmat.resize(n * n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) dmat[i * n + j] = 1.0f - nnprune::simd::dot(u.row(i), u.row(j), u.stride);
    std::size_t seed = 0;
    float best = -std::numeric_limits<float>::infinity();
    for (std::size_t j = 0; j < n; ++j) {
        if (u.zeros < n && u.zero[j]) continue;
        float m = std::numeric_limits<float>::infinity();
        for (std::size_t i = 0; i < n; ++i)
            if (i != j) m = std::min(m, dmat[i * n + j]);
        if (m > best) best = m, seed = j;
    }
    std::vector<std::size_t> order{seed};
    std::vector<unsigned char> chosen(n, 0);
    chosen[seed] = 1;
    while (order.size() < k) {
        std::size_t arg = n;
        float bestm = -std::numeric_limits<float>::infinity();
        for (std::size_t j = 0; j < n; ++j) {
            if (chosen[j]) continue;
            float m = std::numeric_limits<float>::infinity();
            for (auto s : order) m = std::min(m, dmat[s * n + j]);
            if (arg == n || m > bestm) bestm = m, arg = j;
        }
        order.push_back(arg);
        chosen[arg] = 1;
    }
    return order;
}

const std::vector<float>& data(std::size_t n, std::size_t d, int kind) {
    static std::map<std::tuple<std::size_t, std::size_t, int>, std::vector<float>> cache;
    auto& v = cache[{n, d, kind}];
    if (v.empty()) v = kind == 0 ? bench_tokens::gaussian(n, d, 7) : bench_tokens::clustered(n, d, 7);
    return v;
}

// args: N, d, keep per mille, data kind (0 gaussian, 1 clustered)
void bm_divprune_reference(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0)), d = static_cast<std::size_t>(state.range(1));
    const std::size_t k = nnprune::token_keep(static_cast<double>(state.range(2)) / 1000.0).k_for(n, "bench");
    const auto& x = data(n, d, static_cast<int>(state.range(3)));
    nnprune::token_workspace ws;
    std::vector<float> dmat;
    const auto fast = nnprune::divprune_order(matrix_view<const float>(x.data(), n, d), nnprune::keep_count{k});
    if (reference_divprune(x.data(), n, d, k, ws, dmat) != fast) state.SkipWithError("selections differ");
    for (auto _ : state) benchmark::DoNotOptimize(reference_divprune(x.data(), n, d, k, ws, dmat).data());
    state.counters["extra_MiB"] = static_cast<double>(n * n * sizeof(float)) / (1 << 20);
}

void bm_divprune(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0)), d = static_cast<std::size_t>(state.range(1));
    const std::size_t k = nnprune::token_keep(static_cast<double>(state.range(2)) / 1000.0).k_for(n, "bench");
    const auto& x = data(n, d, static_cast<int>(state.range(3)));
    nnprune::token_workspace ws;
    for (auto _ : state)
        benchmark::DoNotOptimize(
            nnprune::divprune_order(matrix_view<const float>(x.data(), n, d), nnprune::keep_count{k}, ws).data());
    // beyond the unit rows (N x d f32, the normalised copy every method needs): O(N)
    state.counters["extra_MiB"] =
        static_cast<double>(ws.dist.capacity() * sizeof(float) + ws.index.capacity() * sizeof(std::size_t) +
                            ws.zero.capacity() + n * (sizeof(float) + 2 * sizeof(std::size_t))) /
        (1 << 20);
}

void divprune_args(benchmark::internal::Benchmark* b) {
    for (int kind : {0, 1}) {
        b->Args({576, 4096, 100, kind});
        b->Args({2880, 4096, 500, kind});
    }
    b->ArgNames({"N", "d", "keep_pm", "clustered"})->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(bm_divprune_reference)->Apply(divprune_args);
BENCHMARK(bm_divprune)->Apply(divprune_args);
