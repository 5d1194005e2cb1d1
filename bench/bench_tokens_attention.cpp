// Attention-map token selectors (wave 2): FasterVLM / VTC-CLS (tokens/cls_attention.hpp),
// PyramidDrop (tokens/pyramid_drop.hpp) and HiPrune (tokens/hiprune.hpp). Each beside
//  - a baseline: the plain obvious implementation (element-wise reads through the view, the same
//    double accumulation, a full sort of every score under the tie rule), and
//  - a read of the inputs each method actually needs (four float accumulators over those
//    elements, as bench_memory.cpp does), the floor a memory-bound method can approach.
// Shapes: CLIP ViT-L/14-336 (577 tokens = CLS + 24 x 24 patches, 16 heads, 24 layers); PyramidDrop
// on LLaVA-1.5-7B (32 heads, a 35-token prompt, 576 image tokens, a 40-token instruction).
// Buffers are allocated and touched before the timed loops.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include <nnprune/tokens/cls_attention.hpp>
#include <nnprune/tokens/hiprune.hpp>
#include <nnprune/tokens/pyramid_drop.hpp>

namespace {

constexpr std::size_t heads = 16, tokens = 577, layers = 24;

/// Softmax-like rows: exp of a Gaussian, normalised per row (row-major, `rows` rows of `cols`).
std::vector<float> attention_rows(std::size_t rows, std::size_t cols, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, 2.0f);
    std::vector<float> a(rows * cols);
    for (std::size_t r = 0; r < rows; ++r) {
        float* p = a.data() + r * cols;
        double s = 0;
        for (std::size_t j = 0; j < cols; ++j) s += p[j] = std::exp(g(rng));
        for (std::size_t j = 0; j < cols; ++j) p[j] = static_cast<float>(p[j] / s);
    }
    return a;
}

const std::vector<float>& one_layer() {  // [16, 577, 577], 21 MB
    static const auto a = attention_rows(heads * tokens, tokens, 1);
    return a;
}

const std::vector<float>& deep_layer() {
    static const auto a = attention_rows(heads * tokens, tokens, 2);
    return a;
}

/// Ranks as the tie rule: higher score first, then lower index; a full sort, the first k, ascending.
template <class S>
std::vector<std::size_t> full_sort_top(const std::vector<S>& s, std::size_t k, std::vector<std::size_t>& idx) {
    idx.resize(s.size());
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    std::sort(idx.begin(), idx.end(),
              [&](std::size_t a, std::size_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
    std::vector<std::size_t> kept(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k));
    std::sort(kept.begin(), kept.end());
    return kept;
}

template <class T>
float read_rows(const T* base, std::size_t rows, std::ptrdiff_t row_stride, std::size_t off, std::size_t n) {
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        const T* p = base + static_cast<std::ptrdiff_t>(r) * row_stride + off;
        const std::size_t n4 = n - n % 4;
        for (std::size_t j = 0; j < n4; j += 4) {
            a0 += nnprune::to_float(p[j]);
            a1 += nnprune::to_float(p[j + 1]);
            a2 += nnprune::to_float(p[j + 2]);
            a3 += nnprune::to_float(p[j + 3]);
        }
        for (std::size_t j = n4; j < n; ++j) a0 += nnprune::to_float(p[j]);
    }
    return a0 + a1 + a2 + a3;
}

// ---------------------------------------------------------------- FasterVLM: attn [16, 577, 577]

template <class T>
const std::vector<T>& one_layer_as() {
    static const auto v = [] {
        const auto& a = one_layer();
        std::vector<T> out(a.size());
        for (std::size_t i = 0; i < a.size(); ++i) out[i] = T(a[i]);
        return out;
    }();
    return v;
}

// arg: T (kept tokens; 58 = FasterVLM's 90 % reduction of 576)
template <class T>
void bm_fastervlm(benchmark::State& st) {
    const auto& a = one_layer_as<T>();
    const nnprune::tensor_view<const T, 3> v(a.data(), heads, tokens, tokens);
    nnprune::cls_attention_result r;
    nnprune::cls_attention_workspace ws;
    const nnprune::keep_count keep{static_cast<std::size_t>(st.range(0))};
    nnprune::cls_attention(v, keep, r, ws);
    for (auto _ : st) {
        nnprune::cls_attention(v, keep, r, ws);
        benchmark::DoNotOptimize(r.kept.data());
    }
}

