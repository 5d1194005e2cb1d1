// Token merging benchmarks: ToMe (bipartite soft matching + merge_wavg) and VisionZip (dominant +
// contextual tokens), each against the plain obvious implementation of its spec (full similarity
// matrix by plain loops, full stable sort, scatter) and a read of the inputs (a plain sum over the
// elements the method must read, same dtype). Every buffer is allocated and touched before timing.
//
// Shapes from the issue: ToMe on ViT-L/14 at 336 px: t = 577 tokens, C = 1024 channels, metric
// c = 64 (the keys averaged over the 16 heads), r = 16 merges, batch 8. VisionZip: CLIP-L/336
// layer 22, hidden 577 x 1024, 16-head attention 577 x 577, metric 577 x 64.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "token_data.hpp"
#include <nnprune/tokens/tome.hpp>
#include <nnprune/tokens/visionzip.hpp>

namespace bench_merge {

constexpr std::size_t batch = 8, t = 577, cdim = 1024, mdim = 64, heads = 16;
constexpr std::int64_t r = 16;

struct tome_data {
    std::vector<float> metric, x, size;

    tome_data() {
        for (std::size_t b = 0; b < batch; ++b) {
            const auto m = bench_tokens::clustered(t, mdim, 11u + static_cast<unsigned>(b));
            metric.insert(metric.end(), m.begin(), m.end());
        }
        x = bench_tokens::gaussian(batch * t, cdim, 5);
        size.resize(batch * t);
        std::mt19937 g(3);
        for (auto& s : size) s = static_cast<float>(1 + g() % 4);  // merged-token sizes of an earlier layer
    }
};

/// A plain sum with four accumulators (as bench_memory.cpp reads memory).
float read_sum(const float* p, std::size_t n) {
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const std::size_t n4 = n - n % 4;
    for (std::size_t j = 0; j < n4; j += 4) {
        a0 += p[j];
        a1 += p[j + 1];
        a2 += p[j + 2];
        a3 += p[j + 3];
    }
    for (std::size_t j = n4; j < n; ++j) a0 += p[j];
    return a0 + a1 + a2 + a3;
}

const tome_data& tdata() {
    static const tome_data d;
    return d;
}

/// The plain implementation of tokens.md §1 for one item, into preallocated buffers.
struct tome_plain {
    std::vector<float> unit, sim, node_max, xs, num, den;
    std::vector<std::size_t> node_idx, edge;

