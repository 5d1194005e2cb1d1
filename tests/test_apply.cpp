#include <cstdint>
#include <cstring>
#include <random>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>

#include "simd_tiers.hpp"
#include <nnprune/masks/apply.hpp>

using Catch::Contains;

namespace {

nnprune::mask random_mask(const nnprune::shape& s, unsigned seed) {
    std::mt19937 rng(seed);
    nnprune::mask m(s);
    for (std::size_t i = 0; i < m.size(); ++i) m.set(i, rng() % 3 != 0);
    return m;
}

template <class T>
std::vector<T> ramp(std::size_t n) {
    std::vector<T> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = nnprune::from_double<T>(static_cast<double>(i) + 1.0);
    return v;
}

}  // namespace

TEMPLATE_TEST_CASE("apply: zeroes exactly the pruned elements, contiguous, odd sizes", "[masks][apply]", float, double,
                   nnprune::bfloat16, nnprune::float16) {
    test_util::for_each_tier([&](nnprune::simd::isa) {
        const std::size_t n = GENERATE(0u, 1u, 63u, 64u, 65u, 127u, 131u, 1000u);
        auto w = ramp<TestType>(n);
        const auto before = w;
        const auto m = random_mask(nnprune::shape{n}, static_cast<unsigned>(n) + 3);
        nnprune::apply(nnprune::vector_view<TestType>(w.data(), n), m);
        for (std::size_t i = 0; i < n; ++i) {
            if (m.test(i))
                REQUIRE(w[i] == before[i]);
            else
                REQUIRE(nnprune::to_double(w[i]) == 0.0);
            if (!m.test(i)) REQUIRE_FALSE(std::signbit(nnprune::to_double(w[i])));  // +0
        }
    });
}

TEMPLATE_TEST_CASE("apply: strided views write only their own pruned elements", "[masks][apply]", float, double,
                   nnprune::bfloat16, nnprune::float16) {
    auto buf = ramp<TestType>(10 * 12);
    const auto before = buf;
    SECTION("every other row and column, negative column stride") {
        const nnprune::tensor_view<TestType, 2> v(buf.data() + 11, {5, 6}, {24, -2});
        const auto m = random_mask(v.shape(), 5);
        nnprune::apply(v, m);
        std::vector<bool> touched(buf.size());
        for (std::size_t i = 0; i < 5; ++i)
            for (std::size_t j = 0; j < 6; ++j) {
                const auto off = static_cast<std::size_t>(11 + static_cast<std::ptrdiff_t>(i) * 24 -
                                                          2 * static_cast<std::ptrdiff_t>(j));
                touched[off] = !m.test(i * 6 + j);
            }
        for (std::size_t k = 0; k < buf.size(); ++k) {
            if (touched[k])
                REQUIRE(nnprune::to_double(buf[k]) == 0.0);
            else
                REQUIRE(buf[k] == before[k]);
        }
    }
    SECTION("rank 4 through a type-erased ref") {
        const nnprune::tensor_view<TestType, 4> v(buf.data(), {2, 3, 2, 5}, {60, 20, 6, 1});
        const auto m = random_mask(v.shape(), 6);
        nnprune::apply(nnprune::tensor_ref(v), m);
        std::size_t zeros = 0;
        for (std::size_t f = 0; f < v.size(); ++f) {
            if (m.test(f))
                REQUIRE(v.flat(f) == before[static_cast<std::size_t>(v.offset_of(f))]);
            else
                REQUIRE(nnprune::to_double(v.flat(f)) == 0.0);
        }
        for (const auto& x : buf) zeros += nnprune::to_double(x) == 0.0;
        REQUIRE(zeros == m.pruned());
    }
}

