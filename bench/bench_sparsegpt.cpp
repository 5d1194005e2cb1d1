// SparseGPT benchmarks (issue 12 "Targets"), each beside its baselines in the same binary:
//  - sparsegpt/<rows>x<in>/<mode>/threads:<t>: nnprune::sparsegpt_prune on W [4096, 4096] with H
//    [4096, 4096] and W [4096, 11008] with H [11008, 11008]; modes unstructured 50% (the reference's
//    threshold rule, sparsegpt_mask::upstream, so that the mask is the peer's and the port's;
//    "unstructured50-block" is the library's default rule, 1 thread) and 2:4 (keep_n = 2,
//    group_m = 4); blocksize 128, percdamp 0.01; threads 1 and 2. The 2-thread runs are labelled
//    with whether their weights are bit-identical to the 1-thread run's.
//  - naive_port/<rows>x<in>/<mode>: a straightforward C++ port of the reference loop, single
//    thread: column by column, W[:, i+1:] -= err ⊗ U[i, i+1:] over the whole remaining matrix (a
//    rank-1 update, no lazy batching), the mask chosen per 128-block as the reference does. The
//    upper Cholesky factor U of H⁻¹ is computed the reference way (cholesky, cholesky_inverse,
//    cholesky of the inverse), but with Eigen's blocked LLT / triangular solve / rank update
//    rather than a scalar triple loop, so that it stays tractable (it is only a small part of the
//    port's time). Counters: factor_s, sweep_s, and mask_diff / w_rel_diff against nnprune's
//    1-thread result on the same input (a check of the port). The 4096x11008 port takes minutes:
//    it is registered only when NNPRUNE_BENCH_SLOW=1 is set (then select it with a filter).
//  - eigen_gemm/<rows>x<in> and nnprune_gemm/<rows>x<in>: one GEMM of the shape of the sweep's
//    largest lazy-batch update, C[128, rows] += A[128, in]·B[in, rows], single thread, as
//    references for the achieved GFLOP/s (Eigen as this binary is built: no -march unless
//    NNPRUNE_BENCH_NATIVE; nnprune's simd::gemm picks its tier at run time).
//
// Flop count of SparseGPT (counter GFLOP/s = this / wall time; the naive port's counter uses its
// own count, 4/3·in³ + rows·in²):
//   in³/3               the Cholesky factorisation of H (one factorisation, see sparsegpt.hpp)
//   + rows·in²          the lazy-batch GEMMs: Σ over blocks 2·128·rows·c0 ≈ rows·in²
//   + rows·in·128       the rank-1 steps inside each block: Σ_j 2·rows·(128 − j) per block
// (the saliencies, the selection and the start-of-block triangular solve are not counted).
//
// Data (made once per shape, cached in static storage, never timed): W uniform in [-1, 1]; H from
// 2048 synthetic calibration tokens X [2048, in], X(t, j) = s_j·(u_tj + 0.5·f_t + 0.3·g_{t, j/64})
// (a common factor and groups of 64 correlated inputs; s_j = 10 on every 97th input, 1 elsewhere),
// H = (2/2048)·XᵀX (one simd::gemm) + 2·(0.5·s_j)² on the diagonal, the limit of the independent
// per-input noise of many more tokens, so that H has full rank as with 128 x 2048 tokens.
// One sparsegpt_workspace is reused by every run (grown once in an untimed warm-up run), and W is
// restored from a pristine copy with the timer paused.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <nnprune/reconstruct/sparsegpt.hpp>
#include <nnprune/scorers/random.hpp>
#include <nnprune/simd/gemm.hpp>

