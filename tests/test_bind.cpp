#include <cstddef>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/scorers/bind.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/random.hpp>
#include <nnprune/scorers/wanda.hpp>

using namespace nnprune;

namespace {

/// A row-local scorer declared through scorer_traits only (no members): the default adapter.
struct doubled_magnitude {
    void operator()(const layer& l, matrix_view<float> out) const {
        magnitude(l, out);
        for (std::size_t i = 0; i < out.extent(0) * out.extent(1); ++i) out.data_handle()[i] *= 2.0f;
    }
};

/// Scores of rows [r0, r0 + n) of l by bind_rows, one block at a time.
template <class S>
std::vector<float> by_blocks(const S& s, const layer& l, std::size_t block) {
    const std::size_t rows = l.weights.shape().rows(), cols = l.weights.shape().cols();
    std::vector<float> out(rows * cols);
    auto b = bind_rows(s, l);
    for (std::size_t r0 = 0; r0 < rows; r0 += block) {
        const std::size_t nb = std::min(block, rows - r0);
        b(r0, matrix_view<float>(out.data() + r0 * cols, nb, cols));
    }
    return out;
}

template <class S>
std::vector<float> whole(const S& s, const layer& l) {
    return score(s, l).values();
}

}  // namespace

template <>
struct nnprune::scorer_traits<doubled_magnitude> {
    static constexpr bool row_local = true, finite_scores = false;
};

TEST_CASE("bind_rows: bound scorers score row blocks exactly as the whole layer", "[scorers][bind]") {
    STATIC_REQUIRE(bindable_scorer<wanda_scorer> && bindable_scorer<gblm_scorer> && bindable_scorer<magnitude_scorer> &&
                   bindable_scorer<taylor_scorer>);
    STATIC_REQUIRE(row_block_scorer<doubled_magnitude> && !bindable_scorer<doubled_magnitude>);
    STATIC_REQUIRE(row_local_scorer<doubled_magnitude> && !finite_scorer<doubled_magnitude>);
    STATIC_REQUIRE(!row_block_scorer<random_scorer>);
    const std::size_t rows = 7, cols = 13, stride = 16;
    auto w = test_util::values(rows * stride, 1), g = test_util::values(rows * cols, 2),
         st = test_util::values(cols, 3);
    for (auto& x : st) x = x * x;
    layer l{"l", tensor_view<const float, 2>(w.data(), {rows, cols}, {static_cast<std::ptrdiff_t>(stride), 1}),
            tensor_view<const float, 1>(st.data(), cols), matrix_view<const float>(g.data(), rows, cols)};
    for (std::size_t block : {std::size_t{1}, std::size_t{3}, rows}) {
        CAPTURE(block);
        REQUIRE(by_blocks(wanda, l, block) == whole(wanda, l));
        REQUIRE(by_blocks(gblm, l, block) == whole(gblm, l));
        REQUIRE(by_blocks(gblm_scorer{true}, l, block) == whole(gblm_scorer{true}, l));
        REQUIRE(by_blocks(magnitude, l, block) == whole(magnitude, l));
        REQUIRE(by_blocks(magnitude_scorer{true}, l, block) == whole(magnitude_scorer{true}, l));
        REQUIRE(by_blocks(taylor, l, block) == whole(taylor, l));
        REQUIRE(by_blocks(doubled_magnitude{}, l, block) == whole(doubled_magnitude{}, l));
    }
    // binding validates once: a missing statistic is the scorer's error
    layer bare{"bare", l.weights, {}, {}};
    REQUIRE_THROWS_WITH(bind_rows(wanda, bare), Catch::Contains("has no input statistic"));
    REQUIRE_THROWS_WITH(bind_rows(taylor, bare), Catch::Contains("has no gradient"));
}
