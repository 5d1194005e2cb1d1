// KV-cache token methods (tokens/snapkv.hpp, h2o.hpp, think.hpp) against plain obvious
// implementations of the same arithmetic (scalar loops, full sorts, no blocking, fresh vectors)
// and against a read of the inputs, on one core:
//  - SnapKV: 32 query heads x 32768 keys x head_dim 128, window 32, capacity 2048, kernel 7,
//    maxpool (the LongBench config); bf16 and f32 keys. Compute-bound (32 x 32768 x 128 fused
//    multiply-adds and 32 x 32768 exps per head): target >= 10x the baseline. The baseline is slow
//    (about 0.3 s per head), so it runs on 2 heads; compare items (heads) per second.
//  - ThinK: the same q, k, ratio 0.4, query window 32, recent 32. Bound by the read of k:
//    target within 2x of the read.
//  - H2O: one decode step (q = 1) of 32 heads on a 4096-token cache (hh_size 2048, recent 2048,
//    the upstream 50/50 split scaled to 4k): each step adds one token and evicts one. Selection-
//    bound (a top-2048 of 2049 scores per head): target >= 10x the baseline.
// Inputs are allocated and touched before any timed loop.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include <benchmark/benchmark.h>

#include <nnprune/tokens/h2o.hpp>
#include <nnprune/tokens/snapkv.hpp>
#include <nnprune/tokens/think.hpp>

namespace {

using nnprune::bfloat16;
using nnprune::tensor_view;

constexpr std::size_t kv_heads_n = 32, kv_tokens = 32768, kv_dim = 128, kv_window = 32;

struct kv_inputs {
    std::vector<float> qf, kf;  // q: only the window [H, w, D]; k: [H, T, D]
    std::vector<bfloat16> qb, kb;

    kv_inputs()
        : qf(kv_heads_n * kv_window * kv_dim), kf(kv_heads_n * kv_tokens * kv_dim), qb(qf.size()), kb(kf.size()) {
        std::mt19937 rng(42);
        std::normal_distribution<float> nd;
        for (auto& v : qf) v = bfloat16(nd(rng)).operator float();
        // keys: a few heavy channels, like real post-RoPE keys (the values are bf16-exact)
        for (std::size_t i = 0; i < kf.size(); ++i)
            kf[i] = static_cast<float>(bfloat16(nd(rng) * (i % kv_dim < 8 ? 4.0f : 1.0f)));
        for (std::size_t i = 0; i < qf.size(); ++i) qb[i] = bfloat16(qf[i]);
        for (std::size_t i = 0; i < kf.size(); ++i) kb[i] = bfloat16(kf[i]);
    }

    template <class T>
    tensor_view<const T, 3> q(std::size_t heads) const {
        if constexpr (std::is_same_v<T, float>)
            return {qf.data(), heads, kv_window, kv_dim};
        else
            return {qb.data(), heads, kv_window, kv_dim};
    }

