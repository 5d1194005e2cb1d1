#include <array>
#include <cstdint>
#include <limits>
#include <sstream>

#include <catch2/catch.hpp>

#include <nnprune/core/shape.hpp>

using Catch::Contains;

TEST_CASE("shape: rank 1..4, numel, matrix interpretation, printing", "[core][shape]") {
    const nnprune::shape s{4096, 11008};
    REQUIRE(s.rank() == 2);
    REQUIRE(s.numel() == 4096u * 11008u);
    REQUIRE(s.rows() == 4096);
    REQUIRE(s.cols() == 11008);
    REQUIRE(s.to_string() == "4096x11008");
    std::ostringstream os;
    os << nnprune::shape{2, 3, 4, 5};
    REQUIRE(os.str() == "2x3x4x5");
    REQUIRE(nnprune::shape{2, 3, 4, 5}.cols() == 60);
    REQUIRE(nnprune::shape{7}.rows() == 1);
    REQUIRE(nnprune::shape{7}.cols() == 7);
    REQUIRE(nnprune::shape{}.numel() == 0);
    REQUIRE(nnprune::shape{}.rows() == 0);
    REQUIRE(nnprune::shape{}.cols() == 0);
    REQUIRE(nnprune::shape{}.to_string() == "()");
    REQUIRE(nnprune::shape{3, 0}.numel() == 0);
    REQUIRE(nnprune::shape(std::array<std::size_t, 3>{1, 2, 3}) == nnprune::shape{1, 2, 3});
    const std::size_t e[] = {5, 6};
    REQUIRE(nnprune::shape(e, 2) == nnprune::shape{5, 6});
    REQUIRE_FALSE(nnprune::shape{2, 3} == nnprune::shape{3, 2});
    REQUIRE_FALSE(nnprune::shape{6} == nnprune::shape{6, 1});
    REQUIRE(s[1] == 11008);
    REQUIRE(s.extent(0) == 4096);
    REQUIRE(s.data()[1] == 11008);
    // 64-bit element counts
    const nnprune::shape big{std::size_t{1} << 20, std::size_t{1} << 20, 16};
    REQUIRE(big.numel() == std::size_t{1} << 44);
}

TEST_CASE("shape: error paths", "[core][shape]") {
    REQUIRE_THROWS_AS((nnprune::shape{1, 2, 3, 4, 5}), nnprune::precondition_error);
    REQUIRE_THROWS_WITH((nnprune::shape{1, 2, 3, 4, 5}), Contains("shape: rank must be 1..4, got 5"));
    const std::size_t none[] = {1};
    REQUIRE_THROWS_WITH(nnprune::shape(none, 0), Contains("shape: rank must be 1..4, got 0"));
    const std::size_t h = std::size_t{1} << 32;
    REQUIRE_THROWS_WITH((nnprune::shape{h, h}), Contains("shape: element count overflows 64 bits"));
    REQUIRE_NOTHROW(nnprune::shape{h, h - 1, 0});
    REQUIRE_THROWS_AS((nnprune::shape{std::numeric_limits<std::size_t>::max(), 2}), nnprune::precondition_error);
}
