// simd::classify / simd::resolve against their scalar twins and against the tie rule written out.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "simd_tiers.hpp"
#include <nnprune/simd/classify.hpp>

namespace {
using K = std::uint32_t;
using nnprune::nan_policy;

std::vector<float> scores(std::size_t n, std::uint32_t seed) {  // few levels (ties), signed zeros, NaN, Inf
    std::mt19937 g(seed);
    std::vector<float> v(n);
    for (auto& x : v) {
        const auto r = g() % 40;
        x = r == 0   ? std::numeric_limits<float>::quiet_NaN()
            : r == 1 ? -0.0f
            : r == 2 ? std::numeric_limits<float>::infinity()
                     : static_cast<float>(static_cast<int>(g() % 15) - 7) * 0.5f;
    }
    return v;
}
}  // namespace

TEST_CASE("classify: the SIMD pass matches its scalar twin on odd sizes, every NaN policy", "[simd][classify]") {
    test_util::for_each_tier([&](nnprune::simd::isa) {
        for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 63u, 64u, 65u, 127u, 1009u, 4099u}) {
            const auto v = scores(n, static_cast<std::uint32_t>(n) + 3);
            const std::size_t nw = (n + 63) / 64 + 1;
            for (auto p : {nan_policy::reject, nan_policy::as_lowest, nan_policy::as_highest}) {
                std::vector<K> keys(n);
                for (std::size_t i = 0; i < n; ++i) keys[i] = nnprune::detail::key_as<K>(v[i], p);
                std::vector<K> sorted = keys;
                std::sort(sorted.begin(), sorted.end());
                for (auto [lo, hi] : {std::pair<K, K>{0, std::numeric_limits<K>::max()},
                                      n ? std::pair<K, K>{sorted[n / 4], sorted[n / 2]} : std::pair<K, K>{1, 0},
                                      n ? std::pair<K, K>{sorted[n / 2], sorted[n / 2]} : std::pair<K, K>{5, 5}}) {
                    std::vector<K> ca(n + 16), cb(n + 16);
                    std::vector<std::uint64_t> aa(nw, 7), ia(nw, 7), ab(nw, 7), ib(nw, 7);
                    const auto a =
                        nnprune::simd::classify<K>(v.data(), n, lo, hi, p, ca.data(), aa.data(), ia.data(), v.data());
                    const auto b =
                        nnprune::simd::reference::classify<K>(v.data(), n, lo, hi, p, cb.data(), ab.data(), ib.data());
                    INFO("n " << n << " lo " << lo << " hi " << hi);
                    REQUIRE(a.below == b.below);
                    REQUIRE(a.inside == b.inside);
                    REQUIRE((a.nans > 0) == (b.nans > 0));
                    REQUIRE(std::equal(ca.begin(), ca.begin() + static_cast<std::ptrdiff_t>(a.inside), cb.begin()));
                    REQUIRE(std::equal(aa.begin(), aa.begin() + static_cast<std::ptrdiff_t>(nw - 1), ab.begin()));
                    REQUIRE(std::equal(ia.begin(), ia.begin() + static_cast<std::ptrdiff_t>(nw - 1), ib.begin()));
                    // the scalar twin against the definition
                    std::size_t below = 0, inside = 0, nans = 0;
                    for (std::size_t i = 0; i < n; ++i) {
                        nans += std::isnan(v[i]);
                        const bool in = keys[i] >= lo && keys[i] <= hi;
                        below += keys[i] < lo;
                        if (in) REQUIRE(cb[inside++] == keys[i]);
                        REQUIRE(((ib[i / 64] >> (i % 64)) & 1u) == static_cast<unsigned>(in));
                        REQUIRE(((ab[i / 64] >> (i % 64)) & 1u) == static_cast<unsigned>(keys[i] > hi));
                    }
                    REQUIRE(b.below == below);
                    REQUIRE(b.inside == inside);
                    REQUIRE(b.nans == nans);
                }
            }
        }
    });
}

TEST_CASE("classify: resolve prunes the keys below the k-th and the first ties, SIMD and scalar alike",
          "[simd][classify]") {
    test_util::for_each_tier([&](nnprune::simd::isa) {
        for (std::size_t n : {1u, 17u, 64u, 65u, 200u, 1009u}) {
            const auto v = scores(n, static_cast<std::uint32_t>(n) * 7 + 1);
            const std::size_t nw = (n + 63) / 64;
            std::vector<K> keys(n);
            for (std::size_t i = 0; i < n; ++i) keys[i] = nnprune::detail::key_as<K>(v[i], nan_policy::as_lowest);
            std::vector<K> sorted = keys;
            std::sort(sorted.begin(), sorted.end());
            for (std::size_t k : {std::size_t{1}, n / 3 + 1, n / 2 + 1, n}) {
                const K kth = sorted[k - 1];
                const auto below_kth =
                    static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), kth) - sorted.begin());
                for (auto [lo, hi] : {std::pair<K, K>{0, std::numeric_limits<K>::max()}, std::pair<K, K>{kth, kth},
                                      std::pair<K, K>{sorted[(k - 1) / 2], sorted[std::min(n - 1, k + 3)]}}) {
                    std::vector<K> cand(n + 16);
                    std::vector<std::uint64_t> above(nw + 1), inside(nw + 1), ka(nw + 1), kb(nw + 1);
                    const auto c = nnprune::simd::classify<K>(v.data(), n, lo, hi, nan_policy::as_lowest, cand.data(),
                                                              above.data(), inside.data());
                    REQUIRE(c.below <= below_kth);
                    const std::size_t ties = k - below_kth;
                    nnprune::simd::resolve<K>(above.data(), inside.data(), nw, cand.data(), kth, ties, ka.data());
                    nnprune::simd::reference::resolve<K>(above.data(), inside.data(), nw, cand.data(), kth, ties,
                                                         kb.data());
                    REQUIRE(ka == kb);
                    // the rule written out: prune keys < kth, and the first `ties` keys == kth in index order
                    std::size_t left = ties, kept = 0;
                    for (std::size_t i = 0; i < n; ++i) {
                        bool pruned = keys[i] < kth;
                        if (keys[i] == kth && left) {
                            --left;
                            pruned = true;
                        }
                        INFO("n " << n << " k " << k << " i " << i);
                        REQUIRE(((ka[i / 64] >> (i % 64)) & 1u) == static_cast<unsigned>(!pruned));
                        kept += !pruned;
                    }
                    REQUIRE(kept == n - k);
                }
            }
        }
    });
}
