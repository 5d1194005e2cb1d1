#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "token_test_util.hpp"
#include <nnprune/tokens/divprune.hpp>

using nnprune::keep_count;
using nnprune::matrix_view;

TEST_CASE("divprune: hand-worked 2-D case", "[tokens][divprune]") {
    // unit directions at 0, 10, 90, 180, 185 degrees
    std::vector<float> x;
    for (double deg : {0.0, 10.0, 90.0, 180.0, 185.0}) {
        x.push_back(static_cast<float>(std::cos(deg * M_PI / 180)));
        x.push_back(static_cast<float>(std::sin(deg * M_PI / 180)));
    }
    const matrix_view<const float> v(x.data(), 5, 2);
    // nearest-neighbour angles: 10, 10, 80, 5, 5 -> seed is token 2 (90 degrees)
    // then: min distance to {2}: token 0,3 at 90 deg (1 - 0 = 1), 1 at 80, 4 at 95 -> token 4
    // then min to {2,4}: 0: min(90, 175)=90 deg, 1: 80, 3: 5 -> token 0
    CHECK(nnprune::divprune_order(v, keep_count{3}) == std::vector<std::size_t>{2, 4, 0});
    CHECK(nnprune::divprune(v, keep_count{3}) == std::vector<std::size_t>{0, 2, 4});
    CHECK(nnprune::divprune(v, keep_count{5}).size() == 5);
    CHECK(nnprune::divprune(v, 0.5) == std::vector<std::size_t>{2, 4});  // round(2.5) = 2 (half-even)
}

/// The slow reference on the library's own f32 distances (same unit rows, same dot kernel).
static std::vector<double> f32_distance_matrix(const std::vector<float>& x, std::size_t n, std::size_t d) {
    nnprune::token_workspace ws;
    const auto u = nnprune::detail::normalize_tokens(matrix_view<const float>(x.data(), n, d), ws, "test");
    std::vector<double> dm(n * n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) dm[i * n + j] = 1.0f - nnprune::simd::dot(u.row(i), u.row(j), u.stride);
    return dm;
}

TEST_CASE("divprune: identical order to the slow obvious implementation", "[tokens][divprune]") {
    const std::size_t n = GENERATE(std::size_t{2}, std::size_t{7}, std::size_t{40}, std::size_t{97});
    const std::size_t dup = GENERATE(std::size_t{0}, std::size_t{5}, std::size_t{30});
    const std::size_t d = 19;
    const auto x = token_test::random_features(n, d, 1234u + static_cast<unsigned>(n), dup);
    const auto zero = token_test::zero_rows(x, n, d);
    const auto dm = token_test::distance_matrix(x, n, d);  // double, independent arithmetic
    const auto dm32 = f32_distance_matrix(x, n, d);        // bit-identical distances
    const matrix_view<const float> v(x.data(), n, d);
    for (std::size_t k : {std::size_t{1}, n / 3 + 1, n}) {
        INFO("n=" << n << " dup=" << dup << " k=" << k);
        const auto got = nnprune::divprune_order(v, keep_count{k});
        // same distances: the same order, duplicates and their fp-noise ties included
        CHECK(got == token_test::slow_maxmin(dm32, n, k, zero));
        // double distances: the same order while a non-duplicate remains; once only duplicates
        // of selected tokens are left (min distance ~ 0, decided by rounding noise) the same set
        const auto want = token_test::slow_maxmin(dm, n, k, zero);
        std::size_t same = 0;
        for (; same < k; ++same) {
            double m = 1e300;
            for (std::size_t t = 0; t < same; ++t) m = std::min(m, dm[want[t] * n + want[same]]);
            if (same > 0 && m < 1e-6) break;
            REQUIRE(got[same] == want[same]);
        }
        auto a = got, b = want;
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        CHECK(a == b);
        CHECK(std::adjacent_find(a.begin(), a.end()) == a.end());  // never twice
    }
}

