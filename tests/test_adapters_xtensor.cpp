#include <random>
#include <type_traits>

#include <catch2/catch.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include "view_checks.hpp"
#include <nnprune/adapters/xtensor.hpp>
#include <nnprune/nnprune.hpp>

using Catch::Contains;
using nnprune_test::check_same_as_contiguous_copy;

namespace {

template <class E>
void fill_random(E& e, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> d(-1.0, 1.0);
    for (auto& x : e) x = static_cast<typename E::value_type>(d(rng));
}

}  // namespace

TEST_CASE("xtensor adapter: containers and adaptors", "[adapters][xtensor]") {
    xt::xtensor<float, 2> t({6, 9});
    fill_random(t, 1);
    const auto v = nnprune::as_view(t);
    STATIC_REQUIRE(std::is_same_v<decltype(v), const nnprune::matrix_view<float>>);
    REQUIRE(v.is_contiguous());
    REQUIRE(v(4, 7) == t(4, 7));
    check_same_as_contiguous_copy(v);

    xt::xtensor<double, 3, xt::layout_type::column_major> cm({3, 4, 5});
    fill_random(cm, 2);
    const auto vc = nnprune::as_view(cm);
    REQUIRE_FALSE(vc.is_contiguous());
    REQUIRE(vc(2, 3, 1) == cm(2, 3, 1));
    check_same_as_contiguous_copy(vc);

    const xt::xtensor<float, 1> ct = xt::xtensor<float, 1>({1.0f, 2.0f, 3.0f});
    STATIC_REQUIRE(std::is_same_v<decltype(nnprune::as_view(ct)), nnprune::vector_view<const float>>);

    std::vector<float> buf(24);
    for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<float>(i) - 5.5f;
    auto ad = xt::adapt(buf.data(), buf.size(), xt::no_ownership(), std::array<std::size_t, 2>{4, 6});
    REQUIRE(nnprune::as_view(ad).data_handle() == buf.data());
    check_same_as_contiguous_copy(nnprune::as_view(ad));
}

TEST_CASE("xtensor adapter: strided views equal their contiguous copies", "[adapters][xtensor]") {
    xt::xtensor<float, 2> t({10, 12});
    fill_random(t, 3);
    const xt::xtensor<float, 2> before = t;
    SECTION("ranges with steps") {
        auto sv = xt::view(t, xt::range(1, 9, 2), xt::range(2, 11, 3));
        const auto v = nnprune::as_view(sv);
        REQUIRE(v.extent(0) == 4);
        REQUIRE(v.extent(1) == 3);
        REQUIRE(v.stride(0) == 24);
        REQUIRE(v.stride(1) == 3);
        check_same_as_contiguous_copy(v);
        for (std::size_t i = 0; i < 10; ++i)
            for (std::size_t j = 0; j < 12; ++j)
                if (i % 2 == 0 || i == 9 || j < 2 || (j - 2) % 3 != 0) REQUIRE(t(i, j) == before(i, j));
    }
    SECTION("negative strides through strided_view") {
        auto rev = xt::strided_view(t, {xt::range(xt::placeholders::_, xt::placeholders::_, -1), xt::all()});
        const nnprune::tensor_ref r = nnprune::as_ref(rev);  // xstrided_view has a dynamic rank
        REQUIRE(r.stride(0) == -12);
        check_same_as_contiguous_copy(r.as<float, 2>());
    }
    SECTION("a column (rank 1, stride 12)") {
        auto col = xt::view(t, xt::all(), 5);
        const auto v = nnprune::as_view(col);
        STATIC_REQUIRE(decltype(v)::rank() == 1);
        REQUIRE(v.stride(0) == 12);
        REQUIRE(v(7) == t(7, 5));
    }
}

TEST_CASE("xtensor adapter: xarray has a run-time rank", "[adapters][xtensor]") {
    xt::xarray<double> a = xt::xarray<double>::from_shape({2, 3, 4});
    fill_random(a, 4);
    const auto r = nnprune::as_view(a);
    STATIC_REQUIRE(std::is_same_v<decltype(r), const nnprune::tensor_ref>);
    REQUIRE(r.shape() == nnprune::shape{2, 3, 4});
    REQUIRE(r.as<double, 3>()(1, 2, 3) == a(1, 2, 3));
    check_same_as_contiguous_copy(r.as<double, 3>());

    const xt::xarray<float> c = xt::xarray<float>::from_shape({5});
    REQUIRE(nnprune::as_ref(c).readonly());

    xt::xarray<float> big = xt::xarray<float>::from_shape({1, 2, 1, 2, 1});
    std::fill(big.begin(), big.end(), 3.0f);
    REQUIRE_THROWS_AS(nnprune::as_ref(big), nnprune::shape_error);
    REQUIRE_THROWS_WITH(nnprune::as_ref(big), Contains("as_view(xtensor): rank must be 1..4, got 5"));
    for (float x : big) REQUIRE(x == 3.0f);
}

TEST_CASE("xtensor adapter: concept membership", "[adapters][xtensor]") {
    STATIC_REQUIRE(nnprune::viewable<xt::xtensor<float, 2>>);
    STATIC_REQUIRE(nnprune::viewable<const xt::xarray<double>>);
    STATIC_REQUIRE_FALSE(nnprune::viewable<xt::xtensor<int, 2>>);
}