    void run(const float* metric, const float* x, const float* size, float* out, float* size_out) {
        const std::size_t ta = (t + 1) / 2, tb = t / 2, rr = static_cast<std::size_t>(r);
        unit.resize(t * mdim);
        for (std::size_t i = 0; i < t; ++i) {
            float ss = 0;
            for (std::size_t k = 0; k < mdim; ++k) ss += metric[i * mdim + k] * metric[i * mdim + k];
            const float n = std::sqrt(ss);
            for (std::size_t k = 0; k < mdim; ++k) unit[i * mdim + k] = metric[i * mdim + k] / n;
        }
        sim.resize(ta * tb);
        for (std::size_t i = 0; i < ta; ++i)
            for (std::size_t j = 0; j < tb; ++j) {
                float s = 0;
                for (std::size_t k = 0; k < mdim; ++k) s += unit[2 * i * mdim + k] * unit[(2 * j + 1) * mdim + k];
                sim[i * tb + j] = s;
            }
        for (std::size_t j = 0; j < tb; ++j) sim[j] = -std::numeric_limits<float>::infinity();  // class token
        node_max.resize(ta);
        node_idx.resize(ta);
        for (std::size_t i = 0; i < ta; ++i) {
            const float* s = sim.data() + i * tb;
            const auto it = std::max_element(s, s + tb);
            node_max[i] = *it;
            node_idx[i] = static_cast<std::size_t>(it - s);
        }
        edge.resize(ta);
        std::iota(edge.begin(), edge.end(), std::size_t{0});
        std::stable_sort(edge.begin(), edge.end(),
                         [&](std::size_t a, std::size_t b) { return node_max[a] > node_max[b]; });
        std::sort(edge.begin() + static_cast<std::ptrdiff_t>(rr), edge.end());  // unm ascending (class token)
        // merge_sum(x * size) / merge_sum(size): scatter into the destinations, then concat
        num.resize(tb * cdim);
        den.resize(tb);
        for (std::size_t j = 0; j < tb; ++j) {
            den[j] = size[2 * j + 1];
            for (std::size_t k = 0; k < cdim; ++k) num[j * cdim + k] = x[(2 * j + 1) * cdim + k] * size[2 * j + 1];
        }
        for (std::size_t e = 0; e < rr; ++e) {
            const std::size_t a = 2 * edge[e], j = node_idx[edge[e]];
            den[j] += size[a];
            for (std::size_t k = 0; k < cdim; ++k) num[j * cdim + k] += x[a * cdim + k] * size[a];
        }
        std::size_t o = 0;
        for (std::size_t u = rr; u < ta; ++u, ++o) {
            const std::size_t a = 2 * edge[u];
            for (std::size_t k = 0; k < cdim; ++k) out[o * cdim + k] = x[a * cdim + k] * size[a] / size[a];
            size_out[o] = size[a];
        }
        for (std::size_t j = 0; j < tb; ++j, ++o) {
            for (std::size_t k = 0; k < cdim; ++k) out[o * cdim + k] = num[j * cdim + k] / den[j];
            size_out[o] = den[j];
        }
    }
};

void bm_tome_nnprune(benchmark::State& state) {
    const auto& d = tdata();
    const nnprune::tensor_view<const float, 3> mv(d.metric.data(), batch, t, mdim), xv(d.x.data(), batch, t, cdim);
    const nnprune::matrix_view<const float> sv(d.size.data(), batch, t);
    const std::size_t rows = t - static_cast<std::size_t>(r);
    std::vector<float> out(batch * rows * cdim, 1.0f), sout(batch * rows, 1.0f);
    std::vector<nnprune::tome_matching> ms;
    std::vector<nnprune::tome_workspace> ws;
    const auto threads = static_cast<unsigned>(state.range(0));
    auto once = [&] {
        nnprune::tome_match_batch(mv, r, {.class_token = true}, ms, ws, threads);
        nnprune::tome_merge_wavg_batch(std::span<const nnprune::tome_matching>(ms), xv, sv,
                                       nnprune::tensor_view<float, 3>(out.data(), batch, rows, cdim),
                                       nnprune::matrix_view<float>(sout.data(), batch, rows), ws, threads);
    };
    once();
    for (auto _ : state) {
        once();
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
}

void bm_tome_match_only(benchmark::State& state) {
    const auto& d = tdata();
    const nnprune::tensor_view<const float, 3> mv(d.metric.data(), batch, t, mdim);
    std::vector<nnprune::tome_matching> ms;
    std::vector<nnprune::tome_workspace> ws;
    nnprune::tome_match_batch(mv, r, {.class_token = true}, ms, ws);
    for (auto _ : state) {
        nnprune::tome_match_batch(mv, r, {.class_token = true}, ms, ws);
        benchmark::DoNotOptimize(ms.data());
    }
}

void bm_tome_merge_only(benchmark::State& state) {
    const auto& d = tdata();
    const nnprune::tensor_view<const float, 3> mv(d.metric.data(), batch, t, mdim), xv(d.x.data(), batch, t, cdim);
    const nnprune::matrix_view<const float> sv(d.size.data(), batch, t);
    const std::size_t rows = t - static_cast<std::size_t>(r);
    std::vector<float> out(batch * rows * cdim, 1.0f), sout(batch * rows, 1.0f);
    std::vector<nnprune::tome_matching> ms;
    std::vector<nnprune::tome_workspace> ws;
    nnprune::tome_match_batch(mv, r, {.class_token = true}, ms, ws);
    for (auto _ : state) {
        nnprune::tome_merge_wavg_batch(std::span<const nnprune::tome_matching>(ms), xv, sv,
                                       nnprune::tensor_view<float, 3>(out.data(), batch, rows, cdim),
                                       nnprune::matrix_view<float>(sout.data(), batch, rows), ws);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
}

void bm_tome_baseline(benchmark::State& state) {
    const auto& d = tdata();
    const std::size_t rows = t - static_cast<std::size_t>(r);
    std::vector<float> out(batch * rows * cdim, 1.0f), sout(batch * rows, 1.0f);
    tome_plain p;
    auto once = [&] {
        for (std::size_t b = 0; b < batch; ++b)
            p.run(d.metric.data() + b * t * mdim, d.x.data() + b * t * cdim, d.size.data() + b * t,
                  out.data() + b * rows * cdim, sout.data() + b * rows);
    };
    once();
    for (auto _ : state) {
        once();
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
}

/// Read of the inputs: x, metric and size once each (what any merge must read).
void bm_tome_read(benchmark::State& state) {
    const auto& d = tdata();
    for (auto _ : state) {
        benchmark::DoNotOptimize(read_sum(d.x.data(), d.x.size()) + read_sum(d.metric.data(), d.metric.size()) +
                                 read_sum(d.size.data(), d.size.size()));
    }
}

// ------------------------------------------------------------------------------------------
// VisionZip
// ------------------------------------------------------------------------------------------

struct vz_data {
    std::vector<float> hidden, attn, metric;

    vz_data() {
        hidden = bench_tokens::gaussian(t, cdim, 21);
        metric = bench_tokens::clustered(t, mdim, 22);
        attn.resize(heads * t * t);
        std::mt19937 g(23);
        std::exponential_distribution<float> e;
        for (std::size_t row = 0; row < heads * t; ++row) {  // softmax-like rows
            float s = 0;
            for (std::size_t k = 0; k < t; ++k) s += attn[row * t + k] = e(g);
            for (std::size_t k = 0; k < t; ++k) attn[row * t + k] /= s;
        }
    }
};

const vz_data& vdata() {
    static const vz_data d;
    return d;
}

/// The plain implementation of tokens.md §4, into preallocated buffers.
struct vz_plain {
    std::vector<float> score, unit, sim, out;
    std::vector<std::size_t> order, dom, rem, tgt, assign;
    std::vector<float> sums;
    std::vector<std::size_t> cnt;

    void run(const vz_data& d, std::size_t dominant, std::size_t contextual) {
        score.assign(t, 0.0f);
        for (std::size_t h = 0; h < heads; ++h)
            for (std::size_t k = 1; k < t; ++k) score[k] += d.attn[(h * t + 0) * t + k];
        order.resize(t - 1);
        std::iota(order.begin(), order.end(), std::size_t{1});
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
        dom.assign(1, 0);
        dom.insert(dom.end(), order.begin(), order.begin() + static_cast<std::ptrdiff_t>(dominant - 1));
        std::sort(dom.begin(), dom.end());
        rem.clear();
        for (std::size_t k = 0, i = 0; k < t; ++k) {
            if (i < dom.size() && dom[i] == k) {
                ++i;
                continue;
            }
            rem.push_back(k);
        }
        const std::size_t n = rem.size(), step = std::max<std::size_t>(1, n / contextual);
        unit.resize(n * mdim);
        for (std::size_t p = 0; p < n; ++p) {
            float ss = 0;
            for (std::size_t k = 0; k < mdim; ++k) ss += d.metric[rem[p] * mdim + k] * d.metric[rem[p] * mdim + k];
            for (std::size_t k = 0; k < mdim; ++k) unit[p * mdim + k] = d.metric[rem[p] * mdim + k] / std::sqrt(ss);
        }
        tgt.clear();
        for (std::size_t p = 0; p < n && tgt.size() < contextual; p += step) tgt.push_back(p);
        sim.resize(n * contextual);  // full similarity matrix, every remaining row x every target
        for (std::size_t p = 0; p < n; ++p)
            for (std::size_t q = 0; q < contextual; ++q) {
                float s = 0;
                for (std::size_t k = 0; k < mdim; ++k) s += unit[p * mdim + k] * unit[tgt[q] * mdim + k];
                sim[p * contextual + q] = s;
            }
        assign.resize(n);
        cnt.assign(contextual, 0);
        sums.assign(contextual * cdim, 0.0f);
        for (std::size_t p = 0; p < n; ++p) {
            if (p % step == 0 && p / step < contextual) continue;
            const float* s = sim.data() + p * contextual;
            assign[p] = static_cast<std::size_t>(std::max_element(s, s + contextual) - s);
            ++cnt[assign[p]];
            for (std::size_t k = 0; k < cdim; ++k) sums[assign[p] * cdim + k] += d.hidden[rem[p] * cdim + k];
        }
        out.resize((dominant + contextual) * cdim);
        for (std::size_t i = 0; i < dominant; ++i)
            std::copy(d.hidden.begin() + static_cast<std::ptrdiff_t>(dom[i] * cdim),
                      d.hidden.begin() + static_cast<std::ptrdiff_t>(dom[i] * cdim + cdim),
                      out.begin() + static_cast<std::ptrdiff_t>(i * cdim));
        for (std::size_t q = 0; q < contextual; ++q) {
            const float c = static_cast<float>(std::max<std::size_t>(1, cnt[q]));
            for (std::size_t k = 0; k < cdim; ++k)
                out[(dominant + q) * cdim + k] = d.hidden[rem[tgt[q]] * cdim + k] + sums[q * cdim + k] / c;
        }
    }
};

// args: dominant, contextual
void bm_visionzip_nnprune(benchmark::State& state) {
    const auto& d = vdata();
    const auto dom = static_cast<std::size_t>(state.range(0)), ctx = static_cast<std::size_t>(state.range(1));
    const nnprune::matrix_view<const float> hv(d.hidden.data(), t, cdim), mv(d.metric.data(), t, mdim);
    const nnprune::tensor_view<const float, 3> av(d.attn.data(), heads, t, t);
    nnprune::visionzip_result res;
    nnprune::visionzip_workspace ws;
    nnprune::visionzip(hv, av, mv, {dom, ctx, 0}, res, ws);
    for (auto _ : state) {
        nnprune::visionzip(hv, av, mv, {dom, ctx, 0}, res, ws);
        benchmark::DoNotOptimize(res.tokens.data());
        benchmark::ClobberMemory();
    }
}

void bm_visionzip_baseline(benchmark::State& state) {
    const auto& d = vdata();
    const auto dom = static_cast<std::size_t>(state.range(0)), ctx = static_cast<std::size_t>(state.range(1));
    vz_plain p;
    p.run(d, dom, ctx);
    for (auto _ : state) {
        p.run(d, dom, ctx);
        benchmark::DoNotOptimize(p.out.data());
        benchmark::ClobberMemory();
    }
}

/// Read of what VisionZip must read: hidden, metric and the [CLS] row of every head.
void bm_visionzip_read(benchmark::State& state) {
    const auto& d = vdata();
    for (auto _ : state) {
        float s = read_sum(d.hidden.data(), d.hidden.size()) + read_sum(d.metric.data(), d.metric.size());
        for (std::size_t h = 0; h < heads; ++h) s += read_sum(d.attn.data() + h * t * t, t);
        benchmark::DoNotOptimize(s);
    }
}

/// Read of every input element, the whole attention included (21 MiB of it).
void bm_visionzip_read_all(benchmark::State& state) {
    const auto& d = vdata();
    for (auto _ : state) {
        benchmark::DoNotOptimize(read_sum(d.hidden.data(), d.hidden.size()) +
                                 read_sum(d.metric.data(), d.metric.size()) + read_sum(d.attn.data(), d.attn.size()));
    }
}

}  // namespace bench_merge

BENCHMARK(bench_merge::bm_tome_nnprune)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(bench_merge::bm_tome_match_only)->Unit(benchmark::kMicrosecond);
BENCHMARK(bench_merge::bm_tome_merge_only)->Unit(benchmark::kMicrosecond);
BENCHMARK(bench_merge::bm_tome_baseline)->Unit(benchmark::kMicrosecond);
BENCHMARK(bench_merge::bm_tome_read)->Unit(benchmark::kMicrosecond);
BENCHMARK(bench_merge::bm_visionzip_nnprune)->Args({54, 10})->Args({191, 30})->Unit(benchmark::kMicrosecond);
BENCHMARK(bench_merge::bm_visionzip_baseline)->Args({54, 10})->Args({191, 30})->Unit(benchmark::kMicrosecond);
BENCHMARK(bench_merge::bm_visionzip_read)->Unit(benchmark::kMicrosecond);
BENCHMARK(bench_merge::bm_visionzip_read_all)->Unit(benchmark::kMicrosecond);
