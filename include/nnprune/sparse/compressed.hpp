#ifndef NNPRUNE_SPARSE_COMPRESSED_HPP
#define NNPRUNE_SPARSE_COMPRESSED_HPP

/// @file compressed.hpp
/// Compressed forms of a pruned weight matrix [rows, cols] (any element type) and its mask, each
/// decodable to the dense matrix exactly (pruned entries become +0; kept values keep their bits):
///  - csr_matrix<T, Index>: values (T), column indices (int32 or int64, ascending within a row),
///    row pointers (int64, rows + 1 of them, row_ptr[0] = 0, row_ptr[rows] = nnz).
///  - nm_compressed<T>: N:M, each row cut into groups of M consecutive columns (cols % M == 0),
///    each group keeping at most N. values: [rows, cols / M * N], per group its N slots in index
///    order; a group that keeps fewer than N is padded with zeros at its lowest unused indices.
///    metadata: [rows, bytes_per_row] bytes; per row a little-endian bit stream of the slots'
///    in-group indices, b = bit_width(M - 1) bits each, slot j of group g at bit (g * N + j) * b,
///    rows padded with zero bits to whole bytes. For 2:4 this is the sparse tensor core metadata
///    convention (PTX mma.sp, cuSPARSELt, CUTLASS before its tile reordering): per group of 4 a
///    nibble idx0 | idx1 << 2 with idx0 < idx1, group g in bits 4 (g % 4) of the g / 4-th 16-bit
///    little-endian word. cuSPARSELt's own compressed buffer additionally reorders the metadata for
///    its kernels (an opaque layout made by cusparseLtSpMMACompress); we do not reproduce that.
///  - bitmask_values<T>: the mask bit-packed (bit i % 8 of byte i / 8, as in mask files) and the
///    kept values in row-major flat order.
/// compressed_sizes() reports the real byte sizes of all forms against the dense matrix.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "../masks/mask.hpp"

namespace nnprune {

template <class T, class Index = std::int32_t>
struct csr_matrix {
    static_assert(std::is_same_v<Index, std::int32_t> || std::is_same_v<Index, std::int64_t>,
                  "csr indices are int32 or int64");
    std::size_t rows = 0, cols = 0;
    std::vector<T> values;
    std::vector<Index> col_indices;
    std::vector<std::int64_t> row_ptr;

    [[nodiscard]] std::size_t storage_bytes() const noexcept {
        return values.size() * sizeof(T) + col_indices.size() * sizeof(Index) + row_ptr.size() * sizeof(std::int64_t);
    }
};

template <class T>
struct nm_compressed {
    std::size_t rows = 0, cols = 0, n = 2, m = 4;
    std::vector<T> values;
    std::vector<std::uint8_t> metadata;

    [[nodiscard]] std::size_t bits_per_index() const noexcept {
        return static_cast<std::size_t>(std::bit_width(m - 1));
    }

    [[nodiscard]] std::size_t slots_per_row() const noexcept { return cols / m * n; }

    [[nodiscard]] std::size_t bytes_per_row() const noexcept { return (slots_per_row() * bits_per_index() + 7) / 8; }

    [[nodiscard]] std::size_t storage_bytes() const noexcept { return values.size() * sizeof(T) + metadata.size(); }
};

template <class T>
struct bitmask_values {
    std::size_t rows = 0, cols = 0;
    std::vector<std::uint8_t> bits;
    std::vector<T> values;

    [[nodiscard]] std::size_t storage_bytes() const noexcept { return bits.size() + values.size() * sizeof(T); }
};

namespace detail {
inline void check_mask_matches(std::size_t rows, std::size_t cols, const_mask_view m, const char* fn) {
    NNPRUNE_CHECK(m.size() == rows * cols && m.shape().rows() == rows && m.shape().cols() == cols, shape_error,
                  str(fn, ": mask has shape ", m.shape(), ", weights are ", rows, "x", cols));
}
}  // namespace detail

/// CSR of the kept entries. @throws shape_error (mask vs weights, or cols beyond Index's range).
template <class Index = std::int32_t, element T>
[[nodiscard]] csr_matrix<std::remove_cv_t<T>, Index> to_csr(const matrix_view<T>& w, const_mask_view m) {
    const std::size_t rows = w.extent(0), cols = w.extent(1);
    detail::check_mask_matches(rows, cols, m, "to_csr");
    NNPRUNE_CHECK(cols <= static_cast<std::size_t>(std::numeric_limits<Index>::max()), shape_error,
                  detail::str("to_csr: ", cols, " columns do not fit ", sizeof(Index) * 8, "-bit indices"));
    csr_matrix<std::remove_cv_t<T>, Index> out{rows, cols, {}, {}, {}};
    out.values.reserve(m.count());
    out.col_indices.reserve(m.count());
    out.row_ptr.reserve(rows + 1);
    out.row_ptr.push_back(0);
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < cols; ++c)
            if (m.test(r * cols + c)) {
                out.values.push_back(w(r, c));
                out.col_indices.push_back(static_cast<Index>(c));
            }
        out.row_ptr.push_back(static_cast<std::int64_t>(out.values.size()));
    }
    return out;
}

