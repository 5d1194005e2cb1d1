// Structured compaction (compact/family.hpp, selection.hpp, plan.hpp; structured.md §1, §4, §5):
// a reference forward of decoder blocks (Llama MHA/GQA, Phi-3 fused, GPT-2 Conv1D), written here
// with plain ascending float sums, agrees bit for bit between the masked model and the compacted one;
// every output shape follows the rewritten config; refusals throw before anything is written;
// the selection helpers give known answers; fill() gathers any dtype and rounds compensation once.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <nnprune/compact/family.hpp>
#include <nnprune/compact/plan.hpp>
#include <nnprune/compact/selection.hpp>

using namespace nnprune;
using Catch::Contains;

namespace {
namespace compact_tests {

using json = nlohmann::json;
using cmat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using sizes = std::vector<std::size_t>;

constexpr std::size_t cp_tokens = 5;

Eigen::Index ix(std::size_t v) { return static_cast<Eigen::Index>(v); }

std::size_t sz(Eigen::Index v) { return static_cast<std::size_t>(v); }

/// A tensor: its safetensors shape, and its values (rank 2: rows x cols; any other rank: 1 x numel).
struct ctensor {
    std::vector<std::uint64_t> shape;
    cmat m;
};

using cweights = std::map<std::string, ctensor, std::less<>>;

// ---- model construction ------------------------------------------------------------------------

const model_family& cp_family(const json& cfg) { return find_family(cfg.at("model_type").get<std::string>()); }

std::string cp_prefix(const model_family& fam, std::size_t layer) {
    return (fam.name == "gpt2" ? "h." : "model.layers.") + std::to_string(layer) + ".";
}

cmat cp_random(std::size_t rows, std::size_t cols, std::mt19937& rng, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    cmat m(ix(rows), ix(cols));
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
    return m;
}

std::vector<float> cp_random_vec(std::size_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

void cp_put(cweights& w, const std::string& name, std::vector<std::uint64_t> shape, std::mt19937& rng, float lo,
            float hi) {
    std::uint64_t numel = 1;
    for (const auto e : shape) numel *= e;
    const std::uint64_t rows = shape.size() == 2 ? shape[0] : 1;
    w[name] = {std::move(shape), cp_random(rows, numel / rows, rng, lo, hi)};
}

json cp_llama_config(std::size_t layers, std::size_t hidden, std::size_t heads, std::size_t kv, std::size_t hd,
                     std::size_t inter, const char* type = "llama") {
    return json{{"model_type", type},           {"num_hidden_layers", layers}, {"hidden_size", hidden},
                {"num_attention_heads", heads}, {"num_key_value_heads", kv},   {"head_dim", hd},
                {"intermediate_size", inter},   {"rms_norm_eps", 1e-5},        {"vocab_size", 16}};
}

json cp_gpt2_config(std::size_t layers, std::size_t embd, std::size_t heads) {
    return json{{"model_type", "gpt2"}, {"n_layer", layers},  {"n_embd", embd},
                {"n_head", heads},      {"n_inner", nullptr}, {"vocab_size", 16}};
}

/// A random model of the config's family and shapes, with the tensors a checkpoint has outside the layers.
cweights cp_make_model(const json& cfg, std::mt19937& rng) {
    const model_family& fam = cp_family(cfg);
    const model_dims d = read_dims(fam, cfg);
    const std::size_t D = d.hidden, qn = d.heads * d.head_dim, kn = d.kv_heads * d.head_dim, I = d.intermediate;
    const float sd = 1.0f / std::sqrt(static_cast<float>(D)), sq = 1.0f / std::sqrt(static_cast<float>(qn)),
                si = 1.0f / std::sqrt(static_cast<float>(I));
    cweights w;
    if (fam.name == "gpt2") {
        cp_put(w, "wte.weight", {16, D}, rng, -1, 1);
        cp_put(w, "ln_f.weight", {D}, rng, 0.8f, 1.2f);
        for (std::size_t l = 0; l < d.layers; ++l) {
            const std::string p = cp_prefix(fam, l);
            cp_put(w, p + "ln_1.weight", {D}, rng, 0.8f, 1.2f);
            cp_put(w, p + "ln_1.bias", {D}, rng, -0.1f, 0.1f);
            cp_put(w, p + "attn.c_attn.weight", {D, 3 * qn}, rng, -sd, sd);
            cp_put(w, p + "attn.c_attn.bias", {3 * qn}, rng, -0.1f, 0.1f);
            cp_put(w, p + "attn.c_proj.weight", {qn, D}, rng, -sq, sq);
            cp_put(w, p + "attn.c_proj.bias", {D}, rng, -0.1f, 0.1f);
            cp_put(w, p + "ln_2.weight", {D}, rng, 0.8f, 1.2f);
            cp_put(w, p + "ln_2.bias", {D}, rng, -0.1f, 0.1f);
            cp_put(w, p + "mlp.c_fc.weight", {D, I}, rng, -sd, sd);
            cp_put(w, p + "mlp.c_fc.bias", {I}, rng, -0.1f, 0.1f);
            cp_put(w, p + "mlp.c_proj.weight", {I, D}, rng, -si, si);
            cp_put(w, p + "mlp.c_proj.bias", {D}, rng, -0.1f, 0.1f);
            cp_put(w, p + "attn.bias", {1, 1, 4, 4}, rng, 0, 1);  // old checkpoints' buffers: copied whole
            cp_put(w, p + "attn.masked_bias", {}, rng, -1, 0);
        }
        return w;
    }
    const bool phi3 = fam.name == "phi3";
    const bool attn_bias = cfg.value("attention_bias", false), mlp_bias = cfg.value("mlp_bias", false);
    cp_put(w, "model.embed_tokens.weight", {16, D}, rng, -1, 1);
    cp_put(w, "model.norm.weight", {D}, rng, 0.8f, 1.2f);
    cp_put(w, "lm_head.weight", {16, D}, rng, -1, 1);
    for (std::size_t l = 0; l < d.layers; ++l) {
        const std::string p = cp_prefix(fam, l);
        cp_put(w, p + "input_layernorm.weight", {D}, rng, 0.8f, 1.2f);
        cp_put(w, p + "post_attention_layernorm.weight", {D}, rng, 0.8f, 1.2f);
        if (phi3) {
            cp_put(w, p + "self_attn.qkv_proj.weight", {qn + 2 * kn, D}, rng, -sd, sd);
            cp_put(w, p + "mlp.gate_up_proj.weight", {2 * I, D}, rng, -sd, sd);
        } else {
            const std::pair<const char*, std::size_t> in_proj[] = {{"self_attn.q_proj", qn},
                                                                   {"self_attn.k_proj", kn},
                                                                   {"self_attn.v_proj", kn},
                                                                   {"mlp.gate_proj", I},
                                                                   {"mlp.up_proj", I}};
            for (const auto& [name, rows] : in_proj) {
                cp_put(w, p + name + ".weight", {rows, D}, rng, -sd, sd);
                if (std::string_view(name).starts_with("mlp") ? mlp_bias : attn_bias)
                    cp_put(w, p + name + ".bias", {rows}, rng, -0.1f, 0.1f);
            }
        }
        cp_put(w, p + "self_attn.o_proj.weight", {D, qn}, rng, -sq, sq);
        cp_put(w, p + "mlp.down_proj.weight", {D, I}, rng, -si, si);
        if (attn_bias) cp_put(w, p + "self_attn.o_proj.bias", {D}, rng, -0.1f, 0.1f);
        if (mlp_bias) cp_put(w, p + "mlp.down_proj.bias", {D}, rng, -0.1f, 0.1f);
    }
    return w;
}

// ---- the reference forward: plain loops, every sum in float in ascending index order -----------

const ctensor& cp_tensor(const cweights& w, const std::string& name) {
    const auto it = w.find(name);
    if (it == w.end()) throw std::runtime_error("forward: no tensor '" + name + "'");
    return it->second;
}

void cp_expect_shape(const ctensor& t, const std::vector<std::uint64_t>& shape, const std::string& name) {
    if (t.shape != shape) throw std::runtime_error("forward: '" + name + "' does not have the config's shape");
}

/// y = x W^T + b for nn.Linear W [out, in]; y = x W + b for GPT-2's Conv1D W [in, out]. The bias,
/// when the checkpoint has one, is added after the sum.
cmat cp_linear(const cmat& x, const cweights& w, const std::string& name, std::size_t out, bool conv1d) {
    const std::size_t in = sz(x.cols());
    const ctensor& W = cp_tensor(w, name + ".weight");
    cp_expect_shape(W, conv1d ? std::vector<std::uint64_t>{in, out} : std::vector<std::uint64_t>{out, in},
                    name + ".weight");
    const auto bit = w.find(name + ".bias");
    const ctensor* b = bit == w.end() ? nullptr : &bit->second;
    if (b) cp_expect_shape(*b, {out}, name + ".bias");
    cmat y(x.rows(), ix(out));
    for (Eigen::Index t = 0; t < x.rows(); ++t)
        for (Eigen::Index o = 0; o < ix(out); ++o) {
            float s = 0.0f;
            for (Eigen::Index i = 0; i < ix(in); ++i) s += x(t, i) * (conv1d ? W.m(i, o) : W.m(o, i));
            if (b) s += b->m(0, o);
            y(t, o) = s;
        }
    return y;
}

cmat cp_norm(const cmat& x, const cweights& w, const std::string& name, bool layer_norm) {
    const auto n = sz(x.cols());
    const ctensor& g = cp_tensor(w, name + ".weight");
    cp_expect_shape(g, {n}, name + ".weight");
    const ctensor* b = layer_norm ? &cp_tensor(w, name + ".bias") : nullptr;
    if (b) cp_expect_shape(*b, {n}, name + ".bias");
    const float eps = 1e-5f, fn = static_cast<float>(n);
    cmat y(x.rows(), x.cols());
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        float mean = 0.0f, ss = 0.0f;
        if (layer_norm) {
            for (Eigen::Index i = 0; i < x.cols(); ++i) mean += x(t, i);
            mean /= fn;
        }
        for (Eigen::Index i = 0; i < x.cols(); ++i) ss += (x(t, i) - mean) * (x(t, i) - mean);
        const float r = 1.0f / std::sqrt(ss / fn + eps);
        for (Eigen::Index i = 0; i < x.cols(); ++i)
            y(t, i) = (x(t, i) - mean) * r * g.m(0, i) + (b ? b->m(0, i) : 0.0f);
    }
    return y;
}

/// RoPE, rotate_half over each head's head_dim: x1' = x1 cos - x2 sin, x2' = x2 cos + x1 sin.
void cp_rope(cmat& x, std::size_t heads, std::size_t hd) {
    const std::size_t half = hd / 2;
    for (std::size_t t = 0; t < sz(x.rows()); ++t)
        for (std::size_t h = 0; h < heads; ++h)
            for (std::size_t i = 0; i < half; ++i) {
                const double angle =
                    static_cast<double>(t) * std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(hd));
                const auto c = static_cast<float>(std::cos(angle)), s = static_cast<float>(std::sin(angle));
                float& a = x(ix(t), ix(h * hd + i));
                float& b = x(ix(t), ix(h * hd + i + half));
                const float na = a * c - b * s, nb = b * c + a * s;
                a = na;
                b = nb;
            }
}

/// Causal softmax attention; KV head j serves query heads j·g … j·g+g−1.
cmat cp_attention(cmat q, cmat k, const cmat& v, const model_dims& d, bool rope) {
    const std::size_t H = d.heads, hd = d.head_dim, g = d.heads / d.kv_heads, T = sz(q.rows());
    if (sz(q.cols()) != H * hd || sz(k.cols()) != d.kv_heads * hd || sz(v.cols()) != d.kv_heads * hd)
        throw std::runtime_error("forward: q/k/v widths disagree with the config");
    if (rope) {
        cp_rope(q, H, hd);
        cp_rope(k, d.kv_heads, hd);
    }
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    cmat out(ix(T), ix(H * hd));
    std::vector<float> p(T);
    for (std::size_t h = 0; h < H; ++h) {
        const std::size_t j = h / g;
        for (std::size_t t = 0; t < T; ++t) {
            float mx = -std::numeric_limits<float>::infinity(), sum = 0.0f;
            for (std::size_t u = 0; u <= t; ++u) {
                float s = 0.0f;
                for (std::size_t i = 0; i < hd; ++i) s += q(ix(t), ix(h * hd + i)) * k(ix(u), ix(j * hd + i));
                p[u] = s * scale;
                mx = std::max(mx, p[u]);
            }
            for (std::size_t u = 0; u <= t; ++u) {
                p[u] = std::exp(p[u] - mx);
                sum += p[u];
            }
            for (std::size_t i = 0; i < hd; ++i) {
                float acc = 0.0f;
                for (std::size_t u = 0; u <= t; ++u) acc += p[u] * v(ix(u), ix(j * hd + i));
                out(ix(t), ix(h * hd + i)) = acc / sum;
            }
        }
    }
    return out;
}

/// One decoder block: Llama / Phi-3 (RMSNorm, RoPE, GQA, SwiGLU) or GPT-2 (LayerNorm, Conv1D, GELU).
cmat cp_block(const model_family& fam, const model_dims& d, const cweights& w, const std::string& p, const cmat& x) {
    const std::size_t D = d.hidden, qn = d.heads * d.head_dim, kn = d.kv_heads * d.head_dim, I = d.intermediate;
    if (sz(x.cols()) != D) throw std::runtime_error("forward: hidden size disagrees with the config");
    const Eigen::Index T = x.rows(), iI = ix(I);
    if (fam.name == "gpt2") {
        const cmat qkv = cp_linear(cp_norm(x, w, p + "ln_1", true), w, p + "attn.c_attn", 3 * qn, true);
        const cmat a =
            cp_attention(qkv.leftCols(ix(qn)), qkv.middleCols(ix(qn), ix(qn)), qkv.rightCols(ix(qn)), d, false);
        const cmat x1 = x + cp_linear(a, w, p + "attn.c_proj", D, true);
        cmat f = cp_linear(cp_norm(x1, w, p + "ln_2", true), w, p + "mlp.c_fc", I, true);
        for (Eigen::Index i = 0; i < f.size(); ++i) {
            const float z = f.data()[i];
            f.data()[i] = 0.5f * z * (1.0f + std::tanh(0.7978845608f * (z + 0.044715f * z * z * z)));
        }
        return x1 + cp_linear(f, w, p + "mlp.c_proj", D, true);
    }
    const cmat h = cp_norm(x, w, p + "input_layernorm", false);
    cmat q, k, v;
    if (fam.name == "phi3") {
        const cmat qkv = cp_linear(h, w, p + "self_attn.qkv_proj", qn + 2 * kn, false);
        q = qkv.leftCols(ix(qn));
        k = qkv.middleCols(ix(qn), ix(kn));
        v = qkv.rightCols(ix(kn));
    } else {
        q = cp_linear(h, w, p + "self_attn.q_proj", qn, false);
        k = cp_linear(h, w, p + "self_attn.k_proj", kn, false);
        v = cp_linear(h, w, p + "self_attn.v_proj", kn, false);
    }
    const cmat a = cp_attention(std::move(q), std::move(k), v, d, true);
    const cmat x1 = x + cp_linear(a, w, p + "self_attn.o_proj", D, false);
    const cmat h2 = cp_norm(x1, w, p + "post_attention_layernorm", false);
    cmat gate, up;
    if (fam.name == "phi3") {
        const cmat gu = cp_linear(h2, w, p + "mlp.gate_up_proj", 2 * I, false);
        gate = gu.leftCols(iI);
        up = gu.rightCols(iI);
    } else {
        gate = cp_linear(h2, w, p + "mlp.gate_proj", I, false);
        up = cp_linear(h2, w, p + "mlp.up_proj", I, false);
    }
    cmat m(T, iI);
    for (Eigen::Index t = 0; t < T; ++t)
        for (Eigen::Index c = 0; c < iI; ++c) m(t, c) = gate(t, c) / (1.0f + std::exp(-gate(t, c))) * up(t, c);
    return x1 + cp_linear(m, w, p + "mlp.down_proj", D, false);
}

/// Every layer in turn, shapes from the config (through read_dims), weights by checkpoint name.
cmat cp_forward(const json& cfg, const cweights& w, const cmat& x) {
    const model_family& fam = cp_family(cfg);
    const model_dims d = read_dims(fam, cfg);
    cmat y = x;
    for (std::size_t l = 0; l < d.layers; ++l) y = cp_block(fam, d, w, cp_prefix(fam, l), y);
    return y;
}

bool cp_same(const cmat& a, const cmat& b) {
    return a.rows() == b.rows() && a.cols() == b.cols() &&
           std::memcmp(a.data(), b.data(), sz(a.size()) * sizeof(float)) == 0;
}

float cp_max_diff(const cmat& a, const cmat& b) { return (a - b).cwiseAbs().maxCoeff(); }

// ---- the masked model: the test's own knowledge of each layout ----------------------------------

struct cp_removed {
    sizes heads, kv, channels;
};

cp_removed cp_removed_units(const model_dims& d, const layer_selection& k) {
    cp_removed r;
    const std::size_t g = d.heads / d.kv_heads;
    for (std::size_t h = 0; h < d.heads; ++h)
        if (!std::binary_search(k.heads.begin(), k.heads.end(), h)) r.heads.push_back(h);
    for (std::size_t j = 0; j < d.kv_heads; ++j)
        if (std::none_of(k.heads.begin(), k.heads.end(), [&](std::size_t h) { return h / g == j; })) r.kv.push_back(j);
    for (std::size_t c = 0; c < d.intermediate; ++c)
        if (!std::binary_search(k.channels.begin(), k.channels.end(), c)) r.channels.push_back(c);
    return r;
}

void cp_zero_rows(cweights& w, const std::string& name, std::size_t begin, std::size_t n) {
    w.at(name).m.middleRows(ix(begin), ix(n)).setZero();
}

/// Columns of a matrix, or entries of a vector (stored 1 x n); a missing optional bias is skipped.
void cp_zero_cols(cweights& w, const std::string& name, std::size_t begin, std::size_t n) {
    if (const auto it = w.find(name); it != w.end()) it->second.m.middleCols(ix(begin), ix(n)).setZero();
}

/// The original weights with the removed units' producer rows and biases and consumer columns zeroed.
cweights cp_mask(const json& cfg, cweights w, std::span<const layer_selection> kept) {
    const model_family& fam = cp_family(cfg);
    const model_dims d = read_dims(fam, cfg);
    const std::size_t hd = d.head_dim, qn = d.heads * hd, kn = d.kv_heads * hd, I = d.intermediate;
    for (std::size_t l = 0; l < d.layers; ++l) {
        const std::string p = cp_prefix(fam, l);
        const cp_removed r = cp_removed_units(d, kept[l]);
        if (fam.name == "gpt2") {
            for (const std::size_t h : r.heads) {
                for (std::size_t s = 0; s < 3; ++s) {  // c_attn columns [q | k | v]
                    cp_zero_cols(w, p + "attn.c_attn.weight", s * qn + h * hd, hd);
                    cp_zero_cols(w, p + "attn.c_attn.bias", s * qn + h * hd, hd);
                }
                cp_zero_rows(w, p + "attn.c_proj.weight", h * hd, hd);
            }
            for (const std::size_t c : r.channels) {
                cp_zero_cols(w, p + "mlp.c_fc.weight", c, 1);
                cp_zero_cols(w, p + "mlp.c_fc.bias", c, 1);
                cp_zero_rows(w, p + "mlp.c_proj.weight", c, 1);
            }
        } else if (fam.name == "phi3") {
            for (const std::size_t h : r.heads) {
                cp_zero_rows(w, p + "self_attn.qkv_proj.weight", h * hd, hd);
                cp_zero_cols(w, p + "self_attn.o_proj.weight", h * hd, hd);
            }
            for (const std::size_t j : r.kv) {
                cp_zero_rows(w, p + "self_attn.qkv_proj.weight", qn + j * hd, hd);
                cp_zero_rows(w, p + "self_attn.qkv_proj.weight", qn + kn + j * hd, hd);
            }
            for (const std::size_t c : r.channels) {
                cp_zero_rows(w, p + "mlp.gate_up_proj.weight", c, 1);
                cp_zero_rows(w, p + "mlp.gate_up_proj.weight", I + c, 1);
                cp_zero_cols(w, p + "mlp.down_proj.weight", c, 1);
            }
        } else {
            for (const std::size_t h : r.heads) {
                cp_zero_rows(w, p + "self_attn.q_proj.weight", h * hd, hd);
                cp_zero_cols(w, p + "self_attn.q_proj.bias", h * hd, hd);
                cp_zero_cols(w, p + "self_attn.o_proj.weight", h * hd, hd);
            }
            for (const std::size_t j : r.kv)
                for (const char* n : {"self_attn.k_proj", "self_attn.v_proj"}) {
                    cp_zero_rows(w, p + n + ".weight", j * hd, hd);
                    cp_zero_cols(w, p + n + ".bias", j * hd, hd);
                }
            for (const std::size_t c : r.channels) {
                for (const char* n : {"mlp.gate_proj", "mlp.up_proj"}) {
                    cp_zero_rows(w, p + n + ".weight", c, 1);
                    cp_zero_cols(w, p + n + ".bias", c, 1);
                }
                cp_zero_cols(w, p + "mlp.down_proj.weight", c, 1);
            }
        }
    }
    return w;
}

/// With compensation the masked model carries the plan's biases: the compensated output biases
/// (their shape is unchanged) and the zero producer biases compensation turns on, at full size.
void cp_overlay_biases(cweights& masked, const cweights& compacted, const compact_plan& plan) {
    for (const compact_output& o : plan.outputs()) {
        if (o.how == compact_output::kind::compensated) {
            const ctensor& b = compacted.at(o.name);
            if (const auto it = masked.find(o.name); it != masked.end()) REQUIRE(it->second.shape == b.shape);
            masked[o.name] = b;
        } else if (o.how == compact_output::kind::zeros) {
            const std::string weight = o.name.substr(0, o.name.size() - 4) + "weight";
            const std::uint64_t rows = masked.at(weight).shape[0];
            masked[o.name] = {{rows}, cmat::Zero(1, ix(rows))};
        }
    }
}

// ---- running compact_plan over in-memory f32 tensors -------------------------------------------

std::vector<tensor_desc> cp_descs(const cweights& w) {
    std::vector<tensor_desc> out;
    for (const auto& [name, t] : w) out.push_back({name, safetensors_dtype::F32, t.shape});
    return out;
}

auto cp_reader(const cweights& w) {
    return [&w](std::string_view name) -> std::span<const std::byte> {
        const auto it = w.find(name);
        if (it == w.end()) throw std::runtime_error("read: no tensor '" + std::string(name) + "'");
        return std::as_bytes(std::span<const float>(it->second.m.data(), sz(it->second.m.size())));
    };
}

/// compact() into a new set of tensors; every output is written once, in outputs() order.
cweights cp_apply(const compact_plan& plan, const cweights& w) {
    cweights out;
    std::vector<std::string> order;
    compact(plan, cp_reader(w), [&](const compact_output& o, std::span<const std::byte> bytes) {
        std::uint64_t numel = 1;
        for (const auto e : o.shape) numel *= e;
        if (bytes.size() != numel * sizeof(float) || o.dtype != safetensors_dtype::F32)
            throw std::runtime_error("write: '" + o.name + "' has the wrong size");
        const std::uint64_t rows = o.shape.size() == 2 ? o.shape[0] : 1;
        ctensor t{o.shape, cmat(ix(rows), ix(numel / rows))};
        std::memcpy(t.m.data(), bytes.data(), bytes.size());
        if (!out.emplace(o.name, std::move(t)).second) throw std::runtime_error("write: '" + o.name + "' twice");
        order.push_back(o.name);
    });
    REQUIRE(order.size() == plan.outputs().size());
    for (std::size_t i = 0; i < order.size(); ++i) REQUIRE(order[i] == plan.outputs()[i].name);
    return out;
}

/// Every output shape follows the new config: the plan over the output, the new config and a
/// selection keeping everything, accepts every tensor and gathers none.
void cp_check_shapes_follow_config(const compact_plan& plan) {
    const model_family& fam = plan.family();
    std::vector<tensor_desc> descs;
    for (const compact_output& o : plan.outputs()) descs.push_back({o.name, o.dtype, o.shape});
    const model_dims after = read_dims(fam, plan.config());
    REQUIRE(after == plan.after());
    const auto all = keep_all(after);
    const compact_plan again(fam, plan.config(), descs, all);
    REQUIRE(again.outputs().size() == descs.size());
    std::size_t not_copies = 0;
    for (std::size_t i = 0; i < descs.size(); ++i) {
        const compact_output& o = again.outputs()[i];
        if (o.how != compact_output::kind::copy || o.shape != descs[i].shape || o.name != descs[i].name) ++not_copies;
    }
    REQUIRE(not_copies == 0);
}

struct cp_result {
    json config;  ///< the rewritten config
    model_dims after;
    std::vector<compact_output> outputs;
    std::vector<std::string> skipped;
    cweights compacted_w;
    cmat unpruned, masked, compacted;
};

/// Masked vs compacted over the same random model, input and means (all from `seed`).
cp_result cp_equivalence(const json& cfg, const std::vector<layer_selection>& kept, bias_compensation comp,
                         unsigned seed = 7) {
    const model_family& fam = cp_family(cfg);
    const model_dims d = read_dims(fam, cfg);
    std::mt19937 rng(seed);
    const cweights w = cp_make_model(cfg, rng);
    const cmat x = cp_random(cp_tokens, d.hidden, rng, -1, 1);
    compact_options opt;
    opt.compensation = comp;
    for (std::size_t l = 0; l < d.layers; ++l) {
        opt.attention_means.push_back(cp_random_vec(d.heads * d.head_dim, rng));
        opt.mlp_means.push_back(cp_random_vec(d.intermediate, rng));
    }
    const std::vector<tensor_desc> descs = cp_descs(w);
    const compact_plan plan(fam, cfg, descs, kept, std::move(opt));
    cp_result r;
    r.config = plan.config();
    r.after = plan.after();
    r.outputs = plan.outputs();
    r.skipped = plan.skipped();
    r.compacted_w = cp_apply(plan, w);
    cweights masked = cp_mask(cfg, w, kept);
    if (comp != bias_compensation::none) cp_overlay_biases(masked, r.compacted_w, plan);
    r.unpruned = cp_forward(cfg, w, x);
    r.masked = cp_forward(cfg, masked, x);
    r.compacted = cp_forward(plan.config(), r.compacted_w, x);
    cp_check_shapes_follow_config(plan);
    // tensors outside the layers are copied unchanged
    std::size_t changed = 0;
    for (const auto& [name, t] : w)
        if (!name.starts_with("model.layers.") && !name.starts_with("h.") &&
            (r.compacted_w.at(name).shape != t.shape || !cp_same(r.compacted_w.at(name).m, t.m)))
            ++changed;
    REQUIRE(changed == 0);
    return r;
}

std::size_t cp_count(const cp_result& r, compact_output::kind how, std::string_view suffix = {}) {
    return static_cast<std::size_t>(std::count_if(r.outputs.begin(), r.outputs.end(), [&](const compact_output& o) {
        return o.how == how && std::string_view(o.name).ends_with(suffix);
    }));
}

/// The rewritten Llama-like config: the kept counts, an explicit head_dim, the bias switches.
void cp_check_llama_config(const cp_result& r, std::size_t H, std::size_t KV, std::size_t hd, std::size_t I,
                           bool attention_bias, bool mlp_bias) {
    REQUIRE(r.config.at("num_attention_heads").get<std::size_t>() == H);
    REQUIRE(r.config.at("num_key_value_heads").get<std::size_t>() == KV);
    REQUIRE(r.config.at("head_dim").get<std::size_t>() == hd);
    REQUIRE(r.config.at("intermediate_size").get<std::size_t>() == I);
    REQUIRE(r.config.value("attention_bias", false) == attention_bias);
    REQUIRE(r.config.value("mlp_bias", false) == mlp_bias);
    REQUIRE(r.after.heads == H);
    REQUIRE(r.after.kv_heads == KV);
    REQUIRE(r.after.intermediate == I);
}

sizes cp_pick(std::size_t n, std::size_t k, unsigned seed) {
    sizes v(n);
    std::iota(v.begin(), v.end(), std::size_t{0});
    std::mt19937 rng(seed);
    std::shuffle(v.begin(), v.end(), rng);
    v.resize(k);
    std::sort(v.begin(), v.end());
    return v;
}

sizes cp_iota(std::size_t n) {
    sizes v(n);
    std::iota(v.begin(), v.end(), std::size_t{0});
    return v;
}

// ---- masked == compacted, bit for bit -----------------------------------------------------------

TEST_CASE("compact: Llama MHA, heads and MLP channels, masked and compacted forwards are bit-identical", "[compact]") {
    // d = 48, H = 8, hd = 8 (H·hd = 64 != d on purpose), I = 80; H 8 -> 5, I 80 -> 49
    const json cfg = cp_llama_config(2, 48, 8, 8, 8, 80);
    const std::vector<layer_selection> kept = {{{0, 2, 3, 5, 7}, cp_pick(80, 49, 1)},
                                               {{1, 2, 4, 6, 7}, cp_pick(80, 49, 2)}};
    const cp_result plain = cp_equivalence(cfg, kept, bias_compensation::none);
    CAPTURE(cp_max_diff(plain.masked, plain.compacted));
    REQUIRE(cp_same(plain.masked, plain.compacted));
    REQUIRE_FALSE(cp_same(plain.unpruned, plain.masked));
    cp_check_llama_config(plain, 5, 5, 8, 49, false, false);
    REQUIRE(plain.compacted_w.at("model.layers.1.self_attn.q_proj.weight").shape == std::vector<std::uint64_t>{40, 48});
    REQUIRE(plain.compacted_w.at("model.layers.0.self_attn.o_proj.weight").shape == std::vector<std::uint64_t>{48, 40});
    REQUIRE(plain.compacted_w.at("model.layers.0.mlp.down_proj.weight").shape == std::vector<std::uint64_t>{48, 49});
    REQUIRE(cp_count(plain, compact_output::kind::compensated) == 0);
    REQUIRE_FALSE(plain.compacted_w.count("model.layers.0.self_attn.o_proj.bias"));

    const cp_result comp = cp_equivalence(cfg, kept, bias_compensation::required);
    CAPTURE(cp_max_diff(comp.masked, comp.compacted));
    REQUIRE(cp_same(comp.masked, comp.compacted));
    cp_check_llama_config(comp, 5, 5, 8, 49, true, true);
    // created: o_proj.bias and down_proj.bias compensated, zero q/k/v and gate/up biases, per layer
    REQUIRE(cp_count(comp, compact_output::kind::compensated, "self_attn.o_proj.bias") == 2);
    REQUIRE(cp_count(comp, compact_output::kind::compensated, "mlp.down_proj.bias") == 2);
    REQUIRE(cp_count(comp, compact_output::kind::zeros) == 10);
    REQUIRE(comp.compacted_w.at("model.layers.1.self_attn.k_proj.bias").shape == std::vector<std::uint64_t>{40});
    REQUIRE(comp.compacted_w.at("model.layers.1.self_attn.k_proj.bias").m.isZero(0));
    REQUIRE(comp.compacted_w.at("model.layers.0.mlp.up_proj.bias").shape == std::vector<std::uint64_t>{49});
    REQUIRE_FALSE(comp.compacted_w.at("model.layers.0.self_attn.o_proj.bias").m.isZero(0));

    // negative controls: the masked model differs from the unpruned one, and compaction without
    // compensation differs from the compensated masked model
    CAPTURE(cp_max_diff(comp.unpruned, comp.masked), cp_max_diff(plain.compacted, comp.masked));
    REQUIRE_FALSE(cp_same(comp.unpruned, comp.masked));
    REQUIRE(cp_max_diff(plain.compacted, comp.masked) > 1e-3f);
    REQUIRE(cp_same(plain.unpruned, comp.unpruned));  // same model and input in both runs
}

TEST_CASE("compact: Llama MHA with attention_bias and mlp_bias, compensation into the existing biases", "[compact]") {
    json cfg = cp_llama_config(2, 48, 8, 8, 8, 80);
    cfg["attention_bias"] = true;
    cfg["mlp_bias"] = true;
    const std::vector<layer_selection> kept = {{{0, 1, 4, 6}, cp_pick(80, 60, 3)}, {{2, 3, 5, 7}, cp_pick(80, 60, 4)}};
    for (const auto comp : {bias_compensation::none, bias_compensation::where_possible}) {
        const cp_result r = cp_equivalence(cfg, kept, comp);
        CAPTURE(static_cast<int>(comp), cp_max_diff(r.masked, r.compacted));
        REQUIRE(cp_same(r.masked, r.compacted));
        cp_check_llama_config(r, 4, 4, 8, 60, true, true);
        REQUIRE(cp_count(r, compact_output::kind::zeros) == 0);
        REQUIRE(cp_count(r, compact_output::kind::gather, "self_attn.q_proj.bias") == 2);
        REQUIRE(cp_count(r, compact_output::kind::compensated) == (comp == bias_compensation::none ? 0u : 4u));
        REQUIRE(r.outputs.size() == 3 + 2 * 16);  // nothing created: every bias was there
        REQUIRE(r.skipped.empty());
    }
}

TEST_CASE("compact: Llama GQA keeping 3 of 4 query heads in every KV group is bit-identical", "[compact]") {
    const json cfg = cp_llama_config(2, 48, 12, 3, 8, 40);
    const std::vector<layer_selection> kept = {{{0, 1, 3, 4, 5, 6, 8, 10, 11}, cp_iota(40)},
                                               {{1, 2, 3, 4, 6, 7, 9, 10, 11}, cp_iota(40)}};
    for (const auto comp : {bias_compensation::none, bias_compensation::required}) {
        const cp_result r = cp_equivalence(cfg, kept, comp);
        CAPTURE(static_cast<int>(comp), cp_max_diff(r.masked, r.compacted));
        REQUIRE(cp_same(r.masked, r.compacted));
        REQUIRE_FALSE(cp_same(r.unpruned, r.masked));
        const bool c = comp != bias_compensation::none;
        cp_check_llama_config(r, 9, 3, 8, 40, c, false);  // no channel removed: no MLP bias
        REQUIRE(cp_count(r, compact_output::kind::copy, "self_attn.k_proj.weight") == 2);  // every KV head kept
        REQUIRE(cp_count(r, compact_output::kind::compensated) == (c ? 2u : 0u));
        REQUIRE(cp_count(r, compact_output::kind::zeros) == (c ? 6u : 0u));
    }
}

TEST_CASE("compact: Llama GQA dropping a whole KV group is bit-identical", "[compact]") {
    const json cfg = cp_llama_config(2, 48, 12, 3, 8, 40);
    const std::vector<layer_selection> kept = {{{0, 1, 2, 3, 8, 9, 10, 11}, cp_pick(40, 30, 5)},
                                               {{4, 5, 6, 7, 8, 9, 10, 11}, cp_pick(40, 30, 6)}};
    for (const auto comp : {bias_compensation::none, bias_compensation::required}) {
        const cp_result r = cp_equivalence(cfg, kept, comp);
        CAPTURE(static_cast<int>(comp), cp_max_diff(r.masked, r.compacted));
        REQUIRE(cp_same(r.masked, r.compacted));
        REQUIRE_FALSE(cp_same(r.unpruned, r.masked));
        const bool c = comp != bias_compensation::none;
        cp_check_llama_config(r, 8, 2, 8, 30, c, c);
        REQUIRE(r.compacted_w.at("model.layers.1.self_attn.v_proj.weight").shape == std::vector<std::uint64_t>{16, 48});
    }
}

TEST_CASE("compact: Phi-3 fused qkv and gate_up, heads and channels, bit-identical; no bias slot", "[compact]") {
    const json cfg = cp_llama_config(2, 48, 8, 4, 8, 64, "phi3");
    // groups of 2: layer 0 drops group 1, layer 1 drops group 3
    const std::vector<layer_selection> kept = {{{0, 1, 4, 5, 6, 7}, cp_pick(64, 40, 7)},
                                               {{0, 1, 2, 3, 4, 5}, cp_pick(64, 40, 8)}};
    const cp_result r = cp_equivalence(cfg, kept, bias_compensation::none);
    CAPTURE(cp_max_diff(r.masked, r.compacted));
    REQUIRE(cp_same(r.masked, r.compacted));
    REQUIRE_FALSE(cp_same(r.unpruned, r.masked));
    cp_check_llama_config(r, 6, 3, 8, 40, false, false);
    REQUIRE(r.compacted_w.at("model.layers.0.self_attn.qkv_proj.weight").shape ==
            std::vector<std::uint64_t>{(6 + 2 * 3) * 8, 48});
    REQUIRE(r.compacted_w.at("model.layers.1.mlp.gate_up_proj.weight").shape == std::vector<std::uint64_t>{80, 48});

    const cp_result wp = cp_equivalence(cfg, kept, bias_compensation::where_possible);
    REQUIRE(cp_same(wp.masked, wp.compacted));
    REQUIRE(cp_same(wp.compacted, r.compacted));
    REQUIRE(wp.skipped == std::vector<std::string>{"the attention output", "the MLP output"});
    REQUIRE(cp_count(wp, compact_output::kind::compensated) == 0);
    REQUIRE(wp.outputs.size() == r.outputs.size());

    REQUIRE_THROWS_AS(cp_equivalence(cfg, kept, bias_compensation::required), value_error);
    REQUIRE_THROWS_WITH(cp_equivalence(cfg, kept, bias_compensation::required),
                        Contains("family phi3 has no bias for the attention output"));
}

TEST_CASE("compact: GPT-2 Conv1D, MLP channels with compensation into mlp.c_proj.bias, bit-identical", "[compact]") {
    const json cfg = cp_gpt2_config(2, 32, 4);  // n_inner null: I = 4 · 32 = 128
    const std::vector<layer_selection> kept = {{cp_iota(4), cp_pick(128, 77, 9)}, {cp_iota(4), cp_pick(128, 77, 10)}};
    const cp_result plain = cp_equivalence(cfg, kept, bias_compensation::none);
    const cp_result comp = cp_equivalence(cfg, kept, bias_compensation::required);
    for (const cp_result* r : {&plain, &comp}) {
        CAPTURE(cp_max_diff(r->masked, r->compacted));
        REQUIRE(cp_same(r->masked, r->compacted));
        REQUIRE_FALSE(cp_same(r->unpruned, r->masked));
        REQUIRE(r->config.at("n_inner").get<std::size_t>() == 77);
        REQUIRE(r->config.at("n_head").get<std::size_t>() == 4);
        REQUIRE(r->config.at("n_embd").get<std::size_t>() == 32);
        REQUIRE_FALSE(r->config.contains("head_dim"));
        REQUIRE(r->compacted_w.at("h.1.mlp.c_fc.weight").shape == std::vector<std::uint64_t>{32, 77});
        REQUIRE(r->compacted_w.at("h.1.mlp.c_proj.weight").shape == std::vector<std::uint64_t>{77, 32});
        REQUIRE(r->compacted_w.at("h.0.attn.bias").shape == std::vector<std::uint64_t>{1, 1, 4, 4});
        REQUIRE(r->compacted_w.at("h.0.attn.masked_bias").shape.empty());
    }
    REQUIRE(cp_count(comp, compact_output::kind::compensated, "mlp.c_proj.bias") == 2);
    REQUIRE(cp_count(comp, compact_output::kind::compensated) == 2);  // heads kept: attn.c_proj.bias untouched
    REQUIRE(comp.outputs.size() == plain.outputs.size());             // nothing created
    REQUIRE(cp_max_diff(plain.compacted, comp.masked) > 1e-3f);
}

// ---- refusals: thrown by the plan, before anything is read or written ---------------------------

struct cp_attempt {
    json cfg;
    cweights w;
    std::vector<layer_selection> kept;
    compact_options options;
    std::size_t writes = 0;

