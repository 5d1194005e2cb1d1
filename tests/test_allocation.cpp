#include <algorithm>
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/allocation/allocation.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/scorers/magnitude.hpp>

using namespace nnprune;

TEST_CASE("global allocation: one exact threshold over all layers (slow reference)", "[allocation][allocation]") {
    auto a = test_util::tied_values(30, 1, 8), b = test_util::values(12, 2), c = test_util::tied_values(20, 3, 8);
    std::vector<layer> L{test_util::make_layer("a", a, 5, 6), test_util::make_layer("b", b, 3, 4),
                         test_util::make_layer("c", c, 4, 5)};
    const auto r = prune(L, magnitude, per_tensor{}, global{0.45});
    // concatenate |w|, stable order, prune round(62 * 0.45) = round(27.9) = 28
    std::vector<float> all;
    for (auto* v : {&a, &b, &c})
        for (float x : *v) all.push_back(std::fabs(x));
    std::vector<std::size_t> idx(all.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    const auto want = test_util::slow_prune_lowest(all, idx, 28);
    std::size_t off = 0, total_kept = 0;
    for (std::size_t l = 0; l < 3; ++l) {
        for (std::size_t i = 0; i < r.masks[l].size(); ++i) REQUIRE(r.masks[l].test(i) == !want[off + i]);
        off += r.masks[l].size();
        total_kept += r.layers[l].kept;
    }
    REQUIRE(total_kept == 62 - 28);
    REQUIRE(r.sparsity() == Approx(28.0 / 62.0));
}

TEST_CASE("global allocation with a minimum kept per layer", "[allocation][allocation]") {
    std::vector<float> small{0.01f, 0.02f, 0.03f, 0.04f}, big{1, 2, 3, 4, 5, 6, 7, 8};
    std::vector<layer> L{test_util::make_layer("small", small, 1, 4), test_util::make_layer("big", big, 1, 8)};
    auto r = prune(L, magnitude, per_tensor{}, global{0.5});
    REQUIRE(r.layers[0].kept == 0);  // the small layer dies without a minimum
    r = prune(L, magnitude, per_tensor{}, global{0.5, 2});
    REQUIRE(r.layers[0].kept == 2);
    REQUIRE(r.layers[1].kept == 4);  // still exactly 6 pruned in total
    REQUIRE_THROWS_WITH(prune(L, magnitude, per_tensor{}, global{0.9, 4}),
                        Catch::Contains("minimum kept per tensor allows only"));
}

TEST_CASE("per_layer and overrides / exclusions by name", "[allocation][allocation]") {
    auto a = test_util::values(10, 1), b = test_util::values(10, 2), c = test_util::values(10, 3);
    std::vector<layer> L{test_util::make_layer("blk.0.q", a, 1, 10), test_util::make_layer("blk.0.v", b, 1, 10),
                         test_util::make_layer("head", c, 1, 10)};
    prune_options o;
    o.filter.exclude = {"head"};
    o.filter.overrides = {{".*\\.v", 0.2}};
    auto r = prune(L, magnitude, per_tensor{}, 0.5, o);
    REQUIRE(r.layers[0].kept == 5);
    REQUIRE(r.layers[1].kept == 8);
    REQUIRE(r.layers[2].kept == 10);
    REQUIRE(r.layers[2].excluded);
    r = prune(L, magnitude, per_tensor{}, per_layer{{0.1, 0.3, 0.9}});
    REQUIRE(r.layers[0].kept == 9);
    REQUIRE(r.layers[1].kept == 7);
    REQUIRE(r.layers[2].kept == 1);
    REQUIRE_THROWS_WITH(prune(L, magnitude, per_tensor{}, per_layer{{0.1}}),
                        Catch::Contains("per_layer has 1 sparsities for 3 layers"));
    // global with an override: the overridden layer is pruned on its own, the rest share a threshold
    r = prune(L, magnitude, per_tensor{}, global{0.5}, o);
    REQUIRE(r.layers[1].kept == 8);
    REQUIRE(r.layers[0].kept == 5);
}
