#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/core/layer.hpp>

using Catch::Contains;

TEST_CASE("layer: holds references, validate accepts matching optional tensors", "[core][layer]") {
    std::vector<float> w(6 * 8), stat(8), grad(6 * 8);
    nnprune::layer l{"model.layers.0.mlp.up_proj", nnprune::matrix_view<float>(w.data(), 6, 8), std::nullopt,
                     std::nullopt};
    REQUIRE(l.weights.data_handle() == w.data());
    REQUIRE(l.weights.shape() == nnprune::shape{6, 8});
    REQUIRE_NOTHROW(nnprune::validate(l));
    l.input_stat = nnprune::vector_view<const float>(stat.data(), 8);
    l.gradient = nnprune::matrix_view<float>(grad.data(), 6, 8);
    REQUIRE_NOTHROW(nnprune::validate(l));
    // rank-4 conv weights: input columns are the product of the trailing extents
    std::vector<double> conv(4 * 3 * 2 * 2), cstat(12);
    const nnprune::layer c{"conv", nnprune::tensor_view<double, 4>(conv.data(), 4, 3, 2, 2),
                           nnprune::vector_view<double>(cstat.data(), 12), std::nullopt};
    REQUIRE_NOTHROW(nnprune::validate(c));
}

TEST_CASE("layer: validate names the layer and both shapes, and writes nothing", "[core][layer]") {
    std::vector<float> w(6 * 8, 1.0f), stat(7, 2.0f), grad(8 * 6, 3.0f);
    const nnprune::layer bad_stat{"up", nnprune::matrix_view<float>(w.data(), 6, 8),
                                  nnprune::vector_view<float>(stat.data(), 7), std::nullopt};
    REQUIRE_THROWS_AS(nnprune::validate(bad_stat), nnprune::shape_error);
    REQUIRE_THROWS_WITH(nnprune::validate(bad_stat),
                        Contains("layer 'up': input statistic has 7 elements, weights 6x8 have 8 input columns"));
    const nnprune::layer bad_grad{"down", nnprune::matrix_view<float>(w.data(), 6, 8), std::nullopt,
                                  nnprune::matrix_view<float>(grad.data(), 8, 6)};
    REQUIRE_THROWS_WITH(nnprune::validate(bad_grad),
                        Contains("layer 'down': gradient has shape 8x6, weights have 6x8"));
    REQUIRE(w == std::vector<float>(48, 1.0f));
    REQUIRE(stat == std::vector<float>(7, 2.0f));
    REQUIRE(grad == std::vector<float>(48, 3.0f));
}
