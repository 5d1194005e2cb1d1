#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/allocation/layer_filter.hpp>

using namespace nnprune;

TEST_CASE("layer_filter: regex exclusion and first-match overrides", "[allocation][layer_filter]") {
    layer_filter f;
    f.exclude = {".*lm_head", "model\\.layers\\.0\\..*"};
    f.overrides = {{".*down_proj", 0.3}, {".*proj", 0.6}};
    const std::vector<std::string> names{"model.layers.0.q_proj", "model.layers.1.down_proj", "model.layers.1.q_proj",
                                         "lm_head", "x"};
    const auto c = resolve(f, names);
    REQUIRE(c[0].excluded);
    REQUIRE(*c[1].sparsity == 0.3);
    REQUIRE(*c[2].sparsity == 0.6);
    REQUIRE(c[3].excluded);
    REQUIRE_FALSE(c[4].excluded);
    REQUIRE_FALSE(c[4].sparsity);
    layer_filter bad;
    bad.exclude = {"(unclosed"};
    REQUIRE_THROWS_WITH(resolve(bad, names), Catch::Contains("invalid layer pattern '(unclosed'"));
    layer_filter bad2;
    bad2.overrides = {{"x", 1.5}};
    REQUIRE_THROWS_WITH(resolve(bad2, names), Catch::Contains("override 'x' has sparsity 1.5"));
}