    void operator()() {
        const std::vector<tensor_desc> descs = cp_descs(w);
        const compact_plan plan(cp_family(cfg), cfg, descs, kept, options);
        compact(plan, cp_reader(w), [&](const compact_output&, std::span<const std::byte>) { ++writes; });
    }
};

cp_attempt cp_llama_attempt(const char* type = "llama") {
    cp_attempt a;
    a.cfg = cp_llama_config(2, 48, 8, 8, 8, 80, type);
    std::mt19937 rng(11);
    a.w = cp_make_model(a.cfg, rng);
    a.kept = {{{0, 2, 3, 5, 7}, cp_pick(80, 49, 1)}, {{1, 2, 4, 6, 7}, cp_pick(80, 49, 2)}};
    for (std::size_t l = 0; l < 2; ++l) {
        a.options.attention_means.push_back(cp_random_vec(64, rng));
        a.options.mlp_means.push_back(cp_random_vec(80, rng));
    }
    return a;
}

template <class E>
void cp_refused(cp_attempt& a, const std::string& what) {
    REQUIRE_THROWS_AS(a(), E);
    REQUIRE_THROWS_WITH(a(), Contains(what));
    REQUIRE(a.writes == 0);
}

/// A model of `fam` made from its own table (2 layers, hidden 48, 4 heads, 2 KV heads where the
/// family has them, head_dim 8 where the config can hold it, 40 MLP channels): its config, and
/// every tensor's shape. Rank-1 whole vectors are hidden long, except the per-head norms.
std::pair<json, std::vector<tensor_desc>> cp_from_table(const model_family& fam) {
    const family_keys& k = fam.keys;
    json cfg = {{"model_type", fam.model_types.front()}, {k.layers, 2}, {k.hidden, 48}, {k.heads, 4}};
    if (!k.kv_heads.empty()) cfg[k.kv_heads] = 2;
    if (!k.head_dim.empty()) cfg[k.head_dim] = 8;
    cfg[k.intermediate] = 40;
    const model_dims d = read_dims(fam, cfg);
    std::vector<tensor_desc> descs{{"embed.weight", safetensors_dtype::BF16, {100, 48}}};
    for (std::size_t l = 0; l < 2; ++l) {
        std::string p = fam.layer_prefixes.front();
        p.replace(p.find("{i}"), 3, std::to_string(l));
        for (const tensor_rule& r : fam.tensors) {
            if (r.axes.empty()) continue;
            std::vector<std::uint64_t> shape;
            for (const tensor_axis& a : r.axes) {
                std::size_t n = a.empty() ? d.hidden : 0;
                for (const segment& sg : a)
                    n += d.units(sg.unit) * (sg.unit == unit::channel ? 1 : sg.head_dims * d.head_dim);
                shape.push_back(n);
            }
            if (r.name.find("_norm.") != std::string::npos && r.name.find("self_attn.") == 0) shape = {d.head_dim};
            descs.push_back({p + r.name, safetensors_dtype::BF16, shape});
        }
    }
    return {cfg, descs};
}

TEST_CASE("compact: every built-in family compacts a model made from its table; shapes follow the config",
          "[compact]") {
    for (const model_family& fam : built_in_families()) {
        INFO(fam.name);
        const auto [cfg, descs] = cp_from_table(fam);
        const model_dims d = read_dims(fam, cfg);
        const bool heads = !fam.keys.head_dim.empty();  // the config can hold fewer heads
        std::vector<layer_selection> kept = keep_all(d);
        for (auto& l : kept) {
            if (heads) l.heads = d.kv_heads == 2 ? sizes{1, 3} : sizes{0, 2};
            l.channels = cp_pick(40, 25, 3);
        }
        compact_options opt;
        opt.compensation = bias_compensation::where_possible;
        opt.attention_means.assign(2, std::vector<float>(d.heads * d.head_dim, 0.5f));
        opt.mlp_means.assign(2, std::vector<float>(40, 0.25f));
        const compact_plan plan(fam, cfg, descs, kept, opt);
        CHECK(plan.after().intermediate == 25);
        CHECK(plan.after().heads == (heads ? 2u : 4u));
        CHECK(plan.config().at(fam.keys.intermediate) == 25);
        // compensated where the family has a slot (the biases exist, or a switch creates them)
        std::size_t compensated = 0;
        for (const auto& o : plan.outputs()) compensated += o.how == compact_output::kind::compensated;
        std::size_t slots = 0;
        for (const consumer& c : fam.consumers) slots += !c.bias.empty() && (c.unit == unit::channel || heads);
        CHECK(compensated == 2 * slots);
        CHECK(plan.skipped().size() == (heads ? 2u : 1u) - slots);
        cp_check_shapes_follow_config(plan);
        // a selection that removes heads is refused where the config cannot hold it
        if (!heads) {
            std::vector<layer_selection> fewer = kept;
            for (auto& l : fewer) l.heads = {0, 1};
            REQUIRE_THROWS_WITH(compact_plan(fam, cfg, descs, fewer), Contains("cannot hold 2 of 4 heads"));
        }
    }
}

TEST_CASE("compact: refusals name the problem and write nothing", "[compact]") {
    SECTION("the attempt itself works") {
        cp_attempt a = cp_llama_attempt();
        a.options.compensation = bias_compensation::required;
        a();
        REQUIRE(a.writes == 3 + 2 * 9 + 2 * 7);  // inputs + o/down biases + 5 zero biases, per layer
    }
    SECTION("unknown family") {
        REQUIRE_THROWS_AS((void)find_family("mamba"), value_error);
        REQUIRE_THROWS_WITH((void)find_family("mamba"), Contains("unknown model_type 'mamba'") && Contains("llama"));
        REQUIRE(find_family("gemma2").name == "gemma");
        REQUIRE(find_family("siglip_vision_model").name == "clip_vision");
    }
    SECTION("a tensor shape that disagrees with the config") {
        cp_attempt a = cp_llama_attempt();
        a.cfg["intermediate_size"] = 81;
        a.kept = keep_all(read_dims(find_family("llama"), a.cfg));
        cp_refused<shape_error>(a, "'model.layers.0.mlp.down_proj.weight' has 80 along axis 1");
        cp_refused<shape_error>(a, "81 MLP channels) gives 81: inconsistent config");
    }
    SECTION("a hidden size that disagrees with the config") {
        cp_attempt a = cp_llama_attempt();
        a.cfg["hidden_size"] = 50;
        cp_refused<shape_error>(a, "has 48 along axis 0, the config's hidden_size is 50: inconsistent config");
    }
    SECTION("GQA: unequal heads per group (3/1/2)") {
        cp_attempt a = cp_llama_attempt();
        a.cfg = cp_llama_config(2, 48, 12, 3, 8, 40);
        std::mt19937 rng(3);
        a.w = cp_make_model(a.cfg, rng);
        a.kept = {{{0, 1, 2, 4, 8, 9}, cp_iota(40)}, {{0, 1, 2, 4, 8, 9}, cp_iota(40)}};
        cp_refused<value_error>(a, "layer 0 keeps 3, 1, 2 query heads in its 3 KV groups");
    }
    SECTION("bias compensation with no slot: Qwen2 and Phi-3") {
        cp_attempt a = cp_llama_attempt("qwen2");
        a.options.compensation = bias_compensation::required;
        cp_refused<value_error>(a, "family qwen2 has no bias for the attention output");
        a.options.compensation = bias_compensation::where_possible;
        a();
        REQUIRE(a.writes == 3 + 2 * 9);  // nothing created
        cp_attempt b = cp_llama_attempt("phi3");
        b.kept[0].heads = b.kept[1].heads = cp_iota(8);  // channels only: the MLP slot is missing
        b.options.compensation = bias_compensation::required;
        cp_refused<value_error>(b, "family phi3 has no bias for the MLP output");
    }
    SECTION("GPT-2 cannot hold fewer heads") {
        cp_attempt a;
        a.cfg = cp_gpt2_config(2, 32, 4);
        std::mt19937 rng(5);
        a.w = cp_make_model(a.cfg, rng);
        a.kept = {{{0, 1, 3}, cp_iota(128)}, {{0, 2, 3}, cp_iota(128)}};
        cp_refused<value_error>(a, "family gpt2 derives head_dim from n_embd / n_head");
    }
    SECTION("layers keep different counts") {
        cp_attempt a = cp_llama_attempt();
        a.kept[1].heads = {0, 1, 2, 4, 6, 7};
        cp_refused<value_error>(a, "(5/5/49, 6/6/49)");
        cp_refused<value_error>(a, "make_uniform()");
    }
    SECTION("a layer keeps no head") {
        cp_attempt a = cp_llama_attempt();
        a.kept[0].heads.clear();
        a.kept[1].heads.clear();
        cp_refused<value_error>(a, "layer 0 keeps 0 heads and 49 MLP channels");
    }
    SECTION("a missing required tensor (a missing shard)") {
        cp_attempt a = cp_llama_attempt();
        a.w.erase("model.layers.1.mlp.down_proj.weight");
        cp_refused<value_error>(a, "layer 1 of 2 has no 'mlp.down_proj.weight'");
    }
    SECTION("a layer tensor the family does not know") {
        cp_attempt a = cp_llama_attempt();
        std::mt19937 rng(1);
        cp_put(a.w, "model.layers.0.self_attn.rotary_emb.scale", {4}, rng, 0, 1);
        cp_refused<value_error>(a, "'model.layers.0.self_attn.rotary_emb.scale' is not in family llama's table");
    }
    SECTION("a layer beyond num_hidden_layers") {
        cp_attempt a = cp_llama_attempt();
        std::mt19937 rng(1);
        cp_put(a.w, "model.layers.2.input_layernorm.weight", {48}, rng, 0, 1);
        cp_refused<value_error>(a, "belongs to layer 2, the config has 2 layers");
    }
    SECTION("kept indices not ascending, repeated, out of range") {
        cp_attempt a = cp_llama_attempt();
        a.kept[1].heads = {1, 4, 2, 6, 7};
        cp_refused<value_error>(a, "layer 1: kept query head 2 at position 2 is not above the one before");
        a.kept[1].heads = {1, 2, 2, 6, 7};
        cp_refused<value_error>(a, "kept query head 2 at position 2 is not above the one before");
        a.kept[1].heads = {1, 2, 4, 6, 8};
        cp_refused<value_error>(a, "layer 1: kept query head 8 at position 4 is out of range (8)");
        a.kept[1].heads = {1, 2, 4, 6, 7};
        a.kept[0].channels.back() = 80;
        cp_refused<value_error>(a, "layer 0: kept MLP channel 80 at position 48 is out of range (80)");
    }
    SECTION("one selection per layer") {
        cp_attempt a = cp_llama_attempt();
        a.kept.pop_back();
        cp_refused<shape_error>(a, "1 layer selections for 2 layers");
    }
    SECTION("a tensor twice") {
        cp_attempt a = cp_llama_attempt();
        std::vector<tensor_desc> descs = cp_descs(a.w);
        descs.push_back(descs.front());
        REQUIRE_THROWS_WITH(compact_plan(find_family("llama"), a.cfg, descs, a.kept), Contains("appears twice"));
    }
    SECTION("means of the wrong size") {
        cp_attempt a = cp_llama_attempt();
        a.options.compensation = bias_compensation::required;
        a.options.attention_means[1].pop_back();
        cp_refused<shape_error>(a, "needs attention_means for 2 layers of 64 values; got 2 layers, layer 1 has 63");
        a.options.attention_means.pop_back();
        cp_refused<shape_error>(a, "got 1 layers");
        a.options.attention_means.clear();
        a.options.compensation = bias_compensation::none;  // not needed without compensation
        a();
        REQUIRE(a.writes > 0);
    }
    SECTION("non-finite means") {
        cp_attempt a = cp_llama_attempt();
        a.options.compensation = bias_compensation::where_possible;
        a.options.mlp_means[0][3] = std::numeric_limits<float>::quiet_NaN();
        cp_refused<value_error>(a, "mlp_means[0][3] = nan is not finite");
        a.options.mlp_means[0][3] = 0.0f;
        a.options.attention_means[1][63] = -std::numeric_limits<float>::infinity();
        cp_refused<value_error>(a, "attention_means[1][63] = -inf is not finite");
    }
}

// ---- selection helpers --------------------------------------------------------------------------

TEST_CASE("compact: top_channels and top_heads, ties to the lower index", "[compact]") {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> ch = {1, 3, 3, 2, 3, nan, 0};
    REQUIRE(top_channels(ch, 2) == sizes{1, 2});
    REQUIRE(top_channels(ch, 4) == sizes{1, 2, 3, 4});
    REQUIRE(top_channels(ch, 6) == sizes{0, 1, 2, 3, 4, 6});  // NaN lowest
    REQUIRE(top_channels(ch, 0).empty());
    REQUIRE_THROWS_AS(top_channels(ch, 8), value_error);

    // 8 heads, 4 KV groups of 2; group sums 3, 5, 6, 1
    const std::vector<float> hs = {1, 2, 5, 0, 3, 3, 0, 1};
    REQUIRE(top_heads(hs, 4, 2, 1) == sizes{2, 4});  // groups 1, 2; head 4 wins the tie with 5
    REQUIRE(top_heads(hs, 4, 3, 2) == sizes{0, 1, 2, 3, 4, 5});
    REQUIRE(top_heads(hs, 4, 4, 1) == sizes{1, 2, 4, 7});
    const std::vector<float> tied = {1, 1, 2, 0, 0, 2, 0, 0};  // group sums 2, 2, 2, 0
    REQUIRE(top_heads(tied, 4, 2, 1) == sizes{0, 2});
    REQUIRE(top_heads(tied, 8, 3, 1) == sizes{0, 2, 5});  // MHA: one head per group
    REQUIRE_THROWS_WITH(top_heads(hs, 3, 1, 1), Contains("not a multiple of 3 KV heads"));
    REQUIRE_THROWS_WITH(top_heads(hs, 4, 5, 1), Contains("out of range"));
    REQUIRE_THROWS_AS(top_heads(hs, 4, 1, 3), value_error);
}

TEST_CASE("compact: make_uniform projects per-layer selections onto shared counts", "[compact]") {
    model_dims d;
    d.layers = 2;
    d.hidden = 16;
    d.heads = 8;
    d.kv_heads = 4;
    d.head_dim = 4;
    d.intermediate = 6;
    // layer 0: 2 groups, 4 heads, 3 channels; layer 1: 4 groups, 5 heads, 5 channels
    // -> round(3) groups, round(4.5 / 3) = 2 heads each, round(4) channels
    const std::vector<layer_selection> kept = {{{0, 1, 2, 3}, {0, 1, 2}}, {{0, 2, 4, 6, 7}, {0, 1, 2, 3, 4}}};
    const std::vector<std::vector<float>> hs = {{8, 7, 6, 5, 4, 3, 2, 1}, {1, 2, 3, 4, 5, 6, 7, 8}};
    const std::vector<std::vector<float>> cs = {{6, 5, 4, 3, 2, 1}, {0, 1, 0, 1, 0, 1}};
    const auto u = make_uniform(kept, d, hs, cs);
    REQUIRE(u.size() == 2);
    REQUIRE_FALSE(is_uniform(kept, d));
    REQUIRE(is_uniform(u, d));
    const kept_counts k1 = count_kept(kept[1], d);  // heads 0, 2, 4, 6, 7: groups 0..3 keep 1, 1, 1, 2
    REQUIRE(k1.per_group == sizes{1, 1, 1, 2});
    REQUIRE_FALSE(k1.equal_groups());
    REQUIRE((k1.dims.heads == 5 && k1.dims.kv_heads == 4 && k1.dims.intermediate == 5));
    REQUIRE(count_kept(kept[0], d).equal_groups());
    REQUIRE(u[0].heads == sizes{0, 1, 2, 3, 4, 5});
    REQUIRE(u[1].heads == sizes{2, 3, 4, 5, 6, 7});
    REQUIRE(u[0].channels == sizes{0, 1, 2, 3});
    REQUIRE(u[1].channels == sizes{0, 1, 3, 5});  // ties to the lower index
    REQUIRE_THROWS_AS(make_uniform(std::span(kept).first(1), d, hs, cs), shape_error);

    // the projection is what a plan accepts
    const json cfg = cp_llama_config(2, 16, 8, 4, 4, 6);
    std::mt19937 rng(2);
    const cweights w = cp_make_model(cfg, rng);
    const std::vector<tensor_desc> descs = cp_descs(w);
    REQUIRE_THROWS_AS(compact_plan(find_family("llama"), cfg, descs, kept), value_error);
    const compact_plan plan(find_family("llama"), cfg, descs, u);
    REQUIRE(plan.after().heads == 6);
    REQUIRE(plan.after().kv_heads == 3);
    REQUIRE(plan.after().intermediate == 4);
}

TEST_CASE("compact: read_dims", "[compact]") {
    const model_dims g = read_dims(find_family("gpt2"), cp_gpt2_config(12, 768, 12));
    REQUIRE(g == model_dims{12, 768, 12, 12, 64, 3072});
    json g2 = cp_gpt2_config(2, 32, 4);
    g2["n_inner"] = 50;
    REQUIRE(read_dims(find_family("gpt2"), g2).intermediate == 50);

    // Llama without head_dim or num_key_value_heads: head_dim = d / H, KV = H; ints as C++ builds them
    const json l = {{"model_type", "llama"},
                    {"num_hidden_layers", 2},
                    {"hidden_size", 48},
                    {"num_attention_heads", 6},
                    {"intermediate_size", 80}};
    REQUIRE(read_dims(find_family("llama"), l) == model_dims{2, 48, 6, 6, 8, 80});
    REQUIRE(read_dims(find_family("llama"), json::parse(l.dump())) == model_dims{2, 48, 6, 6, 8, 80});
    json bad = l;
    bad["hidden_size"] = 50;
    REQUIRE_THROWS_WITH(read_dims(find_family("llama"), bad), Contains("hidden_size 50 is not a multiple of"));
    bad = l;
    bad["num_attention_heads"] = -6;
    REQUIRE_THROWS_WITH(read_dims(find_family("llama"), bad), Contains("\"num_attention_heads\" = -6"));
    bad["num_attention_heads"] = 6.0;
    REQUIRE_THROWS_AS(read_dims(find_family("llama"), bad), value_error);
    bad = l;
    bad["num_key_value_heads"] = 4;
    REQUIRE_THROWS_WITH(read_dims(find_family("llama"), bad), Contains("6 is not a multiple of num_key_value_heads 4"));
    bad.erase("intermediate_size");
    REQUIRE_THROWS_WITH(read_dims(find_family("llama"), bad), Contains("config has no \"intermediate_size\""));
}

// ---- fill() over bf16 / f16 / f64 -----------------------------------------------------------------

struct cp_raw {
    tensor_desc desc;
    std::vector<std::byte> bytes;
};

using cp_raws = std::map<std::string, cp_raw, std::less<>>;

template <class T>
T cp_load(const std::vector<std::byte>& b, std::size_t i) {
    T v;
    std::memcpy(&v, b.data() + i * sizeof(T), sizeof(T));
    return v;
}

template <class T>
void cp_add_raw(cp_raws& in, const std::string& name, safetensors_dtype dt, std::vector<std::uint64_t> shape,
                std::mt19937& rng) {
    std::uint64_t numel = 1;
    for (const auto e : shape) numel *= e;
    std::uniform_real_distribution<double> u(-2.0, 2.0);
    std::vector<std::byte> b(numel * sizeof(T));
    for (std::size_t i = 0; i < numel; ++i) {
        const T v = from_double<T>(u(rng));
        std::memcpy(b.data() + i * sizeof(T), &v, sizeof(T));
    }
    in[name] = {{name, dt, std::move(shape)}, std::move(b)};
}

/// A 2-layer Llama in T: H 6, KV 3 (g 2), hd 4, d 12, I 10, attention biases present, no MLP biases.
template <class T>
cp_raws cp_typed_model(safetensors_dtype dt, std::mt19937& rng) {
    cp_raws in;
    cp_add_raw<T>(in, "model.embed_tokens.weight", dt, {16, 12}, rng);
    for (std::size_t l = 0; l < 2; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const std::pair<const char*, std::vector<std::uint64_t>> ts[] = {
            {"self_attn.q_proj.weight", {24, 12}},    {"self_attn.q_proj.bias", {24}},
            {"self_attn.k_proj.weight", {12, 12}},    {"self_attn.k_proj.bias", {12}},
            {"self_attn.v_proj.weight", {12, 12}},    {"self_attn.v_proj.bias", {12}},
            {"self_attn.o_proj.weight", {12, 24}},    {"self_attn.o_proj.bias", {12}},
            {"mlp.gate_proj.weight", {10, 12}},       {"mlp.up_proj.weight", {10, 12}},
            {"mlp.down_proj.weight", {12, 10}},       {"input_layernorm.weight", {12}},
            {"post_attention_layernorm.weight", {12}}};
        for (const auto& [name, shape] : ts) cp_add_raw<T>(in, p + name, dt, shape, rng);
    }
    return in;
}

/// The kept indices of one axis of a Llama tensor, from the test's own reading of the layout.
sizes cp_kept_axis(const std::string& rest, std::size_t axis, std::uint64_t extent, const model_dims& d,
                   const layer_selection& k) {
    const auto expand = [&](const sizes& units) {
        sizes v;
        for (const std::size_t u : units)
            for (std::size_t i = 0; i < d.head_dim; ++i) v.push_back(u * d.head_dim + i);
        return v;
    };
    sizes kv;
    for (const std::size_t h : k.heads)
        if (kv.empty() || kv.back() != h / d.group_size()) kv.push_back(h / d.group_size());
    const bool rows = axis == 0;
    if ((rest.starts_with("self_attn.q_proj") && rows) || (rest == "self_attn.o_proj.weight" && !rows))
        return expand(k.heads);
    if ((rest.starts_with("self_attn.k_proj") || rest.starts_with("self_attn.v_proj")) && rows) return expand(kv);
    if ((rest.starts_with("mlp.gate_proj") || rest.starts_with("mlp.up_proj")) && rows) return k.channels;
    if (rest == "mlp.down_proj.weight" && !rows) return k.channels;
    return cp_iota(static_cast<std::size_t>(extent));
}

sizes cp_complement(const sizes& kept, std::size_t n) {
    sizes v;
    for (std::size_t i = 0; i < n; ++i)
        if (!std::binary_search(kept.begin(), kept.end(), i)) v.push_back(i);
    return v;
}

/// fill() against a slow obvious gather and a compensated bias computed here: every output of a
/// bf16 / f16 / f64 (or f32) model, byte for byte.
template <class T>
void cp_check_typed_fill(safetensors_dtype dt) {
    json cfg = cp_llama_config(2, 12, 6, 3, 4, 10);
    cfg["attention_bias"] = true;
    const model_dims d = read_dims(find_family("llama"), cfg);
    std::mt19937 rng(21);
    const cp_raws in = cp_typed_model<T>(dt, rng);
    const std::vector<layer_selection> kept = {{{0, 4}, {0, 2, 3, 5, 8, 9}}, {{3, 5}, {1, 2, 4, 6, 7, 9}}};
    compact_options opt;
    opt.compensation = bias_compensation::required;
    for (std::size_t l = 0; l < 2; ++l) {
        opt.attention_means.push_back(cp_random_vec(24, rng));
        opt.mlp_means.push_back(cp_random_vec(10, rng));
    }
    std::vector<tensor_desc> descs;
    for (const auto& [name, r] : in) descs.push_back(r.desc);
    const compact_plan plan(find_family("llama"), cfg, descs, kept, opt);
    REQUIRE(plan.config().at("mlp_bias").get<bool>());
    REQUIRE(plan.outputs().size() == in.size() + 2 * 3);  // down_proj.bias, gate/up zero biases
    const auto read = [&](std::string_view name) -> std::span<const std::byte> { return in.find(name)->second.bytes; };
    std::map<std::string, std::vector<std::byte>> out;
    compact(plan, read,
            [&](const compact_output& o, std::span<const std::byte> b) { out[o.name].assign(b.begin(), b.end()); });
    std::size_t mismatches = 0, checked = 0;
    for (const compact_output& o : plan.outputs()) {
        INFO(o.name);
        REQUIRE(o.dtype == dt);
        const std::vector<std::byte>& got = out.at(o.name);
        std::vector<std::byte> want;
        const std::size_t layer = o.name.starts_with("model.layers.1.") ? 1 : 0;
        const std::string rest = o.name.starts_with("model.layers.") ? o.name.substr(15) : o.name;
        const bool attn = rest == "self_attn.o_proj.bias";
        if (attn || rest == "mlp.down_proj.bias") {  // b + W[:, removed] · mean[removed], rounded once
            REQUIRE(o.how == compact_output::kind::compensated);
            const std::string p = "model.layers." + std::to_string(layer) + ".";
            const cp_raw& W = in.at(p + (attn ? "self_attn.o_proj.weight" : "mlp.down_proj.weight"));
            const auto cols = static_cast<std::size_t>(W.desc.shape[1]);
            const sizes removed = cp_complement(
                attn ? cp_kept_axis("self_attn.o_proj.weight", 1, 24, d, kept[layer]) : kept[layer].channels, cols);
            const std::vector<float>& mu = attn ? opt.attention_means[layer] : opt.mlp_means[layer];
            for (std::size_t r = 0; r < 12; ++r) {
                double s = attn ? to_double(cp_load<T>(in.at(o.name).bytes, r)) : 0.0;
                for (const std::size_t c : removed) s += to_double(cp_load<T>(W.bytes, r * cols + c)) * double{mu[c]};
                const T v = from_double<T>(s);
                const auto* vb = reinterpret_cast<const std::byte*>(&v);
                want.insert(want.end(), vb, vb + sizeof(T));
            }
        } else if (!in.count(o.name)) {  // a zero bias compensation turns on
            REQUIRE(o.how == compact_output::kind::zeros);
            want.assign(6 * sizeof(T), std::byte{0});
        } else {  // the slow gather
            const cp_raw& src = in.at(o.name);
            const auto& shape = src.desc.shape;
            const sizes r0 = cp_kept_axis(rest, 0, shape[0], d, kept[layer]);
            const sizes r1 = shape.size() == 2 ? cp_kept_axis(rest, 1, shape[1], d, kept[layer]) : sizes{0};
            const std::size_t cols = shape.size() == 2 ? static_cast<std::size_t>(shape[1]) : 1;
            for (const std::size_t r : r0)
                for (const std::size_t c : r1) {
                    const auto* e = src.bytes.data() + (r * cols + c) * sizeof(T);
                    want.insert(want.end(), e, e + sizeof(T));
                }
        }
        ++checked;
        if (got != want) ++mismatches;
    }
    REQUIRE(checked == plan.outputs().size());
    REQUIRE(mismatches == 0);
}

TEST_CASE("compact: fill gathers any dtype and rounds compensated biases once", "[compact]") {
    cp_check_typed_fill<bfloat16>(safetensors_dtype::BF16);
    cp_check_typed_fill<float16>(safetensors_dtype::F16);
    cp_check_typed_fill<double>(safetensors_dtype::F64);
    cp_check_typed_fill<float>(safetensors_dtype::F32);
}

template <class T>
void cp_check_bias_overflow(safetensors_dtype dt, float mean) {
    json cfg = cp_llama_config(2, 12, 6, 3, 4, 10);
    cfg["attention_bias"] = true;
    std::mt19937 rng(23);
    const cp_raws in = cp_typed_model<T>(dt, rng);
    const std::vector<layer_selection> kept = {{cp_iota(6), {0, 2, 3, 5, 8, 9}}, {cp_iota(6), {1, 2, 4, 6, 7, 9}}};
    compact_options opt;
    opt.compensation = bias_compensation::required;
    opt.mlp_means.assign(2, std::vector<float>(10, mean));
    std::vector<tensor_desc> descs;
    for (const auto& [name, r] : in) descs.push_back(r.desc);
    const compact_plan plan(find_family("llama"), cfg, descs, kept, opt);
    const auto read = [&](std::string_view name) -> std::span<const std::byte> { return in.find(name)->second.bytes; };
    const auto run = [&] { compact(plan, read, [](const compact_output&, std::span<const std::byte>) {}); };
    REQUIRE_THROWS_AS(run(), value_error);
    REQUIRE_THROWS_WITH(run(), Contains("mlp.down_proj.bias'[") && Contains("is not finite in"));
}

TEST_CASE("compact: fill refuses a compensated bias beyond its dtype's range, and wrong sizes", "[compact]") {
    cp_check_bias_overflow<float16>(safetensors_dtype::F16, 1e6f);
    cp_check_bias_overflow<bfloat16>(safetensors_dtype::BF16, 3e38f);
    cp_check_bias_overflow<float>(safetensors_dtype::F32, 3e38f);

    cp_attempt a = cp_llama_attempt();
    const std::vector<tensor_desc> descs = cp_descs(a.w);
    const compact_plan plan(find_family("llama"), a.cfg, descs, a.kept);
    const compact_output& o = plan.outputs().back();
    std::vector<std::byte> dst(static_cast<std::size_t>(o.bytes()) + 4);
    REQUIRE_THROWS_WITH(plan.fill(o, cp_reader(a.w), dst), Contains("needs " + std::to_string(o.bytes()) + " bytes"));
    dst.resize(static_cast<std::size_t>(o.bytes()));
    const auto short_read = [&](std::string_view name) { return cp_reader(a.w)(name).first(4); };
    REQUIRE_THROWS_AS(plan.fill(o, short_read, dst), shape_error);
    REQUIRE_NOTHROW(plan.fill(o, cp_reader(a.w), dst));
}

}  // namespace compact_tests
}  // namespace
