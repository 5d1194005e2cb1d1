#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/core/tensor_ref.hpp>

using Catch::Contains;

TEST_CASE("tensor_ref: keeps dtype, shape, strides and constness of the view", "[core][tensor_ref]") {
    std::vector<double> d(24);
    std::iota(d.begin(), d.end(), 0.0);
    const nnprune::tensor_ref r = nnprune::tensor_view<double, 3>(d.data(), 2, 3, 4);
    REQUIRE(r.dtype() == nnprune::dtype::f64);
    REQUIRE(r.shape() == nnprune::shape{2, 3, 4});
    REQUIRE(r.rank() == 3);
    REQUIRE(r.extent(1) == 3);
    REQUIRE(r.stride(0) == 12);
    REQUIRE(r.size() == 24);
    REQUIRE_FALSE(r.empty());
    REQUIRE_FALSE(r.readonly());
    REQUIRE(r.is_contiguous());
    REQUIRE(r.data_handle() == d.data());

    const nnprune::tensor_ref c = nnprune::tensor_view<const double, 3>(d.data(), 2, 3, 4);
    REQUIRE(c.readonly());
    REQUIRE(nnprune::tensor_ref{}.empty());

    const auto v = r.as<double, 3>();
    REQUIRE(v(1, 2, 3) == 23.0);
    const auto cv = c.as<const double, 3>();
    REQUIRE(cv(1, 0, 1) == 13.0);
}

TEST_CASE("tensor_ref: as() error paths leave the tensor untouched", "[core][tensor_ref]") {
    std::vector<float> f(6, 1.5f);
    const auto before = f;
    const nnprune::tensor_ref r = nnprune::matrix_view<float>(f.data(), 2, 3);
    const nnprune::tensor_ref ro = nnprune::matrix_view<const float>(f.data(), 2, 3);
    REQUIRE_THROWS_AS((r.as<double, 2>()), nnprune::precondition_error);
    REQUIRE_THROWS_WITH((r.as<double, 2>()), Contains("tensor_ref::as: tensor holds f32, asked for f64"));
    REQUIRE_THROWS_AS((r.as<float, 3>()), nnprune::shape_error);
    REQUIRE_THROWS_WITH((r.as<float, 3>()), Contains("tensor_ref::as: tensor has rank 2, asked for rank 3"));
    REQUIRE_THROWS_WITH((ro.as<float, 2>()),
                        Contains("tensor_ref::as: tensor is read-only, asked for mutable elements"));
    REQUIRE_THROWS_WITH((r.as_matrix<nnprune::float16>()),
                        Contains("tensor_ref::as_matrix: tensor holds f32, asked for f16"));
    REQUIRE_THROWS_WITH((ro.as_matrix<float>()),
                        Contains("tensor_ref::as_matrix: tensor is read-only, asked for mutable elements"));
    REQUIRE_THROWS_AS(nnprune::visit_mutable(ro, [](auto) {}), nnprune::precondition_error);
    REQUIRE_THROWS_WITH(nnprune::visit_mutable(ro, [](auto) {}), Contains("visit_mutable: tensor is read-only"));
    REQUIRE_NOTHROW(ro.as<const float, 2>());
    REQUIRE(f == before);
}

