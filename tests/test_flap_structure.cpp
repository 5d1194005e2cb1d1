#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/scorers/flap_structure.hpp>

using namespace nnprune;
using Catch::Contains;

namespace {

using layers_t = std::vector<std::vector<float>>;
using bitvec = std::vector<bool>;
const float qnan_f = std::numeric_limits<float>::quiet_NaN();

bitvec bits_of(const mask& m) {
    bitvec b(m.size());
    for (std::size_t i = 0; i < m.size(); ++i) b[i] = m.test(i);
    return b;
}

std::vector<bitvec> bits_of(const std::vector<mask>& ms) {
    std::vector<bitvec> out;
    for (const auto& m : ms) out.push_back(bits_of(m));
    return out;
}

// ---- slow, obvious reference: sort everything, index as Python does --------------------------

// torch.sort ascending: NaN last
std::vector<float> torch_sorted_asc(std::vector<float> v) {
    std::stable_sort(v.begin(), v.end(), [](float a, float b) {
        if (std::isnan(a)) return false;
        if (std::isnan(b)) return true;
        return a < b;
    });
    return v;
}

std::vector<float> concat_layers(const layers_t& ls) {
    std::vector<float> v;
    for (const auto& l : ls) v.insert(v.end(), l.begin(), l.end());
    return v;
}

std::vector<bitvec> keep_if(const layers_t& ls, float thr, bool inclusive) {
    std::vector<bitvec> out;
    for (const auto& l : ls) {
        bitvec b;
        for (float x : l) b.push_back(inclusive ? x >= thr : x > thr);
        out.push_back(b);
    }
    return out;
}

struct ref_masks {
    std::vector<bitvec> heads, channels;
};

ref_masks ref_al_am(const layers_t& heads, const layers_t& mlp, double ratio, std::int64_t hw) {
    struct item {
        float s;
        std::int64_t w;
    };

    std::vector<item> v;
    for (float x : concat_layers(heads)) v.push_back({x, hw});
    for (float x : concat_layers(mlp)) v.push_back({x, 1});
    std::stable_sort(v.begin(), v.end(), [](const item& a, const item& b) {  // descending, NaN first
        if (std::isnan(b.s)) return false;
        if (std::isnan(a.s)) return true;
        return a.s > b.s;
    });
    std::int64_t total = 0;
    for (const auto& it : v) total += it.w;
    const float target = static_cast<float>(total) * static_cast<float>(1.0 - ratio);
    std::vector<float> dist;
    std::int64_t cum = 0;
    for (const auto& it : v) {
        cum += it.w;
        dist.push_back(std::fabs(static_cast<float>(cum) - target));
    }
    const auto idx = static_cast<std::size_t>(std::min_element(dist.begin(), dist.end()) - dist.begin());
    const float thr = v[idx].s;
    return {keep_if(heads, thr, false), keep_if(mlp, thr, false)};
}

std::vector<bitvec> ref_al_mm_part(const layers_t& ls, std::size_t k) {
    if (k == 0) {  // nothing pruned, NaN included
        std::vector<bitvec> all;
        for (const auto& l : ls) all.emplace_back(l.size(), true);
        return all;
    }
    auto asc = torch_sorted_asc(concat_layers(ls));
    std::vector<float> desc(asc.rbegin(), asc.rend());
    return keep_if(ls, desc[desc.size() - k], false);  // sorted_desc[-k]
}

bitvec ref_ul_layer(const std::vector<float>& s, std::size_t k) {
    if (k >= s.size()) return bitvec(s.size(), false);
    const float thr = torch_sorted_asc(s)[k];
    bitvec b;
    for (float x : s) b.push_back(x >= thr);
    return b;
}

std::vector<float> head_sums(const std::vector<float>& ch, std::size_t hd) {
    std::vector<float> h;
    for (std::size_t k = 0; k < ch.size() / hd; ++k) {
        double s = 0;
        for (std::size_t j = 0; j < hd; ++j) s += ch[k * hd + j];
        h.push_back(static_cast<float>(s));
    }
    return h;
}

// random scores from a small set (ties), optionally with NaN
layers_t random_layers(std::mt19937_64& rng, std::size_t layers, std::size_t n, bool with_nan) {
    layers_t out(layers);
    for (auto& l : out)
        for (std::size_t i = 0; i < n; ++i) {
            const auto r = rng() % 16;
            l.push_back(with_nan && r == 0 ? qnan_f : static_cast<float>(static_cast<int>(r) - 8) * 0.25f);
        }
    return out;
}

}  // namespace

