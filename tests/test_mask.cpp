#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/masks/mask.hpp>

using Catch::Contains;

namespace {

/// Random keep/prune pattern, fixed seed per size.
std::vector<std::uint8_t> random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::uint8_t> b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng() % 3 == 0 ? 0 : 1 + rng() % 200);  // nonzero = kept
    return b;
}

std::size_t tail_bits(const nnprune::mask& m) {
    if (m.size() % 64 == 0) return 0;
    return static_cast<std::size_t>(m.words().back() >> (m.size() % 64));
}

}  // namespace

TEST_CASE("mask: new masks keep everything and count bits", "[masks][mask]") {
    nnprune::mask m(nnprune::shape{3, 67});
    REQUIRE(m.size() == 201);
    REQUIRE(m.count() == 201);
    m.set(200, false);
    m.set(0, false);
    REQUIRE(m.count() == 199);
    REQUIRE(m.pruned() == 2);
    REQUIRE_FALSE(m.test(200));
    REQUIRE((~m).count() == 2);
}

TEST_CASE("mask: layout is bit i%64 of word i/64, least significant first", "[masks][mask]") {
    nnprune::mask m(nnprune::shape{130}, false);
    REQUIRE(m.words().size() == 3);
    m.set(0);
    m.set(65);
    m.set(129);
    REQUIRE(m.words()[0] == 1u);
    REQUIRE(m.words()[1] == 2u);
    REQUIRE(m.words()[2] == 2u);
    REQUIRE(m[65]);
    REQUIRE_FALSE(m[64]);
    REQUIRE(nnprune::mask_words(0) == 0);
    REQUIRE(nnprune::mask_words(1) == 1);
    REQUIRE(nnprune::mask_words(64) == 1);
    REQUIRE(nnprune::mask_words(65) == 2);
}

TEST_CASE("mask: odd sizes, counts, byte interop and tail bits", "[masks][mask]") {
    const std::size_t n = GENERATE(0u, 1u, 2u, 63u, 64u, 65u, 97u, 127u, 128u, 131u, 1021u);
    INFO("n = " << n);
    const auto bytes = random_bytes(n, static_cast<unsigned>(n) + 1);
    std::size_t kept = 0;
    for (auto b : bytes) kept += b != 0;
    const nnprune::shape s{n};

    const auto m = nnprune::mask::from_bytes(std::span<const std::uint8_t>(bytes), s);
    REQUIRE(m.shape() == s);
    REQUIRE(m.words().size() == nnprune::mask_words(n));
    REQUIRE(tail_bits(m) == 0);
    REQUIRE(m.count() == kept);
    REQUIRE(m.pruned() == n - kept);
    if (n) {
        REQUIRE(m.density() == Approx(static_cast<double>(kept) / static_cast<double>(n)));
        REQUIRE(m.sparsity() == Approx(1.0 - static_cast<double>(kept) / static_cast<double>(n)));
    } else {
        REQUIRE(m.density() == 1.0);
        REQUIRE(m.sparsity() == 0.0);
    }
    for (std::size_t i = 0; i < n; ++i) REQUIRE(m.test(i) == (bytes[i] != 0));

    // back to bytes: 1 = kept, 0 = pruned, for uint8_t, char, bool and std::byte outputs
    const auto back = m.to_bytes();
    REQUIRE(back.size() == n);
    for (std::size_t i = 0; i < n; ++i) REQUIRE(back[i] == (bytes[i] != 0 ? 1 : 0));
    std::vector<char> chars(n);
    m.to_bytes(std::span<char>(chars));
    std::vector<std::byte> sb(n);
    m.to_bytes(std::span<std::byte>(sb));
    bool* flags = new bool[n + 1];
    m.to_bytes(std::span<bool>(flags, n));
    for (std::size_t i = 0; i < n; ++i) {
        REQUIRE(chars[i] == static_cast<char>(bytes[i] != 0));
        REQUIRE(sb[i] == std::byte{bytes[i] != 0});
        REQUIRE(flags[i] == (bytes[i] != 0));
    }
    // and from bool bytes again
    const auto m2 = nnprune::mask::from_bytes(std::span<const bool>(flags, n), s);
    delete[] flags;
    REQUIRE(m2 == m);

    // not / and / or against a byte-wise reference, with the tail kept clear
    const auto other_bytes = random_bytes(n, 99);
    const auto o = nnprune::mask::from_bytes(std::span<const std::uint8_t>(other_bytes), s);
    const auto n_ = ~m;
    const auto a = m & o;
    const auto r = m | o;
    for (const auto* x : {&n_, &a, &r}) REQUIRE(tail_bits(*x) == 0);
    for (std::size_t i = 0; i < n; ++i) {
        REQUIRE(n_.test(i) == (bytes[i] == 0));
        REQUIRE(a.test(i) == (bytes[i] != 0 && other_bytes[i] != 0));
        REQUIRE(r.test(i) == (bytes[i] != 0 || other_bytes[i] != 0));
    }
    REQUIRE(~~m == m);
    REQUIRE(n_.count() == n - kept);

    // fill keeps the tail clear too
    auto f = m;
    f.fill(true);
    REQUIRE(f.count() == n);
    REQUIRE(tail_bits(f) == 0);
    f.fill(false);
    REQUIRE(f.count() == 0);
    REQUIRE(f == nnprune::mask(s, false));
    REQUIRE(nnprune::mask(s) == nnprune::mask(s, true));
}

