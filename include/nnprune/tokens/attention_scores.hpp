#ifndef NNPRUNE_TOKENS_ATTENTION_SCORES_HPP
#define NNPRUNE_TOKENS_ATTENTION_SCORES_HPP

/// @file attention_scores.hpp
/// Attention-based token importance over attention probabilities [heads, queries, keys]:
///  - FastV (Chen et al., ECCV 2024): the attention each image token (keys [start, start+len))
///    receives from the last query (fastv_mode::last_query, the released code) or averaged over
///    all queries (fastv_mode::mean_queries, the paper), averaged over heads; keep the top.
///  - A2SF (Jo & Shin 2024): score[g, k] = sum_{h in KV group g} sum_q f^(Q-1-q) P[h, q, k]
///    (accumulated attention with forgetting factor f; heads summed within each GQA group);
///    per group keep budget = max(int(total), 2) keys: all when K <= budget, else the top
///    (budget - recent) of keys [0, K - recent) plus the last `recent` keys.
/// Scores accumulate in double and are stored as float. Ties keep the lower index. For
/// precomputed scores (e.g. FlashAttention, no attention matrix) use keep_top_tokens() and
/// a2sf_select().

#include <algorithm>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "keep.hpp"
#include "top_tokens.hpp"

namespace nnprune {

enum class fastv_mode : unsigned char { last_query, mean_queries };

/// The image tokens: keys [start, start + length).
struct image_range {
    std::size_t start = 0;
    std::size_t length = 0;
};

namespace detail {

template <class T>
void check_attention(const tensor_view<T, 3>& a, std::string_view fn) {
    NNPRUNE_CHECK(a.extent(0) > 0 && a.extent(1) > 0 && a.extent(2) > 0, shape_error,
                  detail::str(fn, ": attention is ", a.extent(0), "x", a.extent(1), "x", a.extent(2),
                              " (heads x queries x keys), every extent must be positive"));
    for (std::size_t h = 0; h < a.extent(0); ++h)
        for (std::size_t q = 0; q < a.extent(1); ++q)
            for (std::size_t k = 0; k < a.extent(2); ++k)
                NNPRUNE_CHECK(!is_nan(a(h, q, k)), value_error,
                              detail::str(fn, ": NaN attention at head ", h, ", query ", q, ", key ", k));
}

}  // namespace detail

/**
 * @brief FastV scores of the image tokens (index i is key start + i).
 * @throws shape_error (empty attention, image range outside the keys), value_error (NaN).
 */
template <class T>
[[nodiscard]] std::vector<float> fastv_scores(const tensor_view<T, 3>& attn, image_range img,
                                              fastv_mode mode = fastv_mode::last_query) {
    constexpr std::string_view fn = "fastv_scores";
    detail::check_attention(attn, fn);
    const std::size_t heads = attn.extent(0), queries = attn.extent(1), keys = attn.extent(2);
    NNPRUNE_CHECK(img.length > 0 && img.start <= keys && img.length <= keys - img.start, shape_error,
                  detail::str(fn, ": image range [", img.start, ", ", img.start + img.length,
                              ") is empty or outside the ", keys, " keys"));
    const std::size_t q0 = mode == fastv_mode::last_query ? queries - 1 : 0;
    const double denom = static_cast<double>(heads) * static_cast<double>(queries - q0);
    std::vector<float> s(img.length);
    for (std::size_t i = 0; i < img.length; ++i) {
        double acc = 0.0;
        for (std::size_t h = 0; h < heads; ++h)
            for (std::size_t q = q0; q < queries; ++q) acc += to_double(attn(h, q, img.start + i));
        s[i] = static_cast<float>(acc / denom);
    }
    return s;
}

/**
 * @brief FastV: the kept image tokens (indices relative to img.start, ascending).
 * @code
 * auto kept = nnprune::fastv(attn, {35, 576}, 0.5);   // keep 288 of LLaVA's 576 image tokens
 * @endcode
 */
template <class T>
[[nodiscard]] std::vector<std::size_t> fastv(const tensor_view<T, 3>& attn, image_range img, const token_keep& keep,
                                             fastv_mode mode = fastv_mode::last_query) {
    const std::size_t k = keep.k_for(img.length, "fastv");
    const auto s = fastv_scores(attn, img, mode);
    return detail::top_k_ascending(s.data(), s.size(), k, "fastv");
}

struct a2sf_options {
    double budget = 0;         ///< total budget per KV head (int() of it, at least 2)
    std::size_t recent = 16;   ///< the last `recent` keys are always kept
    double forgetting = 1.0;   ///< f in [0, 1]; 1 is H2O-style accumulated attention
    std::size_t kv_heads = 0;  ///< GQA groups; 0 means one per head
};

/**
 * @brief A2SF scores [kv_heads, keys] (row-major) from attention [heads, queries, keys].
 * @throws shape_error (empty attention, heads not a multiple of kv_heads), value_error (NaN),
 *         precondition_error (forgetting outside [0, 1]).
 */
template <class T>
[[nodiscard]] std::vector<float> a2sf_scores(const tensor_view<T, 3>& attn, double forgetting,
                                             std::size_t kv_heads = 0) {
    constexpr std::string_view fn = "a2sf_scores";
    NNPRUNE_PRECONDITION(forgetting >= 0.0 && forgetting <= 1.0,
                         detail::str(fn, ": forgetting factor must be in [0, 1], got ", forgetting));
    const std::size_t heads = attn.extent(0), queries = attn.extent(1), keys = attn.extent(2);
    const std::size_t g = kv_heads == 0 ? heads : kv_heads;
    NNPRUNE_CHECK(g > 0 && heads % g == 0, shape_error,
                  detail::str(fn, ": ", heads, " attention heads are not a multiple of ", g, " KV heads"));
    detail::check_attention(attn, fn);
    const std::size_t rep = heads / g;
    std::vector<double> acc(g * keys, 0.0);
    for (std::size_t q = 0; q < queries; ++q) {  // acc <- f * acc + A_q (newest query weight 1)
        for (auto& v : acc) v *= forgetting;
        for (std::size_t h = 0; h < heads; ++h)
            for (std::size_t k = 0; k < keys; ++k) acc[(h / rep) * keys + k] += to_double(attn(h, q, k));
    }
    return std::vector<float>(acc.begin(), acc.end());
}

/**
 * @brief A2SF selection for one KV head from its scores over K keys: ascending kept key indices.
 * @throws precondition_error (recent > budget), value_error (NaN score).
 */
[[nodiscard]] inline std::vector<std::size_t> a2sf_select(std::span<const float> scores, double total_budget,
                                                          std::size_t recent) {
    constexpr std::string_view fn = "a2sf_select";
    NNPRUNE_PRECONDITION(total_budget >= 0.0, detail::str(fn, ": budget must be non-negative, got ", total_budget));
    const auto budget = std::max<std::size_t>(static_cast<std::size_t>(total_budget), 2);
    NNPRUNE_PRECONDITION(recent <= budget, detail::str(fn, ": recent window ", recent, " exceeds the budget ", budget));
    const std::size_t keys = scores.size();
    NNPRUNE_CHECK(keys > 0, shape_error, detail::str(fn, ": no keys"));
    if (keys <= budget) {
        for (std::size_t i = 0; i < keys; ++i)
            NNPRUNE_CHECK(!is_nan(scores[i]), value_error, detail::str(fn, ": NaN score at token ", i));
        std::vector<std::size_t> all(keys);
        for (std::size_t i = 0; i < keys; ++i) all[i] = i;
        return all;
    }
    for (std::size_t i = keys - recent; i < keys; ++i)
        NNPRUNE_CHECK(!is_nan(scores[i]), value_error, detail::str(fn, ": NaN score at token ", i));
    auto kept = budget - recent == 0 ? std::vector<std::size_t>{}
                                     : detail::top_k_ascending(scores.data(), keys - recent, budget - recent, fn);
    for (std::size_t i = keys - recent; i < keys; ++i) kept.push_back(i);
    return kept;
}

/// A2SF from attention [heads, queries, keys]: per KV head, the ascending kept key indices.
template <class T>
[[nodiscard]] std::vector<std::vector<std::size_t>> a2sf(const tensor_view<T, 3>& attn, const a2sf_options& o) {
    const std::size_t keys = attn.extent(2);
    const auto budget = std::max<std::size_t>(o.budget >= 0.0 ? static_cast<std::size_t>(o.budget) : 0, 2);
    NNPRUNE_PRECONDITION(
        o.budget >= 0.0 && o.recent <= budget,
        detail::str("a2sf: budget ", o.budget, " must be non-negative and cover the recent window ", o.recent));
    const auto s = a2sf_scores(attn, o.forgetting, o.kv_heads);
    const std::size_t g = s.size() / keys;
    std::vector<std::vector<std::size_t>> out(g);
    for (std::size_t i = 0; i < g; ++i)
        out[i] = a2sf_select(std::span<const float>(s.data() + i * keys, keys), o.budget, o.recent);
    return out;
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_ATTENTION_SCORES_HPP
