#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/scorer.hpp>
#include <nnprune/select/select.hpp>

#include "prune_test_util.hpp"

using namespace nnprune;

TEST_CASE("score_tensor: keeps the weights' shape for select, matrix view for scorers", "[scorers][scorer]") {
    std::vector<double> conv(2 * 3 * 2 * 2, 1.0);
    layer l{"conv", tensor_view<double, 4>(conv.data(), 2, 3, 2, 2), {}, {}};
    const auto s = score(magnitude, l);
    REQUIRE(s.shape() == shape{2, 3, 2, 2});
    REQUIRE(s.ref().shape() == shape{2, 3, 2, 2});
    REQUIRE(s.ref().dtype() == dtype::f32);
    score_tensor v(shape{5});
    REQUIRE(v.matrix().extent(0) == 1);
    REQUIRE(v.matrix().extent(1) == 5);
}

TEST_CASE("check_finite: names the layer, the tensor and the first bad index", "[scorers][scorer]") {
    std::vector<float> w{1, 2, INFINITY, NAN};
    const matrix_view<const float> v(w.data(), 2, 2);
    REQUIRE_THROWS_WITH(detail::check_finite(v, "prune", "fc1", "weights"), Catch::Contains("prune: layer 'fc1': weights has Inf at flat index 2"));
    w[2] = 0;
    REQUIRE_THROWS_WITH(detail::check_finite(v, "prune", "fc1", "weights"), Catch::Contains("has NaN at flat index 3"));
}

TEST_CASE("taylor + channels{sum}: Torch-Pruning's channel importance sum |w * g|", "[scorers][scorer]") {
    std::vector<float> w{1, -1, 2, 0.5f, 3, 1}, g{1, 1, -1, 4, 0.1f, 0.1f};  // rows: |wg| = {1,1,2}=4, {2,0.3,0.1}=2.4
    auto l = test_util::make_layer("fc", w, 2, 3);
    l.gradient = matrix_view<const float>(g.data(), 2, 3);
    const auto s = score(taylor, l);
    mask m(s.shape());
    select_mask(s.ref(), channels{0, aggregate::sum}, exactly{1}, m.view());
    REQUIRE(m.to_bytes() == std::vector<std::uint8_t>{1, 1, 1, 0, 0, 0});  // output channel 1 is removed
}
