#include <array>
#include <cstdint>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/core/tensor_view.hpp>

namespace {

/// Slow obvious flat walk: decompose the flat index, sum index * stride.
template <class T, std::size_t Rank>
std::vector<T> slow_flat(const nnprune::tensor_view<T, Rank>& v) {
    std::vector<T> out;
    for (std::size_t f = 0; f < v.size(); ++f) {
        std::size_t rem = f;
        std::ptrdiff_t off = 0;
        for (std::size_t r = Rank; r-- > 0;) {
            off += static_cast<std::ptrdiff_t>(rem % v.extent(r)) * v.stride(r);
            rem /= v.extent(r);
        }
        out.push_back(v.data_handle()[off]);
    }
    return out;
}

template <class T, std::size_t Rank>
std::vector<T> walk(const nnprune::tensor_view<T, Rank>& v) {
    std::vector<T> out;
    nnprune::for_each_indexed(v, [&](std::size_t i, T& x) {
        REQUIRE(i == out.size());
        out.push_back(x);
    });
    return out;
}

}  // namespace

TEST_CASE("tensor_view: row-major contiguous views", "[core][tensor_view]") {
    std::vector<float> d(24);
    std::iota(d.begin(), d.end(), 0.0f);
    const nnprune::tensor_view<float, 3> v(d.data(), 2, 3, 4);
    REQUIRE(v.rank() == 3);
    REQUIRE(v.size() == 24);
    REQUIRE_FALSE(v.empty());
    REQUIRE(v.stride(0) == 12);
    REQUIRE(v.stride(1) == 4);
    REQUIRE(v.stride(2) == 1);
    REQUIRE(v.is_contiguous());
    REQUIRE(v.shape() == nnprune::shape{2, 3, 4});
    REQUIRE(v(1, 2, 3) == 23.0f);
    REQUIRE(v.flat(17) == 17.0f);
    REQUIRE(v.offset_of(17) == 17);
    REQUIRE(walk(v) == d);
    // conversion to const
    const nnprune::tensor_view<const float, 3> c = v;
    REQUIRE(c.data_handle() == d.data());
    STATIC_REQUIRE(!std::is_convertible_v<nnprune::tensor_view<const float, 3>, nnprune::tensor_view<float, 3>>);
    // empty views
    const nnprune::tensor_view<float, 2> e(d.data(), 0, 5);
    REQUIRE(e.empty());
    REQUIRE(walk(e).empty());
    REQUIRE(nnprune::tensor_view<float, 1>{}.empty());
}

TEST_CASE("tensor_view: any strides (non-contiguous, zero, negative) walk in row-major order", "[core][tensor_view]") {
    std::vector<double> d(200);
    std::iota(d.begin(), d.end(), 0.0);
    SECTION("rank 1..4 with gaps") {
        const nnprune::tensor_view<double, 1> v1(d.data() + 1, {7}, {3});
        REQUIRE(walk(v1) == slow_flat(v1));
        REQUIRE_FALSE(v1.is_contiguous());
        const nnprune::tensor_view<double, 2> v2(d.data(), {4, 5}, {20, 2});
        REQUIRE(walk(v2) == slow_flat(v2));
        const nnprune::tensor_view<double, 3> v3(d.data(), {3, 2, 5}, {40, 11, 2});
        REQUIRE(walk(v3) == slow_flat(v3));
        const nnprune::tensor_view<double, 4> v4(d.data(), {2, 3, 2, 3}, {90, 25, 8, 3});
        REQUIRE(walk(v4) == slow_flat(v4));
        REQUIRE(v4(1, 2, 1, 2) == 90 + 50 + 8 + 6);
        for (std::size_t f = 0; f < v4.size(); ++f) REQUIRE(v4.flat(f) == slow_flat(v4)[f]);
    }
    SECTION("transposed (column-major) matrix") {
        const nnprune::tensor_view<double, 2> t(d.data(), {5, 4}, {1, 5});
        REQUIRE(walk(t) == slow_flat(t));
        REQUIRE(t(3, 2) == 13.0);
    }
    SECTION("zero strides broadcast") {
        const nnprune::tensor_view<double, 2> z(d.data() + 7, {3, 4}, {0, 1});
        REQUIRE(walk(z) == std::vector<double>{7, 8, 9, 10, 7, 8, 9, 10, 7, 8, 9, 10});
        const nnprune::tensor_view<double, 3> all(d.data() + 5, {2, 2, 2}, {0, 0, 0});
        REQUIRE(walk(all) == std::vector<double>(8, 5.0));
        REQUIRE_FALSE(all.is_contiguous());
    }
    SECTION("negative strides walk backwards") {
        const nnprune::tensor_view<double, 2> r(d.data() + 19, {4, 5}, {-5, -1});
        REQUIRE(walk(r) == slow_flat(r));
        REQUIRE(walk(r).front() == 19.0);
        REQUIRE(walk(r).back() == 0.0);
        const nnprune::tensor_view<double, 3> m(d.data() + 40, {2, 3, 4}, {-20, 4, -1});
        REQUIRE(walk(m) == slow_flat(m));
    }
    SECTION("unit dimensions with arbitrary strides still count as contiguous") {
        const nnprune::tensor_view<double, 3> u(d.data(), {3, 1, 4}, {4, 999, 1});
        REQUIRE(u.is_contiguous());
        REQUIRE(walk(u) == slow_flat(u));
    }
}

TEST_CASE("tensor_view: for_each_row hands out row starts and the element stride", "[core][tensor_view]") {
    std::vector<float> d(30);
    std::iota(d.begin(), d.end(), 0.0f);
    const nnprune::matrix_view<float> t(d.data(), {3, 4}, {1, 5});  // transposed 5x... block
    std::vector<float> got;
    nnprune::for_each_row(t, [&](std::size_t i, float* row, std::ptrdiff_t step) {
        REQUIRE(step == 5);
        for (std::size_t j = 0; j < 4; ++j) got.push_back(row[static_cast<std::ptrdiff_t>(j) * step]);
        REQUIRE(row == d.data() + i);
    });
    REQUIRE(got == slow_flat(t));
}

TEST_CASE("tensor_view: 64-bit sizes, more than 2^31 elements", "[core][tensor_view]") {
    // 2^17 x 2^15 + ... elements over a 16-element buffer: zero outer stride, inner stride 0 too.
    std::array<std::uint32_t, 16> buf{};
    std::iota(buf.begin(), buf.end(), 100u);
    const nnprune::tensor_view<std::uint32_t, 3> big(buf.data(), {std::size_t{1} << 20, 4097, 16}, {0, 0, 1});
    REQUIRE(big.size() == (std::size_t{1} << 20) * 4097 * 16);
    REQUIRE(big.size() > (std::size_t{1} << 36));
    REQUIRE(big.shape().numel() == big.size());
    const std::size_t last = big.size() - 1;
    REQUIRE(big.flat(last) == 115u);
    REQUIRE(big.flat((std::size_t{1} << 33) + 3) == 103u);
    REQUIRE(big(std::size_t{1} << 19, 4096, 9) == 109u);
    REQUIRE(big.offset_of(last) == 15);
}