/// Checks a CSR's invariants. @throws format_error saying which one fails.
template <class T, class Index>
void validate(const csr_matrix<T, Index>& a) {
    const auto fail = [](const std::string& what) { NNPRUNE_THROW(format_error, "csr_matrix: " + what); };
    if (a.row_ptr.size() != a.rows + 1)
        fail(detail::str("has ", a.row_ptr.size(), " row pointers for ", a.rows, " rows"));
    if (a.values.size() != a.col_indices.size())
        fail(detail::str("has ", a.values.size(), " values and ", a.col_indices.size(), " column indices"));
    if (a.row_ptr[0] != 0) fail(detail::str("row_ptr[0] = ", a.row_ptr[0], ", expected 0"));
    if (a.row_ptr[a.rows] != static_cast<std::int64_t>(a.values.size()))
        fail(detail::str("row_ptr[", a.rows, "] = ", a.row_ptr[a.rows], ", expected nnz = ", a.values.size()));
    for (std::size_t r = 0; r < a.rows; ++r) {
        if (a.row_ptr[r + 1] < a.row_ptr[r]) fail(detail::str("row_ptr decreases at row ", r));
        for (auto k = a.row_ptr[r]; k < a.row_ptr[r + 1]; ++k) {
            const Index c = a.col_indices[static_cast<std::size_t>(k)];
            if (c < 0 || static_cast<std::size_t>(c) >= a.cols)
                fail(detail::str("row ", r, ": column index ", c, " outside [0, ", a.cols, ")"));
            if (k > a.row_ptr[r] && a.col_indices[static_cast<std::size_t>(k - 1)] >= c)
                fail(detail::str("row ", r, ": column indices not strictly ascending at ", c));
        }
    }
}

/// The dense row-major matrix. @throws format_error when the CSR is inconsistent.
template <class T, class Index>
[[nodiscard]] std::vector<T> to_dense(const csr_matrix<T, Index>& a) {
    validate(a);
    std::vector<T> out(a.rows * a.cols, T{});
    for (std::size_t r = 0; r < a.rows; ++r)
        for (auto k = a.row_ptr[r]; k < a.row_ptr[r + 1]; ++k)
            out[r * a.cols + static_cast<std::size_t>(a.col_indices[static_cast<std::size_t>(k)])] =
                a.values[static_cast<std::size_t>(k)];
    return out;
}

