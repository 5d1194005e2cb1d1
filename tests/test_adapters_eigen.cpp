#include <random>
#include <type_traits>

#include <catch2/catch.hpp>

#include "view_checks.hpp"
#include <nnprune/adapters/eigen.hpp>
#include <nnprune/nnprune.hpp>

using nnprune_test::check_same_as_contiguous_copy;

namespace {

template <class M>
M random_matrix(Eigen::Index r, Eigen::Index c, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    M m(r, c);
    for (Eigen::Index i = 0; i < r; ++i)
        for (Eigen::Index j = 0; j < c; ++j) m(i, j) = static_cast<typename M::Scalar>(d(rng));
    return m;
}

using RowMajorXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

TEST_CASE("eigen adapter: matrices map to (row, col) views in both storage orders", "[adapters][eigen]") {
    Eigen::MatrixXf cm = random_matrix<Eigen::MatrixXf>(5, 7, 1);
    RowMajorXf rm = cm;
    const auto vc = nnprune::as_view(cm);
    const auto vr = nnprune::as_view(rm);
    STATIC_REQUIRE(std::is_same_v<decltype(vc), const nnprune::matrix_view<float>>);
    REQUIRE(vc.extent(0) == 5);
    REQUIRE(vc.extent(1) == 7);
    REQUIRE(vc.stride(0) == 1);
    REQUIRE(vc.stride(1) == 5);
    REQUIRE(vr.stride(0) == 7);
    REQUIRE(vr.is_contiguous());
    for (std::size_t i = 0; i < 5; ++i)
        for (std::size_t j = 0; j < 7; ++j) {
            REQUIRE(vc(i, j) == cm(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)));
            REQUIRE(vr(i, j) == cm(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)));
        }
    const Eigen::MatrixXd& cd = Eigen::MatrixXd::Constant(2, 3, 1.0).eval();
    STATIC_REQUIRE(std::is_same_v<decltype(nnprune::as_view(cd)), nnprune::matrix_view<const double>>);
    REQUIRE(nnprune::as_ref(cd).readonly());
    REQUIRE(nnprune::as_ref(cm).dtype() == nnprune::dtype::f32);
}

