#ifndef NNPRUNE_COMPACT_SELECTION_HPP
#define NNPRUNE_COMPACT_SELECTION_HPP

/// @file selection.hpp
/// What compaction keeps: a model's dimensions read from its config through its family's keys,
/// and per layer the kept query heads and MLP channels. A KV head (a group under GQA) is kept when
/// any of its query heads is; KV head j serves query heads j·g … j·g+g−1, g = H / KV.
///
/// Helpers make a selection from scores, ties to the lower index, indices ascending:
///  - top_channels: the `count` best channels;
///  - top_heads: the `groups` best KV groups (by the sum of their heads' scores), and in each the
///    `per_group` best query heads, so every kept group keeps the same number (the GQA rule);
///  - make_uniform: a per-layer selection projected onto the counts every layer can share (the
///    mean kept count, rounded to nearest), keeping each layer's best units.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "family.hpp"

namespace nnprune {

struct model_dims {
    std::size_t layers = 0, hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, intermediate = 0;

    [[nodiscard]] std::size_t group_size() const noexcept { return kv_heads ? heads / kv_heads : 0; }

    [[nodiscard]] std::size_t units(unit u) const noexcept {
        return u == unit::head ? heads : u == unit::kv_head ? kv_heads : intermediate;
    }

    friend bool operator==(const model_dims&, const model_dims&) = default;
};

/// The units one layer keeps, ascending: query heads and MLP channels.
struct layer_selection {
    std::vector<std::size_t> heads;
    std::vector<std::size_t> channels;
};

namespace detail {

[[nodiscard]] inline std::size_t config_size(const nlohmann::json& config, const std::string& key, const char* fn,
                                             bool required = true) {
    const auto it = config.find(key);
    if (it == config.end() || it->is_null()) {
        NNPRUNE_CHECK(!required, value_error, detail::str(fn, ": config has no \"", key, "\""));
        return 0;
    }
    // is_number_integer: parsed JSON holds a non-negative integer as unsigned, a config built in C++
    // from int literals holds it as signed; both are accepted
    NNPRUNE_CHECK(it->is_number_integer() && it->get<std::int64_t>() > 0 && it->get<std::int64_t>() < (1ll << 40),
                  value_error, detail::str(fn, ": config \"", key, "\" = ", it->dump(), " is not a positive integer"));
    return static_cast<std::size_t>(it->get<std::int64_t>());
}

/// The `count` highest scores' indices, ascending; ties to the lower index; NaN lowest.
[[nodiscard]] inline std::vector<std::size_t> best_indices(std::span<const double> scores, std::size_t count) {
    std::vector<std::size_t> idx(scores.size());
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    const auto key = [&](std::size_t i) { return std::isnan(scores[i]) ? -INFINITY : scores[i]; };
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return key(a) > key(b); });
    idx.resize(count);
    std::sort(idx.begin(), idx.end());
    return idx;
}

}  // namespace detail

/// The dimensions of a model of `family` from its config.json. @throws value_error for a missing
/// or non-positive key, heads not a multiple of KV heads, or hidden not a multiple of heads where
/// the family derives head_dim from them.
[[nodiscard]] inline model_dims read_dims(const model_family& family, const nlohmann::json& config) {
    constexpr const char* fn = "read_dims";
    NNPRUNE_CHECK(config.is_object(), value_error, detail::str(fn, ": config is not a JSON object"));
    const family_keys& k = family.keys;
    model_dims d;
    d.layers = detail::config_size(config, k.layers, fn);
    d.hidden = detail::config_size(config, k.hidden, fn);
    d.heads = detail::config_size(config, k.heads, fn);
    d.kv_heads = k.kv_heads.empty() ? 0 : detail::config_size(config, k.kv_heads, fn, false);
    if (d.kv_heads == 0) d.kv_heads = d.heads;
    d.head_dim = k.head_dim.empty() ? 0 : detail::config_size(config, k.head_dim, fn, false);
    if (d.head_dim == 0) {
        NNPRUNE_CHECK(d.hidden % d.heads == 0, value_error,
                      detail::str(fn, ": ", family.name, ": ", k.hidden, " ", d.hidden, " is not a multiple of ",
                                  k.heads, " ", d.heads, ", and the config gives no head_dim"));
        d.head_dim = d.hidden / d.heads;
    }
    d.intermediate = detail::config_size(config, k.intermediate, fn, k.intermediate_default == 0);
    if (d.intermediate == 0) d.intermediate = k.intermediate_default * d.hidden;
    NNPRUNE_CHECK(d.heads % d.kv_heads == 0, value_error,
                  detail::str(fn, ": ", family.name, ": ", k.heads, " ", d.heads, " is not a multiple of ", k.kv_heads,
                              " ", d.kv_heads));
    return d;
}

/// What one layer keeps, counted: its dimensions after compaction (a KV head is kept when any of
/// its query heads is) and the query heads kept in each KV group. Indices out of range are not counted.
struct kept_counts {
    model_dims dims;
    std::vector<std::size_t> per_group;

    /// Every kept KV group keeps the same number of query heads (the GQA rule).
    [[nodiscard]] bool equal_groups() const noexcept {
        std::size_t common = 0;
        for (const std::size_t c : per_group)
            if (c) {
                if (common && c != common) return false;
                common = c;
            }
        return true;
    }
};

