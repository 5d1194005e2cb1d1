#ifndef NNPRUNE_MASKS_MASK_HPP
#define NNPRUNE_MASKS_MASK_HPP

/// @file mask.hpp
/// Bit-packed masks, one bit per weight, true = kept. The layout (also the mask-file layout):
/// bit i of the row-major flat index lives in 64-bit word i / 64 at bit position i % 64
/// (least significant first); bits past the last element are zero.
///  - mask_view / const_mask_view: over words the caller owns;
///  - mask: owns its words.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/buffer.hpp"
#include "../core/errors.hpp"
#include "../core/shape.hpp"
#include "../simd/popcount.hpp"

namespace nnprune {

/// Number of 64-bit words that hold n bits.
[[nodiscard]] constexpr std::size_t mask_words(std::size_t n) noexcept { return n / 64 + (n % 64 != 0); }

/**
 * @brief A view of a bit-packed mask held in caller-owned 64-bit words.
 * @tparam Word std::uint64_t (mutable) or const std::uint64_t (read-only).
 */
template <class Word>
class basic_mask_view {
    static_assert(std::is_same_v<std::remove_const_t<Word>, std::uint64_t>, "mask words are std::uint64_t");

public:
    constexpr basic_mask_view() noexcept = default;

    /// @throws precondition_error when `words` holds fewer than mask_words(shape.numel()) words.
    basic_mask_view(std::span<Word> words, const nnprune::shape& s) : m_words(words.data()), m_shape(s) {
        NNPRUNE_CHECK(words.size() >= mask_words(s.numel()), shape_error,
                      detail::str("mask_view: ", s, " needs ", mask_words(s.numel()), " words, got ", words.size()));
    }

    template <class W>

    requires(!std::is_same_v<W, Word> && std::is_same_v<const W, Word>) constexpr basic_mask_view(
        const basic_mask_view<W>& other) noexcept  // mutable -> const
        : m_words(other.words().data()), m_shape(other.shape()) {}

    [[nodiscard]] constexpr const nnprune::shape& shape() const noexcept { return m_shape; }

    [[nodiscard]] constexpr std::size_t size() const noexcept { return m_shape.numel(); }

    [[nodiscard]] constexpr std::span<Word> words() const noexcept { return {m_words, mask_words(size())}; }

    /// Is element i (row-major flat index) kept? @pre i < size()
    [[nodiscard]] constexpr bool test(std::size_t i) const noexcept { return (m_words[i >> 6] >> (i & 63)) & 1u; }

    [[nodiscard]] constexpr bool operator[](std::size_t i) const noexcept { return test(i); }

    /// Sets element i kept (true) or pruned (false). @pre i < size()
    constexpr void set(std::size_t i, bool kept = true) const noexcept requires(!std::is_const_v<Word>) {
        const std::uint64_t bit = std::uint64_t{1} << (i & 63);
        if (kept)
            m_words[i >> 6] |= bit;
        else
            m_words[i >> 6] &= ~bit;
    }

    /// Number of kept elements (bits past the last element are ignored, even if a caller-owned
    /// buffer has garbage there).
    [[nodiscard]] constexpr std::size_t count() const noexcept {
        const std::size_t n = mask_words(size());
        if (std::is_constant_evaluated() || n == 0) {
            std::size_t c = 0;
            for (std::size_t w = 0; w < n; ++w) c += static_cast<std::size_t>(std::popcount(m_words[w] & word_mask(w)));
            return c;
        }
        // whole words through the popcount kernel, the last one masked
        return simd::popcount(m_words, n - 1) +
               static_cast<std::size_t>(std::popcount(m_words[n - 1] & word_mask(n - 1)));
    }

    /// Number of pruned elements.
    [[nodiscard]] constexpr std::size_t pruned() const noexcept { return size() - count(); }

    /// Kept fraction (1 for an empty mask).
    [[nodiscard]] constexpr double density() const noexcept {
        return size() ? static_cast<double>(count()) / static_cast<double>(size()) : 1.0;
    }

