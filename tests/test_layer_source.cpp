#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/prune/prune.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/wanda.hpp>

using namespace nnprune;

namespace {

/// A layer source over owned weights that counts what prune() does with it: acquisitions per
/// layer, the order, overlaps (two layers acquired at once), releases marked written. Layers are
/// handed out by value (a fresh view, as a file-backed source would).
template <bool Staged>
struct counting_source {
    static constexpr bool stages_writes = Staged;

    std::vector<std::vector<float>> w;
    std::vector<std::vector<float>> stat;
    std::vector<nnprune::shape> shapes;
    std::vector<int> acquires, written;
    std::vector<std::size_t> order;
    int held = -1;
    bool overlap = false;

    [[nodiscard]] std::size_t size() const { return w.size(); }

    [[nodiscard]] std::string_view name(std::size_t i) const {
        static const char* names[] = {"a", "b", "c", "d", "e", "f"};
        return names[i];
    }

    [[nodiscard]] nnprune::shape shape(std::size_t i) const { return shapes[i]; }

    layer acquire(std::size_t i) {
        overlap |= held >= 0;
        held = static_cast<int>(i);
        ++acquires[i];
        order.push_back(i);
        layer l{std::string(name(i)), matrix_view<float>(w[i].data(), shapes[i].rows(), shapes[i].cols()), {}, {}};
        l.input_stat = tensor_view<const float, 1>(stat[i].data(), stat[i].size());
        return l;
    }

    void release(std::size_t i, bool wr) {
        overlap |= held != static_cast<int>(i);
        held = -1;
        written[i] += wr;
    }

    std::vector<layer> as_layers() {
        std::vector<layer> v;
        for (std::size_t i = 0; i < size(); ++i) {
            v.push_back(acquire(i));
            release(i, false);
        }
        reset();
        return v;
    }

    void reset() {
        acquires.assign(size(), 0);
        written.assign(size(), 0);
        order.clear();
    }
};

template <bool Staged>
counting_source<Staged> make_source(std::uint64_t seed) {
    counting_source<Staged> s;
    const std::size_t dims[][2] = {{6, 64}, {3, 100}, {8, 40}, {5, 64}};
    for (std::size_t i = 0; i < 4; ++i) {
        s.shapes.push_back(nnprune::shape{dims[i][0], dims[i][1]});
        s.w.push_back(test_util::values(dims[i][0] * dims[i][1], seed + i));
        auto st = test_util::values(dims[i][1], seed + 10 + i);
        for (auto& x : st) x = x * x + 0.01f;
        s.stat.push_back(st);
    }
    s.reset();
    return s;
}

void require_once_each_ascending(const std::vector<int>& acq, const std::vector<std::size_t>& order, int times) {
    for (int a : acq) REQUIRE(a == times);
    // within each pass ascending: the order is `times` ascending runs
    std::size_t runs = 1;
    for (std::size_t t = 1; t < order.size(); ++t) runs += order[t] <= order[t - 1];
    REQUIRE(runs == static_cast<std::size_t>(times));
}

}  // namespace

TEST_CASE("layer source: layer scope acquires each layer once, one at a time, same result as a span",
          "[prune][layer_source]") {
    for (unsigned th : {1u, 2u, 3u}) {
        auto src = make_source<false>(1);
        const auto L = src.as_layers();
        prune_options o;
        o.threads = th;
        const auto want = prune(L, wanda, per_row{}, 0.5, o);
        const auto got = prune(src, wanda, per_row{}, 0.5, o);
        require_once_each_ascending(src.acquires, src.order, 1);
        REQUIRE_FALSE(src.overlap);
        for (int x : src.written) REQUIRE(x == 0);
        for (std::size_t i = 0; i < 4; ++i) REQUIRE(got.masks[i] == want.masks[i]);
        src.reset();
        const auto nm = prune(src, magnitude, wanda_n_of_m(2, 4), o);
        require_once_each_ascending(src.acquires, src.order, 1);
        const auto nm_want = prune(L, magnitude, wanda_n_of_m(2, 4), o);
        for (std::size_t i = 0; i < 4; ++i) REQUIRE(nm.masks[i] == nm_want.masks[i]);
    }
}

