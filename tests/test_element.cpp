#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/core/element.hpp>

// Everything here is checked against an independent computation: widening through std::ldexp on
// the sign / exponent / mantissa fields, and narrowing against a sorted table of every finite
// narrow value (nearest, ties to the even encoding), never against the code under test.

namespace {

template <class T>
struct format;

template <>
struct format<nnprune::bfloat16> {
    static constexpr int exp_bits = 8, man_bits = 7;
};

template <>
struct format<nnprune::float16> {
    static constexpr int exp_bits = 5, man_bits = 10;
};

template <class T>
constexpr int bias = (1 << (format<T>::exp_bits - 1)) - 1;
template <class T>
constexpr std::uint16_t inf_bits = static_cast<std::uint16_t>(((1u << format<T>::exp_bits) - 1u)
                                                              << format<T>::man_bits);

/// The value of a 16-bit pattern, computed from its fields with ldexp (NaN handled by the caller).
template <class T>
double reference_value(std::uint16_t b) {
    constexpr int M = format<T>::man_bits, E = format<T>::exp_bits;
    const bool neg = (b >> 15) != 0;
    const int exp = (b >> M) & ((1 << E) - 1);
    const int man = b & ((1 << M) - 1);
    double v;
    if (exp == (1 << E) - 1)
        v = std::numeric_limits<double>::infinity();
    else if (exp == 0)
        v = std::ldexp(static_cast<double>(man), 1 - bias<T> - M);
    else
        v = std::ldexp(static_cast<double>(man + (1 << M)), exp - bias<T> - M);
    return neg ? -v : v;
}

template <class T>
bool is_nan_bits(std::uint16_t b) {
    return (b & 0x7FFFu) > inf_bits<T>;
}

struct entry {
    double value;
    std::uint16_t bits;
};

/// Every non-negative finite value in ascending order, then "infinity" placed at 2^(emax+1), the
/// value the rounding rule treats it as (its encoding is even, so the overflow tie goes to it).
template <class T>
const std::vector<entry>& table() {
    static const std::vector<entry> t = [] {
        std::vector<entry> v;
        for (std::uint32_t b = 0; b < inf_bits<T>; ++b)
            v.push_back({reference_value<T>(static_cast<std::uint16_t>(b)), static_cast<std::uint16_t>(b)});
        v.push_back({std::ldexp(1.0, bias<T> + 1), inf_bits<T>});
        return v;
    }();
    return t;
}

/// Slow reference rounding of a non-NaN double: nearest table entry, ties to the even encoding.
template <class T>
std::uint16_t reference_round(double x) {
    const auto sign = static_cast<std::uint16_t>(std::signbit(x) ? 0x8000u : 0u);
    const double a = std::fabs(x);
    const auto& t = table<T>();
    if (a >= t.back().value) return static_cast<std::uint16_t>(sign | inf_bits<T>);
    const auto it = std::lower_bound(t.begin(), t.end(), a, [](const entry& e, double y) { return e.value < y; });
    if (it->value == a) return static_cast<std::uint16_t>(sign | it->bits);
    const entry lo = *(it - 1), hi = *it;
    const double twice = 2 * a, mid2 = lo.value + hi.value;  // both exact
    std::uint16_t r;
    if (twice < mid2)
        r = lo.bits;
    else if (twice > mid2)
        r = hi.bits;
    else
        r = (lo.bits & 1u) == 0 ? lo.bits : hi.bits;
    return static_cast<std::uint16_t>(sign | r);
}

/// Sample inputs: every midpoint between adjacent values, one float ulp either side, the values
/// themselves, both signs; plus random float bit patterns (fixed seed).
template <class T>
std::vector<float> float_samples() {
    std::vector<float> s;
    const auto& t = table<T>();
    for (std::size_t i = 0; i + 1 < t.size(); ++i) {
        const auto mid = static_cast<float>((t[i].value + t[i + 1].value) / 2);  // exact in float
        REQUIRE(static_cast<double>(mid) == (t[i].value + t[i + 1].value) / 2);
        for (float f :
             {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY), static_cast<float>(t[i].value)}) {
            s.push_back(f);
            s.push_back(-f);
        }
    }
    std::mt19937 rng(12345);
    for (int i = 0; i < 200000; ++i) {
        const float f = std::bit_cast<float>(static_cast<std::uint32_t>(rng()));
        if (!std::isnan(f)) s.push_back(f);
    }
    for (float f :
         {INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, FLT_MIN, std::numeric_limits<float>::denorm_min(), 0.0f, -0.0f})
        s.push_back(f);
    return s;
}

}  // namespace

