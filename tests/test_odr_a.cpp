// ODR check (fmt's ranges-odr-test): this TU and test_odr_b.cpp include the umbrella header and
// instantiate the same templates; linking both into one binary must work and agree.
#include <catch2/catch.hpp>

#include <vector>

#include <nnprune/nnprune.hpp>

std::size_t nnprune_odr_b(std::vector<float>& w);  // test_odr_b.cpp

namespace {
std::size_t odr_a(std::vector<float>& w) {
    nnprune::mask m(nnprune::shape{2, 4});
    nnprune::select_mask(nnprune::tensor_ref(nnprune::matrix_view<float>(w.data(), 2, 4)), nnprune::per_row{}, 0.5, m);
    nnprune::apply(nnprune::matrix_view<float>(w.data(), 2, 4), m);
    return m.count();
}
}  // namespace

TEST_CASE("odr: two TUs instantiating the same templates agree", "[odr]") {
    std::vector<float> a{1, -2, 3, -4, 5, 6, -7, 8}, b = a;
    REQUIRE(odr_a(a) == 4);
    REQUIRE(nnprune_odr_b(b) == 4);
    REQUIRE(a == b);
    REQUIRE(a == std::vector<float>{1, 0, 3, 0, 0, 6, 0, 8});  // raw values as scores: 2 lowest per row
}
