#ifndef NNPRUNE_COMPACT_PLAN_HPP
#define NNPRUNE_COMPACT_PLAN_HPP

/// @file plan.hpp
/// compact_plan: everything about a compaction that can be known from the config, the tensor
/// names and shapes and the selection, before any weight is read (structured.md §4):
///  - validation: the family knows every layer tensor; every layer has its required tensors; every
///    shape matches the config (else "inconsistent config"); the selection is valid, keeps at least
///    one head and one channel per layer, keeps the same number of query heads in every kept KV
///    group (GQA), and the same counts in every layer (the uniform layout stock loaders accept);
///    a family whose config ties head_dim to hidden / heads keeps all its heads;
///  - the rewritten config.json: head, KV-head and channel counts, an explicit head_dim, and the
///    bias switches that compensation turns on;
///  - the output tensors, in input order, then the biases compensation creates, each with its
///    shape and the input it is gathered from.
/// fill() then writes one output tensor from the inputs' bytes: a gather of kept rows and columns
/// (any element type), or a compensated bias b + W[:, removed] · mean[removed], summed in double in
/// ascending input order and rounded once to the bias's type.
/// A plan that throws has read nothing and written nothing.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../io/safetensors_header.hpp"
#include "family.hpp"
#include "selection.hpp"

namespace nnprune {

/// FLAP's bias compensation (structured.md §4.3).
enum class bias_compensation : std::uint8_t {
    none,
    required,       ///< a family with no bias slot for a removed unit is an error
    where_possible  ///< such slots are skipped, and listed in compact_plan::skipped()
};

struct compact_options {
    bias_compensation compensation = bias_compensation::none;
    /// Per layer, the mean input of the attention output projection (H · head_dim values) and of
    /// the MLP output projection (I values): flap_accumulator::mean() of o_proj and down_proj.
    std::vector<std::vector<float>> attention_means, mlp_means;
};

/// An input tensor as the plan sees it.
struct tensor_desc {
    std::string name;
    safetensors_dtype dtype = safetensors_dtype::F32;
    std::vector<std::uint64_t> shape;
};

/// A run of kept indices along an axis.
struct index_run {
    std::size_t begin = 0, size = 0;
};

/// One tensor of the compacted model.
struct compact_output {
    enum class kind : std::uint8_t { copy, gather, compensated, zeros };

    std::string name;
    safetensors_dtype dtype = safetensors_dtype::F32;
    std::vector<std::uint64_t> shape;
    std::string source;  ///< the input it comes from: itself, or for a created bias its weight (zeros read nothing)
    kind how = kind::copy;
    std::size_t layer = 0;
    std::vector<std::vector<index_run>> runs;  ///< gather: kept runs per axis (empty: whole axis)
    std::string bias;                          ///< compensated: the input bias added to ("" when created)
    std::size_t input_axis = 1;                ///< compensated: the weight's input axis
    std::vector<std::size_t> removed;          ///< compensated: the weight's removed inputs, ascending
    nnprune::unit mean_unit = unit::channel;   ///< compensated: whose mean inputs (compact_options)

    [[nodiscard]] std::uint64_t bytes() const noexcept {
        std::uint64_t n = size_of(dtype);
        for (const auto e : shape) n *= e;
        return n;
    }
};

namespace detail {
/// Element i of a float tensor's little-endian bytes, as a double.
[[nodiscard]] inline double load_element(dtype t, const std::byte* p, std::size_t i) noexcept {
    const auto as = [&](auto v) {
        std::memcpy(&v, p + i * sizeof(v), sizeof(v));
        return v;
    };
    switch (t) {
        case dtype::f64:
            return as(0.0);
        case dtype::bf16:
            return to_double(as(bfloat16{}));
        case dtype::f16:
            return to_double(as(float16{}));
        case dtype::f32:
            break;
    }
    return as(0.0f);
}
}  // namespace detail

class compact_plan {
public:
    /// `family` must outlive the plan (built_in_families() are static).
    /// @throws value_error / shape_error naming the function, the tensor or layer and the values
    /// (see the file comment for what is checked).
    compact_plan(const model_family& family, const nlohmann::json& config, std::span<const tensor_desc> inputs,
                 std::span<const layer_selection> kept, compact_options options = {})
        : m_family(family), m_options(std::move(options)) {
        m_before = read_dims(family, config);
        check_selection(kept);
        m_kept.assign(kept.begin(), kept.end());
        for (const auto& t : inputs) add_input(t);
        check_required();
        plan_compensation();
        rewrite_config(config);
    }