TEST_CASE("divprune: all tokens duplicated and ties go to the lowest index", "[tokens][divprune]") {
    // tokens 0..3 are two copies of two orthogonal directions: all nn distances tie at 0
    const std::vector<float> x = {1, 0, 0, 1, 1, 0, 0, 1};
    const matrix_view<const float> v(x.data(), 4, 2);
    CHECK(nnprune::divprune_order(v, keep_count{4}) == std::vector<std::size_t>{0, 1, 2, 3});
    const std::vector<float> same(6 * 3, 0.5f);  // six identical tokens
    CHECK(nnprune::divprune_order(matrix_view<const float>(same.data(), 6, 3), keep_count{6}) ==
          std::vector<std::size_t>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("divprune: zero-norm tokens are at distance 1 and never the seed", "[tokens][divprune]") {
    // token 1 is zero; the others are close together, so their nn distance is < 1
    const std::vector<float> x = {1, 0.1f, 0, 0, 1, 0, 1, -0.1f};
    const matrix_view<const float> v(x.data(), 4, 2);
    const auto order = nnprune::divprune_order(v, keep_count{2});
    CHECK(order[0] != 1);
    CHECK(order[1] == 1);  // distance 1 to the seed beats the near tokens
    const std::vector<float> zeros(3 * 4, 0.0f);
    CHECK(nnprune::divprune_order(matrix_view<const float>(zeros.data(), 3, 4), keep_count{2}) ==
          std::vector<std::size_t>{0, 1});
}

TEMPLATE_TEST_CASE("divprune: bf16 / f16 / f64 inputs match f32 of the same values", "[tokens][divprune]",
                   nnprune::bfloat16, nnprune::float16, double) {
    const std::size_t n = 50, d = 24;
    auto x = token_test::random_features(n, d, 99, 4);
    std::vector<TestType> xt(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        xt[i] = TestType(x[i]);
        x[i] = static_cast<float>(xt[i]);  // the exact values the narrow type holds
    }
    const auto want = nnprune::divprune_order(matrix_view<const float>(x.data(), n, d), keep_count{12});
    CHECK(nnprune::divprune_order(matrix_view<const TestType>(xt.data(), n, d), keep_count{12}) == want);
}

TEST_CASE("divprune: strided views", "[tokens][divprune]") {
    const std::size_t n = 30, d = 8;
    const auto x = token_test::random_features(n, 2 * d, 5);
    std::vector<float> packed(n * d);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j) packed[i * d + j] = x[i * 2 * d + 2 * j];
    const nnprune::tensor_view<const float, 2> strided(x.data(), {n, d}, {static_cast<std::ptrdiff_t>(2 * d), 2});
    CHECK(nnprune::divprune(strided, 0.3) == nnprune::divprune(matrix_view<const float>(packed.data(), n, d), 0.3));
}

TEST_CASE("divprune: bad input gives clear errors and writes nothing", "[tokens][divprune]") {
    std::vector<float> x = {1, 0, 0, 1, 1, 1};
    const matrix_view<const float> v(x.data(), 3, 2);
    std::vector<std::size_t> out(2, 77);
    using Catch::Contains;
    REQUIRE_THROWS_WITH(nnprune::divprune(matrix_view<const float>(x.data(), 0, 2), 0.5),
                        Contains("divprune: no tokens (N = 0)"));
    REQUIRE_THROWS_AS(nnprune::divprune(matrix_view<const float>(x.data(), 3, 0), 0.5), nnprune::shape_error);
    REQUIRE_THROWS_WITH(nnprune::divprune(matrix_view<const float>(x.data(), 3, 0), 0.5), Contains("d = 0"));
    REQUIRE_THROWS_WITH(nnprune::divprune(v, keep_count{4}), Contains("divprune: keep = 4 exceeds N = 3"));
    REQUIRE_THROWS_WITH(nnprune::divprune(v, keep_count{0}), Contains("divprune: keep = 0"));
    REQUIRE_THROWS_WITH(nnprune::divprune(v, 0.1), Contains("round(0.10000000000000001 * 3) = 0"));
    REQUIRE_THROWS_WITH(nnprune::divprune(v, 1.5), Contains("ratio must be in [0, 1], got 1.5"));
    REQUIRE_THROWS_WITH(nnprune::divprune(v, -0.5), Contains("got -0.5"));
    REQUIRE_THROWS_WITH(nnprune::divprune(v, keep_count{2}, std::span<std::size_t>(out.data(), 1)),
                        Contains("divprune: output holds 1 indices, keeping 2 of 3"));
    x[3] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_AS(nnprune::divprune(v, keep_count{2}, std::span<std::size_t>(out)), nnprune::value_error);
    REQUIRE_THROWS_WITH(nnprune::divprune(v, keep_count{2}),
                        Contains("divprune: non-finite feature nan at token 1, feature 1"));
    x[3] = std::numeric_limits<float>::infinity();
    REQUIRE_THROWS_AS(nnprune::divprune(v, keep_count{2}), nnprune::value_error);
    CHECK(out == std::vector<std::size_t>{77, 77});
}

TEST_CASE("divprune: the Gram path and the O(N) lazy path select identically", "[tokens][divprune]") {
    const std::size_t n = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{6}, std::size_t{41}, std::size_t{130});
    const std::size_t dup = GENERATE(std::size_t{0}, std::size_t{9});
    const std::size_t d = GENERATE(std::size_t{3}, std::size_t{17}, std::size_t{64});
    auto x = token_test::random_features(n, d, 77u + static_cast<unsigned>(n * d), dup);
    if (n > 5)
        for (std::size_t j = 0; j < d; ++j) x[5 * d + j] = 0.0f;  // one zero-norm token
    const matrix_view<const float> v(x.data(), n, d);
    nnprune::token_workspace gram_ws, lazy_ws;
    lazy_ws.matrix_budget_bytes = 0;
    CHECK(nnprune::detail::maxmin_use_matrix(n, n, gram_ws));
    CHECK_FALSE(nnprune::detail::maxmin_use_matrix(n, n, lazy_ws));
    for (std::size_t k : {std::size_t{1}, n / 8 + 1, n / 2 + 1, n}) {
        INFO("n=" << n << " d=" << d << " dup=" << dup << " k=" << k);
        const auto a = nnprune::divprune_order(v, keep_count{k}, gram_ws);
        CHECK(a == nnprune::divprune_order(v, keep_count{k}, lazy_ws));
        CHECK(a == token_test::slow_maxmin(f32_distance_matrix(x, n, d), n, k, token_test::zero_rows(x, n, d)));
    }
    CHECK(gram_ws.matrix.size() == n * n);
    CHECK(lazy_ws.matrix.empty());
}

TEST_CASE("divprune: the matrix budget picks the path", "[tokens][divprune]") {
    nnprune::token_workspace ws;
    CHECK(ws.matrix_budget_bytes == (std::size_t{64} << 20));
    CHECK(nnprune::detail::maxmin_use_matrix(4096, 512, ws));        // 64 MiB exactly, k = N / 8
    CHECK_FALSE(nnprune::detail::maxmin_use_matrix(4096, 511, ws));  // few picks: the lazy path
    CHECK_FALSE(nnprune::detail::maxmin_use_matrix(4097, 4097, ws));
    ws.matrix_budget_bytes = 400;
    CHECK(nnprune::detail::maxmin_use_matrix(10, 2, ws));
    CHECK_FALSE(nnprune::detail::maxmin_use_matrix(11, 11, ws));
}
