#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/tokens/attention_scores.hpp>

using nnprune::tensor_view;

TEST_CASE("fastv: hand-worked last-query and mean-over-queries scores", "[tokens][attention_scores]") {
    // 2 heads, 2 queries, 5 keys; image tokens are keys [1, 4)
    const std::vector<float> a = {
        0.1f, 0.2f, 0.3f, 0.4f, 0.0f,  // h0 q0
        0.1f, 0.5f, 0.1f, 0.2f, 0.1f,  // h0 q1 (last)
        0.0f, 0.2f, 0.6f, 0.1f, 0.1f,  // h1 q0
        0.2f, 0.1f, 0.3f, 0.2f, 0.2f,  // h1 q1 (last)
    };
    const tensor_view<const float, 3> v(a.data(), 2, 2, 5);
    const auto last = nnprune::fastv_scores(v, {1, 3});
    REQUIRE(last.size() == 3);
    CHECK(last[0] == Approx(0.3));  // (0.5 + 0.1) / 2
    CHECK(last[1] == Approx(0.2));  // (0.1 + 0.3) / 2
    CHECK(last[2] == Approx(0.2));  // (0.2 + 0.2) / 2
    const auto mean = nnprune::fastv_scores(v, {1, 3}, nnprune::fastv_mode::mean_queries);
    CHECK(mean[0] == Approx(0.25));  // (0.2 + 0.5 + 0.2 + 0.1) / 4
    CHECK(mean[1] == Approx(0.325));
    CHECK(mean[2] == Approx(0.225));
    CHECK(nnprune::fastv(v, {1, 3}, nnprune::keep_count{2}) == std::vector<std::size_t>{0, 1});  // tie 0.2: lower
    CHECK(nnprune::fastv(v, {1, 3}, nnprune::keep_count{1}, nnprune::fastv_mode::mean_queries) ==
          std::vector<std::size_t>{1});
    std::vector<nnprune::bfloat16> ab(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) ab[i] = nnprune::bfloat16(a[i]);
    CHECK(nnprune::fastv(tensor_view<const nnprune::bfloat16, 3>(ab.data(), 2, 2, 5), {1, 3}, 0.67) ==
          std::vector<std::size_t>{0, 1});
}

TEST_CASE("a2sf: scores equal the slow forgetting-weighted sum over GQA groups", "[tokens][attention_scores]") {
    const std::size_t h = 4, q = 6, k = 9, g = 2;
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(0, 1);
    std::vector<float> a(h * q * k);
    for (auto& x : a) x = u(rng);
    const tensor_view<const float, 3> v(a.data(), h, q, k);
    for (double f : {1.0, 0.9, 0.5, 0.0}) {
        const auto s = nnprune::a2sf_scores(v, f, g);
        REQUIRE(s.size() == g * k);
        for (std::size_t gi = 0; gi < g; ++gi)
            for (std::size_t key = 0; key < k; ++key) {
                double want = 0;
                for (std::size_t hh = gi * 2; hh < gi * 2 + 2; ++hh)
                    for (std::size_t qq = 0; qq < q; ++qq)
                        want += std::pow(f, double(q - 1 - qq)) * a[(hh * q + qq) * k + key];
                CHECK(s[gi * k + key] == Approx(want).epsilon(1e-6));
            }
    }
}

TEST_CASE("a2sf: budget, recent window and keep-all", "[tokens][attention_scores]") {
    const std::vector<float> s = {0.9f, 0.1f, 0.5f, 0.5f, 0.2f, 0.0f, 0.0f};
    // budget 4, recent 2: top 2 of keys [0, 5) (0 and 2: tie 0.5 keeps the lower) + keys 5, 6
    CHECK(nnprune::a2sf_select(s, 4.7, 2) == std::vector<std::size_t>{0, 2, 5, 6});
    CHECK(nnprune::a2sf_select(s, 7, 2).size() == 7);                          // K <= budget: everything
    CHECK(nnprune::a2sf_select(s, 0.5, 0) == std::vector<std::size_t>{0, 2});  // budget max(0, 2) = 2
    CHECK(nnprune::a2sf_select(s, 3, 3) == std::vector<std::size_t>{4, 5, 6});
    // from attention, one head, one query: scores are the row itself
    const tensor_view<const float, 3> v(s.data(), 1, 1, 7);
    const auto kept = nnprune::a2sf(v, {.budget = 4, .recent = 2, .forgetting = 0.5, .kv_heads = 0});
    REQUIRE(kept.size() == 1);
    CHECK(kept[0] == std::vector<std::size_t>{0, 2, 5, 6});
}

TEST_CASE("attention scores: bad input", "[tokens][attention_scores]") {
    using Catch::Contains;
    std::vector<float> a(2 * 3 * 4, 0.25f);
    const tensor_view<const float, 3> v(a.data(), 2, 3, 4);
    REQUIRE_THROWS_WITH(nnprune::fastv_scores(v, {2, 3}),
                        Contains("fastv_scores: image range [2, 5) is empty or outside the 4 keys"));
    REQUIRE_THROWS_AS(nnprune::fastv(v, {0, 0}, 0.5), nnprune::precondition_error);
    REQUIRE_THROWS_WITH(nnprune::fastv(v, {0, 4}, nnprune::keep_count{5}), Contains("fastv: keep = 5 exceeds N = 4"));
    REQUIRE_THROWS_WITH(nnprune::fastv_scores(tensor_view<const float, 3>(a.data(), 2, 0, 4), {0, 4}),
                        Contains("fastv_scores: attention is 2x0x4"));
    REQUIRE_THROWS_WITH(nnprune::a2sf_scores(v, 0.5, 3),
                        Contains("a2sf_scores: 2 attention heads are not a multiple of 3 KV heads"));
    REQUIRE_THROWS_WITH(nnprune::a2sf_scores(v, 1.5), Contains("forgetting factor must be in [0, 1], got 1.5"));
    REQUIRE_THROWS_WITH(nnprune::a2sf(v, {.budget = 2, .recent = 3}), Contains("a2sf: budget 2"));
    REQUIRE_THROWS_WITH(nnprune::a2sf_select(std::vector<float>(5, 1.0f), 3, 4),
                        Contains("a2sf_select: recent window 4 exceeds the budget 3"));
    a[5] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(nnprune::fastv(v, {0, 4}, 0.5), Contains("NaN attention at head 0, query 1, key 1"));
}