    [[nodiscard]] const model_family& family() const noexcept { return m_family; }

    [[nodiscard]] const model_dims& before() const noexcept { return m_before; }

    [[nodiscard]] const model_dims& after() const noexcept { return m_after; }

    [[nodiscard]] const nlohmann::json& config() const noexcept { return m_config; }

    [[nodiscard]] const std::vector<compact_output>& outputs() const noexcept { return m_outputs; }

    [[nodiscard]] std::span<const layer_selection> selection() const noexcept { return m_kept; }

    /// What compensation skipped (where_possible): the outputs the family has no bias slot for.
    [[nodiscard]] const std::vector<std::string>& skipped() const noexcept { return m_skipped; }

    /// Writes `out` (one of outputs()) into dst (out.bytes() long). read(name) gives an input's
    /// bytes, row-major. @throws shape_error when dst or an input has the wrong size, value_error
    /// for a non-finite compensated bias.
    template <class Read>
    void fill(const compact_output& out, Read&& read, std::span<std::byte> dst) const {
        NNPRUNE_CHECK(
            dst.size() == out.bytes(), shape_error,
            detail::str("compact_plan::fill: '", out.name, "' needs ", out.bytes(), " bytes, got ", dst.size()));
        using kind = compact_output::kind;
        if (out.how == kind::zeros) {
            std::memset(dst.data(), 0, dst.size());
            return;
        }
        if (out.how == kind::compensated) {
            fill_compensated(out, read, dst);
            return;
        }
        const std::span<const std::byte> src = read(std::string_view(out.source));
        const tensor_desc& in = m_inputs.at(out.source);
        std::uint64_t in_bytes = size_of(in.dtype);
        for (const auto e : in.shape) in_bytes *= e;
        NNPRUNE_CHECK(src.size() == in_bytes, shape_error,
                      detail::str("compact_plan::fill: input '", out.source, "' has ", src.size(), " bytes, expected ",
                                  in_bytes));
        if (out.how == kind::copy) {
            std::memcpy(dst.data(), src.data(), src.size());
            return;
        }
        gather(out, in, src, dst);
    }

private:
    static constexpr const char* fn = "compact_plan";

    struct layer_name {
        std::size_t layer;
        std::string prefix, rest;
    };

    [[nodiscard]] std::optional<layer_name> split(std::string_view name) const {
        for (const auto& p : m_family.layer_prefixes) {
            const auto at = p.find("{i}");
            const std::string_view head = std::string_view(p).substr(0, at), tail = std::string_view(p).substr(at + 3);
            if (name.substr(0, head.size()) != head) continue;
            std::size_t i = head.size(), layer = 0;
            while (i < name.size() && name[i] >= '0' && name[i] <= '9' && i - head.size() < 9)
                layer = layer * 10 + static_cast<std::size_t>(name[i++] - '0');
            if (i == head.size() || name.substr(i, tail.size()) != tail) continue;
            return layer_name{layer, std::string(name.substr(0, i + tail.size())),
                              std::string(name.substr(i + tail.size()))};
        }
        return std::nullopt;
    }

    [[nodiscard]] const tensor_rule* rule(std::string_view rest) const {
        for (const auto& r : m_family.tensors)
            if (r.name == rest) return &r;
        return nullptr;
    }