TEST_CASE("flap_al_am_masks: known answers by hand", "[scorers][flap_structure]") {
    SECTION("head weight 2") {
        // sorted desc: 3(h,2) 2(c) 1(c) 0(h,2) -1(c); cumsum 2 3 4 6 7
        const layers_t heads{{3.0f, 0.0f}}, mlp{{2.0f, 1.0f, -1.0f}};
        // ratio 0.5: target 3.5, distances 1.5 .5 .5 2.5 3.5 -> first min idx 1, thr 2
        auto m = flap_al_am_masks(heads, mlp, 0.5, 2);
        CHECK(bits_of(m.heads) == std::vector<bitvec>{{true, false}});
        CHECK(bits_of(m.channels) == std::vector<bitvec>{{false, false, false}});
        // ratio 0.3: target float(7) * float(0.7) = 4.9: distances 2.9 1.9 .9 1.1 2.1 -> idx 2, thr 1
        m = flap_al_am_masks(heads, mlp, 0.3, 2);
        CHECK(bits_of(m.heads) == std::vector<bitvec>{{true, false}});
        CHECK(bits_of(m.channels) == std::vector<bitvec>{{true, false, false}});
    }
    SECTION("upstream weight 170, two layers") {
        // sorted desc: 2(c) 1(c) .5(h) 0(c) -.5(h) -1(c); weights 1 1 170 1 170 1; cumsum 1 2 172 173 343 344
        const layers_t heads{{0.5f}, {-0.5f}}, mlp{{1.0f, -1.0f}, {0.0f, 2.0f}};
        CHECK(flap_head_weight == 170);
        // ratio 0.5: target 172 -> idx 2, thr 0.5 (the head at the threshold is pruned: strict >)
        auto m = flap_al_am_masks(heads, mlp, 0.5);
        CHECK(bits_of(m.heads) == std::vector<bitvec>{{false}, {false}});
        CHECK(bits_of(m.channels) == std::vector<bitvec>{{true, false}, {false, true}});
        // ratio 0.25: target 258: |173-258| = |343-258| = 85 -> the first minimum, idx 3, thr 0
        m = flap_al_am_masks(heads, mlp, 0.25);
        CHECK(bits_of(m.heads) == std::vector<bitvec>{{true}, {false}});
        CHECK(bits_of(m.channels) == std::vector<bitvec>{{true, false}, {false, true}});
    }
    SECTION("ratio 0 prunes the lowest score and its ties, ratio 1 everything (upstream's strict >)") {
        const layers_t heads{{0.5f, -1.0f}}, mlp{{-1.0f, 2.0f}};
        auto m = flap_al_am_masks(heads, mlp, 0.0);
        CHECK(bits_of(m.heads) == std::vector<bitvec>{{true, false}});
        CHECK(bits_of(m.channels) == std::vector<bitvec>{{false, true}});
        m = flap_al_am_masks(heads, mlp, 1.0);
        CHECK(bits_of(m.heads) == std::vector<bitvec>{{false, false}});
        CHECK(bits_of(m.channels) == std::vector<bitvec>{{false, false}});
    }
    SECTION("ties at the threshold are all pruned") {
        // desc: 1(c) 1(c) 1(c) 0(c); cumsum 1 2 3 4; ratio 0.5 -> target 2 -> idx 1 -> thr 1
        const layers_t heads{{}}, mlp{{1.0f, 0.0f, 1.0f, 1.0f}};
        const auto m = flap_al_am_masks(heads, mlp, 0.5);
        CHECK(bits_of(m.channels) == std::vector<bitvec>{{false, false, false, false}});
    }
    SECTION("a head and a channel tied: the head comes first (stable order), which can move idx") {
        // desc: 5(c,1) 3(h,2) 3(c,1) 0(c,1): cumsum 1 3 4 5; ratio .6: target float(5) * float(.4) = 2
        // distances 1 1 2 3 -> idx 0, thr 5: all pruned. Channel first (cumsum 1 2 4 5) would give
        // idx 1, thr 3 and keep channel 0: upstream's unstable sort may do either.
        const layers_t heads{{3.0f}}, mlp{{5.0f, 3.0f, 0.0f}};
        const auto m = flap_al_am_masks(heads, mlp, 0.6, 2);
        CHECK(bits_of(m.heads) == std::vector<bitvec>{{false}});
        CHECK(bits_of(m.channels) == std::vector<bitvec>{{false, false, false}});
    }
    SECTION("the target is torch's float32 sum * (1 - ratio), not a double") {
        // 25 channels scored 0..24, ratio .46: float(25) * float(.54) = 13.500000953..., so the
        // cumsum 14 (idx 13, thr 11) is nearer than 13: 13 channels kept. In double the target
        // rounds to 13.5 and the first minimum (idx 12, thr 12) would keep 12.
        std::vector<float> s(25);
        for (std::size_t i = 0; i < 25; ++i) s[i] = static_cast<float>(i);
        const auto m = flap_al_am_masks(layers_t{{}}, layers_t{s}, 0.46);
        CHECK(m.channels[0].count() == 13);
        CHECK(m.channels[0].test(12));
        CHECK_FALSE(m.channels[0].test(11));
    }
    SECTION("empty input: no layers, or layers without scores") {
        auto m = flap_al_am_masks(layers_t{}, layers_t{}, 0.5);
        CHECK(m.heads.empty());
        CHECK(m.channels.empty());
        m = flap_al_am_masks(layers_t{{}}, layers_t{{}}, 0.5);
        REQUIRE(m.heads.size() == 1);
        CHECK(m.heads[0].size() == 0);
        CHECK(m.channels[0].size() == 0);
    }
}

