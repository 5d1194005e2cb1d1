#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/prune/prune.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/precomputed.hpp>

using namespace nnprune;

TEST_CASE("precomputed_scores and user lambdas are scorers", "[scorers][precomputed]") {
    std::vector<float> w{1, 2, 3, 4};
    std::vector<double> s{4, 3, 2, 1};
    auto l = test_util::make_layer("fc", w, 2, 2);
    precomputed_scores pre{{{"fc", matrix_view<const double>(s.data(), 2, 2)}}};
    auto r = prune(std::span<const layer>(&l, 1), pre, per_tensor{}, 0.5);
    REQUIRE(r.masks[0].to_bytes() == std::vector<std::uint8_t>{1, 1, 0, 0});
    precomputed_scores none{};
    REQUIRE_THROWS_WITH(prune(std::span<const layer>(&l, 1), none, per_tensor{}, 0.5),
                        Catch::Contains("no scores for layer 'fc'"));
    precomputed_scores wrong{{{"fc", vector_view<const double>(s.data(), 4)}}};
    REQUIRE_THROWS_WITH(prune(std::span<const layer>(&l, 1), wrong, per_tensor{}, 0.5),
                        Catch::Contains("layer 'fc': scores have shape 4, weights have 2x2"));
    auto mine = [](const layer&, matrix_view<float> out) {  // prefers the first column
        for (std::size_t i = 0; i < out.extent(0); ++i) {
            out(i, 0) = 1.0f;
            out(i, 1) = 0.0f;
        }
    };
    static_assert(scorer<decltype(mine)>);
    r = prune(std::span<const layer>(&l, 1), mine, per_row{}, 0.5);
    REQUIRE(r.masks[0].to_bytes() == std::vector<std::uint8_t>{1, 0, 1, 0});
}
