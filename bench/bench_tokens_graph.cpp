// G-Prune and HoloV on 576 x 4096 features (issue 15), each against its baseline in the same
// binary: the plain obvious implementation of the spec with the same arithmetic (f32 dot products
// summed in order, no blocking, full sorts; G-Prune with the N x N matrix power by repeated
// squaring as upstream's torch.matrix_power), plus a read of the inputs (a sum over every element).
// Inputs are allocated and touched before the timed loops.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <numeric>
#include <tuple>
#include <vector>

#include <benchmark/benchmark.h>

#include "tiers.hpp"
#include "token_data.hpp"
#include <nnprune/tokens/gprune.hpp>
#include <nnprune/tokens/holov.hpp>

namespace bench_graph {

using nnprune::matrix_view;

const std::vector<float>& features(std::size_t n, std::size_t d, int kind) {
    static std::map<std::tuple<std::size_t, std::size_t, int>, std::vector<float>> cache;
    auto& v = cache[{n, d, kind}];
    if (v.empty()) v = kind == 0 ? bench_tokens::gaussian(n, d, 7) : bench_tokens::clustered(n, d, 7);
    return v;
}

/// [CLS]-like attention: log-normal (sigma 1.5), normalised to sum 1.
const std::vector<float>& attention(std::size_t n) {
    static std::map<std::size_t, std::vector<float>> cache;
    auto& a = cache[n];
    if (a.empty()) {
        const auto g = bench_tokens::gaussian(n, 1, 11);
        double s = 0;
        std::vector<double> e(n);
        for (std::size_t i = 0; i < n; ++i) s += e[i] = std::exp(1.5 * static_cast<double>(g[i]));
        a.resize(n);
        for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<float>(e[i] / s);
    }
    return a;
}

/// The plain dot product: f32, summed in order.
float plain_dot(const float* a, const float* b, std::size_t n) {
    float s = 0.0f;
    for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

/// Unit rows x / max(|x|, floor) or x / (|x| + add) with the norm in double; returns the norms.
std::vector<float> plain_unit_rows(const float* x, std::size_t n, std::size_t d, double floor_eps, double add_eps,
                                   std::vector<float>& xn) {
    std::vector<float> norm(n);
    xn.resize(n * d);
    for (std::size_t i = 0; i < n; ++i) {
        double ss = 0;
        for (std::size_t j = 0; j < d; ++j) ss += static_cast<double>(x[i * d + j]) * x[i * d + j];
        const double nr = std::sqrt(ss), div = std::max(nr, floor_eps) + add_eps;
        norm[i] = static_cast<float>(nr);
        for (std::size_t j = 0; j < d; ++j) xn[i * d + j] = static_cast<float>(x[i * d + j] / div);
    }
    return norm;
}

/// C = A B, n x n, plain i-k-j loops.
void plain_matmul(const std::vector<float>& a, const std::vector<float>& b, std::vector<float>& c, std::size_t n) {
    std::fill(c.begin(), c.end(), 0.0f);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < n; ++k) {
            const float aik = a[i * n + k];
            for (std::size_t j = 0; j < n; ++j) c[i * n + j] += aik * b[k * n + j];
        }
}

/// The G-Prune baseline: every step of tokens.md §8 as written, A^5 by repeated squaring.
std::vector<std::size_t> plain_gprune(const float* x, std::size_t n, std::size_t d, std::size_t k) {
    std::vector<float> xn;
    const auto norm = plain_unit_rows(x, n, d, 1e-12, 0.0, xn);
    std::vector<float> a(n * n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) a[i * n + j] = plain_dot(&xn[i * d], &xn[j * d], d);
    std::vector<double> deg(n, 0.0), e(n);
    for (std::size_t i = 0; i < n; ++i) {
        float* r = &a[i * n];
        double m = -1e300, z = 0;
        for (std::size_t j = 0; j < n; ++j) {
            double t = r[j] < 0.5f ? 0.0 : static_cast<double>(r[j]) / 0.03;
            e[j] = t = std::fabs(t) < 1e-6 ? -5000.0 : t;
            m = std::max(m, t);
        }
        for (std::size_t j = 0; j < n; ++j) z += e[j] = std::exp(e[j] - m);
        for (std::size_t j = 0; j < n; ++j) deg[i] += (r[j] = static_cast<float>(e[j] / z)) > 0.0f ? 1 : 0;
    }
    std::vector<float> a2(n * n), a4(n * n), a5(n * n);
    plain_matmul(a, a, a2, n);
    plain_matmul(a2, a2, a4, n);
    plain_matmul(a4, a, a5, n);
    std::vector<float> score(n, 0.0f);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) score[j] += norm[i] * a5[i * n + j];
    for (std::size_t j = 0; j < n; ++j) score[j] = static_cast<float>(score[j] / deg[j]);
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t p, std::size_t q) { return score[p] > score[q]; });
    idx.resize(k);
    std::sort(idx.begin(), idx.end());
    return idx;
}

