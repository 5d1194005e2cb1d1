// Element types and strided layouts become runs that select like contiguous f32.
#include <catch2/catch.hpp>

#include "select_reference.hpp"

namespace {
using namespace select_test;
using nnprune::mask;
using nnprune::shape;
}  // namespace

TEST_CASE("runs: bf16, f16, f64 and strided views", "[select][runs]") {
    const std::size_t rows = 9, cols = 23;
    const auto v = quantised(rows * cols, 99, 5);
    const shape sh{rows, cols};
    const auto want = slow_mask(v, sh, row_groups(rows, cols), 0.4, nnprune::rounding::half_even,
                                nnprune::nan_policy::reject, nullptr);
    const auto wantt = slow_mask(v, sh, row_groups(1, rows * cols), 0.4, nnprune::rounding::half_even,
                                 nnprune::nan_policy::reject, nullptr);
    auto check = [&](const nnprune::tensor_ref& ref) {
        mask m(sh), t(sh);
        nnprune::select_mask(ref, nnprune::per_row{}, 0.4, m);
        nnprune::select_mask(ref, nnprune::per_tensor{}, 0.4, t);
        REQUIRE(m == want);
        REQUIRE(t == wantt);
    };
    const auto b = as<nnprune::bfloat16>(v);
    const auto h = as<nnprune::float16>(v);
    check(nnprune::matrix_view<const nnprune::bfloat16>(b.data(), rows, cols));
    check(nnprune::matrix_view<const nnprune::float16>(h.data(), rows, cols));
    check(nnprune::matrix_view<const double>(v.data(), rows, cols));
    // a strided view: every other column of a wider buffer
    std::vector<float> wide(rows * cols * 2);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) wide[r * cols * 2 + 2 * c] = static_cast<float>(v[r * cols + c]);
    check(nnprune::matrix_view<const float>(wide.data(), {rows, cols}, {static_cast<std::ptrdiff_t>(2 * cols), 2}));
}
