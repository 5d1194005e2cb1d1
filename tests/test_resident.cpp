// kth_resident (radix select of cache-resident arrays) against a full sort, on tied, spread and NaN data.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/select/resident.hpp>

TEST_CASE("resident: kth_resident equals a full sort for every rank shape", "[select][resident]") {
    std::mt19937 g(7);
    for (std::size_t n : {1u, 2u, 17u, 255u, 256u, 257u, 1031u, 4099u, 20011u})
        for (int levels : {1, 5, 1000000})
            for (auto np : {nnprune::nan_policy::as_lowest, nnprune::nan_policy::as_highest}) {
                std::uniform_int_distribution<int> d(-levels, levels);
                std::vector<float> v(n);
                for (auto& x : v)
                    x = (g() % 97 == 0) ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(d(g)) * 0.125f;
                std::vector<std::uint32_t> keys(n);
                for (std::size_t i = 0; i < n; ++i) keys[i] = nnprune::detail::key_as<std::uint32_t>(v[i], np);
                std::vector<std::uint32_t> sorted = keys;
                std::sort(sorted.begin(), sorted.end());
                std::vector<std::uint32_t> b0(n + 16), b1(n + 16);
                for (std::size_t j : {std::size_t{1}, n / 3 + 1, n / 2 + 1, n - n / 50, n}) {
                    if (j < 1 || j > n) continue;
                    std::size_t eq = 0, nans = 0;
                    const auto r = nnprune::detail::kth_resident<std::uint32_t>(v.data(), n, j, np, b0.data(),
                                                                                b1.data(), eq, nans);
                    const auto want = sorted[j - 1];
                    INFO("n " << n << " levels " << levels << " j " << j);
                    REQUIRE(r.key == want);
                    REQUIRE(r.below == static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), want) -
                                                                sorted.begin()));
                    REQUIRE(eq == static_cast<std::size_t>(std::count(keys.begin(), keys.end(), want)));
                    REQUIRE(nans == static_cast<std::size_t>(
                                        std::count_if(v.begin(), v.end(), [](float x) { return x != x; })));
                    // on keys, with the source as the second buffer
                    std::vector<std::uint32_t> k2(keys);
                    k2.resize(n + 16);
                    const auto r2 = nnprune::detail::kth_resident<std::uint32_t>(k2.data(), n, j, np, b0.data(),
                                                                                 k2.data(), eq, nans);
                    REQUIRE(r2.key == want);
                    REQUIRE(r2.below == r.below);
                }
            }
}

TEST_CASE("resident: a sample that misleads the bracket still gives the exact k-th", "[select][resident]") {
    // every sampled position (i * stride + stride / 2) holds a large score, the rest are small:
    // the sample's bracket misses the median and the row is keyed whole instead
    for (std::size_t n : {4096u, 8192u, 10007u}) {
        const std::size_t stride = n / 1024;
        std::vector<float> v(n);
        std::vector<double> w(n);
        for (std::size_t i = 0; i < n; ++i) {
            v[i] = i % stride == stride / 2 && i / stride < 1024 ? 1000.0f + static_cast<float>(i % 7)
                                                                 : static_cast<float>(i % 13);
            w[i] = v[i];
        }
        std::vector<std::uint32_t> keys(n);
        for (std::size_t i = 0; i < n; ++i)
            keys[i] = nnprune::detail::key_as<std::uint32_t>(v[i], nnprune::nan_policy::reject);
        std::sort(keys.begin(), keys.end());
        std::vector<std::uint32_t> b0(n + 16), b1(n + 16);
        std::vector<std::uint64_t> c0(n + 16), c1(n + 16);
        for (std::size_t j : {std::size_t{1}, n / 2, n - 1}) {
            std::size_t eq = 0, nans = 0;
            const auto r = nnprune::detail::kth_resident<std::uint32_t>(v.data(), n, j, nnprune::nan_policy::reject,
                                                                        b0.data(), b1.data(), eq, nans);
            INFO("n " << n << " j " << j);
            REQUIRE(r.key == keys[j - 1]);
            REQUIRE(r.below ==
                    static_cast<std::size_t>(std::lower_bound(keys.begin(), keys.end(), keys[j - 1]) - keys.begin()));
            REQUIRE(eq == static_cast<std::size_t>(std::count(keys.begin(), keys.end(), keys[j - 1])));
            REQUIRE(nans == 0);
            const auto r64 = nnprune::detail::kth_resident<std::uint64_t>(w.data(), n, j, nnprune::nan_policy::reject,
                                                                          c0.data(), c1.data(), eq, nans);
            REQUIRE(nnprune::detail::value_of_key<double>(r64.key) ==
                    static_cast<double>(nnprune::detail::value_of_key<float>(r.key)));
            REQUIRE(r64.below == r.below);
        }
    }
}