TEST_CASE("eigen adapter: blocks, maps, refs and vectors equal their contiguous copies", "[adapters][eigen]") {
    SECTION("column-major block (strided rows and columns)") {
        Eigen::MatrixXf m = random_matrix<Eigen::MatrixXf>(9, 11, 2);
        const Eigen::MatrixXf before = m;
        check_same_as_contiguous_copy(nnprune::as_view(m.block(2, 3, 5, 6)));
        // outside the block nothing changed
        for (Eigen::Index i = 0; i < 9; ++i)
            for (Eigen::Index j = 0; j < 11; ++j)
                if (i < 2 || i >= 7 || j < 3 || j >= 9) REQUIRE(m(i, j) == before(i, j));
    }
    SECTION("row-major block") {
        RowMajorXf m = random_matrix<RowMajorXf>(8, 13, 3);
        check_same_as_contiguous_copy(nnprune::as_view(m.block(1, 2, 6, 9)));
    }
    SECTION("Map with inner and outer strides (every other element)") {
        std::vector<float> buf(2 * 6 * 8);
        std::mt19937 rng(4);
        for (auto& x : buf) x = static_cast<float>(rng() % 1000) / 7.0f;
        Eigen::Map<Eigen::MatrixXf, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>> map(
            buf.data(), 6, 8, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(12, 2));
        const auto v = nnprune::as_view(map);
        REQUIRE(v.stride(0) == 2);
        REQUIRE(v.stride(1) == 12);
        check_same_as_contiguous_copy(v);
        for (std::size_t i = 1; i < buf.size(); i += 2) REQUIRE(buf[i] != 0.0f);  // odd slots never written
    }
    SECTION("Map of const is read-only") {
        const std::vector<double> buf{1, 2, 3, 4, 5, 6};
        Eigen::Map<const Eigen::MatrixXd> map(buf.data(), 2, 3);
        STATIC_REQUIRE(std::is_same_v<decltype(nnprune::as_view(map)), nnprune::matrix_view<const double>>);
        check_same_as_contiguous_copy(nnprune::as_view(map));
    }
    SECTION("Ref with an inner stride, and a transposed (row of column-major) view") {
        Eigen::MatrixXd m = random_matrix<Eigen::MatrixXd>(6, 10, 5);
        Eigen::Ref<Eigen::MatrixXd, 0, Eigen::OuterStride<>> r = m.middleCols(2, 5);
        check_same_as_contiguous_copy(nnprune::as_view(r));
        check_same_as_contiguous_copy(nnprune::as_view(m.transpose()));
    }
    SECTION("vectors: column, row of a column-major matrix (strided), segments") {
        Eigen::MatrixXf m = random_matrix<Eigen::MatrixXf>(7, 9, 6);
        auto row = m.row(3);
        const auto rv = nnprune::as_view(row);
        STATIC_REQUIRE(decltype(rv)::rank() == 1);
        REQUIRE(rv.stride(0) == 7);
        for (std::size_t j = 0; j < 9; ++j) REQUIRE(rv(j) == m(3, static_cast<Eigen::Index>(j)));
        Eigen::VectorXf vec = m.col(2);
        REQUIRE(nnprune::as_view(vec).is_contiguous());
        REQUIRE(nnprune::as_view(vec.segment(1, 4))(0) == m(1, 2));
        // rank-1 selection works on a one-row matrix interpretation
        nnprune::mask mk(nnprune::shape{9});
        nnprune::select_mask(nnprune::as_ref(row), nnprune::per_tensor{}, nnprune::exactly{4}, mk);
        nnprune::apply(nnprune::as_view(row), mk);
        REQUIRE((m.row(3).array() == 0.0f).count() == 4);
    }
    SECTION("Array and rank-2 matrices of bfloat16 / half") {
        Eigen::ArrayXXf a = random_matrix<Eigen::MatrixXf>(4, 6, 7).array();
        check_same_as_contiguous_copy(nnprune::as_view(a));
        Eigen::Matrix<Eigen::bfloat16, Eigen::Dynamic, Eigen::Dynamic> b(3, 8);
        Eigen::Matrix<Eigen::half, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> h(3, 8);
        for (Eigen::Index i = 0; i < 3; ++i)
            for (Eigen::Index j = 0; j < 8; ++j) {
                b(i, j) = Eigen::bfloat16(static_cast<float>(i * 8 + j) - 11.5f);
                h(i, j) = Eigen::half(static_cast<float>(j * 3 + i) - 9.25f);
            }
        const auto bv = nnprune::as_view(b);
        STATIC_REQUIRE(std::is_same_v<typename decltype(bv)::element_type, nnprune::bfloat16>);
        REQUIRE(static_cast<float>(bv(2, 7)) == static_cast<float>(b(2, 7)));
        REQUIRE(static_cast<float>(nnprune::as_view(h)(1, 5)) == static_cast<float>(h(1, 5)));
        REQUIRE(nnprune::as_ref(h).dtype() == nnprune::dtype::f16);
        check_same_as_contiguous_copy(nnprune::as_view(b.block(0, 1, 3, 6)));
        check_same_as_contiguous_copy(nnprune::as_view(h.block(1, 0, 2, 7)));
    }
}

TEST_CASE("eigen adapter: concept membership", "[adapters][eigen]") {
    STATIC_REQUIRE(nnprune::viewable<Eigen::MatrixXf>);
    STATIC_REQUIRE(nnprune::viewable<const Eigen::MatrixXd>);
    STATIC_REQUIRE(nnprune::viewable<Eigen::Map<Eigen::VectorXf>>);
    STATIC_REQUIRE(nnprune::viewable<Eigen::Block<Eigen::MatrixXf>>);
    STATIC_REQUIRE(nnprune::viewable<Eigen::Ref<const Eigen::MatrixXf>>);
    STATIC_REQUIRE_FALSE(nnprune::viewable<Eigen::MatrixXi>);                                  // not an element type
    STATIC_REQUIRE_FALSE(nnprune::viewable<decltype(Eigen::MatrixXf() + Eigen::MatrixXf())>);  // no memory
}
