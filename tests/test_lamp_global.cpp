#include <algorithm>
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/allocation/lamp_global.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/scorers/lamp.hpp>

using namespace nnprune;

TEST_CASE("lamp_global_plan: num_surv from the float32 product, half-even; ties at thr survive",
          "[allocation][lamp_global]") {
    // layer a: w^2 = 1 4 9 16 -> LAMP 1/30 4/29 9/25 1 ; layer b: 1 1 -> 1/2 1 (ties within b)
    std::vector<float> a{1, 2, 3, 4}, b{1, 1};
    std::vector<layer> L{test_util::make_layer("a", a, 1, 4), test_util::make_layer("b", b, 1, 2)};
    // amount 0.25: 6 * 0.75 = 4.5 -> 4 (half-even); thr = 4th largest of {1,1,0.5,0.36,0.138,0.033} = 0.36
    auto plan = lamp_global_plan(L, 0.25);
    REQUIRE(plan.num_surv == 4);
    REQUIRE(plan.threshold == Approx(9.0 / 25.0));
    REQUIRE(plan.survivors == std::vector<std::size_t>{2, 2});
    REQUIRE(plan.prune == std::vector<std::size_t>{2, 0});
    // amount 0.5: 3 survivors; thr = 3rd largest = 0.5 -> b keeps both, a keeps one
    plan = lamp_global_plan(L, 0.5);
    REQUIRE(plan.num_surv == 3);
    REQUIRE(plan.survivors == std::vector<std::size_t>{1, 2});
    // amount 1/3 with ties at the threshold: thr = 4th largest; make b = {2, 2} and a = {2,2,2,2}
    std::vector<float> c(4, 2.0f), d(2, 2.0f);
    std::vector<layer> T{test_util::make_layer("c", c, 1, 4), test_util::make_layer("d", d, 1, 2)};
    plan = lamp_global_plan(T, 0.5);  // scores c: 1/4 1/3 1/2 1 ; d: 1/2 1 ; num_surv 3 -> thr 1/2: 4 survive
    REQUIRE(plan.num_surv == 3);
    REQUIRE(plan.survivors == std::vector<std::size_t>{2, 2});
    REQUIRE_THROWS_WITH(lamp_global_plan(T, 1.0), Catch::Contains("leaves no survivor"));
}

TEST_CASE("lamp_global: slow reference on random layers, with previous masks", "[allocation][lamp_global]") {
    auto a = test_util::values(40, 1), b = test_util::values(24, 2), c = test_util::values(9, 3);
    for (auto& x : c) x *= 4;  // a layer of big weights
    std::vector<layer> L{test_util::make_layer("a", a, 5, 8), test_util::make_layer("b", b, 4, 6),
                         test_util::make_layer("c", c, 3, 3)};
    auto r1 = prune(L, lamp, per_tensor{}, lamp_global{0.5});
    std::vector<const_mask_view> prev;
    for (auto& m : r1.masks) prev.push_back(m.view());
    const auto plan = lamp_global_plan(L, 0.3, prev);
    // slow reference of the plan: masked LAMP scores, concatenate, sort descending, n_l from masks
    std::vector<float> all;
    std::vector<std::vector<float>> per;
    float total = 0;
    for (std::size_t l = 0; l < L.size(); ++l) {
        std::vector<float> m(L[l].weights.size());
        const float* w = static_cast<const float*>(L[l].weights.data_handle());
        for (std::size_t i = 0; i < m.size(); ++i) m[i] = prev[l].test(i) ? w[i] : 0.0f;
        std::vector<float> sc(m.size());
        lamp_scorer{}(layer{"x", matrix_view<const float>(m.data(), 1, m.size()), {}, {}},
                      matrix_view<float>(sc.data(), 1, sc.size()));
        all.insert(all.end(), sc.begin(), sc.end());
        per.push_back(sc);
        total += static_cast<float>(prev[l].count());
    }
    std::sort(all.begin(), all.end(), std::greater<>());
    const float prod = total * static_cast<float>(1.0 - 0.3);
    const auto ns = static_cast<std::size_t>(std::nearbyint(prod));
    REQUIRE(plan.num_surv == ns);
    for (std::size_t l = 0; l < L.size(); ++l) {
        const auto surv = static_cast<std::size_t>(
            std::count_if(per[l].begin(), per[l].end(), [&](float v) { return v >= all[ns - 1]; }));
        REQUIRE(plan.survivors[l] == surv);
    }
    prune_options o;
    o.previous = prev;
    auto r2 = prune(L, lamp, per_tensor{}, lamp_global{0.3}, o);
    for (std::size_t l = 0; l < L.size(); ++l) {
        REQUIRE(r2.masks[l].count() == prev[l].count() - plan.prune[l]);
        for (std::size_t i = 0; i < r2.masks[l].size(); ++i)
            if (!prev[l].test(i)) REQUIRE_FALSE(r2.masks[l].test(i));  // pruned stay pruned
    }
}
