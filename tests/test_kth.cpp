// The k-th engine's resident path (kth_resident) against a full sort, on tied, spread and NaN data.
#include <catch2/catch.hpp>

#include "select_reference.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <nnprune/select/kth.hpp>

TEST_CASE("kth: kth_resident equals a full sort for every rank shape", "[select][kth]") {
    std::mt19937 g(7);
    for (std::size_t n : {1u, 2u, 17u, 255u, 256u, 257u, 1031u, 4099u, 20011u})
        for (int levels : {1, 5, 1000000})
            for (auto np : {nnprune::nan_policy::as_lowest, nnprune::nan_policy::as_highest}) {
                std::uniform_int_distribution<int> d(-levels, levels);
                std::vector<float> v(n);
                for (auto& x : v) x = (g() % 97 == 0) ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(d(g)) * 0.125f;
                std::vector<std::uint32_t> keys(n);
                for (std::size_t i = 0; i < n; ++i) keys[i] = nnprune::detail::key_as<std::uint32_t>(v[i], np);
                std::vector<std::uint32_t> sorted = keys;
                std::sort(sorted.begin(), sorted.end());
                std::vector<std::uint32_t> b0(n + 16), b1(n + 16);
                for (std::size_t j : {std::size_t{1}, n / 3 + 1, n / 2 + 1, n - n / 50, n}) {
                    if (j < 1 || j > n) continue;
                    std::size_t eq = 0, nans = 0;
                    const auto r = nnprune::detail::kth_resident<std::uint32_t>(v.data(), n, j, np, b0.data(), b1.data(), eq, nans);
                    const auto want = sorted[j - 1];
                    INFO("n " << n << " levels " << levels << " j " << j);
                    REQUIRE(r.key == want);
                    REQUIRE(r.below == static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), want) - sorted.begin()));
                    REQUIRE(eq == static_cast<std::size_t>(std::count(keys.begin(), keys.end(), want)));
                    REQUIRE(nans == static_cast<std::size_t>(std::count_if(v.begin(), v.end(), [](float x) { return x != x; })));
                    // on keys, with the source as the second buffer
                    std::vector<std::uint32_t> k2(keys);
                    k2.resize(n + 16);
                    const auto r2 = nnprune::detail::kth_resident<std::uint32_t>(k2.data(), n, j, np, b0.data(), k2.data(), eq, nans);
                    REQUIRE(r2.key == want);
                    REQUIRE(r2.below == r.below);
                }
            }
}

namespace {
using namespace select_test;
using nnprune::mask;
using nnprune::shape;
}  // namespace

TEST_CASE("kth: kth_smallest leaves the input untouched", "[select][kth]") {
    tuning_guard g;
    nnprune::detail::tuning().small = 8;
    auto v = quantised(5000, 17, 50);
    const auto f = as<float>(v);
    auto copy = f;
    auto sorted = v;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t k : {1u, 2u, 1000u, 2500u, 4999u, 5000u}) {
        nnprune::select_options o;
        o.threads = 2;
        REQUIRE(nnprune::kth_smallest(nnprune::vector_view<const float>(f.data(), f.size()), k, o) == sorted[k - 1]);
    }
    REQUIRE(f == copy);
    REQUIRE_THROWS_WITH(nnprune::kth_smallest(nnprune::vector_view<const float>(f.data(), f.size()), 0), Catch::Contains("k must be in [1, 5000]"));
}

// More than 2^31 competing elements without the memory: a [rows, cols] view whose row stride is 0
// repeats one row of distinct values (a permutation of 0..cols-1), so the k-th smallest is
// floor((k - 1) / rows) and the counts below it pass 2^31. One streaming pass per call; the
// scalar path (builds without AVX-512, sanitizers) would take seconds, so it runs only with AVX-512.
TEST_CASE("kth: a group of more than 2^31 elements (zero row stride)", "[select][kth]") {
#if NNPRUNE_SIMD_AVX512
    const std::size_t rows = 65537, cols = 32771;
    std::vector<float> row(cols);
    for (std::size_t c = 0; c < cols; ++c) row[c] = static_cast<float>((c * 7919) % cols);
    const nnprune::matrix_view<const float> view(row.data(), {rows, cols}, {0, 1});
    const std::size_t n = rows * cols;
    REQUIRE(n > (std::size_t{1} << 31));
    for (std::size_t k : {3 * rows + 5, n - 3 * rows}) {
        const double got = nnprune::kth_smallest(view, k);
        REQUIRE(got == static_cast<double>((k - 1) / rows));
    }
#else
    SUCCEED("skipped: the scalar path needs seconds for 2^31 elements");
#endif
}