TEST_CASE("flap_al_am_masks: a NaN layer is pruned entirely, as upstream", "[scorers][flap_structure]") {
    // desc with NaN first: NaN(h,2) NaN(c) NaN(c) 1(c) .5(h,2) 0(c); cumsum 2 3 4 5 7 8
    const layers_t heads{{qnan_f}, {0.5f}}, mlp{{qnan_f, qnan_f}, {1.0f, 0.0f}};
    // ratio 0: target 8 -> idx 5, thr 0: layer 0 (NaN) pruned, layer 1 keeps > 0
    auto m = flap_al_am_masks(heads, mlp, 0.0, 2);
    CHECK(bits_of(m.heads) == std::vector<bitvec>{{false}, {true}});
    CHECK(bits_of(m.channels) == std::vector<bitvec>{{false, false}, {true, false}});
    // ratio 0.25: target 6: distances 4 3 2 1 1 2 -> idx 3, thr 1: the NaNs used up the kept budget
    m = flap_al_am_masks(heads, mlp, 0.25, 2);
    CHECK(bits_of(m.heads) == std::vector<bitvec>{{false}, {false}});
    CHECK(bits_of(m.channels) == std::vector<bitvec>{{false, false}, {false, false}});
    // ratio 0.9: target float(8) * float(0.1) = 0.8 -> idx 0, thr NaN: everything pruned
    m = flap_al_am_masks(heads, mlp, 0.9, 2);
    CHECK(bits_of(m.heads) == std::vector<bitvec>{{false}, {false}});
    CHECK(bits_of(m.channels) == std::vector<bitvec>{{false, false}, {false, false}});
}

