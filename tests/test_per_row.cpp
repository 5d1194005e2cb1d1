// Per-row and per-column selection against the slow reference.
#include <catch2/catch.hpp>

#include "select_reference.hpp"

namespace {
using namespace select_test;
using nnprune::mask;
using nnprune::shape;
}  // namespace

TEST_CASE("per_row: per_row and per_column match the slow reference, 1 and 2 threads", "[select][per_row]") {
    tuning_guard g;
    for (int mode = 0; mode < 2; ++mode) {
        if (mode == 1) {
            nnprune::detail::tuning().small = 4;
            nnprune::detail::tuning().sample = 16;
            nnprune::detail::tuning().resident = 0;
        }
        for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{1, 1}, {3, 5}, {7, 17}, {13, 64}, {5, 131}, {33, 29}, {4, 300}, {3, 1001}}) {
            const auto v = quantised(rows * cols, static_cast<std::uint32_t>(rows * 100 + cols), 3);
            const auto f = as<float>(v);
            const shape sh{rows, cols};
            nnprune::matrix_view<const float> view(f.data(), rows, cols);
            for (double s : {0.25, 0.5, 0.9}) {
                const auto want_r = slow_mask(v, sh, row_groups(rows, cols), s, nnprune::rounding::half_even, nnprune::nan_policy::reject, nullptr);
                const auto want_c = slow_mask(v, sh, col_groups(rows, cols), s, nnprune::rounding::half_even, nnprune::nan_policy::reject, nullptr);
                for (unsigned th : {1u, 2u}) {
                    nnprune::select_options o;
                    o.threads = th;
                    mask mr(sh), mc(sh);
                    const auto sr = nnprune::select_mask(view, nnprune::per_row{}, s, mr, o);
                    nnprune::select_mask(view, nnprune::per_column{}, s, mc, o);
                    INFO(rows << "x" << cols << " s " << s << " threads " << th << " mode " << mode);
                    REQUIRE(mr == want_r);
                    REQUIRE(mc == want_c);
                    REQUIRE(sr.kth.size() == rows);
                }
            }
        }
    }
}

TEST_CASE("per_row: per_column tiled and generic paths (previous mask, strided, NaN) agree with the reference", "[select][per_row]") {
    for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{1, 40}, {70, 3}, {300, 17}, {5000, 33}}) {
        const auto v = quantised(rows * cols, static_cast<std::uint32_t>(rows + cols), 3);
        const auto f = as<float>(v);
        const shape sh{rows, cols};
        mask prev(sh);
        std::mt19937 rng(1);
        for (std::size_t i = 0; i < prev.size(); ++i) prev.set(i, rng() % 4 != 0);
        std::vector<float> wide(rows * cols * 2);
        for (std::size_t i = 0; i < rows * cols; ++i) wide[2 * i] = f[i];
        const nnprune::matrix_view<const float> view(f.data(), rows, cols);
        const nnprune::matrix_view<const float> strided(wide.data(), {rows, cols}, {static_cast<std::ptrdiff_t>(2 * cols), 2});
        for (unsigned th : {1u, 2u}) {
            nnprune::select_options o;
            o.threads = th;
            const auto want = slow_mask(v, sh, col_groups(rows, cols), 0.3, nnprune::rounding::half_even, nnprune::nan_policy::reject, nullptr);
            mask a(sh), b(sh);
            const auto sa = nnprune::select_mask(view, nnprune::per_column{}, 0.3, a, o);
            const auto sb = nnprune::select_mask(strided, nnprune::per_column{}, 0.3, b, o);
            REQUIRE(a == want);
            REQUIRE(b == want);
            REQUIRE(sa.pruned == want.pruned());
            REQUIRE(sa.kth.size() == cols);
            for (std::size_t c = 0; c < cols; ++c) REQUIRE((sa.kth[c] == sb.kth[c] || (std::isnan(sa.kth[c]) && std::isnan(sb.kth[c]))));
            o.previous = prev;
            const auto wantp = slow_mask(v, sh, col_groups(rows, cols), 0.3, nnprune::rounding::half_even, nnprune::nan_policy::reject, &prev);
            mask c(sh);
            nnprune::select_mask(view, nnprune::per_column{}, 0.3, c, o);
            REQUIRE(c == wantp);
        }
    }
    std::vector<float> f(6 * 5, 1.0f);
    f[2 * 5 + 3] = std::numeric_limits<float>::quiet_NaN();
    f[4 * 5 + 1] = std::numeric_limits<float>::quiet_NaN();
    mask m(shape{6, 5});
    m.set(0, false);
    const mask before = m;
    REQUIRE_THROWS_WITH(nnprune::select_mask(nnprune::matrix_view<const float>(f.data(), 6, 5), nnprune::per_column{}, 0.5, m),
                        Catch::Contains("NaN score at flat index 21"));
    REQUIRE(m == before);
}
