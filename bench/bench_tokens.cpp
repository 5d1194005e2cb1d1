// Token pruning benchmarks: DivPrune against the reference algorithm as upstream runs it (the
// full N x N distance matrix from one GEMM, here Eigen's blocked single-thread GEMM, then at every
// step a re-minimisation over the selected rows), in the same binary on the same unit rows.
#include <algorithm>
#include <cstddef>
#include <limits>
#include <map>
#include <stdexcept>
#include <tuple>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include "tiers.hpp"
#include "token_data.hpp"
#include <nnprune/tokens/divprune.hpp>

namespace {

using nnprune::matrix_view;
using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The reference: D = 1 - Xn Xn^T (N x N, one GEMM), seed = argmax_j min_{i != j} D(i, j), then
/// s_t = argmax over unselected j of min over the selected rows (re-minimised every step).
std::vector<std::size_t> reference_divprune(const float* x, std::size_t n, std::size_t d, std::size_t k,
                                            nnprune::token_workspace& ws, row_major& dmat, std::vector<float>& m) {
    const auto u = nnprune::detail::normalize_tokens(matrix_view<const float>(x, n, d), ws, "reference");
    const auto rows = static_cast<Eigen::Index>(n);
    const Eigen::Map<const row_major, 0, Eigen::OuterStride<>> xn(
        u.data, rows, static_cast<Eigen::Index>(d), Eigen::OuterStride<>(static_cast<Eigen::Index>(u.stride)));
    dmat.noalias() = xn * xn.transpose();
    dmat = (1.0f - dmat.array()).matrix();
    const float* dm = dmat.data();
    std::size_t seed = 0;
    float best = -std::numeric_limits<float>::infinity();
    m.assign(n, std::numeric_limits<float>::infinity());
    for (std::size_t i = 0; i < n; ++i)  // column minima over i != j, row by row
        for (std::size_t j = 0; j < n; ++j)
            if (i != j) m[j] = std::min(m[j], dm[i * n + j]);
    for (std::size_t j = 0; j < n; ++j) {
        if (u.zeros < n && u.zero[j]) continue;
        if (m[j] > best) best = m[j], seed = j;
    }
    std::vector<std::size_t> order{seed};
    std::vector<unsigned char> chosen(n, 0);
    chosen[seed] = 1;
    while (order.size() < k) {
        m.assign(n, std::numeric_limits<float>::infinity());
        for (auto s : order)
            for (std::size_t j = 0; j < n; ++j) m[j] = std::min(m[j], dm[s * n + j]);
        std::size_t arg = n;
        float bestm = -std::numeric_limits<float>::infinity();
        for (std::size_t j = 0; j < n; ++j)
            if (!chosen[j] && (arg == n || m[j] > bestm)) bestm = m[j], arg = j;
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
    row_major dmat(n, n);
    std::vector<float> m(n);
    const auto want = reference_divprune(x.data(), n, d, k, ws, dmat, m);
    // Eigen's GEMM rounds differently from nnprune's dot: report how much of the order agrees
    const auto fast = nnprune::divprune_order(matrix_view<const float>(x.data(), n, d), nnprune::keep_count{k});
    std::size_t same = 0;
    while (same < k && want[same] == fast[same]) ++same;
    for (auto _ : state) benchmark::DoNotOptimize(reference_divprune(x.data(), n, d, k, ws, dmat, m).data());
    state.counters["extra_MiB"] = static_cast<double>(n * n * sizeof(float) + n * (sizeof(float) + 1)) / (1 << 20);
    state.counters["same_prefix"] = static_cast<double>(same) / static_cast<double>(k);
}

// args as above, then the matrix budget in MiB (0: the O(N) lazy path) and the tier (bench/tiers.hpp)
void bm_divprune(benchmark::State& state) {
    const bench::tier_scope tier(state, state.range(5));
    const auto n = static_cast<std::size_t>(state.range(0)), d = static_cast<std::size_t>(state.range(1));
    const std::size_t k = nnprune::token_keep(static_cast<double>(state.range(2)) / 1000.0).k_for(n, "bench");
    const auto& x = data(n, d, static_cast<int>(state.range(3)));
    nnprune::token_workspace ws, other;
    ws.matrix_budget_bytes = static_cast<std::size_t>(state.range(4)) << 20;
    other.matrix_budget_bytes = ws.matrix_budget_bytes == 0 ? std::size_t{64} << 20 : 0;
    const matrix_view<const float> v(x.data(), n, d);
    if (nnprune::divprune_order(v, nnprune::keep_count{k}, ws) !=
        nnprune::divprune_order(v, nnprune::keep_count{k}, other))
        state.SkipWithError("the Gram and lazy paths select differently");
    for (auto _ : state) benchmark::DoNotOptimize(nnprune::divprune_order(v, nnprune::keep_count{k}, ws).data());
    // beyond the unit rows (N x d f32, the normalised copy every method needs)
    state.counters["extra_MiB"] =
        static_cast<double>(ws.matrix.capacity() * sizeof(float) + ws.dist.capacity() * sizeof(float) +
                            ws.index.capacity() * sizeof(std::size_t) + ws.zero.capacity() +
                            n * (1 + sizeof(std::size_t)) +
                            (ws.matrix.empty() ? n * (sizeof(float) + 2 * sizeof(std::size_t)) : 0)) /
        (1 << 20);
}

void reference_args(benchmark::internal::Benchmark* b) {
    for (int kind : {0, 1}) {
        b->Args({576, 4096, 100, kind});
        b->Args({2880, 4096, 500, kind});
    }
    b->ArgNames({"N", "d", "keep_pm", "clustered"})->Unit(benchmark::kMillisecond);
}

void divprune_args(benchmark::internal::Benchmark* b) {
    for (int kind : {0, 1})
        for (int budget : {64, 0}) {
            for (auto tier : bench::tier_args) {
                b->Args({576, 4096, 100, kind, budget, tier});
                b->Args({2880, 4096, 500, kind, budget, tier});
            }
        }
    b->ArgNames({"N", "d", "keep_pm", "clustered", "budget_MiB", "tier"})->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(bm_divprune_reference)->Apply(reference_args);
BENCHMARK(bm_divprune)->Apply(divprune_args);