    /// Pruned fraction (0 for an empty mask).
    [[nodiscard]] constexpr double sparsity() const noexcept { return 1.0 - density(); }

    /// Sets every element kept (true) or pruned (false).
    constexpr void fill(bool kept) const noexcept requires(!std::is_const_v<Word>) {
        const std::size_t n = mask_words(size());
        std::fill(m_words, m_words + n, kept ? ~std::uint64_t{0} : std::uint64_t{0});
        clear_tail();
    }

    /// this &= other, this |= other, this = ~this. @throws shape_error on differing shapes.
    void and_with(basic_mask_view<const std::uint64_t> other) const requires(!std::is_const_v<Word>) {
        check_same_shape(other, "mask and");
        for (std::size_t w = 0, n = mask_words(size()); w < n; ++w) m_words[w] &= other.words()[w];
        clear_tail();
    }

    void or_with(basic_mask_view<const std::uint64_t> other) const requires(!std::is_const_v<Word>) {
        check_same_shape(other, "mask or");
        for (std::size_t w = 0, n = mask_words(size()); w < n; ++w) m_words[w] |= other.words()[w];
        clear_tail();
    }

    constexpr void flip() const noexcept requires(!std::is_const_v<Word>) {
        for (std::size_t w = 0, n = mask_words(size()); w < n; ++w) m_words[w] = ~m_words[w];
        clear_tail();
    }

    /// Reads a byte mask (nonzero = kept). @throws shape_error when the sizes differ.
    template <class Byte>

    requires(sizeof(Byte) == 1) void assign_bytes(std::span<const Byte> bytes) const requires(!std::is_const_v<Word>) {
        NNPRUNE_CHECK(
            bytes.size() == size(), shape_error,
            detail::str("mask: byte mask has ", bytes.size(), " elements, mask has ", m_shape, " = ", size()));
        const std::size_t n = size();
        for (std::size_t w = 0; w < mask_words(n); ++w) {
            std::uint64_t word = 0;
            const std::size_t base = w * 64, end = std::min<std::size_t>(64, n - base);
            for (std::size_t b = 0; b < end; ++b) word |= static_cast<std::uint64_t>(bytes[base + b] != Byte{}) << b;
            m_words[w] = word;
        }
    }

    /// Writes a byte mask (1 = kept, 0 = pruned). @throws shape_error when the sizes differ.
    template <class Byte>

    requires(sizeof(Byte) == 1 && !std::is_const_v<Byte>) void to_bytes(std::span<Byte> out) const {
        NNPRUNE_CHECK(
            out.size() == size(), shape_error,
            detail::str("mask::to_bytes: output has ", out.size(), " elements, mask has ", m_shape, " = ", size()));
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<Byte>(test(i));
    }

    /// Same shape and same bits (bits past the last element are ignored).
    template <class W>
    [[nodiscard]] bool equals(const basic_mask_view<W>& other) const noexcept {
        if (!(m_shape == other.shape())) return false;
        const auto o = other.words();
        for (std::size_t w = 0, n = mask_words(size()); w < n; ++w)
            if ((m_words[w] ^ o[w]) & word_mask(w)) return false;
        return true;
    }

private:
    template <class W>
    void check_same_shape(const basic_mask_view<W>& other, const char* what) const {
        NNPRUNE_CHECK(m_shape == other.shape(), shape_error,
                      detail::str(what, ": masks have shapes ", m_shape, " and ", other.shape()));
    }

    // the bits of word w that belong to elements
    [[nodiscard]] constexpr std::uint64_t word_mask(std::size_t w) const noexcept {
        return (w + 1 < mask_words(size()) || size() % 64 == 0) ? ~std::uint64_t{0}
                                                                : (std::uint64_t{1} << (size() % 64)) - 1;
    }

    constexpr void clear_tail() const noexcept {
        if (size() % 64) m_words[size() / 64] &= (std::uint64_t{1} << (size() % 64)) - 1;
    }

