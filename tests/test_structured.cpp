// Blocks and channels prune whole units.
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "select_reference.hpp"

namespace {
using namespace select_test;
using nnprune::mask;
using nnprune::shape;
}  // namespace

TEST_CASE("structured: blocks and channels prune whole units", "[select][structured]") {
    std::vector<float> f{1, 1, 5, 5, 1, 1, 5, 5, 9, 9, 0, 0};
    nnprune::matrix_view<const float> v(f.data(), 3, 4);
    mask m(shape{3, 4});
    nnprune::select_mask(v, nnprune::blocks{2, 2, nnprune::aggregate::sum}, nnprune::exactly{2}, m);
    // blocks: (0,0)=4, (0,1)=20, (1,0)=18, (1,1)=0 -> prune blocks 3 and 0
    REQUIRE(nnprune::kept_indices(m) == std::vector<std::size_t>{2, 3, 6, 7, 8, 9});
    mask c(shape{3, 4});
    nnprune::select_mask(v, nnprune::channels{0, nnprune::aggregate::l1}, nnprune::exactly{1}, c);
    REQUIRE(nnprune::pruned_indices(c) == std::vector<std::size_t>{0, 1, 2, 3});
}

TEST_CASE("structured: block extents up to SIZE_MAX are one block per row or column", "[select][structured]") {
    // (extent + block - 1) / block overflows here; a block past the matrix holds what is there
    std::vector<float> f{1, 1, 5, 5, 1, 1, 5, 5, 9, 9, 0, 0};
    nnprune::matrix_view<const float> v(f.data(), 3, 4);
    const std::size_t huge = std::numeric_limits<std::size_t>::max();
    mask whole_rows(shape{3, 4}), whole_cols(shape{3, 4}), all(shape{3, 4});
    nnprune::select_mask(v, nnprune::blocks{1, huge, nnprune::aggregate::sum}, nnprune::exactly{1}, whole_rows);
    REQUIRE(nnprune::pruned_indices(whole_rows) == std::vector<std::size_t>{0, 1, 2, 3});  // row sums 12, 12, 18
    nnprune::select_mask(v, nnprune::blocks{huge, 1, nnprune::aggregate::sum}, nnprune::exactly{2}, whole_cols);
    REQUIRE(nnprune::pruned_indices(whole_cols) == std::vector<std::size_t>{2, 3, 6, 7, 10, 11});  // 11, 11, 10, 10
    nnprune::select_mask(v, nnprune::blocks{huge, huge, nnprune::aggregate::sum}, nnprune::exactly{1}, all);
    REQUIRE(nnprune::kept_indices(all).empty());
}
