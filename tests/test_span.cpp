#include <array>
#include <span>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/adapters/span.hpp>
#include <nnprune/nnprune.hpp>

using Catch::Contains;

TEST_CASE("span adapter: spans, vectors and arrays are rank-1 views", "[adapters][span]") {
    std::vector<float> v{3, 1, 2, 5};
    const auto vv = nnprune::as_view(v);
    STATIC_REQUIRE(std::is_same_v<decltype(vv), const nnprune::vector_view<float>>);
    REQUIRE(vv.size() == 4);
    REQUIRE(vv(3) == 5.0f);
    const std::vector<double> cv{1, 2};
    STATIC_REQUIRE(std::is_same_v<decltype(nnprune::as_view(cv)), nnprune::vector_view<const double>>);
    std::array<nnprune::bfloat16, 3> a{};
    REQUIRE(nnprune::as_ref(a).dtype() == nnprune::dtype::bf16);
    const std::span<const float> s(v);
    REQUIRE(nnprune::as_ref(s).readonly());
    REQUIRE(nnprune::as_view(std::span<float, 4>(v)).data_handle() == v.data());

    nnprune::mask m(nnprune::shape{4});
    nnprune::select_mask(nnprune::as_ref(v), nnprune::per_tensor{}, 0.5, m);
    nnprune::apply(nnprune::as_view(v), m);
    REQUIRE(v == std::vector<float>{3, 0, 0, 5});
}

TEST_CASE("span adapter: make_view reshapes plain memory", "[adapters][span]") {
    std::vector<float> buf(24);
    for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<float>(i);
    const auto m = nnprune::make_view(buf.data(), 4, 6);
    STATIC_REQUIRE(std::is_same_v<decltype(m), const nnprune::matrix_view<float>>);
    REQUIRE(m(3, 5) == 23.0f);
    const auto t = nnprune::make_view(std::span<float>(buf), 2, 3, 2, 2);
    REQUIRE(t(1, 2, 1, 1) == 23.0f);
    REQUIRE(nnprune::make_view(std::span<const float>(buf), 24u).is_contiguous());

    const auto before = buf;
    REQUIRE_THROWS_AS(nnprune::make_view(std::span<float>(buf), 5, 5), nnprune::shape_error);
    REQUIRE_THROWS_WITH(nnprune::make_view(std::span<float>(buf), 5, 5),
                        Contains("make_view: span has 24 elements, shape 5x5 needs 25"));
    REQUIRE_THROWS_WITH(nnprune::make_view(std::span<float>(buf), -4, -6),
                        Contains("make_view: extents must not be negative"));
    REQUIRE(buf == before);
}
