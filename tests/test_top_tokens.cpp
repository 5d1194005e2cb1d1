#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/tokens/top_tokens.hpp>

TEST_CASE("keep_top_tokens: highest scores, ascending, ties keep the lower index", "[tokens][top_tokens]") {
    const std::vector<float> s = {0.1f, 0.5f, 0.5f, 0.2f, 0.5f, 0.9f};
    CHECK(nnprune::keep_top_tokens(s, nnprune::keep_count{1}) == std::vector<std::size_t>{5});
    CHECK(nnprune::keep_top_tokens(s, nnprune::keep_count{2}) == std::vector<std::size_t>{1, 5});
    CHECK(nnprune::keep_top_tokens(s, nnprune::keep_count{3}) == std::vector<std::size_t>{1, 2, 5});
    CHECK(nnprune::keep_top_tokens(s, 0.5) == std::vector<std::size_t>{1, 2, 5});
    CHECK(nnprune::keep_top_tokens(s, 1.0) == std::vector<std::size_t>{0, 1, 2, 3, 4, 5});
    const std::vector<float> flat(70, 1.0f);  // more than one mask word
    const auto kept = nnprune::keep_top_tokens(flat, nnprune::keep_count{65});
    REQUIRE(kept.size() == 65);
    CHECK(kept.back() == 64);
}

TEST_CASE("keep_top_tokens: bad input", "[tokens][top_tokens]") {
    using Catch::Contains;
    std::vector<float> s = {0.1f, std::numeric_limits<float>::quiet_NaN(), 0.3f};
    REQUIRE_THROWS_WITH(nnprune::keep_top_tokens(s, nnprune::keep_count{1}),
                        Contains("keep_top_tokens: NaN score at token 1"));
    REQUIRE_THROWS_WITH(nnprune::keep_top_tokens({}, 0.5), Contains("keep_top_tokens: no tokens (N = 0)"));
    REQUIRE_THROWS_WITH(nnprune::keep_top_tokens(s, nnprune::keep_count{4}), Contains("keep = 4 exceeds N = 3"));
}
