// N:M selection: the SIMD row kernel against its scalar twin, and select_mask(n_of_m) against a
// slow per-group sort for every m the kernel specialises, NaN policies included.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "select_reference.hpp"
#include "simd_tiers.hpp"
#include <nnprune/select/select.hpp>
#include <nnprune/simd/n_of_m.hpp>

namespace {

std::vector<float> tied(std::size_t n, std::uint32_t seed, bool nans) {
    std::mt19937 g(seed);
    std::uniform_int_distribution<int> d(-4, 4);
    std::vector<float> v(n);
    for (auto& x : v) {
        const int t = d(g);
        x = nans && t == 4 ? std::numeric_limits<float>::quiet_NaN()
                           : (t == 0 && (g() & 1) ? -0.0f : static_cast<float>(t) * 0.5f);
    }
    return v;
}

// Slow: per group, stable sort by key, prune the kk first.
std::vector<char> slow_keep(const std::vector<float>& v, std::size_t rows, std::size_t cols, std::size_t m,
                            std::size_t kk, nnprune::nan_policy np) {
    std::vector<char> keep(v.size(), 1);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c0 = 0; c0 + m <= cols; c0 += m) {
            std::vector<std::size_t> idx(m);
            std::iota(idx.begin(), idx.end(), r * cols + c0);
            std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
                return nnprune::detail::key_as<std::uint32_t>(v[a], np) <
                       nnprune::detail::key_as<std::uint32_t>(v[b], np);
            });
            for (std::size_t t = 0; t < kk; ++t) keep[idx[t]] = 0;
        }
    return keep;
}

}  // namespace

TEST_CASE("n_of_m: simd row kernel equals its scalar twin on odd sizes", "[simd][n_of_m]") {
    test_util::for_each_vector_tier([&](nnprune::simd::isa) {
        for (std::size_t m : {1u, 2u, 3u, 4u, 8u, 16u})
            for (std::size_t groups : {0u, 1u, 3u, 4u, 5u, 15u, 16u, 17u, 31u, 67u})
                for (std::size_t bit0 : {0u, 3u})
                    for (auto np : {nnprune::nan_policy::as_lowest, nnprune::nan_policy::as_highest,
                                    nnprune::nan_policy::reject}) {
                        const std::size_t n = groups * m;
                        const auto v = tied(n, static_cast<std::uint32_t>(n + m), np != nnprune::nan_policy::reject);
                        for (std::size_t kk = 0; kk <= m; kk += (m > 4 ? 3 : 1)) {
                            std::vector<std::uint64_t> a(n / 64 + 3, 0x1234), b(n / 64 + 3, 0x1234);
                            nnprune::simd::bit_writer wa(a.data(), bit0), wb(b.data(), bit0);
                            const auto ka = nnprune::simd::n_of_m_row(v.data(), n, m, kk, np, wa);
                            const auto kb = nnprune::simd::reference::n_of_m_row(v.data(), n, m, kk, np, wb);
                            wa.finish();
                            wb.finish();
                            INFO("m " << m << " n " << n << " kk " << kk);
                            REQUIRE(ka == kb);
                            REQUIRE(a == b);
                            REQUIRE(ka == n - groups * kk);
                        }
                    }
    });
}

TEST_CASE("n_of_m: select_mask matches a slow per-group sort for every m, NaN policies", "[select][n_of_m]") {
    test_util::for_each_tier([&](nnprune::simd::isa) {
        const std::size_t rows = 7;
        for (std::size_t m : {2u, 4u, 5u, 8u, 16u})
            for (std::size_t cols : {m, 3 * m, 13 * m, (64 / m + 2) * m})
                for (auto np : {nnprune::nan_policy::as_lowest, nnprune::nan_policy::as_highest}) {
                    const auto v = tied(rows * cols, static_cast<std::uint32_t>(cols), true);
                    nnprune::matrix_view<const float> view(v.data(), rows, cols);
                    for (unsigned th : {1u, 2u}) {
                        nnprune::mask got(nnprune::shape{rows, cols});
                        nnprune::select_options o;
                        o.nans = np;
                        o.threads = th;
                        const std::size_t n = m / 2;
                        const auto sel = nnprune::select_mask(view, nnprune::n_of_m{n, m}, got, o);
                        const auto keep = slow_keep(v, rows, cols, m, m - n, np);
                        for (std::size_t i = 0; i < v.size(); ++i) REQUIRE(got.test(i) == static_cast<bool>(keep[i]));
                        REQUIRE(sel.pruned == rows * (cols / m) * (m - n));
                    }
                }
    });
}

TEST_CASE("n_of_m: a NaN under reject names its index and writes nothing", "[select][n_of_m]") {
    test_util::for_each_tier([&](nnprune::simd::isa) {
        const std::size_t rows = 3, cols = 64;
        auto v = tied(rows * cols, 5, false);
        v[cols + 37] = std::numeric_limits<float>::quiet_NaN();
        nnprune::matrix_view<const float> view(v.data(), rows, cols);
        nnprune::mask got(nnprune::shape{rows, cols});
        got.set(2, false);
        REQUIRE_THROWS_WITH(nnprune::select_mask(view, nnprune::keep_n_of_m<2, 4>{}, got),
                            Catch::Contains("NaN score at flat index 101"));
        REQUIRE(got.pruned() == 1);
        REQUIRE(!got.test(2));
    });
}

namespace {
using namespace select_test;
using nnprune::mask;
using nnprune::shape;
}  // namespace

TEST_CASE("n_of_m: N:M with tails and previous masks", "[select][n_of_m]") {
    const std::size_t rows = 5, cols = 18;
    const auto v = quantised(rows * cols, 11, 2);
    const auto f = as<float>(v);
    const shape sh{rows, cols};
    nnprune::matrix_view<const float> view(f.data(), rows, cols);
    mask m(sh);
    REQUIRE_THROWS_WITH(nnprune::select_mask(view, nnprune::keep_n_of_m<2, 4>{}, m),
                        Catch::Contains("not a multiple of m=4"));
    REQUIRE(m.pruned() == 0);
    for (auto tail : {nnprune::nm_tail::keep, nnprune::nm_tail::pro_rata})
        for (unsigned th : {1u, 2u}) {
            nnprune::keep_n_of_m<2, 4> g24;
            g24.tail = tail;
            nnprune::select_options o;
            o.threads = th;
            mask got(sh);
            nnprune::select_mask(view, g24, got, o);
            std::vector<char> pr(v.size(), 0);
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c0 = 0; c0 < cols; c0 += 4) {
                    std::vector<std::size_t> mem;
                    for (std::size_t c = c0; c < std::min(cols, c0 + 4); ++c) mem.push_back(r * cols + c);
                    const std::size_t k = mem.size() == 4                  ? 2
                                          : tail == nnprune::nm_tail::keep ? 0
                                                                           : nnprune::count_to_prune(mem.size(), 0.5);
                    slow_prune(v, mem, k, nnprune::nan_policy::reject, pr);
                }
            for (std::size_t i = 0; i < v.size(); ++i) REQUIRE(got.test(i) == !pr[i]);
        }
}