TEST_CASE("tensor_ref: as_matrix merges trailing dimensions", "[core][tensor_ref]") {
    std::vector<float> f(2 * 3 * 4);
    std::iota(f.begin(), f.end(), 0.0f);
    SECTION("contiguous rank 3") {
        const nnprune::tensor_ref r = nnprune::tensor_view<float, 3>(f.data(), 2, 3, 4);
        const auto m = r.as_matrix<const float>();
        REQUIRE(m.extent(0) == 2);
        REQUIRE(m.extent(1) == 12);
        for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t j = 0; j < 12; ++j) REQUIRE(m(i, j) == static_cast<float>(i * 12 + j));
    }
    SECTION("vector is one row") {
        const nnprune::tensor_ref r = nnprune::tensor_view<float, 1>(f.data(), {5}, {3});
        const auto m = r.as_matrix<float>();
        REQUIRE(m.extent(0) == 1);
        REQUIRE(m.extent(1) == 5);
        REQUIRE(m(0, 4) == 12.0f);
    }
    SECTION("strided rows, merged columns") {
        // rows 0 and 2 of a 4x(2x3) tensor: row stride 12, trailing dims contiguous
        std::vector<float> g(48);
        std::iota(g.begin(), g.end(), 0.0f);
        const nnprune::tensor_ref r = nnprune::tensor_view<float, 3>(g.data(), {2, 2, 3}, {24, 3, 1});
        const auto m = r.as_matrix<float>();
        REQUIRE(m(1, 5) == 29.0f);
    }
    SECTION("a unit dimension with an arbitrary stride between two mergeable ones") {
        const nnprune::tensor_ref r = nnprune::tensor_view<float, 4>(f.data(), {2, 3, 1, 4}, {12, 4, 999, 1});
        const auto m = r.as_matrix<const float>();
        REQUIRE(m.extent(1) == 12);
        REQUIRE(m(1, 7) == 19.0f);
    }
    SECTION("trailing dims that cannot be merged throw") {
        std::vector<float> g(64);
        const auto before = g;
        const nnprune::tensor_ref r = nnprune::tensor_view<float, 3>(g.data(), {2, 3, 4}, {16, 5, 1});
        REQUIRE_THROWS_AS(r.as_matrix<float>(), nnprune::shape_error);
        REQUIRE_THROWS_WITH(
            r.as_matrix<float>(),
            Contains("tensor_ref::as_matrix: the trailing dimensions of a 2x3x4 tensor cannot be merged"));
        // the same gap with a unit dimension in between must be caught too
        const nnprune::tensor_ref u = nnprune::tensor_view<float, 4>(g.data(), {2, 3, 1, 4}, {16, 5, 7, 1});
        REQUIRE_THROWS_WITH(
            u.as_matrix<float>(),
            Contains("tensor_ref::as_matrix: the trailing dimensions of a 2x3x1x4 tensor cannot be merged"));
        REQUIRE(g == before);
    }
}

TEST_CASE("tensor_ref: visit hands back a typed rank-4 view in flat order", "[core][tensor_ref]") {
    std::vector<nnprune::bfloat16> b(6);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = nnprune::bfloat16(static_cast<float>(i));
    const nnprune::tensor_ref r = nnprune::matrix_view<nnprune::bfloat16>(b.data(), {3, 2}, {1, 3});  // transposed
    const double sum = nnprune::visit(r, [](auto v) {
        STATIC_REQUIRE(std::is_const_v<typename decltype(v)::element_type>);
        STATIC_REQUIRE(decltype(v)::rank() == 4);
        double s = 0, weighted = 0;
        nnprune::for_each_indexed(v, [&](std::size_t i, auto x) {
            s += nnprune::to_double(x);
            weighted += static_cast<double>(i) * nnprune::to_double(x);
        });
        return s * 1000 + weighted;
    });
    // flat order of the transposed view: 0 3 1 4 2 5
    REQUIRE(sum == 15 * 1000 + (0 * 0 + 1 * 3 + 2 * 1 + 3 * 4 + 4 * 2 + 5 * 5));
    nnprune::visit_mutable(
        r, [](auto v) { v(0, 1, 0, 0) = nnprune::from_double<typename decltype(v)::value_type>(-1.0); });
    REQUIRE(static_cast<float>(b[3]) == -1.0f);
    for (auto t : {nnprune::dtype::f32, nnprune::dtype::f64, nnprune::dtype::f16}) {
        std::vector<std::uint8_t> raw(64, 0);
        nnprune::tensor_ref x;
        if (t == nnprune::dtype::f32) x = nnprune::vector_view<float>(reinterpret_cast<float*>(raw.data()), 2);
        if (t == nnprune::dtype::f64) x = nnprune::vector_view<double>(reinterpret_cast<double*>(raw.data()), 2);
        if (t == nnprune::dtype::f16)
            x = nnprune::vector_view<nnprune::float16>(reinterpret_cast<nnprune::float16*>(raw.data()), 2);
        const auto dt = nnprune::visit(x, [](auto v) { return nnprune::dtype_of<typename decltype(v)::value_type>; });
        REQUIRE(dt == t);
    }
}
