// Dense linear algebra for SparseGPT, each beside an Eigen baseline of the same shape in the same
// binary: simd::gemm (C -= A·B), linalg::cholesky_lower (Eigen's LLT) and the Hessian update of
// hessian_accumulator::add. Arguments: sizes, threads, tier (0 scalar, 1 avx2, 2 avx512, 3
// dispatched). Buffers are allocated and filled once; the counter is GFLOP/s.
#include <cstring>
#include <random>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include "tiers.hpp"
#include <nnprune/calibration/hessian_accumulator.hpp>
#include <nnprune/linalg/cholesky.hpp>
#include <nnprune/simd/gemm.hpp>

namespace {

using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// n normal floats (the same prefix for every caller).
const std::vector<float>& normals(std::size_t n) {
    static std::vector<float> v;
    if (v.size() < n) {
        v.resize(n);
        std::mt19937 g(1);
        std::normal_distribution<float> d;
        for (auto& x : v) x = d(g);
    }
    return v;
}

void gflops(benchmark::State& st, double flops) {
    st.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_gemm(benchmark::State& st) {
    const auto m = static_cast<std::size_t>(st.range(0)), n = static_cast<std::size_t>(st.range(1)),
               k = static_cast<std::size_t>(st.range(2));
    const bench::tier_scope tier(st, st.range(4));
    const auto threads = static_cast<unsigned>(st.range(3));
    const auto& a = normals(m * k);
    const auto& b = normals(k * n);
    std::vector<float> c(m * n, 0.0f);
    for (auto _ : st) {
        nnprune::simd::gemm(nnprune::simd::gemm_op::subtract, m, n, k, {a.data(), static_cast<std::ptrdiff_t>(k), 1},
                            {b.data(), static_cast<std::ptrdiff_t>(n), 1}, c.data(), n, nnprune::simd::gemm_part::full,
                            threads);
        benchmark::DoNotOptimize(c.data());
    }
    gflops(st, 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k));
}

void bm_gemm_eigen(benchmark::State& st) {
    const auto m = st.range(0), n = st.range(1), k = st.range(2);
    const auto& src = normals(static_cast<std::size_t>(m * k));
    const row_major a = Eigen::Map<const row_major>(src.data(), m, k);
    const row_major b = Eigen::Map<const row_major>(src.data(), k, n);
    row_major c = row_major::Zero(m, n);
    for (auto _ : st) {
        c.noalias() -= a * b;
        benchmark::DoNotOptimize(c.data());
    }
    gflops(st, 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k));
}

/// A symmetric positive definite n x n matrix: the Gram matrix of n + 64 random columns, scaled.
const std::vector<float>& spd(std::size_t n) {
    static std::vector<float> a;
    static std::size_t have = 0;
    if (have != n) {
        const std::size_t k = n + 64;
        const auto& x = normals(n * k);
        a.assign(n * n, 0.0f);
        nnprune::simd::gemm(nnprune::simd::gemm_op::add, n, n, k, {x.data(), static_cast<std::ptrdiff_t>(k), 1},
                            {x.data(), 1, static_cast<std::ptrdiff_t>(k)}, a.data(), n, nnprune::simd::gemm_part::full,
                            2);
        have = n;
    }
    return a;
}

/// Each iteration copies A and factors the copy (Eigen's LLT copies its input too).
void bm_cholesky(benchmark::State& st) {
    const auto n = static_cast<std::size_t>(st.range(0));
    const bench::tier_scope tier(st, st.range(2));
    const auto threads = static_cast<unsigned>(st.range(1));
    const auto& a = spd(n);
    std::vector<float> work(n * n);
    for (auto _ : st) {
        std::memcpy(work.data(), a.data(), n * n * sizeof(float));
        if (nnprune::linalg::cholesky_lower(work.data(), n, n, threads) != n) st.SkipWithError("not positive definite");
        benchmark::DoNotOptimize(work.data());
    }
    const double dn = static_cast<double>(n);
    gflops(st, dn * dn * dn / 3.0);
}

