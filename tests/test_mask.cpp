#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include <nnprune/masks/mask.hpp>

TEST_CASE("mask: new masks keep everything and count bits", "[masks][mask]") {
    nnprune::mask m(nnprune::shape{3, 67});
    REQUIRE(m.size() == 201);
    REQUIRE(m.count() == 201);
    m.set(200, false);
    m.set(0, false);
    REQUIRE(m.count() == 199);
    REQUIRE(m.pruned() == 2);
    REQUIRE_FALSE(m.test(200));
    REQUIRE((~m).count() == 2);
}