/// N:M compression. @throws precondition_error unless 1 <= n <= m, 2 <= m <= 256; shape_error when
/// cols % m != 0 or the mask does not match; value_error when a group keeps more than n.
template <element T>
[[nodiscard]] nm_compressed<std::remove_cv_t<T>> to_nm(const matrix_view<T>& w, const_mask_view mk, std::size_t n = 2,
                                                       std::size_t m = 4) {
    const std::size_t rows = w.extent(0), cols = w.extent(1);
    NNPRUNE_PRECONDITION(n >= 1 && n <= m && m >= 2 && m <= 256,
                         detail::str("to_nm: ", n, ":", m, " needs 1 <= n <= m, 2 <= m <= 256"));
    detail::check_mask_matches(rows, cols, mk, "to_nm");
    NNPRUNE_CHECK(cols % m == 0, shape_error, detail::str("to_nm: ", cols, " columns are not a multiple of m = ", m));
    nm_compressed<std::remove_cv_t<T>> out{rows, cols, n, m, {}, {}};
    const std::size_t b = out.bits_per_index(), bpr = out.bytes_per_row(), groups = cols / m;
    out.values.assign(rows * out.slots_per_row(), std::remove_cv_t<T>{});
    out.metadata.assign(rows * bpr, 0);
    std::vector<std::size_t> idx;
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t g = 0; g < groups; ++g) {
            idx.clear();
            for (std::size_t j = 0; j < m; ++j)
                if (mk.test(r * cols + g * m + j)) idx.push_back(j);
            NNPRUNE_CHECK(
                idx.size() <= n, value_error,
                detail::str("to_nm: row ", r, ", group ", g, " keeps ", idx.size(), " of ", m, ", more than n = ", n));
            const std::size_t kept = idx.size();
            for (std::size_t j = 0; idx.size() < n; ++j)  // pad with the lowest unused indices
                if (std::find(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(kept), j) ==
                    idx.begin() + static_cast<std::ptrdiff_t>(kept))
                    idx.push_back(j);
            std::sort(idx.begin(), idx.end());
            for (std::size_t s = 0; s < n; ++s) {
                const std::size_t j = idx[s], slot = g * n + s;
                if (mk.test(r * cols + g * m + j)) out.values[r * out.slots_per_row() + slot] = w(r, g * m + j);
                for (std::size_t bit = 0; bit < b; ++bit)
                    if ((j >> bit) & 1u) {
                        const std::size_t pos = slot * b + bit;
                        out.metadata[r * bpr + pos / 8] |= static_cast<std::uint8_t>(1u << (pos % 8));
                    }
            }
        }
    return out;
}

/// Checks an N:M form's invariants (sizes, indices strictly ascending within a group and < m,
/// zero padding bits). @throws format_error.
template <class T>
void validate(const nm_compressed<T>& a) {
    const auto fail = [](const std::string& what) { NNPRUNE_THROW(format_error, "nm_compressed: " + what); };
    if (!(a.n >= 1 && a.n <= a.m && a.m >= 2 && a.m <= 256))
        fail(detail::str(a.n, ":", a.m, " is not 1 <= n <= m, 2 <= m <= 256"));
    if (a.cols % a.m) fail(detail::str(a.cols, " columns are not a multiple of m = ", a.m));
    if (a.values.size() != a.rows * a.slots_per_row())
        fail(detail::str("has ", a.values.size(), " values, expected ", a.rows * a.slots_per_row()));
    if (a.metadata.size() != a.rows * a.bytes_per_row())
        fail(detail::str("has ", a.metadata.size(), " metadata bytes, expected ", a.rows * a.bytes_per_row()));
    const std::size_t b = a.bits_per_index(), bpr = a.bytes_per_row(), used = a.slots_per_row() * b;
    for (std::size_t r = 0; r < a.rows; ++r) {
        const std::uint8_t* row = a.metadata.data() + r * bpr;
        for (std::size_t pos = used; pos < bpr * 8; ++pos)
            if ((row[pos / 8] >> (pos % 8)) & 1u) fail(detail::str("row ", r, ": padding bit ", pos, " is set"));
        for (std::size_t g = 0; g < a.cols / a.m; ++g)
            for (std::size_t s = 0, prev = 0; s < a.n; ++s) {
                std::size_t j = 0;
                for (std::size_t bit = 0; bit < b; ++bit) {
                    const std::size_t pos = (g * a.n + s) * b + bit;
                    j |= static_cast<std::size_t>((row[pos / 8] >> (pos % 8)) & 1u) << bit;
                }
                if (j >= a.m || (s > 0 && j <= prev))
                    fail(detail::str("row ", r, ", group ", g, ": index ", j, " in slot ", s,
                                     " is not ascending in [0, ", a.m, ")"));
                prev = j;
            }
    }
}

/// The in-group index of slot `slot` of row `r` (no checks).
template <class T>
[[nodiscard]] std::size_t nm_index(const nm_compressed<T>& a, std::size_t r, std::size_t slot) noexcept {
    const std::size_t b = a.bits_per_index();
    std::size_t j = 0;
    for (std::size_t bit = 0; bit < b; ++bit) {
        const std::size_t pos = slot * b + bit;
        j |= static_cast<std::size_t>((a.metadata[r * a.bytes_per_row() + pos / 8] >> (pos % 8)) & 1u) << bit;
    }
    return j;
}

