// Previous masks limit the competitors and may alias the output.
#include <catch2/catch.hpp>

#include "select_reference.hpp"

namespace {
using namespace select_test;
using nnprune::mask;
using nnprune::shape;
}  // namespace

TEST_CASE("group: previous mask respected, may alias the output", "[select][group]") {
    tuning_guard g;
    nnprune::detail::tuning().small = 8;
    const std::size_t rows = 6, cols = 70;
    const auto v = quantised(rows * cols, 5, 4);
    const auto f = as<float>(v);
    const shape sh{rows, cols};
    mask prev(sh);
    std::mt19937 rng(3);
    for (std::size_t i = 0; i < prev.size(); ++i) prev.set(i, rng() % 3 != 0);
    nnprune::matrix_view<const float> view(f.data(), rows, cols);
    for (unsigned th : {1u, 2u}) {
        const auto want = slow_mask(v, sh, row_groups(rows, cols), 0.5, nnprune::rounding::half_even,
                                    nnprune::nan_policy::reject, &prev);
        mask m(sh);
        nnprune::select_options o;
        o.previous = prev;
        o.threads = th;
        nnprune::select_mask(view, nnprune::per_row{}, 0.5, m, o);
        REQUIRE(m == want);
        const auto wantt = slow_mask(v, sh, row_groups(1, rows * cols), 0.5, nnprune::rounding::half_even,
                                     nnprune::nan_policy::reject, &prev);
        mask alias = prev;
        o.previous = alias;
        nnprune::select_mask(view, nnprune::per_tensor{}, 0.5, alias, o);
        REQUIRE(alias == wantt);
    }
}
