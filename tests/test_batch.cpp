#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "token_test_util.hpp"
#include <nnprune/tokens/batch.hpp>

using nnprune::tensor_view;

TEST_CASE("batch: every thread count gives the one-at-a-time results", "[tokens][batch]") {
    const std::size_t b = 5, n = 40, d = 12;
    const auto x = token_test::random_features(b * n, d, 21, 10);
    const tensor_view<const float, 3> v(x.data(), b, n, d);
    std::vector<float> r(b * n);
    for (std::size_t i = 0; i < r.size(); ++i) r[i] = 0.5f + float(i % 7) / 7.0f;
    std::vector<float> a(b * 2 * 3 * n);
    std::mt19937 rng(8);
    std::uniform_real_distribution<float> u(0, 1);
    for (auto& e : a) e = u(rng);
    const tensor_view<const float, 4> att(a.data(), b, 2, 3, n);
    for (unsigned threads : {1u, 2u, 3u, 8u}) {
        INFO("threads=" << threads);
        const auto div = nnprune::divprune_batch(v, 0.25, threads);
        const auto dp =
            nnprune::dpp_batch(v, nnprune::keep_count{7}, tensor_view<const float, 2>(r.data(), b, n), threads);
        const auto fv = nnprune::fastv_batch(att, {4, 30}, 0.5, nnprune::fastv_mode::mean_queries, threads);
        const auto as =
            nnprune::a2sf_batch(att, {.budget = 12, .recent = 4, .forgetting = 0.8, .kv_heads = 1}, threads);
        for (std::size_t i = 0; i < b; ++i) {
            const tensor_view<const float, 2> item(x.data() + i * n * d, n, d);
            CHECK(div[i] == nnprune::divprune(item, 0.25));
            CHECK(dp[i] == nnprune::dpp(item, nnprune::keep_count{7}, std::span<const float>(r.data() + i * n, n)));
            const tensor_view<const float, 3> ai(a.data() + i * 2 * 3 * n, 2, 3, n);
            CHECK(fv[i] == nnprune::fastv(ai, {4, 30}, 0.5, nnprune::fastv_mode::mean_queries));
            CHECK(as[i] == nnprune::a2sf(ai, {.budget = 12, .recent = 4, .forgetting = 0.8, .kv_heads = 1}));
        }
    }
}

TEST_CASE("batch: the lowest failing item's error is rethrown", "[tokens][batch]") {
    using Catch::Contains;
    auto x = token_test::random_features(4 * 6, 3, 2);
    x[2 * 18 + 4] = std::numeric_limits<float>::quiet_NaN();  // item 2, token 1, feature 1
    const tensor_view<const float, 3> v(x.data(), 4, 6, 3);
    REQUIRE_THROWS_WITH(nnprune::divprune_batch(v, 0.5, 3),
                        Contains("divprune: non-finite feature nan at token 1, feature 1"));
    REQUIRE_THROWS_WITH(nnprune::divprune_batch(tensor_view<const float, 3>(x.data(), 0, 6, 3), 0.5),
                        Contains("divprune_batch: empty batch"));
    REQUIRE_THROWS_WITH(nnprune::dpp_batch(tensor_view<const float, 3>(x.data(), 1, 6, 3), 0.5,
                                           tensor_view<const float, 2>(x.data(), 1, 5)),
                        Contains("dpp_batch: relevance is 1x5"));
}