/// The dense row-major matrix. @throws format_error when the form is inconsistent.
template <class T>
[[nodiscard]] std::vector<T> to_dense(const nm_compressed<T>& a) {
    validate(a);
    std::vector<T> out(a.rows * a.cols, T{});
    for (std::size_t r = 0; r < a.rows; ++r)
        for (std::size_t slot = 0; slot < a.slots_per_row(); ++slot)
            out[r * a.cols + slot / a.n * a.m + nm_index(a, r, slot)] = a.values[r * a.slots_per_row() + slot];
    return out;
}

/// Bit-packed mask + kept values. @throws shape_error when the mask does not match.
template <element T>
[[nodiscard]] bitmask_values<std::remove_cv_t<T>> to_bitmask(const matrix_view<T>& w, const_mask_view m) {
    const std::size_t rows = w.extent(0), cols = w.extent(1), n = rows * cols;
    detail::check_mask_matches(rows, cols, m, "to_bitmask");
    bitmask_values<std::remove_cv_t<T>> out{rows, cols, std::vector<std::uint8_t>((n + 7) / 8), {}};
    if (!out.bits.empty()) std::memcpy(out.bits.data(), m.words().data(), out.bits.size());
    if (n % 8) out.bits.back() &= static_cast<std::uint8_t>((1u << (n % 8)) - 1u);
    out.values.reserve(m.count());
    for (std::size_t i = 0; i < n; ++i)
        if (m.test(i)) out.values.push_back(w(i / cols, i % cols));
    return out;
}

/// Checks sizes, zero tail bits and popcount == number of values. @throws format_error.
template <class T>
void validate(const bitmask_values<T>& a) {
    const auto fail = [](const std::string& what) { NNPRUNE_THROW(format_error, "bitmask_values: " + what); };
    const std::size_t n = a.rows * a.cols;
    if (a.bits.size() != (n + 7) / 8)
        fail(detail::str("has ", a.bits.size(), " mask bytes, ", n, " elements need ", (n + 7) / 8));
    if (n % 8 && (a.bits.back() >> (n % 8)) != 0) fail("bits past the last element are set");
    std::size_t count = 0;
    for (auto byte : a.bits) count += static_cast<std::size_t>(std::popcount(byte));
    if (count != a.values.size())
        fail(detail::str("mask keeps ", count, " elements, ", a.values.size(), " values given"));
}

/// The dense row-major matrix. @throws format_error when the form is inconsistent.
template <class T>
[[nodiscard]] std::vector<T> to_dense(const bitmask_values<T>& a) {
    validate(a);
    std::vector<T> out(a.rows * a.cols, T{});
    for (std::size_t i = 0, k = 0; i < out.size(); ++i)
        if ((a.bits[i / 8] >> (i % 8)) & 1u) out[i] = a.values[k++];
    return out;
}

/// Byte sizes of each form for a weight matrix and its mask (nm = 0 when N:M does not apply).
struct compressed_sizes_t {
    std::size_t dense = 0, csr32 = 0, csr64 = 0, nm = 0, bitmask = 0;
};

/// Byte sizes of each form, without building them (equal to the forms' storage_bytes()).
template <element T>
[[nodiscard]] compressed_sizes_t compressed_sizes(const matrix_view<T>& w, const_mask_view mk, std::size_t n = 2,
                                                  std::size_t m = 4) {
    const std::size_t rows = w.extent(0), cols = w.extent(1), e = sizeof(T), nnz = mk.count();
    detail::check_mask_matches(rows, cols, mk, "compressed_sizes");
    compressed_sizes_t s;
    s.dense = rows * cols * e;
    s.csr32 = nnz * (e + 4) + (rows + 1) * 8;
    s.csr64 = nnz * (e + 8) + (rows + 1) * 8;
    s.bitmask = (rows * cols + 7) / 8 + nnz * e;
    bool fits = n >= 1 && n <= m && m >= 2 && m <= 256 && cols % m == 0;
    for (std::size_t g = 0; fits && g < rows * cols / std::max<std::size_t>(m, 1); ++g) {
        std::size_t k = 0;
        for (std::size_t j = 0; j < m; ++j) k += mk.test(g * m + j);
        fits = k <= n;
    }
    if (fits) {
        nm_compressed<std::remove_cv_t<T>> shape_only{rows, cols, n, m, {}, {}};
        s.nm = rows * (shape_only.slots_per_row() * e + shape_only.bytes_per_row());
    }
    return s;
}

}  // namespace nnprune

#endif  // NNPRUNE_SPARSE_COMPRESSED_HPP
