#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "simd_tiers.hpp"
#include <nnprune/core/tensor_view.hpp>
#include <nnprune/simd/unit_row.hpp>
#include <nnprune/tokens/features.hpp>

namespace {
template <class F>
bool same_bits(F a, F b) {
    return std::memcmp(&a, &b, sizeof(F)) == 0;
}
}  // namespace

TEST_CASE("simd unit_row: the scalar twin sums in the documented order", "[simd][unit_row]") {
    // 8 fused double lane sums over every element (the tail too), then lanes 0..7 in order: n = 19
    std::mt19937 rng(3);
    std::normal_distribution<float> g;
    std::vector<float> x(19);
    for (auto& v : x) v = g(rng);
    double lane[8] = {};
    for (std::size_t i = 0; i < 19; ++i)
        lane[i % 8] = std::fma(static_cast<double>(x[i]), static_cast<double>(x[i]), lane[i % 8]);
    double s = lane[0];
    for (std::size_t l = 1; l < 8; ++l) s += lane[l];
    REQUIRE(same_bits(nnprune::simd::reference::squared_norm(x.data(), 19), s));
    std::vector<float> y = x;
    nnprune::simd::reference::divide_by(y.data(), 19, 3.0);
    for (std::size_t i = 0; i < 19; ++i) REQUIRE(same_bits(y[i], static_cast<float>(static_cast<double>(x[i]) / 3.0)));
}

TEST_CASE("simd unit_row: every tier equals the scalar twin bit for bit", "[simd][unit_row]") {
    const std::size_t n =
        GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{8}, std::size_t{9},
                 std::size_t{15}, std::size_t{17}, std::size_t{31}, std::size_t{1009});
    std::mt19937 rng(7);
    std::normal_distribution<float> g;
    // one element past the row on each side: a tier must neither read it into the sum nor write it
    std::vector<float> buf(n + 2);
    for (auto& v : buf) v = g(rng) * 1e3f;
    if (n > 4) buf[1 + 4] = -0.0f;
    if (n > 6) buf[1 + 6] = std::numeric_limits<float>::denorm_min();
    if (n > 8) buf[1 + 8] = std::numeric_limits<float>::max();  // its square is finite only in double
    const float* x = buf.data() + 1;
    const double want = nnprune::simd::reference::squared_norm(x, n);
    std::vector<float> ref(buf);
    nnprune::simd::reference::divide_by(ref.data() + 1, n, 7.25e3);
    test_util::for_each_vector_tier([&](nnprune::simd::isa) {
        INFO("n=" << n);
        CHECK(same_bits(nnprune::simd::squared_norm(x, n), want));
        std::vector<float> got(buf);
        nnprune::simd::divide_by(got.data() + 1, n, 7.25e3);
        for (std::size_t i = 0; i < n + 2; ++i) CHECK(same_bits(got[i], ref[i]));
    });
    // a NaN or Inf makes the sum non-finite on every tier (how normalize_tokens finds them)
    if (n > 0) {
        std::vector<float> bad(x, x + n);
        bad[n - 1] = std::numeric_limits<float>::quiet_NaN();
        test_util::for_each_tier(
            [&](nnprune::simd::isa) { CHECK(std::isnan(nnprune::simd::squared_norm(bad.data(), n))); });
        bad[n - 1] = -std::numeric_limits<float>::infinity();
        test_util::for_each_tier(
            [&](nnprune::simd::isa) { CHECK(std::isinf(nnprune::simd::squared_norm(bad.data(), n))); });
    }
}

TEST_CASE("features: unit rows are the same bits on every tier, element type and stride", "[tokens][features]") {
    const std::size_t n = 5, d = GENERATE(std::size_t{1}, std::size_t{13}, std::size_t{40});
    std::mt19937 rng(11);
    std::normal_distribution<float> g;
    std::vector<float> x(n * d);
    for (auto& v : x) v = nnprune::to_float(nnprune::bfloat16(g(rng)));  // exact in bf16 and f32
    for (std::size_t j = 0; j < d; ++j) x[2 * d + j] = 0.0f;             // a zero token
    nnprune::token_workspace ws;
    nnprune::simd::isa_guard scalar(nnprune::simd::isa::scalar);
    const auto ref_u = nnprune::detail::normalize_tokens(nnprune::matrix_view<const float>(x.data(), n, d), ws, "t");
    const std::vector<float> ref(ref_u.data, ref_u.data + n * ref_u.stride);
    // the definition: double(x) / sqrt(squared norm), rounded once to f32
    for (std::size_t i = 0; i < n; ++i) {
        const double norm = std::sqrt(nnprune::simd::reference::squared_norm(x.data() + i * d, d));
        for (std::size_t j = 0; j < d; ++j)
            CHECK(same_bits(ref[i * ref_u.stride + j],
                            i == 2 ? 0.0f : static_cast<float>(static_cast<double>(x[i * d + j]) / norm)));
    }
    CHECK(ref_u.zeros == 1);
    std::vector<nnprune::bfloat16> xb(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xb[i] = nnprune::bfloat16(x[i]);
    std::vector<float> xt(d * n);  // the transpose: a strided view of x
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j) xt[j * n + i] = x[i * d + j];
    auto check = [&](const nnprune::detail::unit_rows& u) {
        REQUIRE(u.stride == ref_u.stride);
        for (std::size_t i = 0; i < n * u.stride; ++i) CHECK(same_bits(u.data[i], ref[i]));
    };
    auto all_kinds = [&] {
        nnprune::token_workspace w;
        check(nnprune::detail::normalize_tokens(nnprune::matrix_view<const float>(x.data(), n, d), w, "t"));
        check(
            nnprune::detail::normalize_tokens(nnprune::matrix_view<const nnprune::bfloat16>(xb.data(), n, d), w, "t"));
        const nnprune::tensor_view<const float, 2> strided(xt.data(), {n, d}, {1, static_cast<std::ptrdiff_t>(n)});
        check(nnprune::detail::normalize_tokens(strided, w, "t"));
    };
    all_kinds();
    test_util::for_each_vector_tier([&](nnprune::simd::isa) { all_kinds(); });
}
