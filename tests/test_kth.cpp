// kth_smallest: input untouched, and a group of more than 2^31 elements.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "select_reference.hpp"
#include <nnprune/select/kth.hpp>

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
    REQUIRE_THROWS_WITH(nnprune::kth_smallest(nnprune::vector_view<const float>(f.data(), f.size()), 0),
                        Catch::Contains("k must be in [1, 5000]"));
}

// More than 2^31 competing elements without the memory: a [rows, cols] view whose row stride is 0
// repeats one row of distinct values (a permutation of 0..cols-1), so the k-th smallest is
// floor((k - 1) / rows) and the counts below it pass 2^31. One streaming pass per call; the
// scalar tier would take seconds, so it runs on the avx512 tier only (when the CPU has it).
TEST_CASE("kth: a group of more than 2^31 elements (zero row stride)", "[select][kth]") {
    if (!nnprune::simd::supports(nnprune::simd::isa::avx512)) {
        WARN("skipped: the CPU lacks AVX-512 and the scalar tier needs seconds for 2^31 elements");
        return;
    }
    const nnprune::simd::isa_guard tier(nnprune::simd::isa::avx512);
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
}
