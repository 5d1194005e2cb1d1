#ifndef NNPRUNE_SCORERS_FLAP_STRUCTURE_HPP
#define NNPRUNE_SCORERS_FLAP_STRUCTURE_HPP

/// @file flap_structure.hpp
/// FLAP's structure selection (algorithms.md §8): which attention heads and MLP intermediate
/// channels of every layer are kept, from the scores of scorers/flap.hpp. One keep mask per layer
/// for the heads (shape {H}) and one for the channels (shape {I}); true = kept.
///
///  - AL-AM (default): one threshold over [all head scores layer-major, all MLP channel scores]
///    sorted descending, heads weighing `head_weight` (170) and channels 1:
///    idx = first argmin |cumsum(w) - sum(w) * (1 - ratio)|, thr = sorted[idx], keep score > thr.
///  - AL-MM: a global threshold for heads and one for channels: the remove_heads-th (remove_channels-th)
///    smallest score, keep score > thr (ties at thr are pruned too).
///  - UL-UM: per layer, heads scored by the sum of their channels' (squared) metric, thr =
///    sorted_asc[int(ratio * H)], keep >= (ties at thr are kept); channels thr = sorted_asc[int(I * ratio)].
///  - UL-MM: UL-UM's per-layer rule with given counts (remove_heads / L heads, flap_remove_channels
///    of one layer) instead of int(ratio * n).
///
/// remove_heads (AL-MM, UL-MM) is a plain input: upstream reads it from its `--remove_heads`
/// command-line option and algorithms.md §8 does not derive it from the ratio. UL-MM's exact rule
/// (ascending sort, sorted_asc[count], keep >=, one layer's channel count) is our reading of the
/// one-line spec "per layer with remove_heads // L heads and cal_remove_neuron channels"; the
/// spec's agreement runs (AL-AM, AL-MM, UL-UM) did not cover UL-MM.
///
/// Exactness and where we follow or leave upstream (CASIA-IVA-Lab/FLAP `prune_flap`):
///  - AL-AM: weights are int64 in upstream, so the cumsum is exact (we sum in int64). torch then
///    promotes: sum(w) * (1 - ratio) is a float32 tensor (float(sum) * float(1 - ratio)) and
///    cumsum - target is computed in float32; we do the same float32 arithmetic.
///  - Upstream's descending sort is not stable. The threshold value only depends on the order when
///    a head and a channel tie exactly around idx (their weights differ); we order ties by the
///    position in the concatenation (heads first, then channels), i.e. a stable sort.
///  - NaN scores (a layer whose metric overflowed makes its standardisation NaN): as in torch, NaN
///    sorts above every number (first in descending, last in ascending order) and every comparison
///    with NaN is false, so NaN heads/channels are always pruned, and everything is pruned when the
///    threshold itself is NaN. This reproduces upstream pruning the whole NaN layer.
///  - Counts: upstream indexes sorted[-count] (AL-MM) and sorted[count] (UL-*). A count of 0 in
///    AL-MM makes upstream read sorted[-0] = the largest score and prune it and its ties; we prune
///    nothing instead. int(ratio * n) == n (ratio 1) is an IndexError upstream; we prune everything.
///    Negative or too large counts are rejected (value_error), upstream would index from the other end.
///  - AL-AM with ratio 0 prunes the lowest score (and its ties), with ratio 1 everything: this is
///    upstream's `>` against the last / first sorted score, kept as is.
///  - UL-* head sums are computed in double and rounded to float once (torch sums float32 pairwise),
///    so a head sum may differ from upstream's in the last bit.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../core/shape.hpp"
#include "../masks/mask.hpp"

namespace nnprune {

/// FLAP's four structures (upstream `--structure`).
enum class flap_structure : std::uint8_t { al_am, al_mm, ul_um, ul_mm };

/// Per-layer keep masks: heads[l] has shape {H_l}, channels[l] shape {I_l}; true = kept.
struct flap_masks {
    std::vector<mask> heads;
    std::vector<mask> channels;
};

/// Upstream's AL-AM head weight: 4 * 128 * hidden / (3 * hidden) = 512 / 3 stored in int64 = 170
/// (the parameters of one head in q, k, v, o relative to one MLP channel in gate, up, down).
inline constexpr std::int64_t flap_head_weight = 170;

namespace detail {

/// torch's order: NaN above every number.
[[nodiscard]] inline bool flap_less(float a, float b) noexcept {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
    return a < b;
}

inline void check_flap_ratio(double ratio, const char* fn) {
    NNPRUNE_CHECK(ratio >= 0.0 && ratio <= 1.0, value_error, detail::str(fn, ": ratio ", ratio, " is outside [0, 1]"));
}

inline void check_flap_layers(std::size_t a, std::size_t b, const char* fn) {
    NNPRUNE_CHECK(a == b, shape_error,
                  detail::str(fn, ": ", a, " layers of attention scores, ", b, " layers of MLP scores"));
}

/// The k-th smallest value in torch's ascending order (NaN last). @pre k < v.size()
[[nodiscard]] inline float flap_kth(std::vector<float> v, std::size_t k) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end(), flap_less);
    return v[k];
}