TEST_CASE("flap_al_mm_masks: known answers, ties at the threshold, counts", "[scorers][flap_structure]") {
    const layers_t heads{{0.3f, -0.2f}, {0.1f, -0.2f}}, mlp{{1.0f, 2.0f}, {3.0f, 0.0f}};
    // heads ascending -0.2 -0.2 0.1 0.3; remove 1 or 2 -> thr -0.2 -> both tied heads go (keep >)
    for (std::size_t rh : {1u, 2u}) {
        const auto m = flap_al_mm_masks(heads, mlp, rh, 1);
        CHECK(bits_of(m.heads) == std::vector<bitvec>{{true, false}, {true, false}});
        CHECK(bits_of(m.channels) == std::vector<bitvec>{{true, true}, {true, false}});  // thr 0
    }
    auto m = flap_al_mm_masks(heads, mlp, 3, 3);  // thr 0.1 and 2
    CHECK(bits_of(m.heads) == std::vector<bitvec>{{true, false}, {false, false}});
    CHECK(bits_of(m.channels) == std::vector<bitvec>{{false, false}, {true, false}});
    m = flap_al_mm_masks(heads, mlp, 0, 0);  // nothing (upstream's sorted[-0] would prune the maximum)
    CHECK(bits_of(m.heads) == std::vector<bitvec>{{true, true}, {true, true}});
    CHECK(bits_of(m.channels) == std::vector<bitvec>{{true, true}, {true, true}});
    m = flap_al_mm_masks(heads, mlp, 4, 4);  // all: thr = the maximum
    CHECK(bits_of(m.heads) == std::vector<bitvec>{{false, false}, {false, false}});
    CHECK(bits_of(m.channels) == std::vector<bitvec>{{false, false}, {false, false}});
}

TEST_CASE("flap_remove_channels: upstream's cal_remove_neuron", "[scorers][flap_structure]") {
    // 2 layers, ratio .5, h 256, I 96, 1 head: (2*.5*(73728 + 262144) - 131072) / 768 = 266.67 -> 266
    CHECK(flap_remove_channels(2, 0.5, 256, 96, 1) == 266);
    CHECK(flap_remove_channels(2, 0.5, 256, 96, 0) == 437);  // 335872 / 768 = 437.33
    CHECK(flap_remove_channels(3, 0.0, 256, 96, 0) == 0);
    // hidden 4, I 6, head_dim 2, 1 layer, ratio 0.5: (.5 * (72 + 64) - 4*4*1*2) / 12 = 36 / 12 = 3
    CHECK(flap_remove_channels(1, 0.5, 4, 6, 1, 2) == 3);
    REQUIRE_THROWS_WITH(flap_remove_channels(1, 0.1, 4, 6, 3, 2),
                        Contains("flap_remove_channels: removing 3 heads already removes more than ratio 0.1"));
    REQUIRE_THROWS_AS(flap_remove_channels(1, 0.1, 4, 6, 3, 2), value_error);
    REQUIRE_THROWS_WITH(flap_remove_channels(1, 1.5, 4, 6, 0),
                        Contains("flap_remove_channels: ratio 1.5 is outside [0, 1]"));
    REQUIRE_THROWS_WITH(flap_remove_channels(1, 0.5, 0, 6, 0), Contains("flap_remove_channels: hidden size 0"));
}