TEST_CASE("layer source: apply validates first (or not, when staged), zeroes and releases written",
          "[prune][layer_source]") {
    auto ref = make_source<false>(2);
    auto L = ref.as_layers();
    prune_options o;
    o.apply = true;
    const auto want = prune(L, magnitude, per_tensor{}, 0.6, o);

    auto src = make_source<false>(2);
    std::vector<std::size_t> seen;
    o.on_layer = [&](std::size_t i, const_mask_view m, const layer_report& rep) {
        seen.push_back(i);
        REQUIRE(rep.kept == m.count());
        REQUIRE(src.held == static_cast<int>(i));  // before release: the source may write it out
        REQUIRE(src.written[i] == 0);
    };
    const auto got = prune(src, magnitude, per_tensor{}, 0.6, o);
    require_once_each_ascending(src.acquires, src.order, 2);  // validation pass + the pass that zeroes
    REQUIRE_FALSE(src.overlap);
    for (int x : src.written) REQUIRE(x == 1);
    REQUIRE(seen == std::vector<std::size_t>{0, 1, 2, 3});
    for (std::size_t i = 0; i < 4; ++i) {
        REQUIRE(got.masks[i] == want.masks[i]);
        REQUIRE(src.w[i] == ref.w[i]);
    }

    auto staged = make_source<true>(2);
    o.on_layer = nullptr;
    prune(staged, magnitude, per_tensor{}, 0.6, o);
    require_once_each_ascending(staged.acquires, staged.order, 1);  // no validation pass
    for (std::size_t i = 0; i < 4; ++i) REQUIRE(staged.w[i] == ref.w[i]);
}

TEST_CASE("layer source: a NaN in a later layer under reject leaves every layer untouched", "[prune][layer_source]") {
    for (int alloc = 0; alloc < 3; ++alloc) {
        auto src = make_source<false>(3);
        src.w[3][17] = std::numeric_limits<float>::quiet_NaN();
        const auto before = src.w;
        prune_options o;
        o.apply = true;
        CAPTURE(alloc);
        auto run = [&] {
            if (alloc == 0) return prune(src, wanda, per_row{}, 0.5, o);
            if (alloc == 1) return prune(src, magnitude, per_tensor{}, global{0.5}, o);
            return prune(src, magnitude, wanda_n_of_m(2, 4), o);
        };
        REQUIRE_THROWS_WITH(run(), Catch::Contains("layer 'd'") && Catch::Contains("NaN"));
        REQUIRE_FALSE(src.overlap);
        REQUIRE(src.held == -1);  // released on the error path too
        for (int x : src.written) REQUIRE(x == 0);
        for (std::size_t i = 0; i < 4; ++i)
            REQUIRE(std::memcmp(src.w[i].data(), before[i].data(), before[i].size() * 4) == 0);
    }
}

namespace {
/// A scorer that is not declared finite: its NaN scores appear only while scoring.
struct nan_in_layer_c {
    void operator()(const layer& l, matrix_view<float> out) const {
        magnitude(l, out);
        if (l.name == "c") out(0, 1) = std::numeric_limits<float>::quiet_NaN();
    }
};
}  // namespace

TEST_CASE("layer source: a NaN score found while selecting: masks first, then a separate apply pass",
          "[prune][layer_source]") {
    auto src = make_source<false>(4);
    const auto before = src.w;
    prune_options o;
    o.apply = true;
    REQUIRE_THROWS_WITH(prune(src, nan_in_layer_c{}, per_row{}, 0.5, o), Catch::Contains("NaN score"));
    for (int x : src.written) REQUIRE(x == 0);
    for (std::size_t i = 0; i < 4; ++i) REQUIRE(src.w[i] == before[i]);
    // without the NaN: validation, selection, apply (three acquisitions each)
    o.nans = nan_policy::reject;
    src.reset();

    struct plain {
        void operator()(const layer& l, matrix_view<float> out) const { magnitude(l, out); }
    };

    prune(src, plain{}, per_row{}, 0.5, o);
    require_once_each_ascending(src.acquires, src.order, 3);
    for (int x : src.written) REQUIRE(x == 1);
}

TEST_CASE("layer source: global and owl over a source equal the span results", "[prune][layer_source]") {
    for (unsigned th : {1u, 3u}) {
        auto src = make_source<false>(5);
        const auto L = src.as_layers();
        prune_options o;
        o.threads = th;
        const auto want = prune(L, magnitude, per_tensor{}, global{0.7, 10}, o);
        const auto got = prune(src, magnitude, per_tensor{}, global{0.7, 10}, o);
        require_once_each_ascending(src.acquires, src.order, 1);  // one scoring pass, the masks decided
        for (std::size_t i = 0; i < 4; ++i) {
            REQUIRE(got.masks[i] == want.masks[i]);
            REQUIRE(got.layers[i].kth_score == want.layers[i].kth_score);
        }
        src.reset();
        const owl a{0.5, 3.0, 0.08, {0, 0, 1, 1}};
        const auto ow = prune(src, wanda, per_row{}, a, o);
        require_once_each_ascending(src.acquires, src.order, 3);  // sums, counts, the selecting pass
        const auto ow_want = prune(L, wanda, per_row{}, a, o);
        for (std::size_t i = 0; i < 4; ++i) REQUIRE(ow.masks[i] == ow_want.masks[i]);
    }
}