/// keep = score > thr (strict) or score >= thr; NaN compares false either way.
[[nodiscard]] inline mask flap_keep(std::span<const float> s, float thr, bool inclusive) {
    mask m(shape{s.size()}, false);
    for (std::size_t i = 0; i < s.size(); ++i) m.set(i, inclusive ? s[i] >= thr : s[i] > thr);
    return m;
}

/// keep all but the elements below sorted_asc[k] (ties at the threshold kept); k == n prunes all.
[[nodiscard]] inline mask flap_keep_from(std::span<const float> s, std::size_t k) {
    if (k >= s.size()) return mask(shape{s.size()}, false);
    return flap_keep(s, flap_kth(std::vector<float>(s.begin(), s.end()), k), true);
}

/// Per-head sums of the attention channel scores (double, rounded once).
[[nodiscard]] inline std::vector<float> flap_head_sums(std::span<const float> channels, std::size_t head_dim,
                                                       std::size_t layer, const char* fn) {
    NNPRUNE_CHECK(head_dim > 0 && channels.size() % head_dim == 0, shape_error,
                  detail::str(fn, ": layer ", layer, ": ", channels.size(),
                              " attention channels is not a multiple of head_dim ", head_dim));
    std::vector<float> h(channels.size() / head_dim);
    for (std::size_t k = 0; k < h.size(); ++k) {
        double s = 0.0;
        for (std::size_t j = 0; j < head_dim; ++j) s += channels[k * head_dim + j];
        h[k] = static_cast<float>(s);
    }
    return h;
}

}  // namespace detail

/**
 * @brief cal_remove_neuron: MLP channels to remove so that heads + channels remove `ratio` of the
 * attention + MLP parameters of `layers` layers:
 * int((layers * ratio * (3*h*I + 4*h^2) - 4*h*remove_heads*head_dim) / (3*h)), in double,
 * evaluated left to right as Python does, truncated toward zero.
 * For AL-MM pass all layers and the total remove_heads; for UL-MM one layer and remove_heads / L
 * (our reading of "per layer": algorithms.md does not spell the UL-MM count out).
 * @throws value_error (ratio outside [0, 1], a negative result: more heads than the ratio allows),
 *         precondition_error (hidden == 0).
 */
[[nodiscard]] inline std::size_t flap_remove_channels(std::size_t layers, double ratio, std::size_t hidden,
                                                      std::size_t intermediate, std::size_t remove_heads,
                                                      std::size_t head_dim = 128) {
    constexpr const char* fn = "flap_remove_channels";
    detail::check_flap_ratio(ratio, fn);
    NNPRUNE_PRECONDITION(hidden > 0, detail::str(fn, ": hidden size 0"));
    const double h = static_cast<double>(hidden), inter = static_cast<double>(intermediate);
    const double params = static_cast<double>(layers) * ratio * (3.0 * h * inter + 4.0 * h * h);
    const double heads = 4.0 * h * static_cast<double>(remove_heads) * static_cast<double>(head_dim);
    const double n = std::trunc((params - heads) / (3.0 * h));
    NNPRUNE_CHECK(n >= 0.0, value_error,
                  detail::str(fn, ": removing ", remove_heads, " heads already removes more than ratio ", ratio,
                              " of the parameters (channel count ", n, ")"));
    return static_cast<std::size_t>(n);
}

/**
 * @brief AL-AM: one adaptive threshold over all heads and channels of all layers.
 * @param head_scores per layer, the standardised head scores (flap_head_scores of the
 *        standardised squared o_proj metric); @param mlp_scores per layer, the standardised
 *        down_proj metric. @param head_weight the weight of one head in the cumsum (upstream 170).
 * @throws value_error (ratio outside [0, 1], head_weight < 1), shape_error (layer counts differ).
 */
