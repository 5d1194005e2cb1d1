#include <catch2/catch.hpp>

#include <nnprune/tokens/keep.hpp>

TEST_CASE("token_keep: ratio rounds half-even like the reference, counts are exact", "[tokens][keep]") {
    CHECK(nnprune::token_keep(0.098).k_for(576, "f") == 56);  // 56.448
    CHECK(nnprune::token_keep(0.1).k_for(576, "f") == 58);    // 57.6
    CHECK(nnprune::token_keep(0.5).k_for(5, "f") == 2);       // 2.5 -> 2
    CHECK(nnprune::token_keep(0.5).k_for(7, "f") == 4);       // 3.5 -> 4
    CHECK(nnprune::token_keep(1.0).k_for(3, "f") == 3);
    CHECK(nnprune::token_keep(nnprune::keep_count{3}).k_for(3, "f") == 3);
}

TEST_CASE("token_keep: errors name the function and the values", "[tokens][keep]") {
    using Catch::Contains;
    REQUIRE_THROWS_WITH(nnprune::token_keep(1.01), Contains("token_keep: ratio must be in [0, 1], got 1.01"));
    REQUIRE_THROWS_WITH(nnprune::token_keep(0.5).k_for(0, "fn"), Contains("fn: no tokens (N = 0)"));
    REQUIRE_THROWS_WITH(nnprune::token_keep(0.0).k_for(10, "fn"), Contains("fn: keep = round(0 * 10) = 0"));
    REQUIRE_THROWS_WITH(nnprune::token_keep(nnprune::keep_count{11}).k_for(10, "fn"),
                        Contains("fn: keep = 11 exceeds N = 10"));
    REQUIRE_THROWS_AS(nnprune::token_keep(nnprune::keep_count{0}).k_for(10, "fn"), nnprune::precondition_error);
}