TEST_CASE("flap_ul_um_masks: known answers, >= keeps ties, int() truncation", "[scorers][flap_structure]") {
    // head_dim 2: head sums 2, 1, 3; ratio .5 -> int(1.5) = 1 -> thr 2 -> keep >= 2
    const layers_t attn{{1, 1, 0, 1, 3, 0}}, mlp{{5, 1, 4, 1}};
    auto m = flap_ul_um_masks(attn, mlp, 0.5, 2);
    CHECK(bits_of(m.heads) == std::vector<bitvec>{{true, false, true}});
    CHECK(bits_of(m.channels) == std::vector<bitvec>{{true, false, true, false}});  // int(2.0) = 2, thr 4
    // ties at the threshold are kept: [1 1 1 2], k 2 -> thr 1 -> all kept
    m = flap_ul_um_masks(layers_t{{1, 1}}, layers_t{{1, 1, 1, 2}}, 0.5, 2);
    CHECK(bits_of(m.channels) == std::vector<bitvec>{{true, true, true, true}});
    // int(100 * 0.29) = 28 (100 * 0.29 = 28.999999999999996): 28 pruned, not 29
    std::vector<float> hundred(100);
    for (std::size_t i = 0; i < 100; ++i) hundred[i] = static_cast<float>(99 - i);
    m = flap_ul_um_masks(layers_t{{0, 0}}, layers_t{hundred}, 0.29, 2);
    CHECK(m.channels[0].pruned() == 28);
    CHECK_FALSE(m.channels[0].test(99));
    CHECK(m.channels[0].test(71));
    // ratio 0 keeps everything; ratio 1 prunes everything (an IndexError upstream)
    m = flap_ul_um_masks(attn, mlp, 0.0, 2);
    CHECK(m.heads[0].pruned() == 0);
    CHECK(m.channels[0].pruned() == 0);
    m = flap_ul_um_masks(attn, mlp, 1.0, 2);
    CHECK(m.heads[0].count() == 0);
    CHECK(m.channels[0].count() == 0);
    // NaN: always pruned; the threshold NaN (k at or past the NaNs) prunes the whole layer
    m = flap_ul_um_masks(layers_t{{qnan_f, 1, 2, 2}}, layers_t{{3, qnan_f, 1, 2}}, 0.5, 2);
    CHECK(bits_of(m.heads) == std::vector<bitvec>{{false, false}});                  // sums NaN 4: k 1, thr NaN
    CHECK(bits_of(m.channels) == std::vector<bitvec>{{true, false, false, false}});  // 1 2 3 NaN: k 2, thr 3
}

TEST_CASE("flap_ul_mm_masks: per-layer counts", "[scorers][flap_structure]") {
    const layers_t attn{{1, 1, 0, 1, 3, 0}, {0, 0, 5, 5, 1, 1}}, mlp{{5, 1, 4, 1}, {0, 1, 2, 3}};
    const auto m = flap_ul_mm_masks(attn, mlp, 1, 1, 2);
    // layer 0: sums 2 1 3 -> thr 2; layer 1: sums 0 10 2 -> thr 2; mlp thr asc[1]: 1 and 1
    CHECK(bits_of(m.heads) == std::vector<bitvec>{{true, false, true}, {false, true, true}});
    CHECK(bits_of(m.channels) == std::vector<bitvec>{{true, true, true, true}, {false, true, true, true}});
    const auto all = flap_ul_mm_masks(attn, mlp, 3, 4, 2);
    CHECK(all.heads[1].count() == 0);
    CHECK(all.channels[0].count() == 0);
}

TEST_CASE("flap structures: agree with a slow sort-everything reference on random inputs",
          "[scorers][flap_structure]") {
    std::mt19937_64 rng(8);
    for (int trial = 0; trial < 300; ++trial) {
        const std::size_t L = 1 + rng() % 4, H = 1 + rng() % 5, I = 1 + rng() % 23, hd = 1 + rng() % 3;
        const bool with_nan = trial % 5 == 0;
        const auto heads = random_layers(rng, L, H, with_nan), mlp = random_layers(rng, L, I, with_nan);
        const auto attn = random_layers(rng, L, H * hd, with_nan);
        const double ratio = static_cast<double>(rng() % 101) / 100.0;
        const std::int64_t hw = trial % 2 ? flap_head_weight : static_cast<std::int64_t>(1 + rng() % 4);
        INFO("trial " << trial << " L " << L << " H " << H << " I " << I << " ratio " << ratio << " hw " << hw);

        const auto am = flap_al_am_masks(heads, mlp, ratio, hw);
        const auto ram = ref_al_am(heads, mlp, ratio, hw);
        CHECK(bits_of(am.heads) == ram.heads);
        CHECK(bits_of(am.channels) == ram.channels);

        const std::size_t rh = rng() % (L * H + 1), rc = rng() % (L * I + 1);
        const auto mm = flap_al_mm_masks(heads, mlp, rh, rc);
        CHECK(bits_of(mm.heads) == ref_al_mm_part(heads, rh));
        CHECK(bits_of(mm.channels) == ref_al_mm_part(mlp, rc));

        const auto um = flap_ul_um_masks(attn, mlp, ratio, hd);
        const std::size_t kh = rng() % (H + 1), kc = rng() % (I + 1);
        const auto umm = flap_ul_mm_masks(attn, mlp, kh, kc, hd);
        for (std::size_t l = 0; l < L; ++l) {
            const auto sums = head_sums(attn[l], hd);
            CHECK(bits_of(um.heads[l]) == ref_ul_layer(sums, static_cast<std::size_t>(ratio * static_cast<double>(H))));
            CHECK(bits_of(um.channels[l]) ==
                  ref_ul_layer(mlp[l], static_cast<std::size_t>(static_cast<double>(I) * ratio)));
            CHECK(bits_of(umm.heads[l]) == ref_ul_layer(sums, kh));
            CHECK(bits_of(umm.channels[l]) == ref_ul_layer(mlp[l], kc));
        }
    }
}