namespace {

constexpr std::size_t k_rows = 4096, k_tokens = 2048, k_block = 128;
constexpr double k_percdamp = 0.01;

enum class mode { unstructured, nm24, unstructured_block };

const char* mode_name(mode m) {
    switch (m) {
        case mode::nm24:
            return "2:4";
        case mode::unstructured_block:
            return "unstructured50-block";
        case mode::unstructured:
            break;
    }
    return "unstructured50";
}

std::string shape_name(std::size_t in) { return std::to_string(k_rows) + "x" + std::to_string(in); }

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// One shape's data: pristine weights, the working copy and the Hessian (row-major).
struct layer_data {
    std::size_t rows = k_rows, in = 0;
    std::vector<float> w0, w, h;
};

layer_data make_layer(std::size_t in) {
    layer_data d;
    d.in = in;
    nnprune::splitmix64 g(in);
    d.w0.resize(k_rows * in);
    for (auto& x : d.w0) x = g.uniform() * 2.0f - 1.0f;
    d.w = d.w0;
    std::vector<float> scale(in), x(k_tokens * in);
    for (std::size_t j = 0; j < in; ++j) scale[j] = j % 97 == 0 ? 10.0f : 1.0f;
    const std::size_t groups = (in + 63) / 64;
    std::vector<float> grp(groups);
    for (std::size_t t = 0; t < k_tokens; ++t) {
        const float f = g.uniform() * 2.0f - 1.0f;
        for (auto& v : grp) v = g.uniform() * 2.0f - 1.0f;
        for (std::size_t j = 0; j < in; ++j)
            x[t * in + j] = scale[j] * ((g.uniform() * 2.0f - 1.0f) + 0.5f * f + 0.3f * grp[j / 64]);
    }
    d.h.assign(in * in, 0.0f);
    namespace simd = nnprune::simd;
    const auto n = static_cast<std::ptrdiff_t>(in);
    // H(i, j) += Σ_t X(t, i)·X(t, j): A = Xᵀ, B = X; the lower triangle, then mirrored
    simd::gemm(simd::gemm_op::add, in, in, k_tokens, simd::gemm_operand{x.data(), 1, n},
               simd::gemm_operand{x.data(), n, 1}, d.h.data(), in, simd::gemm_part::lower, 2);
    const float c = 2.0f / static_cast<float>(k_tokens);
    for (std::size_t i = 0; i < in; ++i) {
        for (std::size_t j = 0; j < i; ++j) d.h[j * in + i] = d.h[i * in + j] *= c;
        d.h[i * in + i] = d.h[i * in + i] * c + 2.0f * 0.25f * scale[i] * scale[i];
    }
    return d;
}

layer_data& layer(std::size_t in) {
    static std::map<std::size_t, std::unique_ptr<layer_data>> cache;
    auto& p = cache[in];
    if (!p) p = std::make_unique<layer_data>(make_layer(in));
    return *p;
}

/// One workspace for every run (its buffers only grow), warmed once per shape untimed.
nnprune::sparsegpt_workspace& workspace() {
    static nnprune::sparsegpt_workspace ws;
    return ws;
}

nnprune::sparsegpt_options options(mode m, unsigned threads) {
    nnprune::sparsegpt_options o;
    o.blocksize = k_block;
    o.percdamp = k_percdamp;
    o.threads = threads;
    if (m == mode::nm24) {
        o.keep_n = 2;
        o.group_m = 4;
    } else {
        o.sparsity = 0.5;
        o.selection = m == mode::unstructured ? nnprune::sparsegpt_mask::upstream : nnprune::sparsegpt_mask::block;
    }
    return o;
}

double sparsegpt_flops(std::size_t rows, std::size_t in) {
    const double n = static_cast<double>(in), r = static_cast<double>(rows);
    return n * n * n / 3.0 + r * n * n + r * n * static_cast<double>(k_block);
}

std::uint64_t fnv1a(const void* p, std::size_t bytes) {
    const auto* b = static_cast<const unsigned char*>(p);
    std::uint64_t h = 1469598103934665603ull;
    for (std::size_t i = 0; i < bytes; ++i) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/// nnprune's 1-thread result per (in, mode): the reference for the 2-thread run and the port.
struct result {
    std::vector<float> w;
    std::uint64_t hash = 0;
};

std::map<std::tuple<std::size_t, int>, result>& results() {
    static std::map<std::tuple<std::size_t, int>, result> r;
    return r;
}

void bm_sparsegpt(benchmark::State& st, std::size_t in, mode m, unsigned threads) {
    layer_data& d = layer(in);
    nnprune::mask msk(nnprune::shape{d.rows, d.in});
    const auto o = options(m, threads);
    const nnprune::matrix_view<float> wv(d.w.data(), d.rows, d.in);
    const nnprune::matrix_view<const float> hv(d.h.data(), d.in, d.in);
    auto& ws = workspace();
    static std::map<std::size_t, bool> warmed;
    if (!warmed[in]) {  // grow the workspace and fault its pages in, untimed
        nnprune::sparsegpt_prune(wv, hv, msk.view(), o, &ws);
        warmed[in] = true;
    }
    nnprune::sparsegpt_report rep;
    for (auto _ : st) {
        st.PauseTiming();
        std::copy(d.w0.begin(), d.w0.end(), d.w.begin());
        st.ResumeTiming();
        rep = nnprune::sparsegpt_prune(wv, hv, msk.view(), o, &ws);
        benchmark::DoNotOptimize(d.w.data());
    }
    const double flops = sparsegpt_flops(d.rows, d.in);
    st.counters["GFLOP"] = flops * 1e-9;
    st.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    st.counters["loss"] = rep.loss;
    st.counters["sparsity"] = static_cast<double>(rep.pruned) / static_cast<double>(d.rows * d.in);
    st.counters["workspace_MB"] = static_cast<double>(ws.bytes()) / (1024.0 * 1024.0);
    const auto key = std::make_tuple(in, static_cast<int>(m));
    const std::uint64_t h = fnv1a(d.w.data(), d.w.size() * sizeof(float));
    if (threads == 1) {
        results()[key] = result{d.w, h};
    } else if (const auto it = results().find(key); it != results().end()) {
        st.SetLabel(it->second.hash == h ? "identical to 1 thread" : "DIFFERS from 1 thread");
        st.counters["identical"] = it->second.hash == h ? 1.0 : 0.0;
    }
}

// ---- the straightforward port of the reference loop ------------------------------------------

using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The reference's preparation: dead columns, damping, U = chol(H⁻¹, upper) as cholesky →
/// cholesky_inverse → cholesky(upper), float32. U into u (row-major, upper triangle), W's dead
/// columns zeroed.
void reference_factor(const layer_data& d, std::vector<float>& w, row_major& u) {
    const std::size_t n = d.in;
    const auto ni = static_cast<Eigen::Index>(n);
    row_major h = Eigen::Map<const row_major>(d.h.data(), ni, ni);
    for (std::size_t j = 0; j < n; ++j)
        if (h(Eigen::Index(j), Eigen::Index(j)) == 0.0f) {
            h(Eigen::Index(j), Eigen::Index(j)) = 1.0f;
            for (std::size_t r = 0; r < d.rows; ++r) w[r * n + j] = 0.0f;
        }
    const float damp = static_cast<float>(k_percdamp) * h.diagonal().mean();
    h.diagonal().array() += damp;
    // torch.linalg.cholesky(H): L
    Eigen::LLT<Eigen::Ref<row_major>, Eigen::Lower> l(h);
    // torch.cholesky_inverse(L): H⁻¹ = L⁻ᵀ·L⁻¹ (L⁻¹ by a triangular solve, then a rank update)
    row_major linv = row_major::Identity(ni, ni);
    l.matrixL().solveInPlace(linv);
    row_major hinv = row_major::Zero(ni, ni);
    hinv.selfadjointView<Eigen::Upper>().rankUpdate(linv.transpose());
    linv.resize(0, 0);
    // torch.linalg.cholesky(H⁻¹, upper=True): U with UᵀU = H⁻¹
    Eigen::LLT<Eigen::Ref<row_major>, Eigen::Upper> uf(hinv);
    u = uf.matrixU();
}

/// The reference's column sweep, literally and without lazy batching: for each column i, q, err =
/// (w − q)/U_ii, and W[:, i+1:] −= err ⊗ U[i, i+1:] over the whole rest of the matrix. The mask:
/// unstructured, at each 128-block start, prune score <= sort(score)[int(numel·s)] over the block
/// (score = W² / U_ii², the current weights); N:M, at each group start, the prunen = M − N
/// smallest scores of each row (lower column first on ties). Returns the loss.
double reference_sweep(std::vector<float>& w, std::size_t rows, std::size_t n, const row_major& u, mode m) {
    const float* up = u.data();
    double loss = 0.0;
    std::vector<char> pruned(rows * k_block);
    std::vector<float> score(rows * k_block), tmp;
    for (std::size_t i1 = 0; i1 < n; i1 += k_block) {
        const std::size_t i2 = std::min(i1 + k_block, n), width = i2 - i1;
        if (m != mode::nm24) {
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t j = 0; j < width; ++j) {
                    const float x = w[r * n + i1 + j], dg = up[(i1 + j) * n + i1 + j];
                    score[r * width + j] = x * x / (dg * dg);
                }
            const std::size_t numel = rows * width, at = static_cast<std::size_t>(static_cast<double>(numel) * 0.5);
            tmp.assign(score.begin(), score.begin() + static_cast<std::ptrdiff_t>(numel));
            std::nth_element(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(at), tmp.end());
            const float thr = tmp[at];
            for (std::size_t e = 0; e < numel; ++e) pruned[e] = score[e] <= thr;
        }
        for (std::size_t i = i1; i < i2; ++i) {
            const std::size_t j = i - i1;
            if (m == mode::nm24 && j % 4 == 0)
                for (std::size_t r = 0; r < rows; ++r) {
                    float s[4];
                    for (std::size_t g = 0; g < 4; ++g) {
                        const float x = w[r * n + i + g], dg = up[(i + g) * n + i + g];
                        s[g] = x * x / (dg * dg);
                        pruned[r * width + j + g] = 0;
                    }
                    for (int k = 0; k < 2; ++k) {  // prunen = 2 of every 4
                        std::size_t best = 4;
                        for (std::size_t g = 0; g < 4; ++g)
                            if (!pruned[r * width + j + g] && (best == 4 || s[g] < s[best])) best = g;
                        pruned[r * width + j + best] = 1;
                    }
                }
            const float dg = up[i * n + i];
            const float* urow = up + i * n;
            for (std::size_t r = 0; r < rows; ++r) {
                float* wr = w.data() + r * n;
                const float x = wr[i], q = pruned[r * width + j] ? 0.0f : x;
                const float err = (x - q) / dg;
                loss += static_cast<double>(err) * static_cast<double>(err) / 2.0;
                wr[i] = q;
                for (std::size_t c = i + 1; c < n; ++c) wr[c] -= err * urow[c];
            }
        }
    }
    return loss;
}

void bm_naive(benchmark::State& st, std::size_t in, mode m) {
    layer_data& d = layer(in);
    static row_major u;
    double factor_s = 0.0, sweep_s = 0.0, loss = 0.0;
    for (auto _ : st) {
        st.PauseTiming();
        std::copy(d.w0.begin(), d.w0.end(), d.w.begin());
        st.ResumeTiming();
        const auto t0 = std::chrono::steady_clock::now();
        reference_factor(d, d.w, u);
        factor_s += seconds_since(t0);
        const auto t1 = std::chrono::steady_clock::now();
        loss = reference_sweep(d.w, d.rows, d.in, u, m);
        sweep_s += seconds_since(t1);
    }
    const auto iters = static_cast<double>(st.iterations());
    const double n = static_cast<double>(d.in), flops = 4.0 / 3.0 * n * n * n + static_cast<double>(d.rows) * n * n;
    st.counters["factor_s"] = factor_s / iters;
    st.counters["sweep_s"] = sweep_s / iters;
    st.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    st.counters["loss"] = loss;
    if (const auto it = results().find(std::make_tuple(in, static_cast<int>(m))); it != results().end()) {
        const auto& ref = it->second.w;  // nnprune's 1-thread weights on the same input
        double diff = 0.0, norm = 0.0, mask_diff = 0.0;
        for (std::size_t e = 0; e < ref.size(); ++e) {
            const double a = d.w[e], b = ref[e];
            diff += (a - b) * (a - b);
            norm += b * b;
            mask_diff += (a == 0.0) != (b == 0.0) ? 1.0 : 0.0;
        }
        st.counters["w_rel_diff"] = std::sqrt(diff / norm);
        st.counters["mask_diff"] = mask_diff / static_cast<double>(ref.size());
    }
    u.resize(0, 0);
}

// ---- GEMM references ---------------------------------------------------------------------------

double gemm_flops(std::size_t in) { return 2.0 * static_cast<double>(k_block * k_rows * in); }

void bm_eigen_gemm(benchmark::State& st, std::size_t in) {
    const auto m = static_cast<Eigen::Index>(k_block), n = static_cast<Eigen::Index>(k_rows),
               k = static_cast<Eigen::Index>(in);
    const Eigen::MatrixXf a = Eigen::MatrixXf::Random(m, k), b = Eigen::MatrixXf::Random(k, n);
    Eigen::MatrixXf c = Eigen::MatrixXf::Zero(m, n);
    for (auto _ : st) {
        c.noalias() += a * b;
        benchmark::DoNotOptimize(c.data());
    }
    st.counters["GFLOP/s"] = benchmark::Counter(gemm_flops(in) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_nnprune_gemm(benchmark::State& st, std::size_t in) {
    namespace simd = nnprune::simd;
    nnprune::splitmix64 g(7);
    std::vector<float> a(k_block * in), b(in * k_rows), c(k_block * k_rows, 0.0f);
    for (auto& x : a) x = g.uniform();
    for (auto& x : b) x = g.uniform();
    const auto k = static_cast<std::ptrdiff_t>(in), n = static_cast<std::ptrdiff_t>(k_rows);
    for (auto _ : st) {
        simd::gemm(simd::gemm_op::add, k_block, k_rows, in, simd::gemm_operand{a.data(), k, 1},
                   simd::gemm_operand{b.data(), n, 1}, c.data(), k_rows);
        benchmark::DoNotOptimize(c.data());
    }
    st.counters["GFLOP/s"] = benchmark::Counter(gemm_flops(in) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

const bool registered = [] {
    const bool slow = std::getenv("NNPRUNE_BENCH_SLOW") && std::string(std::getenv("NNPRUNE_BENCH_SLOW")) == "1";
    for (const std::size_t in : {std::size_t{4096}, std::size_t{11008}}) {
        const std::string s = shape_name(in);
        benchmark::RegisterBenchmark(("eigen_gemm/" + s).c_str(), bm_eigen_gemm, in)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        benchmark::RegisterBenchmark(("nnprune_gemm/" + s).c_str(), bm_nnprune_gemm, in)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        for (const mode m : {mode::unstructured, mode::nm24, mode::unstructured_block})
            for (const unsigned t : {1u, 2u}) {
                if (m == mode::unstructured_block && t != 1) continue;
                benchmark::RegisterBenchmark(
                    ("sparsegpt/" + s + "/" + mode_name(m) + "/threads:" + std::to_string(t)).c_str(), bm_sparsegpt, in,
                    m, t)
                    ->Unit(benchmark::kMillisecond)
                    ->UseRealTime();
            }
        if (in == 4096 || slow)
            for (const mode m : {mode::unstructured, mode::nm24})
                benchmark::RegisterBenchmark(("naive_port/" + s + "/" + mode_name(m)).c_str(), bm_naive, in, m)
                    ->Unit(benchmark::kMillisecond)
                    ->UseRealTime()
                    ->Iterations(1);
    }
    return true;
}();

}  // namespace