    void check_selection(std::span<const layer_selection> kept) {
        const model_dims& d = m_before;
        NNPRUNE_CHECK(kept.size() == d.layers, shape_error,
                      detail::str(fn, ": ", kept.size(), " layer selections for ", d.layers, " layers"));
        const std::size_t g = d.group_size();
        std::optional<model_dims> shared;
        std::string counts;
        bool uniform = true;
        for (std::size_t l = 0; l < kept.size(); ++l) {
            check_indices(kept[l].heads, d.heads, l, "query head");
            check_indices(kept[l].channels, d.intermediate, l, "MLP channel");
            const kept_counts k = count_kept(kept[l], d);
            std::vector<std::size_t>& kv = m_kept_kv.emplace_back();
            for (std::size_t j = 0; j < k.per_group.size(); ++j)
                if (k.per_group[j]) kv.push_back(j);
            if (!k.equal_groups()) {
                std::string list;
                std::size_t least = g;
                for (std::size_t j = 0; j < k.per_group.size(); ++j) {
                    list += detail::str(j ? ", " : "", k.per_group[j]);
                    if (k.per_group[j]) least = std::min(least, k.per_group[j]);
                }
                NNPRUNE_THROW(value_error,
                              detail::str(fn, ": layer ", l, " keeps ", list, " query heads in its ", d.kv_heads,
                                          " KV groups; under GQA every kept group must keep the same number of its ", g,
                                          " query heads (e.g. ", least,
                                          " in each, or drop whole groups): "
                                          "written as is, the model would load and compute something else"));
            }
            const model_dims& a = k.dims;
            NNPRUNE_CHECK(a.heads > 0 && a.intermediate > 0, value_error,
                          detail::str(fn, ": layer ", l, " keeps ", a.heads, " heads and ", a.intermediate,
                                      " MLP channels; a layer keeps at least one of each"));
            counts += detail::str(l ? ", " : "", a.heads, "/", a.kv_heads, "/", a.intermediate);
            if (shared && !(*shared == a)) uniform = false;
            if (!shared) shared = a;
        }
        NNPRUNE_CHECK(uniform, value_error,
                      detail::str(fn, ": the layers keep different counts of heads/KV heads/MLP channels (", counts,
                                  "); the uniform layout that stock loaders accept needs the same in every layer: "
                                  "make_uniform() projects a selection onto shared counts"));
        m_after = shared.value_or(d);
        NNPRUNE_CHECK(m_after.heads == d.heads || !m_family.keys.head_dim.empty(), value_error,
                      detail::str(fn, ": family ", m_family.name, " derives head_dim from ", m_family.keys.hidden,
                                  " / ", m_family.keys.heads, ", so its config cannot hold ", m_after.heads, " of ",
                                  d.heads, " heads; keep every head and remove MLP channels only"));
        NNPRUNE_CHECK(!m_family.heads_divide_hidden || d.hidden % m_after.heads == 0, value_error,
                      detail::str(fn, ": family ", m_family.name, " needs ", m_family.keys.hidden, " ", d.hidden,
                                  " to be a multiple of the heads kept, ", m_after.heads));
    }

    static void check_indices(const std::vector<std::size_t>& v, std::size_t n, std::size_t layer, const char* what) {
        for (std::size_t i = 0; i < v.size(); ++i)
            NNPRUNE_CHECK(v[i] < n && (i == 0 || v[i] > v[i - 1]), value_error,
                          detail::str(fn, ": layer ", layer, ": kept ", what, " ", v[i], " at position ", i,
                                      v[i] >= n ? detail::str(" is out of range (", n, ")")
                                                : std::string(" is not above the one before (ascending, no repeats)")));
    }