TEST_CASE("apply: kept elements are never written (read-only page)", "[masks][apply]") {
    test_util::for_each_tier([&](nnprune::simd::isa) {
        const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
        const std::size_t n = 2 * page / sizeof(float);
        void* mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        REQUIRE(mem != MAP_FAILED);
        auto* f = static_cast<float*>(mem);
        for (std::size_t i = 0; i < n; ++i) f[i] = 1.0f;
        nnprune::mask m(nnprune::shape{2, n / 2}, false);  // prune the first page ...
        for (std::size_t i = n / 2; i < n; ++i) m.set(i);  // ... keep the second
        REQUIRE(mprotect(static_cast<char*>(mem) + page, page, PROT_READ) == 0);
        nnprune::apply(nnprune::matrix_view<float>(f, 2, n / 2), m);  // contiguous path
        nnprune::apply(nnprune::matrix_view<float>(f, {2, n / 2}, {static_cast<std::ptrdiff_t>(n / 2), 1}), m);
        nnprune::apply(
            nnprune::matrix_view<float>(f, {n / 2, 2}, {1, static_cast<std::ptrdiff_t>(n / 2)}),
            ~nnprune::mask(nnprune::shape{n / 2, 2}, false) & [&] {  // strided path: column 1 kept
                nnprune::mask c(nnprune::shape{n / 2, 2});
                for (std::size_t i = 0; i < n / 2; ++i) c.set(2 * i, false);
                return c;
            }());
        REQUIRE(f[0] == 0.0f);
        REQUIRE(f[n / 2 - 1] == 0.0f);
        REQUIRE(f[n / 2] == 1.0f);
        REQUIRE(f[n - 1] == 1.0f);
        munmap(mem, 2 * page);
    });
}

TEST_CASE("apply: a tensor of more than 2^31 elements can be masked", "[masks][apply]") {
    // 8 GiB of address space, never touched except the pages written here (MAP_NORESERVE).
    const std::size_t rows = 65537, cols = 32768, n = rows * cols;  // 2^31 + 32768
    REQUIRE(n > (std::size_t{1} << 31));
    void* mem =
        mmap(nullptr, n * sizeof(float), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
        WARN("mmap of 8 GiB address space refused; skipped");
        return;
    }
    auto* f = static_cast<float*>(mem);
    const std::size_t probe[] = {0, (std::size_t{1} << 31) - 1, std::size_t{1} << 31, (std::size_t{1} << 31) + 5,
                                 n - 1};
    for (auto i : probe) f[i] = f[i + (i + 1 < n ? 1 : -1)] = 2.0f;
    nnprune::mask m(nnprune::shape{rows, cols});
    REQUIRE(m.count() == n);
    for (auto i : probe) m.set(i, false);
    REQUIRE(m.pruned() == 5);
    nnprune::apply(nnprune::matrix_view<float>(f, rows, cols), m);
    for (auto i : probe) {
        REQUIRE(f[i] == 0.0f);
        REQUIRE(f[i + (i + 1 < n ? 1 : -1)] == (i == (std::size_t{1} << 31) - 1 ? 0.0f : 2.0f));
    }
    munmap(mem, n * sizeof(float));
}

TEST_CASE("apply: error paths change nothing", "[masks][apply]") {
    auto w = ramp<float>(12);
    const auto before = w;
    nnprune::mask m(nnprune::shape{4, 3}, false);
    REQUIRE_THROWS_AS(nnprune::apply(nnprune::matrix_view<float>(w.data(), 3, 4), m), nnprune::shape_error);
    REQUIRE_THROWS_WITH(nnprune::apply(nnprune::matrix_view<float>(w.data(), 3, 4), m),
                        Contains("apply: mask has 4x3 elements, tensor has 3x4"));
    REQUIRE_THROWS_WITH(nnprune::apply(nnprune::tensor_ref(nnprune::matrix_view<float>(w.data(), 2, 6)), m),
                        Contains("apply: mask has 4x3 elements, tensor has 2x6"));
    REQUIRE_THROWS_AS(nnprune::apply(nnprune::tensor_ref(nnprune::matrix_view<const float>(w.data(), 4, 3)), m),
                      nnprune::precondition_error);
    REQUIRE_THROWS_WITH(nnprune::apply(nnprune::tensor_ref(nnprune::matrix_view<const float>(w.data(), 4, 3)), m),
                        Contains("apply: tensor is read-only"));
    REQUIRE(w == before);
    REQUIRE(m == nnprune::mask(nnprune::shape{4, 3}, false));
}
