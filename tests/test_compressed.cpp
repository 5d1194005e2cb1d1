#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/sparse/compressed.hpp>

using Catch::Contains;

namespace {

template <class T>
std::vector<T> random_weights(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d;
    std::vector<T> w(n);
    for (auto& x : w) x = T(d(rng));
    return w;
}

nnprune::mask random_mask(std::size_t rows, std::size_t cols, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    nnprune::mask m(nnprune::shape{rows, cols}, false);
    for (std::size_t i = 0; i < m.size(); ++i) m.set(i, rng() % 3 == 0);
    return m;
}

// at most 2 kept per group of 4 (some groups keep 0 or 1)
nnprune::mask random_2of4(std::size_t rows, std::size_t cols, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    nnprune::mask m(nnprune::shape{rows, cols}, false);
    for (std::size_t g = 0; g < m.size() / 4; ++g) {
        const std::size_t k = rng() % 3, a = rng() % 4, b = (a + 1 + rng() % 3) % 4;
        if (k >= 1) m.set(g * 4 + a);
        if (k >= 2) m.set(g * 4 + b);
    }
    return m;
}

template <class T>
std::vector<T> masked(const std::vector<T>& w, const nnprune::mask& m) {
    std::vector<T> out(w.size(), T{});
    for (std::size_t i = 0; i < w.size(); ++i)
        if (m.test(i)) out[i] = w[i];
    return out;
}

}  // namespace

TEST_CASE("compressed: 2:4 on a hand-worked example", "[sparse][compressed]") {
    // row 0: [0 5 0 7 | 1 0 0 2] keeps (1,3) and (0,3); row 1: [3 4 0 0 | 0 0 0 9] keeps (0,1) and
    // only 3 in its second group, padded with index 0 and value 0.
    const std::vector<float> w{0, 5, 0, 7, 1, 0, 0, 2, 3, 4, 0, 0, 0, 0, 0, 9};
    nnprune::mask m(nnprune::shape{2, 8}, false);
    for (std::size_t i : {1, 3, 4, 7, 8, 9, 15}) m.set(i);
    const auto nm = nnprune::to_nm(nnprune::matrix_view<const float>(w.data(), 2, 8), m);
    CHECK(nm.bits_per_index() == 2);
    CHECK(nm.bytes_per_row() == 1);
    CHECK(nm.values == std::vector<float>{5, 7, 1, 2, 3, 4, 0, 9});
    // nibbles idx0 | idx1 << 2: row 0: 0xD (1,3), 0xC (0,3) -> 0xCD; row 1: 0x4 (0,1), 0xC (0,3) -> 0xC4
    CHECK(nm.metadata == std::vector<std::uint8_t>{0xCD, 0xC4});
    CHECK(nnprune::to_dense(nm) == w);
    CHECK(nm.storage_bytes() == 8 * 4 + 2);

    // 4 groups in one row: the little-endian 16-bit word holds group g at bits 4g
    const std::vector<float> w2{1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1};
    nnprune::mask m2(nnprune::shape{1, 16}, false);
    for (std::size_t i = 0; i < 16; ++i) m2.set(i, w2[i] != 0);
    const auto nm2 = nnprune::to_nm(nnprune::matrix_view<const float>(w2.data(), 1, 16), m2);
    const unsigned word = nm2.metadata[0] | nm2.metadata[1] << 8;
    CHECK(word == (0x4u | 0x9u << 4 | 0xEu << 8 | 0xCu << 12));  // (0,1) (1,2) (2,3) (0,3)
}

TEMPLATE_TEST_CASE("compressed: every form round-trips exactly and reports its size", "[sparse][compressed]", float,
                   nnprune::bfloat16, nnprune::float16, double) {
    for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{1, 4}, {3, 12}, {7, 36}, {5, 100}, {0, 8}}) {
        INFO(rows << "x" << cols);
        const auto w = random_weights<TestType>(rows * cols, rows * 31 + cols);
        const nnprune::matrix_view<const TestType> v(w.data(), rows, cols);
        const auto m = random_mask(rows, cols, cols);
        const auto expect = masked(w, m);

        const auto csr = nnprune::to_csr(v, m);
        CHECK(nnprune::to_dense(csr) == expect);
        const auto csr64 = nnprune::to_csr<std::int64_t>(v, m);
        CHECK(nnprune::to_dense(csr64) == expect);
        const auto bm = nnprune::to_bitmask(v, m);
        CHECK(nnprune::to_dense(bm) == expect);
        CHECK(bm.values.size() == m.count());

        const auto m24 = random_2of4(rows, cols, cols + 7);
        const auto nm = nnprune::to_nm(v, m24);
        CHECK(nnprune::to_dense(nm) == masked(w, m24));
        const auto nm48 = nnprune::to_nm(v, m24, 4, 8 / (cols % 8 == 0 ? 1 : 2));  // 4:8 or 4:4
        CHECK(nnprune::to_dense(nm48) == masked(w, m24));

        const auto s = nnprune::compressed_sizes(v, m);
        CHECK(s.dense == rows * cols * sizeof(TestType));
        CHECK(s.csr32 == csr.storage_bytes());
        CHECK(s.csr64 == csr64.storage_bytes());
        CHECK(s.bitmask == bm.storage_bytes());
        CHECK(nnprune::compressed_sizes(v, m24).nm == nm.storage_bytes());
    }
}

