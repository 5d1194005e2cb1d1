#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/tokens/features.hpp>

TEST_CASE("features: unit rows, zero padding and the zero-norm flag", "[tokens][features]") {
    const std::vector<nnprune::bfloat16> x = {nnprune::bfloat16(3.0f), nnprune::bfloat16(4.0f),
                                              nnprune::bfloat16(0.0f), nnprune::bfloat16(0.0f),
                                              nnprune::bfloat16(0.0f), nnprune::bfloat16(0.0f)};
    nnprune::token_workspace ws;
    const auto u =
        nnprune::detail::normalize_tokens(nnprune::matrix_view<const nnprune::bfloat16>(x.data(), 2, 3), ws, "t");
    REQUIRE(u.stride == 16);
    CHECK(u.row(0)[0] == Approx(0.6));
    CHECK(u.row(0)[1] == Approx(0.8));
    for (std::size_t j = 2; j < 16; ++j) CHECK(u.row(0)[j] == 0.0f);
    CHECK(u.zeros == 1);
    CHECK(u.zero[1] == 1);
    for (std::size_t j = 0; j < 16; ++j) CHECK(u.row(1)[j] == 0.0f);
}