TEST_CASE("mask: equality needs the same shape and the same bits", "[masks][mask]") {
    const nnprune::mask a(nnprune::shape{4, 16}), b(nnprune::shape{64}), c(nnprune::shape{16, 4});
    REQUIRE_FALSE(a == b);
    REQUIRE_FALSE(a == c);
    auto d = a;
    REQUIRE(d == a);
    d.set(63, false);
    REQUIRE_FALSE(d == a);
    d.set(63, true);
    REQUIRE(d == a);
    REQUIRE(nnprune::mask() == nnprune::mask());
}

TEST_CASE("mask_view: works over caller-owned words and ignores garbage past the end", "[masks][mask]") {
    // 70 bits in 2 words; the caller's second word has garbage above bit 6
    std::vector<std::uint64_t> words{~std::uint64_t{0}, 0xFFFF'FFFF'FFFF'FF80ull | 0x5u};
    const nnprune::mask_view v(std::span<std::uint64_t>(words), nnprune::shape{7, 10});
    REQUIRE(v.size() == 70);
    REQUIRE(v.count() == 64 + 2);  // bits 0 and 2 of word 1
    REQUIRE(v.pruned() == 4);
    REQUIRE(v.test(66));
    REQUIRE_FALSE(v.test(65));

    nnprune::mask expect(nnprune::shape{7, 10});
    expect.set(65, false);
    expect.set(67, false);
    expect.set(68, false);
    expect.set(69, false);
    REQUIRE(v.equals(expect.view()));
    REQUIRE(expect.view().equals(v));

    // writes go to the caller's words
    v.set(0, false);
    REQUIRE(words[0] == ~std::uint64_t{1});
    const nnprune::const_mask_view cv = v;
    REQUIRE(cv.count() == 65);
    REQUIRE(cv.words().data() == words.data());

    // and/or/flip leave no garbage behind
    v.or_with(expect.view());
    REQUIRE(words[1] == 0x5u);
    REQUIRE(v.count() == 66);
    v.flip();
    REQUIRE(words[1] == 0x3Au);
    v.and_with(expect.view());
    REQUIRE(v.count() == 0);

    // byte interop through the view
    const std::vector<std::uint8_t> bytes(70, 7);
    v.assign_bytes(std::span<const std::uint8_t>(bytes));
    REQUIRE(v.count() == 70);
    REQUIRE(words[1] == 0x3Fu);

    // a mask converts to both views
    nnprune::mask m(nnprune::shape{5});
    const nnprune::mask_view mv = m;
    mv.set(4, false);
    REQUIRE(m.count() == 4);
    const nnprune::mask& cm = m;
    const nnprune::const_mask_view cmv = cm;
    REQUIRE(cmv.count() == 4);
}

TEST_CASE("mask: error paths throw shape_error with the sizes and change nothing", "[masks][mask]") {
    SECTION("mask_view over too few words") {
        std::vector<std::uint64_t> words(2, 0x1234u);
        REQUIRE_THROWS_AS(nnprune::mask_view(std::span<std::uint64_t>(words), nnprune::shape{129}),
                          nnprune::shape_error);
        REQUIRE_THROWS_WITH(nnprune::mask_view(std::span<std::uint64_t>(words), nnprune::shape{3, 43}),
                            Contains("mask_view: 3x43 needs 3 words, got 2"));
        REQUIRE(words == std::vector<std::uint64_t>(2, 0x1234u));
    }
    SECTION("and / or with a differently shaped mask") {
        nnprune::mask a(nnprune::shape{4, 6}), b(nnprune::shape{6, 4}, false);
        a.set(3, false);
        const auto before = a;
        REQUIRE_THROWS_AS(a &= b, nnprune::shape_error);
        REQUIRE_THROWS_WITH(a &= b, Contains("mask and: masks have shapes 4x6 and 6x4"));
        REQUIRE_THROWS_WITH(a |= b, Contains("mask or: masks have shapes 4x6 and 6x4"));
        REQUIRE_THROWS_WITH(a.view().and_with(b.view()), Contains("mask and: masks have shapes 4x6 and 6x4"));
        REQUIRE(a == before);
        REQUIRE(a.words()[0] == before.words()[0]);
    }
    SECTION("byte masks of the wrong size") {
        nnprune::mask m(nnprune::shape{2, 5});
        m.set(7, false);
        const auto before = m;
        const std::vector<std::uint8_t> nine(9, 0);
        REQUIRE_THROWS_AS(m.view().assign_bytes(std::span<const std::uint8_t>(nine)), nnprune::shape_error);
        REQUIRE_THROWS_WITH(m.view().assign_bytes(std::span<const std::uint8_t>(nine)),
                            Contains("mask: byte mask has 9 elements, mask has 2x5 = 10"));
        REQUIRE(m == before);
        std::vector<std::uint8_t> out(11, 42);
        REQUIRE_THROWS_WITH(m.to_bytes(std::span<std::uint8_t>(out)),
                            Contains("mask::to_bytes: output has 11 elements, mask has 2x5 = 10"));
        REQUIRE(out == std::vector<std::uint8_t>(11, 42));
        REQUIRE_THROWS_AS(nnprune::mask::from_bytes(std::span<const std::uint8_t>(nine), nnprune::shape{2, 5}),
                          nnprune::shape_error);
        REQUIRE_THROWS_WITH(nnprune::mask::from_bytes(std::span<const std::uint8_t>(nine), nnprune::shape{2, 5}),
                            Contains("mask::from_bytes: byte mask has 9 elements, shape 2x5 has 10"));
    }
}

TEST_CASE("mask: reset reshapes and refills, reusing the storage; count on every size", "[masks][mask]") {
    mask m(shape{3, 70}, true);
    m.set(5, false);
    for (const shape& s : {shape{1000, 3}, shape{2, 2}, shape{0}, shape{129}, shape{64, 64}}) {
        for (bool kept : {true, false}) {
            m.reset(s, kept);
            REQUIRE(m.shape() == s);
            REQUIRE(m == mask(s, kept));
            REQUIRE(m.count() == (kept ? s.numel() : 0));
        }
    }
    // count against a bit-by-bit count, every size up to a few words
    std::mt19937 g(3);
    for (std::size_t n = 0; n < 300; ++n) {
        mask r(shape{n}, false);
        std::size_t want = 0;
        for (std::size_t i = 0; i < n; ++i)
            if (g() & 1u) {
                r.set(i, true);
                ++want;
            }
        REQUIRE(r.count() == want);
    }
}
