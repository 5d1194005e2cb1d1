#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/prune/pruner.hpp>
#include <nnprune/schedules/imp.hpp>
#include <nnprune/schedules/polynomial.hpp>
#include <nnprune/scorers/magnitude.hpp>

using namespace nnprune;

TEST_CASE("pruner: gradual cubic schedule reaches each target, pruned weights stay pruned", "[prune][pruner]") {
    auto a = test_util::values(10 * 20, 1), b = test_util::values(5 * 40, 2);
    std::vector<layer> L{test_util::make_layer("a", a, 10, 20), test_util::make_layer("b", b, 5, 40)};
    const polynomial_schedule sched{0.0, 0.8, 0, 10, 3, 2};
    pruner p(magnitude, sched);
    std::vector<mask> last;
    for (std::int64_t step = 0; step <= 12; ++step) {
        // a fake optimizer update that revives every weight
        for (auto& x : a) x += 0.001f;
        for (auto& x : b) x -= 0.001f;
        const auto rep = p.step(L);
        REQUIRE(rep.step == step);
        REQUIRE(rep.pruned == sched.should_prune(step));
        if (rep.pruned) {
            for (std::size_t l = 0; l < 2; ++l) {
                const std::size_t want = count_to_prune(200, rep.target);
                REQUIRE(p.state().masks[l].pruned() == want);
                if (!last.empty())
                    for (std::size_t i = 0; i < 200; ++i)
                        if (!last[l].test(i)) REQUIRE_FALSE(p.state().masks[l].test(i));
            }
            last = p.state().masks;
        }
        // masks are re-applied after the update
        for (std::size_t i = 0; i < 200; ++i) {
            if (!p.state().masks[0].test(i)) REQUIRE(a[i] == 0.0f);
            if (!p.state().masks[1].test(i)) REQUIRE(b[i] == 0.0f);
        }
    }
    REQUIRE(p.state().masks[0].sparsity() == Approx(0.8));
    REQUIRE(p.state().step == 13);
}

TEST_CASE("pruner: state extraction and restore give the same continuation", "[prune][pruner]") {
    auto a = test_util::values(64, 3);
    auto a2 = a;
    std::vector<layer> L{test_util::make_layer("a", a, 8, 8)}, L2{test_util::make_layer("a", a2, 8, 8)};
    const imp_schedule s{0.9, 4, 1, 0};
    pruner p(magnitude, s, per_row{});
    p.step(L);
    p.step(L);
    pruner q(magnitude, s, per_row{});
    q.step(L2);
    q.step(L2);
    pruner_state st = p.state();  // a value: masks + step
    pruner r(magnitude, s, per_row{});
    r.restore(st);
    p.step(L);
    r.step(L2);
    REQUIRE(p.state().masks[0] == r.state().masks[0]);
    REQUIRE(r.state().step == 3);
    // a restored state checks names and shapes before writing
    std::vector<float> other(64, 1.0f);
    std::vector<layer> bad{test_util::make_layer("zzz", other, 8, 8)};
    REQUIRE_THROWS_WITH(r.step(bad), Catch::Contains("layer 0 is 'zzz', the pruner's is 'a'"));
    REQUIRE(other == std::vector<float>(64, 1.0f));
    std::vector<layer> bad2{test_util::make_layer("a", other, 4, 16)};
    REQUIRE_THROWS_WITH(r.step(bad2), Catch::Contains("mask has 8x8 elements, weights have 4x16"));
}

TEST_CASE("pruner: global scope keeps one threshold across layers", "[prune][pruner]") {
    auto a = test_util::values(50, 5), b = test_util::values(30, 6);
    for (auto& x : b) x *= 10;
    std::vector<layer> L{test_util::make_layer("a", a, 5, 10), test_util::make_layer("b", b, 3, 10)};
    pruner p(magnitude, constant_schedule{0.5}, global_scope{});
    p.step(L);
    REQUIRE(p.state().masks[0].pruned() + p.state().masks[1].pruned() == 40);
    REQUIRE(p.state().masks[0].pruned() > p.state().masks[1].pruned());
}