TEST_CASE("compressed: sizes of a 50% 2:4 f16 matrix", "[sparse][compressed]") {
    const std::size_t rows = 64, cols = 128;
    std::vector<nnprune::float16> w(rows * cols, nnprune::float16(1.0f));
    nnprune::mask m(nnprune::shape{rows, cols}, false);
    for (std::size_t i = 0; i < m.size(); i += 4) {
        m.set(i);
        m.set(i + 2);
    }
    const auto s = nnprune::compressed_sizes(nnprune::matrix_view<const nnprune::float16>(w.data(), rows, cols), m);
    CHECK(s.dense == 16384);
    CHECK(s.nm == 8192 + 1024);           // half the values + 2 bits per kept value
    CHECK(s.bitmask == 1024 + 8192);      // 1 bit per element + kept values
    CHECK(s.csr32 == 4096 * 6 + 65 * 8);  // 2 + 4 bytes per kept value + row pointers
}

TEST_CASE("compressed: bad inputs are refused", "[sparse][compressed]") {
    std::vector<float> w(12, 1.0f);
    const nnprune::matrix_view<const float> v(w.data(), 2, 6);
    const nnprune::mask m(nnprune::shape{2, 6});
    REQUIRE_THROWS_WITH(nnprune::to_csr(v, nnprune::mask(nnprune::shape{3, 4})),
                        Contains("to_csr: mask has shape 3x4, weights are 2x6"));
    REQUIRE_THROWS_WITH(nnprune::to_nm(v, m), Contains("to_nm: 6 columns are not a multiple of m = 4"));
    REQUIRE_THROWS_WITH(nnprune::to_nm(v, m, 2, 3), Contains("to_nm: row 0, group 0 keeps 3 of 3, more than n = 2"));
    REQUIRE_THROWS_AS(nnprune::to_nm(v, m, 2, 3), nnprune::value_error);
    REQUIRE_THROWS_WITH(nnprune::to_nm(v, m, 3, 2), Contains("needs 1 <= n <= m"));

    auto csr = nnprune::to_csr(v, m);
    csr.col_indices[1] = 0;
    REQUIRE_THROWS_WITH(nnprune::to_dense(csr), Contains("row 0: column indices not strictly ascending"));
    csr.col_indices[1] = 6;
    REQUIRE_THROWS_WITH(nnprune::to_dense(csr), Contains("column index 6 outside [0, 6)"));
    csr.row_ptr.back() = 3;
    REQUIRE_THROWS_WITH(nnprune::to_dense(csr), Contains("row_ptr[2] = 3, expected nnz = 12"));

    nnprune::mask half(nnprune::shape{2, 6}, false);
    half.set(0);
    auto nm = nnprune::to_nm(v, half, 1, 2);
    nm.metadata[0] |= 0x80;  // 3 slots of 1 bit in a byte: bit 7 is padding
    REQUIRE_THROWS_WITH(nnprune::to_dense(nm), Contains("row 0: padding bit 7 is set"));
    auto nm24 =
        nnprune::to_nm(nnprune::matrix_view<const float>(w.data(), 1, 4), nnprune::mask(nnprune::shape{1, 4}, false));
    nm24.metadata[0] = 0x1;  // slots (1, 0): not ascending
    REQUIRE_THROWS_WITH(nnprune::to_dense(nm24), Contains("group 0: index 0 in slot 1 is not ascending"));

    auto bm = nnprune::to_bitmask(v, half);
    bm.values.push_back(2.0f);
    REQUIRE_THROWS_WITH(nnprune::to_dense(bm), Contains("mask keeps 1 elements, 2 values given"));
    bm.values.pop_back();
    bm.bits[1] = 0x10;  // element 12 of 12
    REQUIRE_THROWS_WITH(nnprune::to_dense(bm), Contains("bits past the last element are set"));
}