TEST_CASE("flap structures: errors name the function and the values", "[scorers][flap_structure]") {
    const layers_t heads{{0.1f, 0.2f}}, mlp{{1, 2, 3}}, attn{{1, 2, 3, 4}};
    for (double bad : {-0.1, 1.5, std::nan("")}) {
        REQUIRE_THROWS_AS(flap_al_am_masks(heads, mlp, bad), value_error);
        REQUIRE_THROWS_AS(flap_ul_um_masks(attn, mlp, bad, 2), value_error);
    }
    REQUIRE_THROWS_WITH(flap_al_am_masks(heads, mlp, 1.5), Contains("flap_al_am_masks: ratio 1.5 is outside [0, 1]"));
    REQUIRE_THROWS_WITH(flap_ul_um_masks(attn, mlp, -0.5, 2),
                        Contains("flap_ul_um_masks: ratio -0.5 is outside [0, 1]"));
    REQUIRE_THROWS_WITH(flap_al_am_masks(heads, mlp, 0.5, 0), Contains("flap_al_am_masks: head_weight 0 is below 1"));
    REQUIRE_THROWS_AS(flap_al_am_masks(heads, layers_t{}, 0.5), shape_error);
    REQUIRE_THROWS_WITH(flap_al_am_masks(heads, layers_t{}, 0.5),
                        Contains("flap_al_am_masks: 1 layers of attention scores, 0 layers of MLP scores"));
    REQUIRE_THROWS_WITH(flap_al_mm_masks(heads, mlp, 3, 0),
                        Contains("flap_al_mm_masks: remove_heads 3 is above the 2 heads"));
    REQUIRE_THROWS_WITH(flap_al_mm_masks(heads, mlp, 0, 4),
                        Contains("flap_al_mm_masks: remove_channels 4 is above the 3 MLP channels"));
    REQUIRE_THROWS_AS(flap_ul_um_masks(attn, mlp, 0.5, 3), shape_error);
    REQUIRE_THROWS_WITH(flap_ul_um_masks(attn, mlp, 0.5, 3),
                        Contains("flap_ul_um_masks: layer 0: 4 attention channels is not a multiple of head_dim 3"));
    REQUIRE_THROWS_WITH(flap_ul_mm_masks(attn, mlp, 1, 1, 0), Contains("not a multiple of head_dim 0"));
    REQUIRE_THROWS_WITH(flap_ul_mm_masks(attn, mlp, 3, 0, 2),
                        Contains("flap_ul_mm_masks: layer 0: heads_per_layer 3 is above its 2 heads"));
    REQUIRE_THROWS_WITH(flap_ul_mm_masks(attn, mlp, 0, 4, 2),
                        Contains("flap_ul_mm_masks: layer 0: channels_per_layer 4 is above its 3 MLP channels"));
}

TEST_CASE("flap_head_channels: a head mask expanded to channels", "[scorers][flap_structure]") {
    mask h(shape{3}, false);
    h.set(1);
    const auto c = flap_head_channels(h, 2);
    CHECK(bits_of(c) == bitvec{false, false, true, true, false, false});
    REQUIRE_THROWS_WITH(flap_head_channels(h, 0), Contains("flap_head_channels: head_dim 0"));
}