    /// The kept runs of an axis of `layer`, or empty for a whole axis; checks its size against the config.
    [[nodiscard]] std::vector<index_run> axis_runs(const tensor_axis& axis, std::size_t layer, std::uint64_t size,
                                                   const std::string& name, std::size_t a) const {
        if (axis.empty()) return {};
        const model_dims& d = m_before;
        const layer_selection& k = m_kept[layer];
        std::vector<index_run> runs;
        std::size_t offset = 0;
        const auto push = [&](std::size_t begin, std::size_t n) {
            if (!runs.empty() && runs.back().begin + runs.back().size == begin)
                runs.back().size += n;
            else
                runs.push_back({begin, n});
        };
        for (const segment& s : axis) {
            const std::size_t width = s.unit == unit::channel ? 1 : s.head_dims * d.head_dim;
            const auto& units = s.unit == unit::head      ? k.heads
                                : s.unit == unit::kv_head ? m_kept_kv[layer]
                                                          : k.channels;
            for (const std::size_t u : units) push(offset + u * width, width);
            offset += d.units(s.unit) * width;
        }
        NNPRUNE_CHECK(size == offset, shape_error,
                      detail::str(fn, ": '", name, "' has ", size, " along axis ", a, ", the config (", d.heads,
                                  " heads, ", d.kv_heads, " KV heads, head_dim ", d.head_dim, ", ", d.intermediate,
                                  " MLP channels) gives ", offset, ": inconsistent config"));
        return runs;
    }

    void add_input(const tensor_desc& t) {
        NNPRUNE_CHECK(m_inputs.emplace(t.name, t).second, value_error,
                      detail::str(fn, ": tensor '", t.name, "' appears twice"));
        compact_output o;
        o.name = o.source = t.name;
        o.dtype = t.dtype;
        o.shape = t.shape;
        const auto ln = split(t.name);
        if (!ln) {  // embeddings, final norm, head: unchanged
            m_outputs.push_back(std::move(o));
            return;
        }
        NNPRUNE_CHECK(ln->layer < m_before.layers, value_error,
                      detail::str(fn, ": tensor '", t.name, "' belongs to layer ", ln->layer, ", the config has ",
                                  m_before.layers, " layers: inconsistent config"));
        const tensor_rule* r = rule(ln->rest);
        NNPRUNE_CHECK(r != nullptr, value_error,
                      detail::str(fn, ": tensor '", t.name, "' is not in family ", m_family.name,
                                  "'s table, so its shape after compaction is unknown; add it to the family"));
        o.layer = ln->layer;
        if (!r->axes.empty()) {
            NNPRUNE_CHECK(t.shape.size() == r->axes.size(), shape_error,
                          detail::str(fn, ": '", t.name, "' has rank ", t.shape.size(), ", family ", m_family.name,
                                      " expects ", r->axes.size()));
            bool whole = true;
            for (std::size_t a = 0; a < r->axes.size(); ++a) {
                // a weight's axis without units is the hidden axis
                NNPRUNE_CHECK(r->axes.size() != 2 || !r->axes[a].empty() || t.shape[a] == m_before.hidden, shape_error,
                              detail::str(fn, ": '", t.name, "' has ", t.shape[a], " along axis ", a, ", the config's ",
                                          m_family.keys.hidden, " is ", m_before.hidden, ": inconsistent config"));
                auto runs = axis_runs(r->axes[a], ln->layer, t.shape[a], t.name, a);
                if (!r->axes[a].empty()) {
                    std::size_t n = 0;
                    for (const auto& run : runs) n += run.size;
                    whole = whole && n == t.shape[a];
                    o.shape[a] = n;
                }
                o.runs.push_back(std::move(runs));
            }
            if (!whole) o.how = compact_output::kind::gather;
        }
        m_layer_tensors[ln->layer].emplace(ln->rest, m_outputs.size());
        m_prefix.emplace(ln->layer, ln->prefix);
        m_outputs.push_back(std::move(o));
    }

    void check_required() const {
        for (std::size_t l = 0; l < m_before.layers; ++l)
            for (const auto& r : m_family.tensors) {
                if (!r.required) continue;
                const auto it = m_layer_tensors.find(l);
                NNPRUNE_CHECK(it != m_layer_tensors.end() && it->second.count(r.name), value_error,
                              detail::str(fn, ": layer ", l, " of ", m_before.layers, " has no '", r.name,
                                          "' (a missing shard or another family?)"));
            }
    }

    [[nodiscard]] bool removes(unit u) const {
        for (const auto& k : m_kept)
            if ((u == unit::head ? k.heads.size() : k.channels.size()) != m_before.units(u)) return true;
        return false;
    }