/// The HoloV baseline: tokens.md §9 as written (full similarity matrix per crop, full sorts).
std::vector<std::size_t> plain_holov(const float* x, const float* att, std::size_t n, std::size_t d, std::size_t k,
                                     std::size_t p) {
    std::vector<double> score;
    std::vector<std::size_t> first, size;
    std::vector<float> xn, s;
    for (std::size_t c = 0, start = 0; c < p; ++c) {
        const std::size_t m = n / p + (c < n % p ? 1 : 0);
        if (m == 0) continue;
        first.push_back(start), size.push_back(m);
        if (m == 1) {
            score.push_back(att[start]);
        } else {
            plain_unit_rows(x + start * d, m, d, 0.0, 1e-6, xn);
            s.assign(m * m, 0.0f);
            for (std::size_t i = 0; i < m; ++i)
                for (std::size_t j = 0; j < m; ++j)
                    if (i != j) s[i * m + j] = plain_dot(&xn[i * d], &xn[j * d], d);
            std::vector<double> v(m);
            double ma = 0, mv = 0, sa = 0;
            for (std::size_t i = 0; i < m; ++i) {
                double mu = 0, var = 0;
                for (std::size_t j = 0; j < m; ++j) mu += s[i * m + j];
                mu /= static_cast<double>(m - 1);
                for (std::size_t j = 0; j < m; ++j) var += (s[i * m + j] - mu) * (s[i * m + j] - mu);
                v[i] = var / static_cast<double>(m - 1);
                ma += std::fabs(1000.0 * att[start + i]), mv += std::fabs(v[i]), sa += 1000.0 * att[start + i];
            }
            const double scale = (ma / static_cast<double>(m)) / (mv / static_cast<double>(m) + 1e-6);
            double sv = 0;
            for (std::size_t i = 0; i < m; ++i) sv += v[i];
            score.push_back((sa + 0.09 * scale * sv) / static_cast<double>(m));
        }
        start += m;
    }
    const std::size_t crops = score.size();
    const double total = std::accumulate(score.begin(), score.end(), 0.0);
    std::vector<double> w(crops);
    std::vector<long> alloc(crops);
    long sum = 0;
    for (std::size_t c = 0; c < crops; ++c) {
        w[c] = score[c] / (total + 1e-6);
        sum += alloc[c] = static_cast<long>(std::floor(w[c] * static_cast<double>(k)));
    }
    std::vector<std::size_t> idx(crops);
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return w[a] > w[b]; });
    for (std::size_t e = 0; static_cast<long>(e) < static_cast<long>(k) - sum && e < crops; ++e) ++alloc[idx[e]];
    std::vector<std::size_t> order;
    for (std::size_t c = 0; c < crops; ++c) {
        if (alloc[c] <= 0) continue;
        std::vector<std::size_t> t(size[c]);
        std::iota(t.begin(), t.end(), first[c]);
        if (static_cast<std::size_t>(alloc[c]) < size[c]) {
            std::stable_sort(t.begin(), t.end(), [&](std::size_t a, std::size_t b) { return att[a] > att[b]; });
            t.resize(static_cast<std::size_t>(alloc[c]));
        }
        order.insert(order.end(), t.begin(), t.end());
    }
    if (order.size() > k) order.resize(k);
    return order;
}

// args: N, d, kept, data kind (0 gaussian, 1 clustered), tier (bench/tiers.hpp)
void bm_gprune(benchmark::State& state) {
    const bench::tier_scope tier(state, state.range(4));
    const auto n = static_cast<std::size_t>(state.range(0)), d = static_cast<std::size_t>(state.range(1));
    const auto k = static_cast<std::size_t>(state.range(2));
    const auto& x = features(n, d, static_cast<int>(state.range(3)));
    const matrix_view<const float> v(x.data(), n, d);
    nnprune::gprune_result r;
    nnprune::gprune_workspace ws;
    nnprune::gprune(v, k, r, ws);
    if (r.kept != plain_gprune(x.data(), n, d, k)) state.SkipWithError("kept set differs from the baseline");
    for (auto _ : state) {
        nnprune::gprune(v, k, r, ws);
        benchmark::DoNotOptimize(r.kept.data());
    }
}

