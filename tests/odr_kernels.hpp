// The kernels both ODR test units run (test_odr_a.cpp: no -m flag; test_odr_b.cpp: -march=x86-64-v4
// where the compiler can). run_kernels has internal linkage, so each unit runs its own copy, and
// the nnprune::simd kernels it calls are the unit's own too (the ABI namespace of simd/isa.hpp).
#ifndef NNPRUNE_TESTS_ODR_KERNELS_HPP
#define NNPRUNE_TESTS_ODR_KERNELS_HPP

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <typeinfo>
#include <vector>

#include <nnprune/nnprune.hpp>
#include <nnprune/simd/abs_mul.hpp>
#include <nnprune/simd/add_squares.hpp>
#include <nnprune/simd/axpy.hpp>
#include <nnprune/simd/bracket.hpp>
#include <nnprune/simd/classify.hpp>
#include <nnprune/simd/dot.hpp>
#include <nnprune/simd/gemm.hpp>
#include <nnprune/simd/gram.hpp>
#include <nnprune/simd/kept.hpp>
#include <nnprune/simd/n_of_m.hpp>
#include <nnprune/simd/unit_row.hpp>
#include <nnprune/simd/zero.hpp>

namespace odr_test {

/// What one unit's kernels computed: integers (counts, keys, mask words) and float bit patterns.
struct result {
    std::string abi;  ///< the mangled name of a type in the unit's ABI namespace
    std::vector<std::uint64_t> values;
};

namespace {

result run_kernels() {
    namespace simd = nnprune::simd;
    using K = std::uint32_t;
    const auto np = nnprune::nan_policy::as_lowest;
    result r;
    r.abi = typeid(simd::bracket_counts).name();
    auto put = [&r](std::uint64_t v) { r.values.push_back(v); };
    auto put_f = [&](float f) {
        std::uint32_t u;
        std::memcpy(&u, &f, sizeof u);
        put(u);
    };
    const std::size_t n = 1031, rows = 7, cols = 148;  // n prime; cols = 37 groups of 4
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int>((i * 7919) % 211) - 105) * 0.25f;
    v[17] = -0.0f;
    std::vector<std::uint64_t> prev(n / 64 + 2);
    for (std::size_t i = 0; i < prev.size(); ++i) prev[i] = 0x9E3779B97F4A7C15ull * (i + 1);
    const K lo = nnprune::detail::key_as<K>(-3.0f, np), hi = nnprune::detail::key_as<K>(4.0f, np);
    {  // bracket, with and without a previous mask
        for (const std::uint64_t* pv :
             {static_cast<const std::uint64_t*>(nullptr), static_cast<const std::uint64_t*>(prev.data())}) {
            std::vector<K> out(n + 16);
            std::size_t pos = 0;
            simd::bracket_counts c;
            simd::bracket<K>(v.data(), n, 1, pv, 3, 1, lo, hi, np, out.data(), pos, n, c);
            put(c.below), put(c.inside), put(c.nans), put(pos);
            for (std::size_t i = 0; i < pos; ++i) put(out[i]);
        }
    }
    {  // to_keys, classify + resolve, write_kept
        std::vector<K> keys(n);
        K kmin = 0, kmax = 0;
        put(simd::to_keys<K>(v.data(), n, np, keys.data(), kmin, kmax)), put(kmin), put(kmax);
        std::vector<K> cand(n + 16);
        const std::size_t nw = (n + 63) / 64;
        std::vector<std::uint64_t> above(nw), inside(nw), kept(nw + 1);
        const auto cl = simd::classify<K>(v.data(), n, lo, hi, np, cand.data(), above.data(), inside.data());
        put(cl.below), put(cl.inside);
        simd::resolve<K>(above.data(), inside.data(), nw, cand.data(), nnprune::detail::key_as<K>(0.5f, np), 3,
                         kept.data());
        for (auto w : kept) put(w);
        std::size_t ties = 5;
        put(simd::write_kept<K>(v.data(), n, 1, prev.data(), 0, 1, nnprune::detail::key_as<K>(0.0f, np), ties, np,
                                kept.data()));
        for (auto w : kept) put(w);
        simd::bit_writer w(kept.data(), 0);
        put(simd::n_of_m_row(v.data(), 1028, 4, 2, np, w));
        w.finish();
        for (auto x : kept) put(x);
    }
    std::vector<float> m(rows * cols);  // a matrix of the same scores, with more ties
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = v[i % n] * 0.125f + static_cast<float>(i % 5);
    {  // the float kernels
        std::vector<float> g(rows * rows);
        simd::gram(m.data(), rows, cols, cols, g.data(), rows);
        for (float x : g) put_f(x);
        put_f(simd::dot(m.data(), m.data() + cols, cols - 3));
        std::vector<float> o(n), acc(n, 1.0f);
        simd::abs_mul(v.data(), v.data(), o.data(), n);
        simd::add_squares(v.data(), acc.data(), n);
        for (std::size_t i = 0; i < n; i += 7) put_f(o[i]), put_f(acc[i]);
        const double ss = simd::squared_norm(v.data(), n);
        std::uint64_t ss_bits;
        std::memcpy(&ss_bits, &ss, sizeof ss_bits);
        put(ss_bits);
        simd::divide_by(acc.data(), n, std::sqrt(ss));
        for (std::size_t i = 0; i < n; i += 7) put_f(acc[i]);
        simd::zero_pruned_row(o.data(), 1, n, prev.data());
        for (float x : o) put_f(x);
        std::vector<float> gc(rows * 37, 0.5f);  // gemm: C -= M(:, :27)·V(27 x 37), then lower(C) += M·Mᵀ
        const auto ld = static_cast<std::ptrdiff_t>(cols);
        simd::gemm(simd::gemm_op::subtract, rows, 37, 27, {m.data(), ld, 1}, {v.data(), 37, 1}, gc.data(), 37);
        simd::gemm(simd::gemm_op::add, rows, rows, cols, {m.data(), ld, 1}, {m.data(), 1, ld}, gc.data(), 37,
                   simd::gemm_part::lower);
        for (float x : gc) put_f(x);
        simd::axpy(-0.37f, m.data(), gc.data(), std::min(gc.size(), m.size()));
        for (float x : gc) put_f(x);
    }
    {  // whole selections
        const nnprune::matrix_view<const float> s(m.data(), rows, cols);
        nnprune::mask a(nnprune::shape{rows, cols}), b(nnprune::shape{rows, cols});
        nnprune::select_mask(nnprune::tensor_ref(s), nnprune::per_row{}, 0.5, a);
        nnprune::select_mask(nnprune::tensor_ref(s), nnprune::per_tensor{}, 0.3, b);
        for (auto x : a.words()) put(x);
        for (auto x : b.words()) put(x);
        // DSnoT's refinement of a (its row scan and double sums; the result is exact on every tier)
        std::vector<float> sc(cols), sm(cols), vr(cols);
        for (std::size_t j = 0; j < cols; ++j) {
            sc[j] = 0.5f + static_cast<float>(j % 7) * 0.25f;
            sm[j] = (static_cast<float>(j % 5) - 2.0f) * 0.75f;
            vr[j] = 0.25f + static_cast<float>(j % 3);
        }
        const auto rep = nnprune::dsnot_refine(
            s,
            {nnprune::vector_view<const float>(sc.data(), cols), nnprune::vector_view<const float>(sm.data(), cols),
             nnprune::vector_view<const float>(vr.data(), cols)},
            a);
        for (auto x : a.words()) put(x);
        put(rep.swaps);
    }
    return r;
}

}  // namespace
}  // namespace odr_test

#endif  // NNPRUNE_TESTS_ODR_KERNELS_HPP