[[nodiscard]] inline kept_counts count_kept(const layer_selection& l, const model_dims& d) {
    kept_counts k{d, std::vector<std::size_t>(d.kv_heads, 0)};
    const std::size_t g = d.group_size();
    for (const std::size_t h : l.heads)
        if (h < d.heads) ++k.per_group[h / g];
    k.dims.heads = l.heads.size();
    k.dims.kv_heads = static_cast<std::size_t>(
        std::count_if(k.per_group.begin(), k.per_group.end(), [](std::size_t c) { return c > 0; }));
    k.dims.intermediate = l.channels.size();
    return k;
}

/// Every layer keeps the same counts, and every kept KV group the same number of query heads:
/// the uniform layout stock loaders accept.
[[nodiscard]] inline bool is_uniform(std::span<const layer_selection> kept, const model_dims& d) {
    for (const auto& l : kept) {
        const kept_counts k = count_kept(l, d);
        if (!k.equal_groups() || !(k.dims == count_kept(kept.front(), d).dims)) return false;
    }
    return true;
}

/// Every unit of every layer: the selection that removes nothing.
[[nodiscard]] inline std::vector<layer_selection> keep_all(const model_dims& d) {
    layer_selection l;
    l.heads.resize(d.heads);
    l.channels.resize(d.intermediate);
    std::iota(l.heads.begin(), l.heads.end(), std::size_t{0});
    std::iota(l.channels.begin(), l.channels.end(), std::size_t{0});
    return std::vector<layer_selection>(d.layers, l);
}

/// The `count` best channels. @throws value_error when count > scores.size().
[[nodiscard]] inline std::vector<std::size_t> top_channels(std::span<const float> scores, std::size_t count) {
    NNPRUNE_CHECK(count <= scores.size(), value_error,
                  detail::str("top_channels: count ", count, " is over the ", scores.size(), " channels"));
    const std::vector<double> s(scores.begin(), scores.end());
    return detail::best_indices(s, count);
}

/// The `per_group` best query heads in each of the `groups` best KV groups (scores: one per query
/// head, H = scores.size(), kv_heads groups). @throws value_error for counts out of range.
[[nodiscard]] inline std::vector<std::size_t> top_heads(std::span<const float> scores, std::size_t kv_heads,
                                                        std::size_t groups, std::size_t per_group) {
    NNPRUNE_CHECK(
        kv_heads > 0 && scores.size() % kv_heads == 0, value_error,
        detail::str("top_heads: ", scores.size(), " head scores are not a multiple of ", kv_heads, " KV heads"));
    const std::size_t g = scores.size() / kv_heads;
    NNPRUNE_CHECK(groups <= kv_heads && per_group <= g, value_error,
                  detail::str("top_heads: keeping ", groups, " of ", kv_heads, " KV groups and ", per_group, " of ", g,
                              " heads per group is out of range"));
    std::vector<double> group_score(kv_heads, 0.0);
    for (std::size_t h = 0; h < scores.size(); ++h) group_score[h / g] += scores[h];
    std::vector<std::size_t> out;
    for (const std::size_t j : detail::best_indices(group_score, groups)) {
        const std::vector<double> in(scores.begin() + static_cast<std::ptrdiff_t>(j * g),
                                     scores.begin() + static_cast<std::ptrdiff_t>((j + 1) * g));
        for (const std::size_t h : detail::best_indices(in, per_group)) out.push_back(j * g + h);
    }
    return out;
}

/// Projects a per-layer selection onto shared counts: every layer keeps round(mean) channels, and
/// round(mean) KV groups with round(mean) heads each, its best by `head_scores` / `channel_scores`
/// (one vector per layer, H and I long). Used when a per-layer selection (FLAP AL-AM) must be
/// written in the uniform layout.
[[nodiscard]] inline std::vector<layer_selection> make_uniform(std::span<const layer_selection> kept,
                                                               const model_dims& d,
                                                               std::span<const std::vector<float>> head_scores,
                                                               std::span<const std::vector<float>> channel_scores) {
    NNPRUNE_CHECK(kept.size() == d.layers && head_scores.size() == d.layers && channel_scores.size() == d.layers,
                  shape_error,
                  detail::str("make_uniform: ", kept.size(), " selections, ", head_scores.size(), " and ",
                              channel_scores.size(), " score vectors for ", d.layers, " layers"));
    double groups = 0, heads = 0, channels = 0;
    const std::size_t g = d.group_size();
    for (const auto& l : kept) {
        const model_dims k = count_kept(l, d).dims;
        groups += static_cast<double>(k.kv_heads);
        heads += static_cast<double>(k.heads);
        channels += static_cast<double>(k.intermediate);
    }
    const auto L = static_cast<double>(d.layers);
    const auto kv_keep = std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(groups / L)));
    const auto per_group =
        std::clamp<std::size_t>(static_cast<std::size_t>(std::lround(heads / L / static_cast<double>(kv_keep))), 1, g);
    const auto ch_keep = std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(channels / L)));
    std::vector<layer_selection> out(d.layers);
    for (std::size_t l = 0; l < d.layers; ++l) {
        NNPRUNE_CHECK(
            head_scores[l].size() == d.heads && channel_scores[l].size() == d.intermediate, shape_error,
            detail::str("make_uniform: layer ", l, ": ", head_scores[l].size(), " head scores and ",
                        channel_scores[l].size(), " channel scores, expected ", d.heads, " and ", d.intermediate));
        out[l].heads = top_heads(head_scores[l], d.kv_heads, kv_keep, per_group);
        out[l].channels = top_channels(channel_scores[l], ch_keep);
    }
    return out;
}

}  // namespace nnprune

#endif  // NNPRUNE_COMPACT_SELECTION_HPP
