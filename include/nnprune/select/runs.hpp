#ifndef NNPRUNE_SELECT_RUNS_HPP
#define NNPRUNE_SELECT_RUNS_HPP

/// @file runs.hpp
/// How the engine sees a comparison group: a sequence of strided runs of scores, in ascending
/// flat-index order, each with the mask bits it reads (previous mask) and writes (output). Any
/// tensor_ref layout (contiguous, strided, rank 1..4) becomes runs without copying.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/tensor_ref.hpp"

namespace nnprune::detail {

/// n scores p[j * stride] (element type `type`) whose mask bits are bit0 + j * step.
struct run {
    const void* p = nullptr;
    dtype type = dtype::f32;
    std::size_t n = 0;
    std::ptrdiff_t stride = 1;
    std::size_t bit0 = 0;
    std::size_t step = 1;
    const std::uint64_t* prev = nullptr;  ///< previous mask words (null: every element competes)
    std::uint64_t* out = nullptr;         ///< output mask words
    std::uint32_t tensor = 0;             ///< which tensor (global selection), for messages
};

/// Calls f(static_cast<const T*>(p)) with T the element type.
template <class F>
decltype(auto) with_type(dtype t, const void* p, F&& f) {
    switch (t) {
        case dtype::f64:
            return f(static_cast<const double*>(p));
        case dtype::bf16:
            return f(static_cast<const bfloat16*>(p));
        case dtype::f16:
            return f(static_cast<const float16*>(p));
        case dtype::f32:
            break;
    }
    return f(static_cast<const float*>(p));
}

/// The sub-run [from, from + len) of r.
[[nodiscard]] inline run sub_run(const run& r, std::size_t from, std::size_t len) noexcept {
    run s = r;
    s.p = static_cast<const unsigned char*>(r.p) +
          static_cast<std::ptrdiff_t>(from) * r.stride * static_cast<std::ptrdiff_t>(size_of(r.type));
    s.n = len;
    s.bit0 = r.bit0 + from * r.step;
    return s;
}

/// Element offset (from the data pointer) of flat index i of a tensor_ref.
[[nodiscard]] inline std::ptrdiff_t offset_of(const tensor_ref& t, std::size_t i) noexcept {
    std::ptrdiff_t off = 0;
    for (std::size_t r = t.rank(); r-- > 0;) {
        const std::size_t e = t.extent(r);
        off += static_cast<std::ptrdiff_t>(i % e) * t.stride(r);
        i /= e;
    }
    return off;
}

[[nodiscard]] inline const void* element_at(const tensor_ref& t, std::ptrdiff_t off) noexcept {
    return static_cast<const unsigned char*>(t.data_handle()) + off * static_cast<std::ptrdiff_t>(size_of(t.dtype()));
}

/// Appends the runs covering flat indices [begin, end) of t (innermost dimension runs; one run
/// when t is contiguous).
inline void append_runs(const tensor_ref& t, std::size_t begin, std::size_t end, const std::uint64_t* prev,
                        std::uint64_t* out, std::uint32_t tensor, std::vector<run>& runs) {
    if (begin >= end) return;
    if (t.is_contiguous()) {
        runs.push_back({element_at(t, static_cast<std::ptrdiff_t>(begin)), t.dtype(), end - begin, 1, begin, 1, prev,
                        out, tensor});
        return;
    }
    const std::size_t inner = t.extent(t.rank() - 1);
    const std::ptrdiff_t st = t.stride(t.rank() - 1);
    std::size_t i = begin;
    while (i < end) {
        const std::size_t len = std::min(inner - i % inner, end - i);
        runs.push_back({element_at(t, offset_of(t, i)), t.dtype(), len, st, i, 1, prev, out, tensor});
        i += len;
    }
}

/// Splits a run list into `parts` pieces of about equal element counts (order kept).
[[nodiscard]] inline std::vector<std::vector<run>> split_runs(const std::vector<run>& runs, unsigned parts) {
    std::size_t total = 0;
    for (const auto& r : runs) total += r.n;
    std::vector<std::vector<run>> out(parts);
    std::size_t done = 0;
    unsigned p = 0;
    for (const auto& r : runs) {
        std::size_t from = 0;
        while (from < r.n) {
            // end of part p in elements, rounded to 64 so parts rarely share mask words
            std::size_t limit = p + 1 >= parts ? total : (total / parts) * (p + 1);
            limit = std::max(limit & ~std::size_t{63}, done + 1);
            const std::size_t len = std::min(r.n - from, limit > done ? limit - done : r.n - from);
            out[p].push_back(sub_run(r, from, len));
            from += len;
            done += len;
            if (done >= limit && p + 1 < parts) ++p;
        }
    }
    return out;
}

}  // namespace nnprune::detail

#endif  // NNPRUNE_SELECT_RUNS_HPP