    void plan_compensation() {
        if (m_options.compensation == bias_compensation::none) return;
        for (const unit u : {unit::head, unit::channel}) {
            if (!removes(u)) continue;
            bool slot = false;
            for (const consumer& c : m_family.consumers)
                if (c.unit == u && !c.bias.empty()) {
                    slot = true;
                    for (std::size_t l = 0; l < m_before.layers; ++l) plan_slot(c, l);
                }
            if (!slot) no_slot(u == unit::head ? "the attention output" : "the MLP output");
        }
    }

    void no_slot(const std::string& what) {
        NNPRUNE_CHECK(m_options.compensation == bias_compensation::where_possible, value_error,
                      detail::str(fn, ": family ", m_family.name, " has no bias for ", what,
                                  ", so bias compensation cannot be stored; compensate where possible to skip it"));
        m_skipped.push_back(what);
    }

    void plan_slot(const consumer& s, std::size_t l) {
        const auto& means = s.unit == unit::head ? m_options.attention_means : m_options.mlp_means;
        const char* which = s.unit == unit::head ? "attention_means" : "mlp_means";
        const auto& tensors = m_layer_tensors[l];
        const compact_output& w = m_outputs[tensors.at(s.weight)];
        const tensor_desc& win = m_inputs.at(w.source);
        NNPRUNE_CHECK(
            element_dtype(win.dtype).has_value(), value_error,
            detail::str(fn, ": bias compensation needs float weights, '", w.name, "' is ", name_of(win.dtype)));
        const std::size_t inputs = static_cast<std::size_t>(win.shape[s.input_axis]);
        NNPRUNE_CHECK(
            means.size() == m_before.layers && means[l].size() == inputs, shape_error,
            detail::str(fn, ": bias compensation of '", w.name, "' needs ", which, " for ", m_before.layers,
                        " layers of ", inputs, " values; got ", means.size(), " layers",
                        means.size() > l ? detail::str(", layer ", l, " has ", means[l].size()) : std::string()));
        for (std::size_t i = 0; i < inputs; ++i)
            NNPRUNE_CHECK(std::isfinite(means[l][i]), value_error,
                          detail::str(fn, ": ", which, "[", l, "][", i, "] = ", means[l][i], " is not finite"));
        std::vector<std::size_t> removed;
        std::size_t next = 0;
        for (const auto& run : w.runs[s.input_axis]) {
            for (; next < run.begin; ++next) removed.push_back(next);
            next = run.begin + run.size;
        }
        for (; next < inputs; ++next) removed.push_back(next);
        const std::string prefix = m_prefix.at(l);
        const std::size_t out_axis = 1 - s.input_axis;
        compact_output b;
        b.name = prefix + s.bias;
        b.dtype = win.dtype;
        b.shape = {win.shape[out_axis]};
        b.source = w.source;
        b.how = compact_output::kind::compensated;
        b.layer = l;
        b.input_axis = s.input_axis;
        b.removed = std::move(removed);
        b.mean_unit = s.unit;
        if (const auto it = tensors.find(s.bias); it != tensors.end()) {
            compact_output& existing = m_outputs[it->second];
            NNPRUNE_CHECK(existing.shape == b.shape && element_dtype(existing.dtype).has_value(), shape_error,
                          detail::str(fn, ": bias '", existing.name, "' does not match its weight '", w.name, "'"));
            b.bias = existing.name;
            b.dtype = existing.dtype;
            existing = std::move(b);
            return;
        }
        if (s.enable_key.empty()) {
            no_slot(detail::str("'", w.name, "'"));
            return;
        }
        m_enable.push_back(s.enable_key);
        m_outputs.push_back(std::move(b));
        for (const std::string& z : s.zero_biases) {
            if (tensors.count(z)) continue;
            const std::string weight = z.substr(0, z.size() - 4) + "weight";  // "x.bias" -> "x.weight"
            const compact_output& zw = m_outputs[tensors.at(weight)];
            compact_output zo;
            zo.name = prefix + z;
            zo.source = zw.name;
            zo.dtype = win.dtype;
            zo.shape = {zw.shape[0]};
            zo.how = compact_output::kind::zeros;
            zo.layer = l;
            m_outputs.push_back(std::move(zo));
        }
    }

