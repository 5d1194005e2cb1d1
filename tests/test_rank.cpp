#include <algorithm>
#include <cstddef>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "token_test_util.hpp"
#include <nnprune/tokens/rank.hpp>

namespace rank_test {

using token_test::ranked;

}  // namespace rank_test

TEST_CASE("rank: top-k under the tie rule equals a stable sort on signed, tied, zero and infinite scores",
          "[tokens][rank]") {
    std::mt19937 rng(5);
    std::uniform_int_distribution<int> u(-4, 4);
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<std::size_t> idx;
    for (std::size_t n : {1u, 2u, 7u, 64u, 301u}) {
        for (int rep = 0; rep < 5; ++rep) {
            std::vector<float> s(n);
            for (auto& v : s) {
                const int x = u(rng);
                v = x == 4 ? inf : x == -4 ? -inf : x == 0 ? (rep % 2 ? -0.0f : 0.0f) : static_cast<float>(x) * 0.375f;
            }
            if (n > 2) s[1] = -0.0f, s[2] = 0.0f;  // -0 equals +0: the lower index first
            const auto want = rank_test::ranked(s);
            for (std::size_t k = 0; k <= n; k += 1 + n / 5) {
                INFO("n = " << n << ", k = " << k);
                const std::vector<std::size_t> top(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(k));
                nnprune::detail::top_k_descending(s.data(), n, k, idx);
                CHECK(std::vector<std::size_t>(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k)) == top);
                auto asc = top;
                std::sort(asc.begin(), asc.end());
                nnprune::detail::top_k_ascending(s.data(), n, k, idx);
                CHECK(std::vector<std::size_t>(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k)) == asc);
                nnprune::detail::top_k_unordered(s.data(), n, k, idx);
                auto perm = idx;
                std::sort(perm.begin(), perm.end());
                CHECK(perm == rank_test::ranked(std::vector<float>(n, 0.0f)));  // a permutation of 0..n-1
                std::vector<std::size_t> first(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k));
                std::sort(first.begin(), first.end());
                CHECK(first == asc);
            }
        }
    }
}

TEST_CASE("rank: the packed keys order as the tie rule", "[tokens][rank]") {
    using nnprune::detail::rank_key;
    CHECK(rank_key(1.0f, 5) > rank_key(0.5f, 0));
    CHECK(rank_key(0.5f, 0) > rank_key(0.5f, 1));    // equal scores: the lower index ranks first
    CHECK(rank_key(-0.0f, 3) == rank_key(0.0f, 3));  // -0 counts as +0
    CHECK(rank_key(-1.0f, 0) > rank_key(-2.0f, 0));
    CHECK(rank_key(-std::numeric_limits<float>::infinity(), 0) < rank_key(-1e38f, 9));
    CHECK(rank_key(std::numeric_limits<float>::infinity(), 9) > rank_key(1e38f, 0));
    CHECK(nnprune::detail::rank_key_index(rank_key(3.0f, 12345)) == 12345);
}

TEST_CASE("rank: top_k_ascending_scan equals a stable sort, both selection paths", "[tokens][rank]") {
    std::mt19937 rng(11);
    std::vector<float> tmp;
    for (std::size_t n : {1u, 2u, 7u, 9u, 40u, 300u})
        for (int levels : {2, 5, 1000}) {
            std::uniform_int_distribution<int> u(0, levels - 1);
            std::vector<float> s(n);
            for (auto& v : s) v = float(u(rng)) - 1.0f;  // -1, 0 (and -0 below), ...
            if (n > 3) s[3] = -0.0f;
            for (std::size_t k = 0; k <= n; k += (n > 40 ? 37 : 1)) {
                auto idx = rank_test::ranked(s);
                idx.resize(k);
                std::sort(idx.begin(), idx.end());
                std::vector<std::size_t> got(k);
                nnprune::detail::top_k_ascending_scan(s.data(), n, k, tmp, got.data());
                CHECK(got == idx);
            }
            for (std::size_t m = 1; m < 10 && m <= n; ++m) {  // the decode path: n - k < 8
                const std::size_t k = n - m;
                auto idx = rank_test::ranked(s);
                idx.resize(k);
                std::sort(idx.begin(), idx.end());
                std::vector<std::size_t> got(k);
                nnprune::detail::top_k_ascending_scan(s.data(), n, k, tmp, got.data());
                CHECK(got == idx);
            }
        }
}
