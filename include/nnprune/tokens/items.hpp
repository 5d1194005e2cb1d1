#ifndef NNPRUNE_TOKENS_ITEMS_HPP
#define NNPRUNE_TOKENS_ITEMS_HPP

/// @file items.hpp
/// The batched forms of the token methods: one item of a batched view, and a loop over items on
/// up to `threads` threads in a deterministic contiguous partition (detail::parallel_for). Every
/// item is computed exactly as the single-item call computes it, so results are identical for any
/// thread count. The loop body may take (item) or (item, part); `part` < the number of parts
/// indexes a per-thread workspace (see parts_for_items). If items fail, the error of the lowest
/// failing item is rethrown. One part runs on the calling thread and allocates nothing.
/// run_staged_items adds the batched forms' commit rule.

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/tensor_view.hpp"
#include "../detail/parallel.hpp"

namespace nnprune::detail {

/// The number of parts (threads, and per-thread workspaces) for `items` items on `threads` threads.
[[nodiscard]] inline unsigned parts_for_items(std::size_t items, unsigned threads) noexcept {
    return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(threads, items)));
}

/// Runs f(b) or f(b, part) for every b < items.
template <class F>
void for_each_item(std::size_t items, unsigned threads, F&& f) {
    parallel_for(items, parts_for_items(items, threads), [&](std::size_t lo, std::size_t hi, unsigned part) {
        for (std::size_t b = lo; b < hi; ++b) {
            if constexpr (std::is_invocable_v<F&, std::size_t, unsigned>)
                f(b, part);
            else
                f(b);
        }
    });
}

/**
 * @brief The batched forms' commit rule: item(b, result, workspace) computes every item into the
 * first workspace's `staged` results (kept between calls), on up to `threads` threads with one
 * workspace per part; only when all succeeded are they swapped into `out`. A throwing item leaves
 * `out` exactly as it was; swapping keeps both sets of buffers, so a steady state allocates nothing.
 * W must have a member `std::vector<R> staged`.
 */
template <class R, class W, class F>
void run_staged_items(std::size_t items, unsigned threads, std::vector<R>& out, std::vector<W>& ws, F&& item) {
    const unsigned parts = parts_for_items(items, threads);
    if (ws.size() < parts) ws.resize(parts);
    auto& staged = ws[0].staged;
    if (staged.size() < items) staged.resize(items);
    for_each_item(items, threads, [&](std::size_t b, unsigned part) { item(b, staged[b], ws[part]); });
    out.resize(items);
    for (std::size_t b = 0; b < items; ++b) std::swap(out[b], staged[b]);
}

/// Item b of a batched view (the leading extent dropped).
template <class T, std::size_t Rank>
tensor_view<T, Rank - 1> item_of(const tensor_view<T, Rank>& v, std::size_t b) {
    typename tensor_view<T, Rank - 1>::extents_type ext{};
    typename tensor_view<T, Rank - 1>::strides_type str{};
    for (std::size_t r = 1; r < Rank; ++r) {
        ext[r - 1] = v.extent(r);
        str[r - 1] = v.stride(r);
    }
    return tensor_view<T, Rank - 1>(v.data_handle() + static_cast<std::ptrdiff_t>(b) * v.stride(0), ext, str);
}

}  // namespace nnprune::detail

#endif  // NNPRUNE_TOKENS_ITEMS_HPP
