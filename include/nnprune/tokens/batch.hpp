#ifndef NNPRUNE_TOKENS_BATCH_HPP
#define NNPRUNE_TOKENS_BATCH_HPP

/// @file batch.hpp
/// Batched token selection: features [B, N, d] or attention [B, heads, queries, keys], one
/// selection per item, items spread over std::threads in a deterministic contiguous partition
/// (tokens/items.hpp). Every item is computed exactly as the single-item
/// call computes it, so results are identical for any thread count. If items fail, the error of
/// the lowest failing item is rethrown and nothing is returned.

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "attention_scores.hpp"
#include "divprune.hpp"
#include "dpp.hpp"
#include "items.hpp"
#include "keep.hpp"

namespace nnprune {

/// DivPrune per item of features [B, N, d]: ascending kept indices per item.
template <class T>
[[nodiscard]] std::vector<std::vector<std::size_t>> divprune_batch(const tensor_view<T, 3>& features,
                                                                   const token_keep& keep, unsigned threads = 1) {
    NNPRUNE_CHECK(features.extent(0) > 0, shape_error, "divprune_batch: empty batch (B = 0)");
    std::vector<std::vector<std::size_t>> out(features.extent(0));
    detail::for_each_item(out.size(), threads,
                          [&](std::size_t b) { out[b] = divprune(detail::item_of(features, b), keep); });
    return out;
}

/// DPP per item of features [B, N, d] with optional relevance [B, N] (an empty view: all ones).
template <class T>
[[nodiscard]] std::vector<std::vector<std::size_t>> dpp_batch(const tensor_view<T, 3>& features, const token_keep& keep,
                                                              const tensor_view<const float, 2>& relevance = {},
                                                              unsigned threads = 1) {
    const std::size_t items = features.extent(0);
    NNPRUNE_CHECK(items > 0, shape_error, "dpp_batch: empty batch (B = 0)");
    const bool has_r = relevance.size() > 0;
    NNPRUNE_CHECK(!has_r || (relevance.extent(0) == items && relevance.extent(1) == features.extent(1) &&
                             relevance.stride(1) == 1),
                  shape_error,
                  detail::str("dpp_batch: relevance is ", relevance.extent(0), "x", relevance.extent(1),
                              " (contiguous rows needed), features are ", items, "x", features.extent(1), "x",
                              features.extent(2)));
    std::vector<std::vector<std::size_t>> out(items);
    detail::for_each_item(items, threads, [&](std::size_t b) {
        std::span<const float> r;
        if (has_r)
            r = {relevance.data_handle() + static_cast<std::ptrdiff_t>(b) * relevance.stride(0), relevance.extent(1)};
        out[b] = dpp(detail::item_of(features, b), keep, r);
    });
    return out;
}

/// FastV per item of attention [B, heads, queries, keys]: kept image tokens (relative to img.start).
template <class T>
[[nodiscard]] std::vector<std::vector<std::size_t>> fastv_batch(const tensor_view<T, 4>& attn, image_range img,
                                                                const token_keep& keep,
                                                                fastv_mode mode = fastv_mode::last_query,
                                                                unsigned threads = 1) {
    NNPRUNE_CHECK(attn.extent(0) > 0, shape_error, "fastv_batch: empty batch (B = 0)");
    std::vector<std::vector<std::size_t>> out(attn.extent(0));
    detail::for_each_item(out.size(), threads,
                          [&](std::size_t b) { out[b] = fastv(detail::item_of(attn, b), img, keep, mode); });
    return out;
}

/// A2SF per item of attention [B, heads, queries, keys]: per item, per KV head, kept key indices.
template <class T>
[[nodiscard]] std::vector<std::vector<std::vector<std::size_t>>> a2sf_batch(const tensor_view<T, 4>& attn,
                                                                            const a2sf_options& o,
                                                                            unsigned threads = 1) {
    NNPRUNE_CHECK(attn.extent(0) > 0, shape_error, "a2sf_batch: empty batch (B = 0)");
    std::vector<std::vector<std::vector<std::size_t>>> out(attn.extent(0));
    detail::for_each_item(out.size(), threads, [&](std::size_t b) { out[b] = a2sf(detail::item_of(attn, b), o); });
    return out;
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_BATCH_HPP