    template <class T>
    tensor_view<const T, 3> k(std::size_t heads) const {
        if constexpr (std::is_same_v<T, float>)
            return {kf.data(), heads, kv_tokens, kv_dim};
        else
            return {kb.data(), heads, kv_tokens, kv_dim};
    }
};

const kv_inputs& inputs() {
    static const kv_inputs in;
    return in;
}

const nnprune::snapkv_options snap_opts{kv_window, 2048, 7, nnprune::snapkv_pooling::max, 0};

/// A read of every element of x (16 partial sums, so the loop streams instead of waiting on one add chain).
template <class T>
float read_all(const T* x, std::size_t n) {
    float acc[16] = {};
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (std::size_t l = 0; l < 16; ++l) acc[l] += static_cast<float>(x[i + l]);
    for (; i < n; ++i) acc[0] += static_cast<float>(x[i]);
    float s = 0;
    for (float v : acc) s += v;
    return s;
}

// ---------------------------------------------------------------- SnapKV

/// The obvious SnapKV: per head and window query a scalar fused dot per key (d ascending, the
/// arithmetic nnprune documents), softmax, votes, pooling, a full stable sort. Same bits as nnprune.
template <class T>
std::vector<std::vector<std::size_t>> snapkv_baseline(const tensor_view<const T, 3>& q,
                                                      const tensor_view<const T, 3>& k,
                                                      const nnprune::snapkv_options& o) {
    const std::size_t h = k.extent(0), t = k.extent(1), d = k.extent(2), w = o.window, n = t - w, tq = q.extent(1);
    std::vector<std::vector<std::size_t>> out;
    const float scale = static_cast<float>(std::sqrt(static_cast<double>(d)));
    for (std::size_t hh = 0; hh < h; ++hh) {
        std::vector<float> votes(n, 0.0f);
        for (std::size_t i = 0; i < w; ++i) {
            std::vector<float> l(n + i + 1);
            for (std::size_t j = 0; j < l.size(); ++j) {
                float s = 0.0f;
                for (std::size_t c = 0; c < d; ++c)
                    s = std::fma(nnprune::to_float(q(hh, tq - w + i, c)), nnprune::to_float(k(hh, j, c)), s);
                l[j] = s / scale;
            }
            const float mx = *std::max_element(l.begin(), l.end());
            float z = 0.0f;
            for (auto& v : l) z += (v = std::exp(v - mx));
            for (std::size_t j = 0; j < n; ++j) votes[j] += l[j] / z;
        }
        std::vector<float> pooled(n);
        const std::size_t half = o.kernel / 2;
        for (std::size_t j = 0; j < n; ++j) {
            float m = -std::numeric_limits<float>::infinity();
            for (std::size_t u = j >= half ? j - half : 0; u <= std::min(n - 1, j + half); ++u)
                m = std::max(m, votes[u]);
            pooled[j] = m;
        }
        std::vector<std::size_t> idx(n);
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return pooled[a] > pooled[b]; });
        idx.resize(o.capacity - w);
        for (std::size_t j = n; j < t; ++j) idx.push_back(j);
        out.push_back(idx);
    }
    return out;
}

template <class T>
void BM_snapkv(benchmark::State& state) {
    const auto& in = inputs();
    const auto heads = static_cast<std::size_t>(state.range(0));
    nnprune::snapkv_workspace ws;
    nnprune::snapkv_result r;
    nnprune::snapkv(in.q<T>(heads), in.k<T>(heads), snap_opts, ws, r);
    for (auto _ : state) {
        nnprune::snapkv(in.q<T>(heads), in.k<T>(heads), snap_opts, ws, r);
        benchmark::DoNotOptimize(r.keep.data());
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(heads));
}

template <class T>
void BM_snapkv_baseline(benchmark::State& state) {
    const auto& in = inputs();
    const auto heads = static_cast<std::size_t>(state.range(0));
    const auto check = snapkv_baseline(in.q<T>(heads), in.k<T>(heads), snap_opts);
    const auto r = nnprune::snapkv(in.q<T>(heads), in.k<T>(heads), snap_opts);
    for (std::size_t h = 0; h < heads; ++h)
        if (!std::equal(check[h].begin(), check[h].end(), r.upstream_order_of(h).begin()))
            throw std::runtime_error("snapkv baseline and nnprune disagree");
    for (auto _ : state) benchmark::DoNotOptimize(snapkv_baseline(in.q<T>(heads), in.k<T>(heads), snap_opts));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(heads));
}

template <class T>
void BM_read_keys(benchmark::State& state) {  // the read of SnapKV's and ThinK's inputs (k; q is 0.1 % of it)
    const auto& in = inputs();
    const auto heads = static_cast<std::size_t>(state.range(0));
    const T* p = in.k<T>(heads).data_handle();
    for (auto _ : state) benchmark::DoNotOptimize(read_all(p, heads * kv_tokens * kv_dim));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(heads));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(heads * kv_tokens * kv_dim * sizeof(T)));
}