template <class T>
void bm_fastervlm_baseline(benchmark::State& st) {
    const auto& a = one_layer_as<T>();
    const nnprune::tensor_view<const T, 3> v(a.data(), heads, tokens, tokens);
    const auto k = static_cast<std::size_t>(st.range(0));
    std::vector<float> s(tokens - 1);
    std::vector<std::size_t> idx;
    const auto want = nnprune::cls_attention(v, nnprune::keep_count{k});
    for (auto _ : st) {
        for (std::size_t i = 0; i < tokens - 1; ++i) {
            double acc = 0;
            for (std::size_t h = 0; h < heads; ++h) acc += nnprune::to_double(v(h, 0, i + 1));
            s[i] = static_cast<float>(acc / static_cast<double>(heads));
        }
        auto kept = full_sort_top(s, k, idx);
        benchmark::DoNotOptimize(kept.data());
        if (kept != want) st.SkipWithError("baseline differs");
    }
}

template <class T>
void bm_fastervlm_read(benchmark::State& st) {  // the 16 CLS rows, 577 values each
    const auto& a = one_layer_as<T>();
    for (auto _ : st)
        benchmark::DoNotOptimize(read_rows(a.data(), heads, static_cast<std::ptrdiff_t>(tokens * tokens), 0, tokens));
}

// ---------------------------------------------------------------- VTC-CLS: [24, 16, 577, 577], layers 12..22
// Only the CLS rows are read, so the stack is stored as its CLS rows [24, 16, 1, 577] and viewed
// with query stride 0 (the other 576 rows alias the CLS row and are never touched).

const std::vector<float>& cls_rows_stack() {
    static const auto a = attention_rows(layers * heads, tokens, 3);
    return a;
}

nnprune::tensor_view<const float, 4> stack_view() {
    const auto t = static_cast<std::ptrdiff_t>(tokens);
    return {
        cls_rows_stack().data(), {layers, heads, tokens, tokens}, {static_cast<std::ptrdiff_t>(heads) * t, t, 0, 1}};
}

void bm_vtc_cls(benchmark::State& st) {
    const auto v = stack_view();
    const auto range = nnprune::vtc_cls_layers(layers, 12);
    nnprune::cls_attention_result r;
    nnprune::cls_attention_workspace ws;
    nnprune::cls_attention(v, range, nnprune::keep_count{64}, r, ws);
    for (auto _ : st) {
        nnprune::cls_attention(v, range, nnprune::keep_count{64}, r, ws);
        benchmark::DoNotOptimize(r.kept.data());
    }
}

void bm_vtc_cls_baseline(benchmark::State& st) {
    const auto v = stack_view();
    std::vector<double> tot(tokens - 1);
    std::vector<float> s(tokens - 1);
    std::vector<std::size_t> idx;
    const auto want = nnprune::cls_attention(v, nnprune::vtc_cls_layers(layers, 12), nnprune::keep_count{64});
    for (auto _ : st) {
        std::fill(tot.begin(), tot.end(), 0.0);
        for (std::size_t l = 12; l < layers - 1; ++l)
            for (std::size_t i = 0; i < tokens - 1; ++i) {
                double acc = 0;
                for (std::size_t h = 0; h < heads; ++h) acc += v(l, h, 0, i + 1);
                tot[i] += acc / static_cast<double>(heads);
            }
        for (std::size_t i = 0; i < tokens - 1; ++i) s[i] = static_cast<float>(tot[i]);
        auto kept = full_sort_top(s, 64, idx);
        benchmark::DoNotOptimize(kept.data());
        if (kept != want) st.SkipWithError("baseline differs");
    }
}

void bm_vtc_cls_read(benchmark::State& st) {  // 11 layers x 16 CLS rows
    const float* p = cls_rows_stack().data() + 12 * heads * tokens;
    for (auto _ : st)
        benchmark::DoNotOptimize(read_rows(p, 11 * heads, static_cast<std::ptrdiff_t>(tokens), 0, tokens));
}

// ---------------------------------------------------------------- PyramidDrop: row [32, 651], 576 -> 288

constexpr std::size_t pd_heads = 32, pd_start = 35, pd_image = 576, pd_len = 35 + 576 + 40;

const std::vector<float>& pd_row() {
    static const auto a = attention_rows(pd_heads, pd_len, 4);
    return a;
}

void bm_pdrop(benchmark::State& st) {
    const nnprune::tensor_view<const float, 2> v(pd_row().data(), pd_heads, pd_len);
    nnprune::pdrop_result r;
    nnprune::pdrop_workspace ws;
    nnprune::pdrop_select(v, pd_start, pd_image, 288, r, ws);
    for (auto _ : st) {
        nnprune::pdrop_select(v, pd_start, pd_image, 288, r, ws);
        benchmark::DoNotOptimize(r.kept.data());
    }
}

void bm_pdrop_baseline(benchmark::State& st) {
    const nnprune::tensor_view<const float, 2> v(pd_row().data(), pd_heads, pd_len);
    std::vector<float> s(pd_image);
    std::vector<std::size_t> idx;
    const auto want = nnprune::pdrop_select(v, pd_start, pd_image, 288);
    for (auto _ : st) {
        for (std::size_t i = 0; i < pd_image; ++i) {
            double acc = 0;
            for (std::size_t h = 0; h < pd_heads; ++h) acc += v(h, pd_start + i);
            s[i] = static_cast<float>(acc / static_cast<double>(pd_heads));
        }
        auto kept = full_sort_top(s, 288, idx);
        benchmark::DoNotOptimize(kept.data());
        if (kept != want) st.SkipWithError("baseline differs");
    }
}

