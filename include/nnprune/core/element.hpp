#ifndef NNPRUNE_CORE_ELEMENT_HPP
#define NNPRUNE_CORE_ELEMENT_HPP

/// @file element.hpp
/// Element types: float, double and the 2-byte storage types bfloat16 and float16, with exact
/// IEEE round-to-nearest-even conversions. NaN, infinities and subnormals are preserved; a NaN
/// keeps the top bits of its payload (and becomes quiet only when those bits would all be zero).

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "../config.hpp"

namespace nnprune {

namespace detail {

/// Rounds a double to the binary format with ExpBits exponent and ManBits mantissa bits
/// (round to nearest, ties to even); returns the sign-less-shifted bit pattern with the sign on top.
template <int ExpBits, int ManBits>
[[nodiscard]] constexpr std::uint16_t round_to_narrow(double value) noexcept {
    static_assert(1 + ExpBits + ManBits == 16, "narrow formats here are 16-bit");
    constexpr int bias = (1 << (ExpBits - 1)) - 1;
    constexpr int emin = 1 - bias;
    constexpr std::uint32_t inf_bits = ((1u << ExpBits) - 1u) << ManBits;

    const auto b = std::bit_cast<std::uint64_t>(value);
    const auto sign = static_cast<std::uint32_t>(b >> 63) << 15;
    const std::uint64_t a = b & 0x7FFF'FFFF'FFFF'FFFFull;
    const auto exp_d = static_cast<int>(a >> 52);
    const std::uint64_t man_d = a & ((std::uint64_t{1} << 52) - 1);

    if (exp_d == 0x7FF) {
        if (man_d == 0) return static_cast<std::uint16_t>(sign | inf_bits);
        auto payload = static_cast<std::uint32_t>(man_d >> (52 - ManBits));
        if (payload == 0) payload = 1u << (ManBits - 1);  // keep it a NaN: quiet bit
        return static_cast<std::uint16_t>(sign | inf_bits | payload);
    }
    if (exp_d == 0) return static_cast<std::uint16_t>(sign);  // double subnormals are far below range
    const int e = exp_d - 1023;
    if (e > bias) return static_cast<std::uint16_t>(sign | inf_bits);

    const std::uint64_t sig = (std::uint64_t{1} << 52) | man_d;  // value = sig * 2^(e - 52)
    const int q = (e > emin ? e : emin) - ManBits;               // target quantum 2^q
    const int shift = q - (e - 52);                              // >= 52 - ManBits > 0
    if (shift > 54) return static_cast<std::uint16_t>(sign);     // below half the smallest subnormal
    std::uint64_t r = sig >> shift;
    const std::uint64_t rem = sig & ((std::uint64_t{1} << shift) - 1);
    const std::uint64_t half = std::uint64_t{1} << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    // Normal: the implicit bit sits at ManBits; adding (biased exponent - 1) << ManBits carries
    // correctly into the exponent (and into infinity on overflow). Subnormal: r is the encoding.
    const std::uint64_t enc = e >= emin ? (static_cast<std::uint64_t>(e + bias - 1) << ManBits) + r : r;
    return static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>(enc));
}

/// Rounds a float to the 16-bit format. Finite values and infinities go through the double path
/// (float -> double is exact); a NaN is narrowed from the float's own bits, because float -> double
/// conversion quiets a signalling NaN on most hardware and would change its payload.
template <int ExpBits, int ManBits>
[[nodiscard]] constexpr std::uint16_t round_to_narrow(float value) noexcept {
    const auto b = std::bit_cast<std::uint32_t>(value);
    if ((b & 0x7FFF'FFFFu) > 0x7F80'0000u) {
        constexpr std::uint32_t inf_bits = ((1u << ExpBits) - 1u) << ManBits;
        auto payload = (b & 0x007F'FFFFu) >> (23 - ManBits);
        if (payload == 0) payload = 1u << (ManBits - 1);  // keep it a NaN: quiet bit
        return static_cast<std::uint16_t>(((b >> 31) << 15) | inf_bits | payload);
    }
    return round_to_narrow<ExpBits, ManBits>(static_cast<double>(value));
}

/// Exact widening of a float to double that keeps a NaN's payload bits (no quieting).
[[nodiscard]] constexpr double widen_to_double(float f) noexcept {
    const auto b = std::bit_cast<std::uint32_t>(f);
    if ((b & 0x7FFF'FFFFu) > 0x7F80'0000u)
        return std::bit_cast<double>(static_cast<std::uint64_t>(b >> 31) << 63 | 0x7FF0'0000'0000'0000ull |
                                     static_cast<std::uint64_t>(b & 0x007F'FFFFu) << 29);
    return static_cast<double>(f);
}

/// Exact widening of a 16-bit binary format to float.
template <int ExpBits, int ManBits>
[[nodiscard]] constexpr float widen_from_narrow(std::uint16_t h) noexcept {
    constexpr int bias = (1 << (ExpBits - 1)) - 1;
    const std::uint32_t sign = static_cast<std::uint32_t>(h >> 15) << 31;
    const std::uint32_t exp = (h >> ManBits) & ((1u << ExpBits) - 1u);
    std::uint32_t man = h & ((1u << ManBits) - 1u);
    if (exp == (1u << ExpBits) - 1u)  // Inf / NaN, payload kept
        return std::bit_cast<float>(sign | 0x7F80'0000u | (man << (23 - ManBits)));
    if (exp == 0) {
        if (man == 0) return std::bit_cast<float>(sign);
        // subnormal: normalise (float has a wider exponent range than both formats)
        int e = 1 - bias;
        while ((man & (1u << ManBits)) == 0) {
            man <<= 1;
            --e;
        }
        man &= (1u << ManBits) - 1u;
        return std::bit_cast<float>(sign | static_cast<std::uint32_t>(e + 127) << 23 | (man << (23 - ManBits)));
    }
    const auto e = static_cast<std::uint32_t>(static_cast<int>(exp) - bias + 127);
    return std::bit_cast<float>(sign | e << 23 | (man << (23 - ManBits)));
}

}  // namespace detail

/// Brain floating point (1 sign, 8 exponent, 7 mantissa bits): storage only, 2 bytes.
struct bfloat16 {
    std::uint16_t bits = 0;

    constexpr bfloat16() noexcept = default;

    constexpr explicit bfloat16(float f) noexcept : bits(detail::round_to_narrow<8, 7>(f)) {}

    constexpr explicit bfloat16(double d) noexcept : bits(detail::round_to_narrow<8, 7>(d)) {}

    [[nodiscard]] static constexpr bfloat16 from_bits(std::uint16_t b) noexcept {
        bfloat16 r;
        r.bits = b;
        return r;
    }

    [[nodiscard]] constexpr explicit operator float() const noexcept {
        return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
    }

    [[nodiscard]] constexpr explicit operator double() const noexcept {
        return detail::widen_to_double(static_cast<float>(*this));
    }

    /// Bitwise equality (NaN == NaN with the same payload): storage semantics, not IEEE.
    friend constexpr bool operator==(bfloat16, bfloat16) noexcept = default;
};

/// IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits): storage only, 2 bytes.
struct float16 {
    std::uint16_t bits = 0;

    constexpr float16() noexcept = default;

    constexpr explicit float16(float f) noexcept : bits(detail::round_to_narrow<5, 10>(f)) {}

    constexpr explicit float16(double d) noexcept : bits(detail::round_to_narrow<5, 10>(d)) {}

    [[nodiscard]] static constexpr float16 from_bits(std::uint16_t b) noexcept {
        float16 r;
        r.bits = b;
        return r;
    }

    [[nodiscard]] constexpr explicit operator float() const noexcept { return detail::widen_from_narrow<5, 10>(bits); }

    [[nodiscard]] constexpr explicit operator double() const noexcept {
        return detail::widen_to_double(static_cast<float>(*this));
    }

    /// Bitwise equality (NaN == NaN with the same payload): storage semantics, not IEEE.
    friend constexpr bool operator==(float16, float16) noexcept = default;
};

static_assert(sizeof(bfloat16) == 2 && std::is_trivially_copyable_v<bfloat16>);
static_assert(sizeof(float16) == 2 && std::is_trivially_copyable_v<float16>);

/// The element types nnprune computes on.
enum class dtype : std::uint8_t { f32, f64, bf16, f16 };

/// Satisfied by float, double, bfloat16 and float16 (cv-qualifiers ignored).
template <class T>
concept element = std::is_same_v < std::remove_cv_t<T>,
float > || std::is_same_v<std::remove_cv_t<T>, double> || std::is_same_v<std::remove_cv_t<T>, bfloat16> ||
    std::is_same_v<std::remove_cv_t<T>, float16>;

/// The dtype tag of an element type.
template <element T>
inline constexpr dtype dtype_of = std::is_same_v<std::remove_cv_t<T>, float>      ? dtype::f32
                                  : std::is_same_v<std::remove_cv_t<T>, double>   ? dtype::f64
                                  : std::is_same_v<std::remove_cv_t<T>, bfloat16> ? dtype::bf16
                                                                                  : dtype::f16;

[[nodiscard]] constexpr std::size_t size_of(dtype t) noexcept { return t == dtype::f64 ? 8 : t == dtype::f32 ? 4 : 2; }

[[nodiscard]] constexpr std::string_view name_of(dtype t) noexcept {
    switch (t) {
        case dtype::f32:
            return "f32";
        case dtype::f64:
            return "f64";
        case dtype::bf16:
            return "bf16";
        case dtype::f16:
            return "f16";
    }
    return "?";
}

/// Widens any element to float (exact for f32, bf16, f16; rounded for f64).
template <element T>
[[nodiscard]] constexpr float to_float(T v) noexcept {
    return static_cast<float>(v);
}

/// Widens any element to double (always exact).
template <element T>
[[nodiscard]] constexpr double to_double(T v) noexcept {
    if constexpr (std::is_same_v<std::remove_cv_t<T>, double>)
        return v;
    else
        return static_cast<double>(v);
}

/// Converts a double to element type T with one round-to-nearest-even step.
template <element T>
[[nodiscard]] constexpr std::remove_cv_t<T> from_double(double v) noexcept {
    return static_cast<std::remove_cv_t<T>>(v);
}

/// True when v is NaN, for any element type (no floating-point exceptions raised).
template <element T>
[[nodiscard]] constexpr bool is_nan(T v) noexcept {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<U, bfloat16>)
        return (v.bits & 0x7FFFu) > 0x7F80u;
    else if constexpr (std::is_same_v<U, float16>)
        return (v.bits & 0x7FFFu) > 0x7C00u;
    else if constexpr (std::is_same_v<U, float>)
        return (std::bit_cast<std::uint32_t>(v) & 0x7FFF'FFFFu) > 0x7F80'0000u;
    else
        return (std::bit_cast<std::uint64_t>(v) & 0x7FFF'FFFF'FFFF'FFFFull) > 0x7FF0'0000'0000'0000ull;
}

/// True when v is finite (neither NaN nor infinite), for any element type.
template <element T>
[[nodiscard]] constexpr bool is_finite(T v) noexcept {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<U, bfloat16>)
        return (v.bits & 0x7F80u) != 0x7F80u;
    else if constexpr (std::is_same_v<U, float16>)
        return (v.bits & 0x7C00u) != 0x7C00u;
    else if constexpr (std::is_same_v<U, float>)
        return (std::bit_cast<std::uint32_t>(v) & 0x7F80'0000u) != 0x7F80'0000u;
    else
        return (std::bit_cast<std::uint64_t>(v) & 0x7FF0'0000'0000'0000ull) != 0x7FF0'0000'0000'0000ull;
}

}  // namespace nnprune

#endif  // NNPRUNE_CORE_ELEMENT_HPP