BENCHMARK_TEMPLATE(BM_snapkv, bfloat16)->Arg(32)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_snapkv, float)->Arg(32)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_snapkv_baseline, bfloat16)->Arg(2)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_TEMPLATE(BM_snapkv_baseline, float)->Arg(2)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_TEMPLATE(BM_read_keys, bfloat16)->Arg(32)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_read_keys, float)->Arg(32)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------- ThinK

/// The obvious ThinK: per head and channel a strided pass over the queries and the keys
/// (k.pow(2).mean(dim=T) as a loop), then a full stable sort of the channels.
template <class T>
std::vector<std::vector<std::size_t>> think_baseline(const tensor_view<const T, 3>& q, const tensor_view<const T, 3>& k,
                                                     const nnprune::think_options& o) {
    const std::size_t h = k.extent(0), t = k.extent(1), d = k.extent(2), tq = q.extent(1),
                      nq = std::min(o.query_window, tq);
    const auto p = static_cast<std::size_t>(static_cast<double>(d) * o.ratio);
    std::vector<std::vector<std::size_t>> out;
    for (std::size_t hh = 0; hh < h; ++hh) {
        std::vector<double> score(d);
        for (std::size_t c = 0; c < d; ++c) {
            double qs = 0, ks = 0;
            for (std::size_t i = tq - nq; i < tq; ++i)
                qs += static_cast<double>(nnprune::to_float(q(hh, i, c))) * nnprune::to_float(q(hh, i, c));
            for (std::size_t j = 0; j < t; ++j)
                ks += static_cast<double>(nnprune::to_float(k(hh, j, c))) * nnprune::to_float(k(hh, j, c));
            score[c] = (qs / static_cast<double>(nq)) * (ks / static_cast<double>(t));
        }
        std::vector<std::size_t> idx(d);
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
        std::vector<std::size_t> kept(idx.begin() + static_cast<std::ptrdiff_t>(p), idx.end());
        std::sort(kept.begin(), kept.end());
        out.push_back(kept);
    }
    return out;
}

template <class T>
void BM_think(benchmark::State& state) {
    const auto& in = inputs();
    const auto heads = static_cast<std::size_t>(state.range(0));
    nnprune::think_workspace ws;
    nnprune::think_result r;
    nnprune::think(in.q<T>(heads), in.k<T>(heads), {}, ws, r);
    for (auto _ : state) {
        nnprune::think(in.q<T>(heads), in.k<T>(heads), {}, ws, r);
        benchmark::DoNotOptimize(r.channels.data());
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(heads));
}

template <class T>
void BM_think_baseline(benchmark::State& state) {
    const auto& in = inputs();
    const auto heads = static_cast<std::size_t>(state.range(0));
    const auto check = think_baseline(in.q<T>(heads), in.k<T>(heads), nnprune::think_options{});
    const auto r = nnprune::think(in.q<T>(heads), in.k<T>(heads));
    for (std::size_t h = 0; h < heads; ++h)
        if (!std::equal(check[h].begin(), check[h].end(), r.channels_of(h).begin()))
            throw std::runtime_error("think baseline and nnprune disagree");
    for (auto _ : state)
        benchmark::DoNotOptimize(think_baseline(in.q<T>(heads), in.k<T>(heads), nnprune::think_options{}));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(heads));
}

BENCHMARK_TEMPLATE(BM_think, bfloat16)->Arg(32)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_think, float)->Arg(32)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_think_baseline, bfloat16)->Arg(32)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_think_baseline, float)->Arg(32)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------- H2O

constexpr std::size_t h2o_heads = 32, h2o_hh = 2048, h2o_recent = 2048, h2o_kv = h2o_hh + h2o_recent + 1;

