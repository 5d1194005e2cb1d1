#ifndef NNPRUNE_COMPACT_FAMILY_HPP
#define NNPRUNE_COMPACT_FAMILY_HPP

/// @file family.hpp
/// A model family as data (structured.md §4.1): which config keys give the shapes, and which axis
/// of which tensor belongs to which structural unit. Compaction is then one generic gather, with
/// no graph tracing. built_in_families() covers Llama, Mistral, Qwen2, Qwen3, Gemma 1/2/3, Phi-3,
/// OPT, GPT-2, GPT-NeoX, BERT, ViT and CLIP/SigLIP vision towers; a user adds a family by
/// building a model_family and passing it to compact_plan.
///
/// An axis is a list of segments, each a run of units laid out one after the other:
///   q_proj rows          {head, 1}                 H blocks of head_dim rows
///   Phi-3 qkv_proj rows  {head, 1} {kv, 1} {kv, 1} [q | k | v]
///   GPT-NeoX qkv rows    {head, 3}                 per head [q | k | v], 3·head_dim rows each
///   Phi-3 gate_up rows   {channel} {channel}       [gate | up]
/// An axis with no segments (the hidden axis) is kept whole.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"

namespace nnprune {

/// The structural units compaction removes: query heads, KV heads (groups under GQA), MLP channels.
enum class unit : std::uint8_t { head, kv_head, channel };

/// A run of `unit`s along an axis, each `head_dims` head_dims wide (heads) or 1 wide (channels).
struct segment {
    nnprune::unit unit = unit::channel;
    std::size_t head_dims = 1;  ///< heads and KV heads: width in head_dims; ignored for channels
};

using tensor_axis = std::vector<segment>;  ///< empty: the axis is kept whole

/// One tensor of a layer, named after the layer prefix ("self_attn.q_proj.weight").
struct tensor_rule {
    std::string name;
    std::vector<tensor_axis> axes;  ///< one per dimension (rank 1 or 2); none: copied whole, any shape
    bool required = false;          ///< every layer must have it (weights; biases and norms are optional)
};

/// The weight that reads a unit's outputs (o_proj for heads, down_proj for channels): scoring reads
/// its input columns, and FLAP's bias compensation b += W[:, removed] · mean_input[removed] adds to
/// its bias. input_axis is 1 for nn.Linear [out, in], 0 for GPT-2's Conv1D [in, out].
struct consumer {
    std::string weight;
    nnprune::unit unit = unit::channel;
    std::size_t input_axis = 1;
    std::string bias;  ///< its bias; empty: the family has no slot for compensation
    /// When the family writes no bias by default: the config key that turns the biases on
    /// ("attention_bias", "mlp_bias"), and the other biases it turns on, written as zeros.
    /// Empty: the slot exists only where the checkpoint already has `bias`.
    std::string enable_key;
    std::vector<std::string> zero_biases;  ///< "x.bias", shaped like the rows of "x.weight"
};

/// The config keys that give a family's shapes. An empty key is absent from the family.
struct family_keys {
    std::string layers = "num_hidden_layers";
    std::string hidden = "hidden_size";
    std::string heads = "num_attention_heads";
    std::string kv_heads;  ///< absent or null: KV = H
    std::string head_dim;  ///< empty: head_dim = hidden / heads, fixed (the config cannot hold fewer heads)
    std::string intermediate = "intermediate_size";
    std::size_t intermediate_default = 0;  ///< when the key is null: intermediate = this x hidden (GPT-2: 4)
};

struct model_family {
    std::string name;                         ///< for messages ("llama")
    std::vector<std::string> model_types;     ///< config.json "model_type" values it serves
    std::vector<std::string> layer_prefixes;  ///< with "{i}" for the layer: "model.layers.{i}."
    family_keys keys;
    std::vector<tensor_rule> tensors;
    std::vector<consumer> consumers;   ///< one per unit kind: head and channel
    bool heads_divide_hidden = false;  ///< Gemma: the modelling code raises unless hidden % heads == 0
};

namespace detail {

inline tensor_rule rows(std::string name, tensor_axis a, bool required = false) {
    return {std::move(name), {std::move(a), {}}, required};
}

inline tensor_rule cols(std::string name, tensor_axis a, bool required = false) {
    return {std::move(name), {{}, std::move(a)}, required};
}

inline tensor_rule vec(std::string name, tensor_axis a = {}) { return {std::move(name), {std::move(a)}, false}; }

inline const tensor_axis q_axis{{unit::head, 1}};
inline const tensor_axis kv_axis{{unit::kv_head, 1}};
inline const tensor_axis f_axis{{unit::channel, 1}};

/// Separate q/k/v/o and MLP projections of nn.Linear [out, in], with optional biases.
/// mlp: {up-like names..., down name}; norms: kept whole.
inline std::vector<tensor_rule> linear_layer(std::string_view attn, std::span<const std::string_view> qkvo,
                                             std::span<const std::string_view> mlp_in, std::string_view mlp_out,
                                             std::span<const std::string_view> whole) {
    std::vector<tensor_rule> t;
    const std::string a(attn);
    for (std::size_t i = 0; i < 3; ++i) {
        const tensor_axis& ax = i == 0 ? q_axis : kv_axis;
        t.push_back(rows(a + std::string(qkvo[i]) + ".weight", ax, true));
        t.push_back(vec(a + std::string(qkvo[i]) + ".bias", ax));
    }
    t.push_back(cols(a + std::string(qkvo[3]) + ".weight", q_axis, true));
    t.push_back(vec(a + std::string(qkvo[3]) + ".bias"));
    for (const auto m : mlp_in) {
        t.push_back(rows(std::string(m) + ".weight", f_axis, true));
        t.push_back(vec(std::string(m) + ".bias", f_axis));
    }
    t.push_back(cols(std::string(mlp_out) + ".weight", f_axis, true));
    t.push_back(vec(std::string(mlp_out) + ".bias"));
    for (const auto w : whole) t.push_back(vec(std::string(w)));
    return t;
}

/// An nn.Linear consumer; `biased`: with a bias slot.
inline consumer linear_consumer(const std::string& w, unit u, bool biased, std::string enable = {},
                                std::vector<std::string> zeros = {}) {
    return {w + ".weight", u, 1, biased ? w + ".bias" : std::string(), std::move(enable), std::move(zeros)};
}

/// Llama, Mistral, Qwen2, Qwen3 and Gemma share the tensor names; they differ in bias slots and norms.
inline model_family llama_like(std::string name, std::vector<std::string> types, bool attn_slot, bool mlp_slot,
                               std::vector<std::string_view> norms) {
    static constexpr std::string_view qkvo[] = {"q_proj", "k_proj", "v_proj", "o_proj"};
    static constexpr std::string_view up[] = {"mlp.gate_proj", "mlp.up_proj"};
    model_family f;
    f.name = std::move(name);
    f.model_types = std::move(types);
    f.layer_prefixes = {"model.layers.{i}."};
    f.keys.kv_heads = "num_key_value_heads";
    f.keys.head_dim = "head_dim";
    f.tensors = linear_layer("self_attn.", qkvo, up, "mlp.down_proj", norms);
    f.consumers = {linear_consumer("self_attn.o_proj", unit::head, false),
                   linear_consumer("mlp.down_proj", unit::channel, false)};
    if (attn_slot)
        f.consumers[0] = linear_consumer("self_attn.o_proj", unit::head, true, "attention_bias",
                                         {"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"});
    if (mlp_slot)
        f.consumers[1] = linear_consumer("mlp.down_proj", unit::channel, true, "mlp_bias",
                                         {"mlp.gate_proj.bias", "mlp.up_proj.bias"});
    return f;
}

/// Families whose config ties head_dim to hidden / heads, with biases on every projection.
inline model_family biased_family(std::string name, std::vector<std::string> types, std::vector<std::string> prefixes,
                                  std::string_view attn, std::span<const std::string_view> qkvo,
                                  std::string_view mlp_in, std::string_view mlp_out,
                                  std::span<const std::string_view> whole) {
    model_family f;
    f.name = std::move(name);
    f.model_types = std::move(types);
    f.layer_prefixes = std::move(prefixes);
    const std::string_view in[] = {mlp_in};
    f.tensors = linear_layer(attn, qkvo, in, mlp_out, whole);
    f.consumers = {linear_consumer(std::string(attn) + std::string(qkvo[3]), unit::head, true),
                   linear_consumer(std::string(mlp_out), unit::channel, true)};
    return f;
}

inline std::vector<model_family> make_built_in_families() {
    std::vector<model_family> out;
    const std::vector<std::string_view> llama_norms = {"input_layernorm.weight", "post_attention_layernorm.weight"};
    out.push_back(llama_like("llama", {"llama"}, true, true, llama_norms));
    out.push_back(llama_like("mistral", {"mistral"}, false, false, llama_norms));
    out.push_back(llama_like("qwen2", {"qwen2"}, false, false, llama_norms));
    out.push_back(llama_like("qwen3", {"qwen3"}, true, false,
                             {"input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_norm.weight",
                              "self_attn.k_norm.weight"}));
    model_family gemma =
        llama_like("gemma", {"gemma", "gemma2", "gemma3_text"}, false, false,
                   {"input_layernorm.weight", "post_attention_layernorm.weight", "pre_feedforward_layernorm.weight",
                    "post_feedforward_layernorm.weight", "self_attn.q_norm.weight", "self_attn.k_norm.weight"});
    gemma.heads_divide_hidden = true;
    out.push_back(std::move(gemma));

    model_family phi3;  // fused [q | k | v] and [gate | up], no biases
    phi3.name = "phi3";
    phi3.model_types = {"phi3"};
    phi3.layer_prefixes = {"model.layers.{i}."};
    phi3.keys.kv_heads = "num_key_value_heads";
    phi3.keys.head_dim = "head_dim";
    phi3.tensors = {rows("self_attn.qkv_proj.weight", {{unit::head, 1}, {unit::kv_head, 1}, {unit::kv_head, 1}}, true),
                    cols("self_attn.o_proj.weight", q_axis, true),
                    rows("mlp.gate_up_proj.weight", {{unit::channel, 1}, {unit::channel, 1}}, true),
                    cols("mlp.down_proj.weight", f_axis, true),
                    vec("input_layernorm.weight"),
                    vec("post_attention_layernorm.weight")};
    phi3.consumers = {linear_consumer("self_attn.o_proj", unit::head, false),
                      linear_consumer("mlp.down_proj", unit::channel, false)};
    out.push_back(std::move(phi3));

    static constexpr std::string_view opt_qkvo[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    model_family opt = biased_family(
        "opt", {"opt"}, {"model.decoder.layers.{i}.", "decoder.layers.{i}."}, "self_attn.", opt_qkvo, "fc1", "fc2",
        std::vector<std::string_view>{"self_attn_layer_norm.weight", "self_attn_layer_norm.bias",
                                      "final_layer_norm.weight", "final_layer_norm.bias"});
    opt.keys.intermediate = "ffn_dim";
    out.push_back(std::move(opt));

    model_family gpt2;  // Conv1D: weights are [in, out]
    gpt2.name = "gpt2";
    gpt2.model_types = {"gpt2"};
    gpt2.layer_prefixes = {"h.{i}.", "transformer.h.{i}."};
    gpt2.keys = {"n_layer", "n_embd", "n_head", "", "", "n_inner", 4};
    const tensor_axis qqq{{unit::head, 1}, {unit::head, 1}, {unit::head, 1}};
    gpt2.tensors = {cols("attn.c_attn.weight", qqq, true),
                    vec("attn.c_attn.bias", qqq),
                    rows("attn.c_proj.weight", q_axis, true),
                    vec("attn.c_proj.bias"),
                    cols("mlp.c_fc.weight", f_axis, true),
                    vec("mlp.c_fc.bias", f_axis),
                    rows("mlp.c_proj.weight", f_axis, true),
                    vec("mlp.c_proj.bias"),
                    vec("ln_1.weight"),
                    vec("ln_1.bias"),
                    vec("ln_2.weight"),
                    vec("ln_2.bias"),
                    {"attn.bias", {}, false},  // old checkpoints' causal-mask buffers, any shape
                    {"attn.masked_bias", {}, false}};
    gpt2.consumers = {{"attn.c_proj.weight", unit::head, 0, "attn.c_proj.bias", {}, {}},
                      {"mlp.c_proj.weight", unit::channel, 0, "mlp.c_proj.bias", {}, {}}};
    out.push_back(std::move(gpt2));

    model_family neox;  // query_key_value rows viewed as [H, 3, head_dim]
    neox.name = "gpt_neox";
    neox.model_types = {"gpt_neox"};
    neox.layer_prefixes = {"gpt_neox.layers.{i}."};
    neox.tensors = {rows("attention.query_key_value.weight", {{unit::head, 3}}, true),
                    vec("attention.query_key_value.bias", {{unit::head, 3}}),
                    cols("attention.dense.weight", q_axis, true),
                    vec("attention.dense.bias"),
                    rows("mlp.dense_h_to_4h.weight", f_axis, true),
                    vec("mlp.dense_h_to_4h.bias", f_axis),
                    cols("mlp.dense_4h_to_h.weight", f_axis, true),
                    vec("mlp.dense_4h_to_h.bias"),
                    vec("input_layernorm.weight"),
                    vec("input_layernorm.bias"),
                    vec("post_attention_layernorm.weight"),
                    vec("post_attention_layernorm.bias"),
                    vec("attention.rotary_emb.inv_freq"),
                    {"attention.bias", {}, false},
                    {"attention.masked_bias", {}, false}};
    neox.consumers = {linear_consumer("attention.dense", unit::head, true),
                      linear_consumer("mlp.dense_4h_to_h", unit::channel, true)};
    out.push_back(std::move(neox));

    static constexpr std::string_view bert_qkvo[] = {"self.query", "self.key", "self.value", "output.dense"};
    out.push_back(biased_family(
        "bert", {"bert", "roberta"}, {"bert.encoder.layer.{i}.", "encoder.layer.{i}.", "roberta.encoder.layer.{i}."},
        "attention.", bert_qkvo, "intermediate.dense", "output.dense",
        std::vector<std::string_view>{"attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
                                      "output.LayerNorm.weight", "output.LayerNorm.bias"}));
    static constexpr std::string_view vit_qkvo[] = {"attention.query", "attention.key", "attention.value",
                                                    "output.dense"};
    out.push_back(biased_family("vit", {"vit"}, {"vit.encoder.layer.{i}.", "encoder.layer.{i}."}, "attention.",
                                vit_qkvo, "intermediate.dense", "output.dense",
                                std::vector<std::string_view>{"layernorm_before.weight", "layernorm_before.bias",
                                                              "layernorm_after.weight", "layernorm_after.bias"}));
    static constexpr std::string_view clip_qkvo[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    out.push_back(biased_family("clip_vision", {"clip_vision_model", "siglip_vision_model"},
                                {"vision_model.encoder.layers.{i}.", "encoder.layers.{i}."}, "self_attn.", clip_qkvo,
                                "mlp.fc1", "mlp.fc2",
                                std::vector<std::string_view>{"layer_norm1.weight", "layer_norm1.bias",
                                                              "layer_norm2.weight", "layer_norm2.bias"}));
    return out;
}

}  // namespace detail

/// The family's consumer of unit u. @throws value_error when it has none.
[[nodiscard]] inline const consumer& find_consumer(const model_family& family, unit u) {
    for (const consumer& c : family.consumers)
        if (c.unit == u) return c;
    NNPRUNE_THROW(value_error, detail::str("find_consumer: family ", family.name, " names no weight reading its ",
                                           u == unit::head ? "heads" : "MLP channels"));
}

/// The families nnprune knows (see the file comment), built once.
[[nodiscard]] inline const std::vector<model_family>& built_in_families() {
    static const std::vector<model_family> families = detail::make_built_in_families();
    return families;
}

/// The family serving `model_type`. @throws value_error naming the model_type and the known ones.
[[nodiscard]] inline const model_family& find_family(std::string_view model_type,
                                                     std::span<const model_family> families = built_in_families()) {
    std::string known;
    for (const auto& f : families)
        for (const auto& t : f.model_types) {
            if (t == model_type) return f;
            known += (known.empty() ? "" : ", ") + t;
        }
    NNPRUNE_THROW(value_error, detail::str("find_family: unknown model_type '", model_type, "' (known: ", known,
                                           "); describe it as a model_family to compact it"));
}

}  // namespace nnprune

#endif  // NNPRUNE_COMPACT_FAMILY_HPP