void bm_gprune_baseline(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0)), d = static_cast<std::size_t>(state.range(1));
    const auto k = static_cast<std::size_t>(state.range(2));
    const auto& x = features(n, d, static_cast<int>(state.range(3)));
    for (auto _ : state) benchmark::DoNotOptimize(plain_gprune(x.data(), n, d, k).data());
}

// args: N, d, K, crops, tier
void bm_holov(benchmark::State& state) {
    const bench::tier_scope tier(state, state.range(4));
    const auto n = static_cast<std::size_t>(state.range(0)), d = static_cast<std::size_t>(state.range(1));
    const auto k = static_cast<std::size_t>(state.range(2)), p = static_cast<std::size_t>(state.range(3));
    const auto& x = features(n, d, 1);
    const auto& a = attention(n);
    const matrix_view<const float> v(x.data(), n, d);
    const nnprune::tensor_view<const float, 1> av(a.data(), {n});
    nnprune::holov_result r;
    nnprune::holov_workspace ws;
    nnprune::holov(v, av, k, r, ws, {p});
    if (r.order != plain_holov(x.data(), a.data(), n, d, k, p)) state.SkipWithError("order differs from the baseline");
    for (auto _ : state) {
        nnprune::holov(v, av, k, r, ws, {p});
        benchmark::DoNotOptimize(r.order.data());
    }
    state.counters["n_pad"] = static_cast<double>(r.n_pad);
}

void bm_holov_baseline(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0)), d = static_cast<std::size_t>(state.range(1));
    const auto k = static_cast<std::size_t>(state.range(2)), p = static_cast<std::size_t>(state.range(3));
    const auto& x = features(n, d, 1);
    const auto& a = attention(n);
    for (auto _ : state) benchmark::DoNotOptimize(plain_holov(x.data(), a.data(), n, d, k, p).data());
}

/// The read of the inputs: a sum over every feature (and attention) element, f32.
void bm_graph_read(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0)), d = static_cast<std::size_t>(state.range(1));
    const auto& x = features(n, d, 1);
    const auto& a = attention(n);
    for (auto _ : state) {
        float s[16] = {};
        for (std::size_t i = 0; i < x.size(); i += 16)
            for (std::size_t l = 0; l < 16; ++l) s[l] += x[i + l];
        for (std::size_t i = 0; i < n; ++i) s[i % 16] += a[i];
        benchmark::DoNotOptimize(s);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>((x.size() + n) * sizeof(float)));
}

void gprune_args(benchmark::internal::Benchmark* b) {
    for (int kind : {1, 0})
        for (auto tier : bench::tier_args) b->Args({576, 4096, 288, kind, tier});
    b->ArgNames({"N", "d", "k", "clustered", "tier"})->Unit(benchmark::kMillisecond);
}

void gprune_baseline_args(benchmark::internal::Benchmark* b) {
    for (int kind : {1, 0}) b->Args({576, 4096, 288, kind});
    b->ArgNames({"N", "d", "k", "clustered"})->Unit(benchmark::kMillisecond);
}

void holov_args(benchmark::internal::Benchmark* b) {
    for (int k : {64, 192})
        for (auto tier : bench::tier_args) b->Args({576, 4096, k, 16, tier});
    b->ArgNames({"N", "d", "K", "P", "tier"})->Unit(benchmark::kMillisecond);
}

void holov_baseline_args(benchmark::internal::Benchmark* b) {
    for (int k : {64, 192}) b->Args({576, 4096, k, 16});
    b->ArgNames({"N", "d", "K", "P"})->Unit(benchmark::kMillisecond);
}

}  // namespace bench_graph

BENCHMARK(bench_graph::bm_gprune_baseline)->Apply(bench_graph::gprune_baseline_args);
BENCHMARK(bench_graph::bm_gprune)->Apply(bench_graph::gprune_args);
BENCHMARK(bench_graph::bm_holov_baseline)->Apply(bench_graph::holov_baseline_args);
BENCHMARK(bench_graph::bm_holov)->Apply(bench_graph::holov_args);
BENCHMARK(bench_graph::bm_graph_read)->Args({576, 4096})->ArgNames({"N", "d"})->Unit(benchmark::kMillisecond);