/// Decode attention rows [32, 1, 4097] (softmax of random logits).
const std::vector<float>& h2o_attention() {
    static const std::vector<float> a = [] {
        std::mt19937 rng(7);
        std::normal_distribution<float> nd(0.0f, 2.0f);
        std::vector<float> x(h2o_heads * h2o_kv);
        for (std::size_t h = 0; h < h2o_heads; ++h) {
            float z = 0;
            for (std::size_t j = 0; j < h2o_kv; ++j) z += (x[h * h2o_kv + j] = std::exp(nd(rng)));
            for (std::size_t j = 0; j < h2o_kv; ++j) x[h * h2o_kv + j] /= z;
        }
        return x;
    }();
    return a;
}

/// A full cache: a prefill of 4096 tokens (every query row the same attention row: a stride-0 view).
nnprune::h2o_cache h2o_full_cache() {
    nnprune::h2o_cache c({.hh_size = h2o_hh, .recent_size = h2o_recent, .heads = h2o_heads});
    using E = tensor_view<const float, 3>::extents_type;
    using S = tensor_view<const float, 3>::strides_type;
    const std::size_t t = h2o_kv - 1;
    c.step(tensor_view<const float, 3>(h2o_attention().data(), E{h2o_heads, t, t}, S{std::ptrdiff_t(h2o_kv), 0, 1}));
    return c;
}

/// The obvious H2O step: fresh vectors, a full stable sort per head.
struct h2o_baseline_state {
    std::vector<std::vector<float>> s;

    void step(const float* attn, std::size_t heads, std::size_t kv) {
        for (std::size_t h = 0; h < heads; ++h) {
            std::vector<float> a(attn + h * kv, attn + (h + 1) * kv);
            for (std::size_t j = 0; j < s[h].size(); ++j) a[j] += s[h][j];
            if (kv > h2o_hh + h2o_recent) {
                std::vector<std::size_t> idx(kv - h2o_recent);
                std::iota(idx.begin(), idx.end(), std::size_t{0});
                std::stable_sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) { return a[x] > a[y]; });
                idx.resize(h2o_hh);
                std::sort(idx.begin(), idx.end());
                std::vector<float> ns;
                for (auto j : idx) ns.push_back(a[j]);
                for (std::size_t j = kv - h2o_recent; j < kv; ++j) ns.push_back(a[j]);
                s[h] = ns;
            } else {
                s[h] = a;
            }
        }
    }
};

void BM_h2o_decode_step(benchmark::State& state) {
    const auto& a = h2o_attention();
    auto c = h2o_full_cache();
    const tensor_view<const float, 3> v(a.data(), h2o_heads, 1, h2o_kv);
    c.step(v);
    for (auto _ : state) {
        c.step(v);  // 4096 cached + 1 new -> evict 1
        benchmark::DoNotOptimize(c.kept(0).data());
    }
}

void BM_h2o_decode_step_baseline(benchmark::State& state) {
    const auto& a = h2o_attention();
    auto c = h2o_full_cache();
    h2o_baseline_state b;
    for (std::size_t h = 0; h < h2o_heads; ++h) b.s.emplace_back(c.scores(h).begin(), c.scores(h).end());
    b.step(a.data(), h2o_heads, h2o_kv);
    c.step(tensor_view<const float, 3>(a.data(), h2o_heads, 1, h2o_kv));
    for (std::size_t h = 0; h < h2o_heads; ++h)
        if (!std::equal(b.s[h].begin(), b.s[h].end(), c.scores(h).begin()))
            throw std::runtime_error("h2o baseline and nnprune disagree");
    for (auto _ : state) {
        b.step(a.data(), h2o_heads, h2o_kv);
        benchmark::DoNotOptimize(b.s[0].data());
    }
}

void BM_h2o_read(benchmark::State& state) {  // the read of one step's attention [32, 1, 4097]
    const auto& a = h2o_attention();
    for (auto _ : state) benchmark::DoNotOptimize(read_all(a.data(), a.size()));
}

BENCHMARK(BM_h2o_decode_step)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_h2o_decode_step_baseline)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_h2o_read)->Unit(benchmark::kMicrosecond);

}  // namespace