void bm_pdrop_read(benchmark::State& st) {  // the image columns of the 32 rows
    for (auto _ : st)
        benchmark::DoNotOptimize(
            read_rows(pd_row().data(), pd_heads, static_cast<std::ptrdiff_t>(pd_len), pd_start, pd_image));
}

// ---------------------------------------------------------------- HiPrune: 2 x [16, 577, 577], V = 192

void bm_hiprune(benchmark::State& st) {
    const nnprune::tensor_view<const float, 3> vo(one_layer().data(), heads, tokens, tokens),
        vd(deep_layer().data(), heads, tokens, tokens);
    const nnprune::hiprune_options o{.budget = static_cast<std::size_t>(st.range(0))};
    nnprune::hiprune_result r;
    nnprune::hiprune_workspace ws;
    nnprune::hiprune(vo, vd, o, r, ws);
    for (auto _ : st) {
        nnprune::hiprune(vo, vd, o, r, ws);
        benchmark::DoNotOptimize(r.kept.data());
    }
}

/// g over every query row, element by element through the view, in double.
std::vector<float> plain_global(const nnprune::tensor_view<const float, 3>& a) {
    std::vector<double> acc(tokens, 0.0);
    for (std::size_t h = 0; h < heads; ++h)
        for (std::size_t q = 0; q < tokens; ++q)
            for (std::size_t k = 0; k < tokens; ++k) acc[k] += a(h, q, k);
    std::vector<float> g(tokens - 1);
    for (std::size_t i = 0; i < tokens - 1; ++i)
        g[i] = static_cast<float>(acc[i + 1] / static_cast<double>(heads * tokens));
    return g;
}

void bm_hiprune_baseline(benchmark::State& st) {
    const nnprune::tensor_view<const float, 3> vo(one_layer().data(), heads, tokens, tokens),
        vd(deep_layer().data(), heads, tokens, tokens);
    const auto v = static_cast<std::size_t>(st.range(0));
    const long n = static_cast<long>(tokens) - 1;
    std::vector<std::size_t> idx;
    const auto want = nnprune::hiprune(vo, vd, {.budget = v});
    for (auto _ : st) {
        const auto go = plain_global(vo);
        auto gd = plain_global(vd);
        const std::size_t n_a = nnprune::hiprune_anchor_count(v, 0.1);
        idx.resize(go.size());
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        std::sort(idx.begin(), idx.end(),
                  [&](std::size_t a, std::size_t b) { return go[a] > go[b] || (go[a] == go[b] && a < b); });
        std::vector<std::size_t> s;
        for (std::size_t t = 0; t < n_a; ++t)
            for (long d : {0L, -1L, 1L, -24L, 24L})
                s.push_back(static_cast<std::size_t>(std::clamp(long(idx[t]) + d, 0L, n - 1)));
        std::sort(s.begin(), s.end());
        s.erase(std::unique(s.begin(), s.end()), s.end());
        for (auto i : s) gd[i] -= 1.0f;
        auto reg = full_sort_top(gd, v - s.size(), idx);
        s.insert(s.end(), reg.begin(), reg.end());
        std::sort(s.begin(), s.end());
        benchmark::DoNotOptimize(s.data());
        if (s != want) st.SkipWithError("baseline differs");
    }
}

void bm_hiprune_read(benchmark::State& st) {  // both maps, every element
    for (auto _ : st) {
        benchmark::DoNotOptimize(
            read_rows(one_layer().data(), heads * tokens, static_cast<std::ptrdiff_t>(tokens), 0, tokens));
        benchmark::DoNotOptimize(
            read_rows(deep_layer().data(), heads * tokens, static_cast<std::ptrdiff_t>(tokens), 0, tokens));
    }
}

}  // namespace

BENCHMARK(bm_fastervlm<float>)->Arg(58)->Arg(144)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_fastervlm_baseline<float>)->Arg(58)->Arg(144)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_fastervlm_read<float>)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_fastervlm<nnprune::bfloat16>)->Arg(58)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_fastervlm_baseline<nnprune::bfloat16>)->Arg(58)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_fastervlm_read<nnprune::bfloat16>)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_vtc_cls)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_vtc_cls_baseline)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_vtc_cls_read)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_pdrop)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_pdrop_baseline)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_pdrop_read)->Unit(benchmark::kMicrosecond);
BENCHMARK(bm_hiprune)->Arg(192)->Arg(64)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_hiprune_baseline)->Arg(192)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_hiprune_read)->Unit(benchmark::kMillisecond);
