// Whole-tensor selection against the slow reference, every engine path, ties.
#include <catch2/catch.hpp>

#include "select_reference.hpp"

namespace {
using namespace select_test;
using nnprune::mask;
using nnprune::shape;
}  // namespace

TEST_CASE("per_tensor: per_tensor matches the slow reference on tied data, all paths", "[select][per_tensor]") {
    tuning_guard g;
    for (int mode = 0; mode < 3; ++mode) {
        // mode 0: defaults (collect-all for small); 1: sampling path; 2: tiny candidate buffer (histogram fallback)
        if (mode >= 1) nnprune::detail::tuning().small = 8;
        if (mode >= 1) nnprune::detail::tuning().resident = 0;
        if (mode == 1) nnprune::detail::tuning().sample = 32;
        if (mode == 2) nnprune::detail::tuning().max_candidates = 5;
        for (std::size_t n : {1u, 2u, 15u, 16u, 17u, 63u, 64u, 65u, 127u, 1000u, 4099u}) {
            const auto v = quantised(n, static_cast<std::uint32_t>(n * 7 + mode));
            const auto f = as<float>(v);
            for (double s : {0.0, 0.29, 0.5, 0.7, 1.0}) {
                const shape sh{n};
                const auto want = slow_mask(v, sh, row_groups(1, n), s, nnprune::rounding::truncate,
                                            nnprune::nan_policy::reject, nullptr);
                for (unsigned th : {1u, 2u}) {
                    mask m(sh);
                    nnprune::select_options o;
                    o.round = nnprune::rounding::truncate;
                    o.threads = th;
                    const auto sel = nnprune::select_mask(nnprune::vector_view<const float>(f.data(), n),
                                                          nnprune::per_tensor{}, s, m, o);
                    INFO("mode " << mode << " n " << n << " s " << s << " threads " << th);
                    REQUIRE(m == want);
                    REQUIRE(sel.pruned == want.pruned());
                }
            }
        }
    }
}

TEST_CASE("per_tensor: ties prune the lower index first; kth reported", "[select][per_tensor]") {
    std::vector<float> f{1, 0, 1, 1, 0, 1, 2};
    mask m(shape{7});
    const auto sel = nnprune::select_mask(nnprune::vector_view<const float>(f.data(), 7), nnprune::per_tensor{},
                                          nnprune::exactly{4}, m);
    // zeros at 1, 4, then ones at 0, 2
    REQUIRE(nnprune::pruned_indices(m) == std::vector<std::size_t>{0, 1, 2, 4});
    REQUIRE(nnprune::kept_indices(m) == std::vector<std::size_t>{3, 5, 6});
    REQUIRE(sel.kth[0] == 1.0);
    mask z(shape{7});
    const auto s0 = nnprune::select_mask(nnprune::vector_view<const float>(f.data(), 7), nnprune::per_tensor{}, 0.0, z);
    REQUIRE(std::isnan(s0.kth[0]));
    REQUIRE(z.pruned() == 0);
}

TEST_CASE("per_tensor: bf16 and f16 scores (the 16-bit kernels) match the slow reference, with a previous mask",
          "[select][per_tensor]") {
    tuning_guard g;
    for (int mode = 0; mode < 2; ++mode) {
        if (mode == 1) {  // the sampling path on small inputs
            nnprune::detail::tuning().small = 8;
            nnprune::detail::tuning().resident = 0;
            nnprune::detail::tuning().sample = 32;
        }
        for (std::size_t n : {33u, 64u, 1000u, 4099u, 70001u}) {
            const auto v = quantised(n, static_cast<std::uint32_t>(n + mode), 9);  // exact in bf16 and f16
            const auto b = as<nnprune::bfloat16>(v);
            const auto h = as<nnprune::float16>(v);
            const shape sh{n};
            mask prev(sh);
            std::mt19937 rng(static_cast<std::uint32_t>(n));
            for (std::size_t i = 0; i < n; ++i) prev.set(i, rng() % 5 != 0);
            for (bool use_prev : {false, true}) {
                for (double s : {0.1, 0.5, 0.93}) {
                    const auto want = slow_mask(v, sh, row_groups(1, n), s, nnprune::rounding::half_even,
                                                nnprune::nan_policy::reject, use_prev ? &prev : nullptr);
                    for (unsigned th : {1u, 2u}) {
                        nnprune::select_options o;
                        o.threads = th;
                        if (use_prev) o.previous = prev;
                        mask mb(sh), mh(sh);
                        nnprune::select_mask(nnprune::vector_view<const nnprune::bfloat16>(b.data(), n),
                                             nnprune::per_tensor{}, s, mb, o);
                        nnprune::select_mask(nnprune::vector_view<const nnprune::float16>(h.data(), n),
                                             nnprune::per_tensor{}, s, mh, o);
                        INFO("mode " << mode << " n " << n << " s " << s << " prev " << use_prev << " threads " << th);
                        REQUIRE(mb == want);
                        REQUIRE(mh == want);
                    }
                }
            }
        }
    }
}

TEST_CASE("per_tensor: one_pass matches the slow reference (1 and 2 threads, ties, NaN as lowest)",
          "[select][per_tensor]") {
    tuning_guard g;
    nnprune::detail::tuning().one_pass_any_type = true;
    auto v = quantised(600001, 5, 25);
    for (std::size_t i = 0; i < v.size(); i += 997) v[i] = std::numeric_limits<double>::quiet_NaN();
    const auto f = as<float>(v);
    const shape sh{v.size()};
    for (double s : {0.2, 0.5}) {
        const auto want = slow_mask(v, sh, row_groups(1, v.size()), s, nnprune::rounding::half_even,
                                    nnprune::nan_policy::as_lowest, nullptr);
        for (unsigned th : {1u, 2u}) {
            nnprune::select_options o;
            o.threads = th;
            o.nans = nnprune::nan_policy::as_lowest;
            o.one_pass = true;
            mask m(sh, false);
            const auto sel = nnprune::select_mask(nnprune::vector_view<const float>(f.data(), v.size()),
                                                  nnprune::per_tensor{}, s, m, o);
            INFO("s " << s << " threads " << th);
            REQUIRE(m == want);
            REQUIRE(sel.pruned == want.pruned());
        }
    }
}
