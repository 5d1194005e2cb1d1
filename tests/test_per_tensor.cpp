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
                const auto want = slow_mask(v, sh, row_groups(1, n), s, nnprune::rounding::truncate, nnprune::nan_policy::reject, nullptr);
                for (unsigned th : {1u, 2u}) {
                    mask m(sh);
                    nnprune::select_options o;
                    o.round = nnprune::rounding::truncate;
                    o.threads = th;
                    const auto sel = nnprune::select_mask(nnprune::vector_view<const float>(f.data(), n), nnprune::per_tensor{}, s, m, o);
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
    const auto sel = nnprune::select_mask(nnprune::vector_view<const float>(f.data(), 7), nnprune::per_tensor{}, nnprune::exactly{4}, m);
    // zeros at 1, 4, then ones at 0, 2
    REQUIRE(nnprune::pruned_indices(m) == std::vector<std::size_t>{0, 1, 2, 4});
    REQUIRE(nnprune::kept_indices(m) == std::vector<std::size_t>{3, 5, 6});
    REQUIRE(sel.kth[0] == 1.0);
    mask z(shape{7});
    const auto s0 = nnprune::select_mask(nnprune::vector_view<const float>(f.data(), 7), nnprune::per_tensor{}, 0.0, z);
    REQUIRE(std::isnan(s0.kth[0]));
    REQUIRE(z.pruned() == 0);
}