    void rewrite_config(const nlohmann::json& config) {
        m_config = config;
        const family_keys& k = m_family.keys;
        m_config[k.heads] = m_after.heads;
        if (!k.kv_heads.empty() && (config.contains(k.kv_heads) || m_after.kv_heads != m_after.heads))
            m_config[k.kv_heads] = m_after.kv_heads;
        if (!k.head_dim.empty()) m_config[k.head_dim] = m_after.head_dim;
        m_config[k.intermediate] = m_after.intermediate;
        for (const auto& key : m_enable) m_config[key] = true;
    }

    template <class Read>
    void fill_compensated(const compact_output& out, Read& read, std::span<std::byte> dst) const {
        const tensor_desc& win = m_inputs.at(out.source);
        const std::span<const std::byte> w = read(std::string_view(out.source));
        const std::size_t rows = static_cast<std::size_t>(win.shape[0]), cols = static_cast<std::size_t>(win.shape[1]);
        NNPRUNE_CHECK(w.size() == rows * cols * size_of(win.dtype), shape_error,
                      detail::str("compact_plan::fill: input '", out.source, "' has ", w.size(), " bytes"));
        const std::size_t n = static_cast<std::size_t>(out.shape[0]);
        const std::vector<float>& means =
            (out.mean_unit == unit::head ? m_options.attention_means : m_options.mlp_means)[out.layer];
        std::vector<double> sum(n, 0.0);
        if (!out.bias.empty()) {
            const std::span<const std::byte> b = read(std::string_view(out.bias));
            NNPRUNE_CHECK(b.size() == out.bytes(), shape_error,
                          detail::str("compact_plan::fill: input '", out.bias, "' has ", b.size(), " bytes"));
            for (std::size_t o = 0; o < n; ++o) sum[o] = detail::load_element(*element_dtype(out.dtype), b.data(), o);
        }
        const dtype wd = *element_dtype(win.dtype);
        for (const std::size_t c : out.removed) {
            const double mu = means[c];
            if (out.input_axis == 1)
                for (std::size_t o = 0; o < n; ++o) sum[o] += detail::load_element(wd, w.data(), o * cols + c) * mu;
            else
                for (std::size_t o = 0; o < n; ++o) sum[o] += detail::load_element(wd, w.data(), c * cols + o) * mu;
        }
        for (std::size_t o = 0; o < n; ++o) {
            NNPRUNE_CHECK(finite_as(out.dtype, sum[o]), value_error,
                          detail::str("compact_plan::fill: compensated bias '", out.name, "'[", o, "] = ", sum[o],
                                      " is not finite in ", name_of(out.dtype)));
            store(out.dtype, dst, o, sum[o]);
        }
    }

    /// v is finite once rounded to t (a double beyond float's range cast to float is undefined).
    [[nodiscard]] static bool finite_as(safetensors_dtype t, double v) {
        if (!std::isfinite(v)) return false;
        switch (*element_dtype(t)) {
            case dtype::f64:
                return true;
            case dtype::f32:
                return std::fabs(v) <= static_cast<double>(std::numeric_limits<float>::max());
            case dtype::bf16:
                return is_finite(from_double<bfloat16>(v));
            case dtype::f16:
                return is_finite(from_double<float16>(v));
        }
        return false;
    }

    static void store(safetensors_dtype t, std::span<std::byte> b, std::size_t i, double v) {
        const auto put = [&](auto x) { std::memcpy(b.data() + i * sizeof(x), &x, sizeof(x)); };
        switch (*element_dtype(t)) {
            case dtype::f64:
                put(v);
                break;
            case dtype::f32:
                put(static_cast<float>(v));
                break;
            case dtype::bf16:
                put(from_double<bfloat16>(v));
                break;
            case dtype::f16:
                put(from_double<float16>(v));
                break;
        }
    }