TEMPLATE_TEST_CASE("element: widening is exact for all 65536 bit patterns", "[core][element]", nnprune::bfloat16,
                   nnprune::float16) {
    constexpr int M = format<TestType>::man_bits;
    for (std::uint32_t b = 0; b <= 0xFFFFu; ++b) {
        const auto h = static_cast<std::uint16_t>(b);
        const auto x = TestType::from_bits(h);
        const float f = static_cast<float>(x);
        const double d = static_cast<double>(x);
        if (is_nan_bits<TestType>(h)) {
            // payload kept bit for bit, in float and double
            const auto fb = std::bit_cast<std::uint32_t>(f);
            REQUIRE(fb == ((static_cast<std::uint32_t>(h >> 15) << 31) | 0x7F80'0000u |
                           (static_cast<std::uint32_t>(h & ((1u << M) - 1u)) << (23 - M))));
            const auto db = std::bit_cast<std::uint64_t>(d);
            REQUIRE(db == ((static_cast<std::uint64_t>(h >> 15) << 63) | 0x7FF0'0000'0000'0000ull |
                           (static_cast<std::uint64_t>(h & ((1u << M) - 1u)) << (52 - M))));
            REQUIRE(nnprune::is_nan(x));
            REQUIRE_FALSE(nnprune::is_finite(x));
            continue;
        }
        const double ref = reference_value<TestType>(h);
        REQUIRE(static_cast<double>(f) == ref);
        REQUIRE(d == ref);
        REQUIRE(std::signbit(f) == std::signbit(ref));  // -0 stays -0
        REQUIRE(nnprune::to_float(x) == f);
        REQUIRE(nnprune::to_double(x) == ref);
        REQUIRE_FALSE(nnprune::is_nan(x));
        REQUIRE(nnprune::is_finite(x) == std::isfinite(ref));
    }
}

TEMPLATE_TEST_CASE("element: narrow -> float -> narrow and narrow -> double -> narrow are the identity",
                   "[core][element]", nnprune::bfloat16, nnprune::float16) {
    // NaN payloads (signalling ones included), infinities, subnormals and -0 all survive.
    for (std::uint32_t b = 0; b <= 0xFFFFu; ++b) {
        volatile std::uint16_t h = static_cast<std::uint16_t>(b);  // keep it a run-time conversion
        const auto x = TestType::from_bits(h);
        INFO("bits " << b);
        REQUIRE(TestType(static_cast<float>(x)).bits == b);
        REQUIRE(TestType(static_cast<double>(x)).bits == b);
        REQUIRE(nnprune::from_double<TestType>(nnprune::to_double(x)) == x);
    }
}

TEMPLATE_TEST_CASE("element: float -> narrow rounds to nearest even, incl. halfway cases, overflow, underflow",
                   "[core][element]", nnprune::bfloat16, nnprune::float16) {
    for (float f : float_samples<TestType>()) {
        INFO("float bits " << std::bit_cast<std::uint32_t>(f));
        REQUIRE(TestType(f).bits == reference_round<TestType>(static_cast<double>(f)));
    }
}

TEMPLATE_TEST_CASE("element: double -> narrow rounds once (no double rounding through float)", "[core][element]",
                   nnprune::bfloat16, nnprune::float16) {
    const auto& t = table<TestType>();
    std::size_t checked = 0;
    for (std::size_t i = 0; i + 1 < t.size(); ++i) {
        const double mid = (t[i].value + t[i + 1].value) / 2;
        for (double d : {mid, std::nextafter(mid, 0.0), std::nextafter(mid, HUGE_VAL), t[i].value}) {
            for (double s : {d, -d}) {
                INFO("double " << s);
                REQUIRE(TestType(s).bits == reference_round<TestType>(s));
                ++checked;
            }
        }
    }
    std::mt19937_64 rng(777);
    for (int i = 0; i < 100000; ++i) {
        const double d = std::bit_cast<double>(rng());
        if (std::isnan(d)) continue;
        REQUIRE(TestType(d).bits == reference_round<TestType>(d));
    }
    REQUIRE(checked > 8 * 30000);
}

