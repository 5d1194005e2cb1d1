#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "token_test_util.hpp"
#include <nnprune/tokens/divprune.hpp>
#include <nnprune/tokens/hybrid.hpp>
#include <nnprune/tokens/top_tokens.hpp>

using nnprune::keep_count;
using nnprune::matrix_view;

TEST_CASE("hybrid: hand-worked importance then diversity", "[tokens][hybrid]") {
    // directions 0, 10, 90, 180, 185 degrees; token 1 is the most important
    std::vector<float> x;
    for (double deg : {0.0, 10.0, 90.0, 180.0, 185.0}) {
        x.push_back(static_cast<float>(std::cos(deg * M_PI / 180)));
        x.push_back(static_cast<float>(std::sin(deg * M_PI / 180)));
    }
    const matrix_view<const float> v(x.data(), 5, 2);
    const std::vector<float> s = {0.1f, 0.9f, 0.2f, 0.3f, 0.1f};
    // k = 2, share 0.5 -> 1 by importance (token 1), then the farthest from it: token 4 (175 degrees)
    CHECK(nnprune::hybrid(v, s, keep_count{2}, 0.5) == std::vector<std::size_t>{1, 4});
    // k = 4, share 0.5 -> tokens 1, 3 by importance; then farthest from {1, 3}: token 2 (80 / 90 degrees)
    // and then from {1, 2, 3}: 0 (10) vs 4 (5) -> token 0
    CHECK(nnprune::hybrid(v, s, keep_count{4}, 0.5) == std::vector<std::size_t>{0, 1, 2, 3});
}

TEST_CASE("hybrid: share 0 is DivPrune, share 1 is top-k; matches the slow reference", "[tokens][hybrid]") {
    const std::size_t n = 60, d = 16;
    const auto x = token_test::random_features(n, d, 11, 6);
    const matrix_view<const float> v(x.data(), n, d);
    std::vector<float> s(n);
    for (std::size_t i = 0; i < n; ++i) s[i] = float((i * 37) % 11);  // many ties
    CHECK(nnprune::hybrid(v, s, keep_count{15}, 0.0) == nnprune::divprune(v, keep_count{15}));
    CHECK(nnprune::hybrid(v, s, keep_count{15}, 1.0) == nnprune::keep_top_tokens(s, keep_count{15}));
    const auto top = nnprune::keep_top_tokens(s, keep_count{6});  // round(0.4 * 15) = 6
    auto want =
        token_test::slow_maxmin(token_test::distance_matrix(x, n, d), n, 15, token_test::zero_rows(x, n, d), top);
    std::sort(want.begin(), want.end());
    CHECK(nnprune::hybrid(v, s, keep_count{15}, 0.4) == want);
}

TEST_CASE("hybrid: bad input", "[tokens][hybrid]") {
    using Catch::Contains;
    const std::vector<float> x = {1, 0, 0, 1, 1, 1};
    const matrix_view<const float> v(x.data(), 3, 2);
    REQUIRE_THROWS_WITH(nnprune::hybrid(v, std::vector<float>{1, 2}, keep_count{2}),
                        Contains("hybrid: 2 scores for 3 tokens"));
    REQUIRE_THROWS_WITH(nnprune::hybrid(v, std::vector<float>{1, 2, 3}, keep_count{2}, 1.5),
                        Contains("hybrid: importance share must be in [0, 1], got 1.5"));
    REQUIRE_THROWS_WITH(nnprune::hybrid(v, std::vector<float>{1, NAN, 3}, keep_count{2}, 0.0),
                        Contains("hybrid: NaN score at token 1"));
    REQUIRE_THROWS_WITH(nnprune::hybrid(v, std::vector<float>{1, NAN, 3}, keep_count{2}, 1.0),
                        Contains("hybrid: NaN score at token 1"));
}