TEST_CASE("layer source: keep_masks = false reports each mask through on_layer only", "[prune][layer_source]") {
    for (bool apply : {false, true}) {
        for (int alloc = 0; alloc < 3; ++alloc) {
            CAPTURE(apply, alloc);
            auto ref_src = make_source<true>(9);
            auto src = make_source<true>(9);
            mask p2(src.shapes[2], true);
            for (std::size_t i = 0; i < p2.size(); i += 3) p2.set(i, false);
            std::vector<mask> prev_m;
            for (std::size_t i = 0; i < 4; ++i) prev_m.emplace_back(src.shapes[i], true);
            prev_m[2] = p2;
            std::vector<const_mask_view> prev;
            for (const auto& m : prev_m) prev.push_back(m.view());
            auto run = [&](auto& s, bool keep, std::vector<mask>& seen) {
                prune_options o;
                o.apply = apply;
                o.keep_masks = keep;
                o.previous = prev;
                o.on_layer = [&](std::size_t i, const_mask_view m, const layer_report&) {
                    REQUIRE(i == seen.size());
                    seen.emplace_back(m.shape(), true);
                    std::copy(m.words().begin(), m.words().end(), seen.back().words().begin());
                };
                if (alloc == 0) return prune(s, magnitude, per_tensor{}, 0.6, o);
                if (alloc == 1) return prune(s, wanda, per_row{}, 0.4, o);
                return prune(s, magnitude, per_tensor{}, global{0.5, 3}, o);
            };
            std::vector<mask> want_seen, got_seen;
            const auto want = run(ref_src, true, want_seen);
            const auto got = run(src, false, got_seen);
            REQUIRE(got.masks.empty());
            REQUIRE(want.masks.size() == 4);
            REQUIRE(got_seen.size() == 4);
            for (std::size_t i = 0; i < 4; ++i) {
                REQUIRE(got_seen[i] == want.masks[i]);
                REQUIRE(want_seen[i] == want.masks[i]);
                REQUIRE(got.layers[i].kept == want.layers[i].kept);
                REQUIRE(got.layers[i].kth_score == Approx(want.layers[i].kth_score));
                REQUIRE(src.w[i] == ref_src.w[i]);  // the same weights zeroed (or none)
            }
        }
    }
}

TEST_CASE("layer source: global selection refuses a source whose weights change between scoring passes",
          "[prune][layer_source]") {
    // 16 candidates for 8192 scores: the first pass overflows, so the layers are scored twice
    struct drifting {
        std::vector<std::vector<float>> w;
        std::vector<int> seen;
        bool drift = true;

        [[nodiscard]] std::size_t size() const { return w.size(); }

        [[nodiscard]] std::string_view name(std::size_t i) const { return i == 0 ? "a" : "b"; }

        [[nodiscard]] nnprune::shape shape(std::size_t) const { return {64, 64}; }

        layer acquire(std::size_t i) {
            if (seen[i]++ > 0 && drift)
                for (auto& x : w[i]) x = 5000.0f - x;  // another order of magnitudes
            return layer{std::string(name(i)), matrix_view<float>(w[i].data(), 64, 64), {}, {}};
        }

        void release(std::size_t, bool) {}
    };

    drifting src;
    for (std::size_t i = 0; i < 2; ++i) {
        auto& v = src.w.emplace_back(64 * 64);
        for (std::size_t j = 0; j < v.size(); ++j) v[j] = 1.0f + static_cast<float>((j * 37 + i * 11) % 4096);
    }
    src.seen.assign(2, 0);
    nnprune::global g{0.5};
    g.max_candidates = 16;
    const auto resident = src.w;
    REQUIRE_THROWS_WITH(prune(src, magnitude, per_tensor{}, g), Catch::Contains("changed between scoring passes"));
    CHECK(src.seen[0] >= 2);  // it was scored twice
    src.w = resident;
    src.seen.assign(2, 0);
    src.drift = false;
    const auto r = prune(src, magnitude, per_tensor{}, g);
    CHECK(r.elements() - r.kept() == 4096);
    CHECK(src.seen[0] >= 2);
}
