// amount and rounding: k from a ratio.
#include <catch2/catch.hpp>

#include "select_reference.hpp"

namespace {
using namespace select_test;
using nnprune::mask;
using nnprune::shape;
}  // namespace

TEST_CASE("options: k from a ratio, rounding policies", "[select][options]") {
    REQUIRE(nnprune::count_to_prune(100, 0.29, nnprune::rounding::truncate) == 28);
    REQUIRE(nnprune::count_to_prune(100, 0.29, nnprune::rounding::half_even) == 29);
    REQUIRE(nnprune::count_to_prune(7, 0.5) == 4);
    REQUIRE(nnprune::count_to_prune(5, 0.5) == 2);
    REQUIRE(nnprune::count_to_prune(10, 0.25) == 2);
    REQUIRE(nnprune::count_to_prune(10, 0.21, nnprune::rounding::ceil) == 3);
    std::vector<float> f(100);
    std::iota(f.begin(), f.end(), 0.0f);
    mask m(shape{100});
    nnprune::select_options o;
    o.round = nnprune::rounding::truncate;
    nnprune::select_mask(nnprune::vector_view<const float>(f.data(), 100), nnprune::per_tensor{}, 0.29, m, o);
    REQUIRE(m.pruned() == 28);
}