    Word* m_words = nullptr;
    nnprune::shape m_shape{};
};

using mask_view = basic_mask_view<std::uint64_t>;
using const_mask_view = basic_mask_view<const std::uint64_t>;

/// An owning bit-packed mask shaped like its tensor. New masks keep everything.
class mask {
public:
    mask() = default;

    explicit mask(const nnprune::shape& s, bool kept = true)
        : m_words(detail::filled_buffer(mask_words(s.numel()), std::uint64_t{0})), m_shape(s) {
        if (kept) view().fill(true);
    }

    /// A mask from a byte mask (nonzero = kept) of the same element count.
    template <class Byte>

    requires(sizeof(Byte) == 1) [[nodiscard]] static mask
        from_bytes(std::span<const Byte> bytes, const nnprune::shape& s) {
        NNPRUNE_CHECK(
            bytes.size() == s.numel(), shape_error,
            detail::str("mask::from_bytes: byte mask has ", bytes.size(), " elements, shape ", s, " has ", s.numel()));
        mask m(s, false);
        m.view().assign_bytes(bytes);
        return m;
    }

    /// Reshaped to s with every element kept (or pruned), reusing the storage (a mask reused
    /// from layer to layer faults no fresh pages).
    void reset(const nnprune::shape& s, bool kept = true) {
        const std::size_t n = mask_words(s.numel());
        if (m_words.size() > n)
            m_words.resize(n);
        else
            detail::grow_buffer(m_words, n);
        m_shape = s;
        view().fill(kept);
    }

    [[nodiscard]] mask_view view() { return {std::span<std::uint64_t>(m_words), m_shape}; }

    [[nodiscard]] const_mask_view view() const { return {std::span<const std::uint64_t>(m_words), m_shape}; }

    operator mask_view() { return view(); }  // NOLINT(google-explicit-constructor)

    operator const_mask_view() const { return view(); }  // NOLINT(google-explicit-constructor)

    [[nodiscard]] const nnprune::shape& shape() const noexcept { return m_shape; }

    [[nodiscard]] std::size_t size() const noexcept { return m_shape.numel(); }

    [[nodiscard]] std::span<std::uint64_t> words() noexcept { return m_words; }

    [[nodiscard]] std::span<const std::uint64_t> words() const noexcept { return m_words; }

    [[nodiscard]] bool test(std::size_t i) const { return view().test(i); }

    [[nodiscard]] bool operator[](std::size_t i) const noexcept { return test(i); }

    void set(std::size_t i, bool kept = true) { view().set(i, kept); }

    [[nodiscard]] std::size_t count() const { return view().count(); }

    [[nodiscard]] std::size_t pruned() const { return view().pruned(); }

    [[nodiscard]] double density() const { return view().density(); }

    [[nodiscard]] double sparsity() const { return view().sparsity(); }

    void fill(bool kept) { view().fill(kept); }

    template <class Byte>

    requires(sizeof(Byte) == 1 && !std::is_const_v<Byte>) void to_bytes(std::span<Byte> out) const {
        view().to_bytes(out);
    }

    [[nodiscard]] std::vector<std::uint8_t> to_bytes() const {
        std::vector<std::uint8_t> out(size());
        view().to_bytes(std::span<std::uint8_t>(out));
        return out;
    }

    mask& operator&=(const_mask_view other) {
        view().and_with(other);
        return *this;
    }

    mask& operator|=(const_mask_view other) {
        view().or_with(other);
        return *this;
    }

    [[nodiscard]] friend mask operator&(mask a, const_mask_view b) { return a &= b; }

    [[nodiscard]] friend mask operator|(mask a, const_mask_view b) { return a |= b; }

    [[nodiscard]] friend mask operator~(mask a) {
        a.view().flip();
        return a;
    }

    [[nodiscard]] friend bool operator==(const mask& a, const mask& b) { return a.view().equals(b.view()); }

private:
    std::vector<std::uint64_t> m_words;
    nnprune::shape m_shape{};
};

}  // namespace nnprune

#endif  // NNPRUNE_MASKS_MASK_HPP
