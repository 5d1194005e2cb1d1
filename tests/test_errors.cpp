#include <stdexcept>
#include <type_traits>

#include <catch2/catch.hpp>

#include <nnprune/core/errors.hpp>

TEST_CASE("errors: hierarchy rooted at nnprune::error", "[core][errors]") {
    using namespace nnprune;
    STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, error>);
    STATIC_REQUIRE(std::is_base_of_v<error, precondition_error>);
    STATIC_REQUIRE(std::is_base_of_v<precondition_error, shape_error>);
    STATIC_REQUIRE(std::is_base_of_v<precondition_error, value_error>);
    STATIC_REQUIRE(std::is_base_of_v<error, format_error>);
    STATIC_REQUIRE(std::is_base_of_v<error, io_error>);
    STATIC_REQUIRE(std::is_base_of_v<error, internal_error>);
    STATIC_REQUIRE_FALSE(std::is_base_of_v<precondition_error, format_error>);
    REQUIRE_THROWS_AS([&] { NNPRUNE_CHECK(false, shape_error, "boom"); }(), error);
    REQUIRE_THROWS_AS([&] { NNPRUNE_PRECONDITION(1 + 1 == 3, "boom"); }(), precondition_error);
    REQUIRE_THROWS_WITH([&] { NNPRUNE_CHECK(false, io_error, detail::str("f: got ", 3, " and ", 0.5)); }(),
                        "f: got 3 and 0.5");
    REQUIRE_NOTHROW([] { NNPRUNE_CHECK(true, nnprune::shape_error, "never"); }());
    // the message is only built when the check fails
    int built = 0;
    auto msg = [&] {
        ++built;
        return std::string("m");
    };
    NNPRUNE_CHECK(true, value_error, msg());
    REQUIRE(built == 0);
}

TEST_CASE("errors: detail::str prints doubles exactly enough to round trip", "[core][errors]") {
    REQUIRE(nnprune::detail::str("x=", 0.1) == "x=0.10000000000000001");
    REQUIRE(nnprune::detail::str("a", 'b', 3u) == "ab3");
}

#if defined(NNPRUNE_ENABLE_ASSERT) && NNPRUNE_ENABLE_ASSERT
TEST_CASE("errors: NNPRUNE_ASSERT throws internal_error when enabled", "[core][errors]") {
    REQUIRE_THROWS_AS([&] { NNPRUNE_ASSERT(1 == 2); }(), nnprune::internal_error);
    REQUIRE_THROWS_WITH([&] { NNPRUNE_ASSERT(1 == 2); }(), Catch::Contains("internal assertion failed: 1 == 2"));
}
#endif
