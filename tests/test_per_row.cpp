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
        for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{1, 1},
                                  {3, 5},
                                  {7, 17},
                                  {13, 64},
                                  {5, 131},
                                  {33, 29},
                                  {4, 300},
                                  {3, 1001}}) {
            const auto v = quantised(rows * cols, static_cast<std::uint32_t>(rows * 100 + cols), 3);
            const auto f = as<float>(v);
            const shape sh{rows, cols};
            nnprune::matrix_view<const float> view(f.data(), rows, cols);
            for (double s : {0.25, 0.5, 0.9}) {
                const auto want_r = slow_mask(v, sh, row_groups(rows, cols), s, nnprune::rounding::half_even,
                                              nnprune::nan_policy::reject, nullptr);
                const auto want_c = slow_mask(v, sh, col_groups(rows, cols), s, nnprune::rounding::half_even,
                                              nnprune::nan_policy::reject, nullptr);
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

TEST_CASE("per_row: per_column tiled and generic paths (previous mask, strided, NaN) agree with the reference",
          "[select][per_row]") {
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
        const nnprune::matrix_view<const float> strided(wide.data(), {rows, cols},
                                                        {static_cast<std::ptrdiff_t>(2 * cols), 2});
        for (unsigned th : {1u, 2u}) {
            nnprune::select_options o;
            o.threads = th;
            const auto want = slow_mask(v, sh, col_groups(rows, cols), 0.3, nnprune::rounding::half_even,
                                        nnprune::nan_policy::reject, nullptr);
            mask a(sh), b(sh);
            const auto sa = nnprune::select_mask(view, nnprune::per_column{}, 0.3, a, o);
            const auto sb = nnprune::select_mask(strided, nnprune::per_column{}, 0.3, b, o);
            REQUIRE(a == want);
            REQUIRE(b == want);
            REQUIRE(sa.pruned == want.pruned());
            REQUIRE(sa.kth.size() == cols);
            for (std::size_t c = 0; c < cols; ++c)
                REQUIRE((sa.kth[c] == sb.kth[c] || (std::isnan(sa.kth[c]) && std::isnan(sb.kth[c]))));
            o.previous = prev;
            const auto wantp = slow_mask(v, sh, col_groups(rows, cols), 0.3, nnprune::rounding::half_even,
                                         nnprune::nan_policy::reject, &prev);
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
    REQUIRE_THROWS_WITH(
        nnprune::select_mask(nnprune::matrix_view<const float>(f.data(), 6, 5), nnprune::per_column{}, 0.5, m),
        Catch::Contains("NaN score at flat index 21"));
    REQUIRE(m == before);
}

TEST_CASE("per_row: long rows (one read: sample bracket, classify, resolve) match the slow reference",
          "[select][per_row]") {
    const auto nan = std::numeric_limits<double>::quiet_NaN();
    for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{2, 4096}, {3, 5003}, {2, 11008}}) {
        for (int data = 0; data < 3; ++data) {
            std::vector<double> v =
                quantised(rows * cols, static_cast<std::uint32_t>(cols + data), data == 0 ? 3 : 1000);
            if (data == 2)  // NaN and infinities among the scores
                for (std::size_t i = 0; i < v.size(); i += 97) v[i] = i % 3 == 0 ? nan : (i % 3 == 1 ? -1e300 : 1e300);
            const auto f = as<float>(v);
            const shape sh{rows, cols};
            const nnprune::matrix_view<const float> view(f.data(), rows, cols);
            for (auto p : {nnprune::nan_policy::as_lowest, nnprune::nan_policy::as_highest}) {
                for (double s : {0.0, 0.001, 0.5, 0.97, 1.0}) {
                    const auto want = slow_mask(std::vector<double>(f.begin(), f.end()), sh, row_groups(rows, cols), s,
                                                nnprune::rounding::half_even, p, nullptr);
                    for (unsigned th : {1u, 2u}) {
                        nnprune::select_options o;
                        o.threads = th;
                        o.nans = p;
                        mask m(sh);
                        const auto sel = nnprune::select_mask(view, nnprune::per_row{}, s, m, o);
                        INFO(rows << "x" << cols << " data " << data << " s " << s << " threads " << th);
                        REQUIRE(m == want);
                        REQUIRE(sel.pruned == want.size() - want.count());
                    }
                }
            }
        }
    }
}

TEST_CASE("per_row: a row whose sample misleads the bracket, bf16 rows, and NaN under reject", "[select][per_row]") {
    // the sample reads 64 runs of 16 centred at i * (cols / 64) + cols / 128: make them the largest
    const std::size_t rows = 2, cols = 8192, spacing = cols / 64;
    std::vector<double> v(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
            const std::size_t off = c % spacing;
            v[r * cols + c] = off >= spacing / 2 - 8 && off < spacing / 2 + 8
                                  ? 1000.0 + 8.0 * static_cast<double>(c % 5)
                                  : static_cast<double>((c * 7 + r) % 11);
        }
    const shape sh{rows, cols};
    const auto want = slow_mask(v, sh, row_groups(rows, cols), 0.5, nnprune::rounding::half_even,
                                nnprune::nan_policy::reject, nullptr);
    const auto f = as<float>(v);
    mask m(sh);
    nnprune::select_mask(nnprune::matrix_view<const float>(f.data(), rows, cols), nnprune::per_row{}, 0.5, m);
    REQUIRE(m == want);
    std::vector<nnprune::bfloat16> b(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) b[i] = nnprune::bfloat16(static_cast<float>(v[i]));
    mask mb(sh);
    nnprune::select_mask(nnprune::matrix_view<const nnprune::bfloat16>(b.data(), rows, cols), nnprune::per_row{}, 0.5,
                         mb);
    REQUIRE(mb == want);  // the values are exact in bf16

    auto g = f;
    g[1 * cols + 4321] = std::numeric_limits<float>::quiet_NaN();
    mask keep(sh);
    keep.set(3, false);
    const mask before = keep;
    REQUIRE_THROWS_WITH(
        nnprune::select_mask(nnprune::matrix_view<const float>(g.data(), rows, cols), nnprune::per_row{}, 0.5, keep),
        Catch::Contains("NaN score at flat index 12513"));
    REQUIRE(keep == before);
}