void bm_cholesky_eigen_llt(benchmark::State& st) {
    const auto n = st.range(0);
    const auto& src = spd(static_cast<std::size_t>(n));
    const Eigen::MatrixXf a = Eigen::Map<const Eigen::MatrixXf>(src.data(), n, n);
    Eigen::LLT<Eigen::MatrixXf> llt(n);
    for (auto _ : st) {
        llt.compute(a);
        if (llt.info() != Eigen::Success) st.SkipWithError("not positive definite");
        benchmark::DoNotOptimize(llt.matrixLLT().data());
    }
    const double dn = static_cast<double>(n);
    gflops(st, dn * dn * dn / 3.0);
}

/// One add() of [T, in] f32 (counted as the T·in·(in + 1) flops of the triangle it computes).
void bm_hessian_add(benchmark::State& st) {
    const auto t_n = static_cast<std::size_t>(st.range(0)), in = static_cast<std::size_t>(st.range(1));
    const bench::tier_scope tier(st, st.range(3));
    const auto& x = normals(t_n * in);
    nnprune::hessian_accumulator acc(in, nnprune::hessian_precision::f32, static_cast<unsigned>(st.range(2)));
    acc.add(nnprune::matrix_view<const float>(x.data(), t_n, in));  // buffers allocated outside the loop
    for (auto _ : st) acc.add(nnprune::matrix_view<const float>(x.data(), t_n, in));
    const double t = static_cast<double>(t_n), i = static_cast<double>(in);
    gflops(st, t * i * (i + 1.0));
}

/// The same update in Eigen: H.selfadjointView<Upper>().rankUpdate(X'ᵀ) after H *= ratio.
void bm_hessian_add_eigen(benchmark::State& st) {
    const auto t_n = st.range(0), in = st.range(1);
    const auto& src = normals(static_cast<std::size_t>(t_n * in));
    const row_major x = Eigen::Map<const row_major>(src.data(), t_n, in);
    Eigen::MatrixXf h = Eigen::MatrixXf::Zero(in, in);
    for (auto _ : st) {
        h.triangularView<Eigen::Upper>() *= 0.5f;
        h.selfadjointView<Eigen::Upper>().rankUpdate(x.transpose(), 0.01f);
        benchmark::DoNotOptimize(h.data());
    }
    const double t = static_cast<double>(t_n), i = static_cast<double>(in);
    gflops(st, t * i * (i + 1.0));
}

/// Both shapes, threads 1 and 2, every tier (the scalar twin only on the smaller product: it is
/// a libm fma call per term).
void gemm_args(benchmark::internal::Benchmark* b) {
    for (const auto& shape : {std::vector<std::int64_t>{4096, 128, 4096}, std::vector<std::int64_t>{2048, 2048, 2048}})
        for (const std::int64_t threads : {1, 2})
            for (const auto t : bench::tier_args)
                if (t != 0 || shape[1] == 128) b->Args({shape[0], shape[1], shape[2], threads, t});
}

void vector_tier_args(benchmark::internal::Benchmark* b, std::int64_t size) {
    for (const std::int64_t threads : {1, 2})
        for (const std::int64_t t : {1, 2, 3}) b->Args({size, threads, t});
}

}  // namespace

BENCHMARK(bm_gemm)->Apply(gemm_args)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_gemm_eigen)->Args({4096, 128, 4096})->Args({2048, 2048, 2048})->Unit(benchmark::kMillisecond);
BENCHMARK(bm_cholesky)
    ->Apply([](benchmark::internal::Benchmark* b) { vector_tier_args(b, 4096); })
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_cholesky)
    ->Args({11008, 1, 3})
    ->Args({11008, 2, 3})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_cholesky_eigen_llt)->Arg(4096)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_cholesky_eigen_llt)->Arg(11008)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_hessian_add)
    ->Apply([](benchmark::internal::Benchmark* b) {
        for (const std::int64_t threads : {1, 2})
            for (const std::int64_t t : {1, 2, 3}) b->Args({2048, 4096, threads, t});
    })
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_hessian_add_eigen)->Args({2048, 4096})->Unit(benchmark::kMillisecond);