TEMPLATE_TEST_CASE("element: known answers at the edges", "[core][element]", nnprune::bfloat16, nnprune::float16) {
    const double max = table<TestType>()[table<TestType>().size() - 2].value;
    const double min_sub = table<TestType>()[1].value;
    const double inf = table<TestType>().back().value;
    SECTION("overflow to infinity") {
        REQUIRE(TestType(max).bits == static_cast<std::uint16_t>(inf_bits<TestType> - 1));
        REQUIRE(TestType((max + inf) / 2).bits == inf_bits<TestType>);  // tie goes to the even encoding (Inf)
        REQUIRE(TestType(std::nextafter((max + inf) / 2, 0.0)).bits == inf_bits<TestType> - 1);
        REQUIRE(TestType(-1e300).bits == (0x8000u | inf_bits<TestType>));
        REQUIRE(TestType(HUGE_VALF).bits == inf_bits<TestType>);
    }
    SECTION("underflow to zero and subnormals") {
        REQUIRE(TestType(min_sub / 2).bits == 0);                       // tie to even: 0
        REQUIRE(TestType(-min_sub / 2).bits == 0x8000u);                // -0 keeps its sign
        REQUIRE(TestType(std::nextafter(min_sub / 2, 1.0)).bits == 1);  // just above: smallest subnormal
        REQUIRE(TestType(min_sub * 1.5).bits == 2);                     // tie between 1 and 2: even
        REQUIRE(TestType(1e-300).bits == 0);
        REQUIRE(TestType(std::numeric_limits<double>::denorm_min()).bits == 0);
        REQUIRE(TestType(std::numeric_limits<float>::denorm_min()).bits == 0);
    }
    SECTION("NaN in, NaN out") {
        REQUIRE(nnprune::is_nan(TestType(std::numeric_limits<float>::quiet_NaN())));
        REQUIRE(nnprune::is_nan(TestType(std::numeric_limits<double>::quiet_NaN())));
        // a float NaN whose kept payload bits are zero becomes a quiet NaN, not infinity
        REQUIRE(nnprune::is_nan(TestType(std::bit_cast<float>(0x7F80'0001u))));
        REQUIRE(nnprune::is_nan(TestType(std::bit_cast<double>(0x7FF0'0000'0000'0001ull))));
    }
    SECTION("constexpr") {
        static_assert(TestType(1.0f).bits == (static_cast<unsigned>(bias<TestType>) << format<TestType>::man_bits));
        static_assert(static_cast<float>(TestType::from_bits(0)) == 0.0f);
    }
}

TEST_CASE("element: dtype tags, sizes and names", "[core][element]") {
    using nnprune::dtype;
    STATIC_REQUIRE(nnprune::dtype_of<float> == dtype::f32);
    STATIC_REQUIRE(nnprune::dtype_of<const double> == dtype::f64);
    STATIC_REQUIRE(nnprune::dtype_of<nnprune::bfloat16> == dtype::bf16);
    STATIC_REQUIRE(nnprune::dtype_of<const nnprune::float16> == dtype::f16);
    REQUIRE(nnprune::size_of(dtype::f32) == 4);
    REQUIRE(nnprune::size_of(dtype::f64) == 8);
    REQUIRE(nnprune::size_of(dtype::bf16) == 2);
    REQUIRE(nnprune::size_of(dtype::f16) == 2);
    REQUIRE(nnprune::name_of(dtype::f32) == "f32");
    REQUIRE(nnprune::name_of(dtype::f64) == "f64");
    REQUIRE(nnprune::name_of(dtype::bf16) == "bf16");
    REQUIRE(nnprune::name_of(dtype::f16) == "f16");
    REQUIRE(nnprune::is_nan(std::numeric_limits<double>::quiet_NaN()));
    REQUIRE(nnprune::is_nan(std::numeric_limits<float>::signaling_NaN()));
    REQUIRE_FALSE(nnprune::is_finite(-std::numeric_limits<double>::infinity()));
    REQUIRE(nnprune::is_finite(std::numeric_limits<float>::denorm_min()));
    REQUIRE(nnprune::to_double(0.1f) == static_cast<double>(0.1f));
    REQUIRE(nnprune::from_double<float>(0.1) == 0.1f);
}