    static void gather(const compact_output& out, const tensor_desc& in, std::span<const std::byte> src,
                       std::span<std::byte> dst) {
        const std::size_t es = size_of(in.dtype);
        std::byte* d = dst.data();
        if (in.shape.size() == 1) {
            for (const auto& r : out.runs[0]) {
                std::memcpy(d, src.data() + r.begin * es, r.size * es);
                d += r.size * es;
            }
            return;
        }
        const std::size_t cols = static_cast<std::size_t>(in.shape[1]);
        const std::vector<index_run> all_rows{{0, static_cast<std::size_t>(in.shape[0])}};
        const auto& rows = out.runs[0].empty() ? all_rows : out.runs[0];
        const auto& col_runs = out.runs[1];
        // Channels kept one by one give runs of an element or two: a typed gather by index is
        // ~4x faster than a memcpy call per run there.
        std::vector<std::uint32_t> index;
        std::size_t kept = 0;
        for (const auto& cr : col_runs) kept += cr.size;
        if (kept < 16 * col_runs.size() && cols <= UINT32_MAX && (es == 2 || es == 4 || es == 8)) {
            index.reserve(kept);
            for (const auto& cr : col_runs)
                for (std::size_t c = cr.begin; c < cr.begin + cr.size; ++c)
                    index.push_back(static_cast<std::uint32_t>(c));
        }
        for (const auto& rr : rows) {
            if (col_runs.empty()) {  // whole rows: one block
                std::memcpy(d, src.data() + rr.begin * cols * es, rr.size * cols * es);
                d += rr.size * cols * es;
                continue;
            }
            for (std::size_t r = rr.begin; r < rr.begin + rr.size; ++r) {
                const std::byte* row = src.data() + r * cols * es;
                if (!index.empty()) {
                    d = es == 2   ? gather_row<std::uint16_t>(row, index, d)
                        : es == 4 ? gather_row<std::uint32_t>(row, index, d)
                                  : gather_row<std::uint64_t>(row, index, d);
                    continue;
                }
                for (const auto& cr : col_runs) {
                    std::memcpy(d, row + cr.begin * es, cr.size * es);
                    d += cr.size * es;
                }
            }
        }
    }

    template <class T>
    static std::byte* gather_row(const std::byte* row, std::span<const std::uint32_t> index, std::byte* d) noexcept {
        for (const std::uint32_t c : index) {
            T v;
            std::memcpy(&v, row + std::size_t{c} * sizeof(T), sizeof(T));
            std::memcpy(d, &v, sizeof(T));
            d += sizeof(T);
        }
        return d;
    }

    const model_family& m_family;
    compact_options m_options;
    model_dims m_before, m_after;
    std::vector<layer_selection> m_kept;
    std::vector<std::vector<std::size_t>> m_kept_kv;  ///< per layer: the KV heads with a kept query head
    nlohmann::json m_config;
    std::vector<compact_output> m_outputs;
    std::map<std::string, tensor_desc, std::less<>> m_inputs;
    std::map<std::size_t, std::map<std::string, std::size_t>> m_layer_tensors;  ///< layer -> rest -> output
    std::map<std::size_t, std::string> m_prefix;
    std::vector<std::string> m_enable;
    std::vector<std::string> m_skipped;
};

/// Writes every output of `plan`: write(const compact_output&, std::span<const std::byte>) gets
/// each tensor once, in outputs() order, from one buffer reused across tensors.
template <class Read, class Write>
void compact(const compact_plan& plan, Read&& read, Write&& write) {
    std::vector<std::byte> buffer;
    for (const compact_output& o : plan.outputs()) {
        buffer.resize(static_cast<std::size_t>(o.bytes()));
        plan.fill(o, read, buffer);
        write(o, std::span<const std::byte>(buffer));
    }
}

}  // namespace nnprune

#endif  // NNPRUNE_COMPACT_PLAN_HPP
