#include <cstddef>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/prune/scratch.hpp>
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

TEST_CASE("score_pool: a layer scored on several threads (row blocks) equals one call; errors first",
          "[scorers][bind]") {
    // enough rows for 3 parts of >= 64 Ki elements; bf16 weights with a stride (the widening path)
    const std::size_t rows = 300, cols = 700, stride = 703;
    const auto wf = test_util::values(rows * stride, 4);
    std::vector<bfloat16> w(wf.size());
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = bfloat16(wf[i]);
    auto g = test_util::values(rows * cols, 5), st = test_util::values(cols, 6);
    for (auto& x : st) x = x * x;
    const layer l{"l", tensor_view<const bfloat16, 2>(w.data(), {rows, cols}, {static_cast<std::ptrdiff_t>(stride), 1}),
                  tensor_view<const float, 1>(st.data(), cols), matrix_view<const float>(g.data(), rows, cols)};
    const layer dense{"d", matrix_view<const bfloat16>(w.data(), rows, cols), l.input_stat, l.gradient};
    std::vector<float> scratch;
    detail::score_pool pool(&scratch);
    auto pooled = [&](const auto& s, const layer& x, unsigned threads) {
        auto t = pool.score_layer(s, x, threads);
        std::vector<float> v(t.values());
        pool.give(t);
        return v;
    };
    for (unsigned th : {2u, 3u}) {
        CAPTURE(th);
        for (const layer* x : {&l, &dense}) {
            REQUIRE(pooled(wanda, *x, th) == whole(wanda, *x));
            REQUIRE(pooled(magnitude, *x, th) == whole(magnitude, *x));
            REQUIRE(pooled(magnitude_scorer{true}, *x, th) == whole(magnitude_scorer{true}, *x));
            REQUIRE(pooled(taylor, *x, th) == whole(taylor, *x));
            REQUIRE(pooled(doubled_magnitude{}, *x, th) == whole(doubled_magnitude{}, *x));
            REQUIRE(pooled(random_scorer{3}, *x, th) == whole(random_scorer{3}, *x));  // not row-separable: one call
        }
    }
    const layer bare{"bare", l.weights, {}, {}};
    REQUIRE_THROWS_WITH(pool.score_layer(wanda, bare, 3), Catch::Contains("has no input statistic"));
}