[[nodiscard]] inline flap_masks flap_al_am_masks(std::span<const std::vector<float>> head_scores,
                                                 std::span<const std::vector<float>> mlp_scores, double ratio,
                                                 std::int64_t head_weight = flap_head_weight) {
    constexpr const char* fn = "flap_al_am_masks";
    detail::check_flap_ratio(ratio, fn);
    NNPRUNE_CHECK(head_weight >= 1, value_error, detail::str(fn, ": head_weight ", head_weight, " is below 1"));
    detail::check_flap_layers(head_scores.size(), mlp_scores.size(), fn);
    std::vector<float> all;
    for (const auto& h : head_scores) all.insert(all.end(), h.begin(), h.end());
    const std::size_t n_heads = all.size();
    for (const auto& c : mlp_scores) all.insert(all.end(), c.begin(), c.end());

    flap_masks out;
    float thr = 0.0f;
    if (!all.empty()) {
        std::vector<std::size_t> order(all.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        // descending (NaN first), ties by position: a stable descending sort
        std::stable_sort(order.begin(), order.end(),
                         [&](std::size_t a, std::size_t b) { return detail::flap_less(all[b], all[a]); });
        std::int64_t total = 0;
        for (std::size_t p = 0; p < all.size(); ++p) total += p < n_heads ? head_weight : 1;
        // torch: int64 sum * python float -> float32; int64 cumsum - float32 0-dim -> float32
        const float target = static_cast<float>(total) * static_cast<float>(1.0 - ratio);
        std::int64_t cum = 0;
        std::size_t best = 0;
        float best_d = 0.0f;
        for (std::size_t p = 0; p < order.size(); ++p) {
            cum += order[p] < n_heads ? head_weight : 1;
            const float d = std::fabs(static_cast<float>(cum) - target);
            if (p == 0 || d < best_d) {  // the first minimum
                best = p;
                best_d = d;
            }
        }
        thr = all[order[best]];
    }
    for (const auto& h : head_scores) out.heads.push_back(detail::flap_keep(h, thr, false));
    for (const auto& c : mlp_scores) out.channels.push_back(detail::flap_keep(c, thr, false));
    return out;
}

/**
 * @brief AL-MM: global thresholds, one for the heads and one for the channels: thr = the
 * remove_heads-th smallest head score (upstream sorted_desc[-remove_heads]), keep > thr; the same
 * for the channels with remove_channels (flap_remove_channels(L, ratio, h, I, remove_heads)).
 * A count of 0 keeps everything (see the file comment).
 * @throws value_error (a count above the number of heads / channels), shape_error (layer counts).
 */
[[nodiscard]] inline flap_masks flap_al_mm_masks(std::span<const std::vector<float>> head_scores,
                                                 std::span<const std::vector<float>> mlp_scores,
                                                 std::size_t remove_heads, std::size_t remove_channels) {
    constexpr const char* fn = "flap_al_mm_masks";
    detail::check_flap_layers(head_scores.size(), mlp_scores.size(), fn);
    std::vector<float> heads, chans;
    for (const auto& h : head_scores) heads.insert(heads.end(), h.begin(), h.end());
    for (const auto& c : mlp_scores) chans.insert(chans.end(), c.begin(), c.end());
    NNPRUNE_CHECK(remove_heads <= heads.size(), value_error,
                  detail::str(fn, ": remove_heads ", remove_heads, " is above the ", heads.size(), " heads"));
    NNPRUNE_CHECK(
        remove_channels <= chans.size(), value_error,
        detail::str(fn, ": remove_channels ", remove_channels, " is above the ", chans.size(), " MLP channels"));
    const auto masks = [](std::span<const std::vector<float>> layers, const std::vector<float>& all, std::size_t k) {
        std::vector<mask> out;
        if (k == 0) {
            for (const auto& l : layers) out.emplace_back(shape{l.size()}, true);
            return out;
        }
        const float thr = detail::flap_kth(all, k - 1);  // sorted_desc[-k] = sorted_asc[k - 1]
        for (const auto& l : layers) out.push_back(detail::flap_keep(l, thr, false));
        return out;
    };
    return {masks(head_scores, heads, remove_heads), masks(mlp_scores, chans, remove_channels)};
}

/**
 * @brief UL-UM: the same fraction of every layer. Heads are scored by the sum of their head_dim
 * attention channel scores; thr = sorted_asc[int(ratio * H)], keep >=; channels thr =
 * sorted_asc[int(I * ratio)], keep >=.
 * @param attn_channel_scores per layer, the unstandardised squared o_proj metric
 *        (flap_metric(o_proj, acc, kind, true)), H * head_dim values;
 * @param mlp_scores per layer, the unstandardised down_proj metric.
 * @throws value_error (ratio), shape_error (layer counts, channels not a multiple of head_dim).
 */
[[nodiscard]] inline flap_masks flap_ul_um_masks(std::span<const std::vector<float>> attn_channel_scores,
                                                 std::span<const std::vector<float>> mlp_scores, double ratio,
                                                 std::size_t head_dim = 128) {
    constexpr const char* fn = "flap_ul_um_masks";
    detail::check_flap_ratio(ratio, fn);
    detail::check_flap_layers(attn_channel_scores.size(), mlp_scores.size(), fn);
    std::vector<std::vector<float>> heads;
    for (std::size_t l = 0; l < attn_channel_scores.size(); ++l)
        heads.push_back(detail::flap_head_sums(attn_channel_scores[l], head_dim, l, fn));
    flap_masks out;
    for (const auto& h : heads)
        out.heads.push_back(detail::flap_keep_from(h, static_cast<std::size_t>(ratio * static_cast<double>(h.size()))));
    for (const auto& c : mlp_scores)
        out.channels.push_back(
            detail::flap_keep_from(c, static_cast<std::size_t>(static_cast<double>(c.size()) * ratio)));
    return out;
}

/**
 * @brief UL-MM: UL-UM's per-layer rule with counts: thr = sorted_asc[heads_per_layer] (upstream
 * remove_heads // L), keep >=; channels thr = sorted_asc[channels_per_layer]
 * (flap_remove_channels(1, ratio, h, I, remove_heads / L)), keep >=. A count equal to a layer's
 * size prunes the whole layer (an IndexError upstream).
 * @throws value_error (a count above a layer's heads / channels), shape_error (layer counts,
 *         channels not a multiple of head_dim).
 */
[[nodiscard]] inline flap_masks flap_ul_mm_masks(std::span<const std::vector<float>> attn_channel_scores,
                                                 std::span<const std::vector<float>> mlp_scores,
                                                 std::size_t heads_per_layer, std::size_t channels_per_layer,
                                                 std::size_t head_dim = 128) {
    constexpr const char* fn = "flap_ul_mm_masks";
    detail::check_flap_layers(attn_channel_scores.size(), mlp_scores.size(), fn);
    std::vector<std::vector<float>> heads;
    for (std::size_t l = 0; l < attn_channel_scores.size(); ++l)
        heads.push_back(detail::flap_head_sums(attn_channel_scores[l], head_dim, l, fn));
    for (std::size_t l = 0; l < heads.size(); ++l) {
        NNPRUNE_CHECK(heads_per_layer <= heads[l].size(), value_error,
                      detail::str(fn, ": layer ", l, ": heads_per_layer ", heads_per_layer, " is above its ",
                                  heads[l].size(), " heads"));
        NNPRUNE_CHECK(channels_per_layer <= mlp_scores[l].size(), value_error,
                      detail::str(fn, ": layer ", l, ": channels_per_layer ", channels_per_layer, " is above its ",
                                  mlp_scores[l].size(), " MLP channels"));
    }
    flap_masks out;
    for (const auto& h : heads) out.heads.push_back(detail::flap_keep_from(h, heads_per_layer));
    for (const auto& c : mlp_scores) out.channels.push_back(detail::flap_keep_from(c, channels_per_layer));
    return out;
}

/// A head mask expanded to its channels (upstream repeat_interleave(head_dim)), e.g. for flap_bias.
/// @throws precondition_error (head_dim == 0).
[[nodiscard]] inline mask flap_head_channels(const_mask_view heads, std::size_t head_dim = 128) {
    NNPRUNE_PRECONDITION(head_dim > 0, "flap_head_channels: head_dim 0");
    mask m(shape{heads.size() * head_dim}, false);
    for (std::size_t k = 0; k < heads.size(); ++k)
        if (heads.test(k))
            for (std::size_t j = 0; j < head_dim; ++j) m.set(k * head_dim + j);
    return m;
}

}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_FLAP_STRUCTURE_HPP
