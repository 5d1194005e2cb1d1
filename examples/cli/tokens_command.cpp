// nnprune tokens METHOD FILE: token selection and merging on tensors read from a safetensors file.
// See examples/cli/README.md ("tokens") for each method's tensor names, options and outputs.

#include "tokens_command.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include <nnprune/io/atomic_file.hpp>
#include <nnprune/io/safetensors_reader.hpp>
#include <nnprune/io/safetensors_writer.hpp>
#include <nnprune/tokens/attention_scores.hpp>
#include <nnprune/tokens/cls_attention.hpp>
#include <nnprune/tokens/divprune.hpp>
#include <nnprune/tokens/gprune.hpp>
#include <nnprune/tokens/h2o.hpp>
#include <nnprune/tokens/hiprune.hpp>
#include <nnprune/tokens/holov.hpp>
#include <nnprune/tokens/pyramid_drop.hpp>
#include <nnprune/tokens/snapkv.hpp>
#include <nnprune/tokens/think.hpp>
#include <nnprune/tokens/tome.hpp>
#include <nnprune/tokens/visionzip.hpp>

namespace nnprune_cli {
namespace {

namespace fs = std::filesystem;
using nnprune::detail::str;

// ---------------------------------------------------------------------------------------------
// the framework: inputs by name, the batch rule, typed dispatch, the output file

/// The method's tensors in FILE. A tensor of the single-item rank R is one item; rank R + 1 is a
/// batch along the leading axis (where the method has a batched form). The first tensor read
/// decides; every later one must agree (same batch extent).
class token_inputs {
public:
    /// expects: the method's tensor names and shapes, for the messages ("q [H, T, D], k [H, T, D]").
    token_inputs(std::string method, const std::string& file, std::string expects)
        : m_method(std::move(method)), m_expects(std::move(expects)), m_file(file) {}

    [[nodiscard]] bool has(const std::string& name) const { return m_file.contains(name); }

    /// Tensor `name`, floating, of rank `rank` (single item) or rank + 1 (a batch, when
    /// `batchable`). shape: its shape in words ("[H, T, D]").
    /// same_dtype: its dtype must be the other inputs' (else it may differ).
    [[nodiscard]] nnprune::safetensors_tensor get(const std::string& name, std::size_t rank, const std::string& shape,
                                                  bool batchable = true, bool same_dtype = true) {
        const auto t = find(name);
        const std::string want =
            batchable ? str(shape, " or [B, ", shape.substr(1)) : shape;  // "[H, T, D] or [B, H, T, D]"
        if (!t.is_element())
            throw input_error(str(m_method, ": tensor '", name, "' is ", nnprune::name_of(t.dtype()), " ",
                                  shape_text(t.shape()), "; expected F32, F64, BF16 or F16 ", want));
        const bool batched = batchable && t.rank() == rank + 1;
        if (t.rank() != rank && !batched)
            throw input_error(str(m_method, ": tensor '", name, "' has shape ", shape_text(t.shape()), " (rank ",
                                  t.rank(), "); expected ", want));
        if (m_batch_known && batched != m_batched)
            throw input_error(str(m_method, ": tensor '", name, "' has shape ", shape_text(t.shape()), "; ",
                                  m_batched ? "the other inputs are batched (expected " : "expected one item (",
                                  m_batched ? str("[", m_items, ", ", shape.substr(1)) : shape, ")"));
        if (m_batch_known && batched && t.shape()[0] != m_items)
            throw input_error(
                str(m_method, ": tensor '", name, "' has batch extent ", t.shape()[0], ", the other inputs ", m_items));
        if (batchable && !m_batch_known) {
            m_batch_known = true;
            m_batched = batched;
            m_items = batched ? t.shape()[0] : 1;
            if (batched && m_items == 0) throw input_error(str(m_method, ": tensor '", name, "' has an empty batch"));
        }
        if (same_dtype) check_dtype(t);
        return t;
    }

    /// Tensor `name`, floating, in the inputs' dtype, of any shape (the caller checks it).
    [[nodiscard]] nnprune::safetensors_tensor get_any(const std::string& name) {
        const auto t = find(name);
        if (!t.is_element())
            throw input_error(str(m_method, ": tensor '", name, "' is ", nnprune::name_of(t.dtype()),
                                  "; expected F32, F64, BF16 or F16"));
        check_dtype(t);
        return t;
    }

    [[nodiscard]] bool batched() const noexcept { return m_batched; }

    [[nodiscard]] std::size_t items() const noexcept { return static_cast<std::size_t>(m_items); }

    [[nodiscard]] const fs::path& path() const noexcept { return m_file.path(); }

private:
    [[nodiscard]] nnprune::safetensors_tensor find(const std::string& name) const {
        if (!m_file.contains(name))
            throw input_error(str(m_method, ": ", m_file.path().string(), " has no tensor '", name, "' (", m_method,
                                  " reads ", m_expects, ")"));
        return m_file.tensor(name);
    }

    void check_dtype(const nnprune::safetensors_tensor& t) {
        if (m_dtype && *m_dtype != t.dtype())
            throw input_error(str(m_method, ": tensor '", t.name(), "' is ", nnprune::name_of(t.dtype()), ", '",
                                  m_dtype_from, "' is ", nnprune::name_of(*m_dtype), "; the inputs share one dtype"));
        if (!m_dtype) {
            m_dtype = t.dtype();
            m_dtype_from = t.name();
        }
    }

    std::string m_method, m_expects;
    nnprune::safetensors_file m_file;
    bool m_batch_known = false, m_batched = false;
    std::uint64_t m_items = 1;
    std::optional<nnprune::safetensors_dtype> m_dtype;
    std::string m_dtype_from;
};

/// f(T{}) for the element type of t (F32, F64, BF16, F16).
template <class F>
decltype(auto) with_typed(const nnprune::safetensors_tensor& t, F&& f) {
    switch (t.ref().dtype()) {
        case nnprune::dtype::f64:
            return f(double{});
        case nnprune::dtype::bf16:
            return f(nnprune::bfloat16{});
        case nnprune::dtype::f16:
            return f(nnprune::float16{});
        case nnprune::dtype::f32:
            break;
    }
    return f(float{});
}

/// The output safetensors file: tensors collected (their storage owned here), written atomically.
class token_output {
public:
    token_output(const tokens_args& a, const std::string& method) : m_path(a.out) {
        m_writer.set_metadata("nnprune.method", method);
        m_writer.set_metadata("nnprune.file", fs::path(a.file).filename().string());
    }

    void metadata(const std::string& key, const std::string& value) { m_writer.set_metadata(key, value); }

    /// An I64 tensor of `shape` (row-major values).
    void indices(const std::string& name, std::vector<std::uint64_t> shape, std::vector<std::int64_t> v) {
        const auto& kept = *m_i64.emplace_back(std::make_unique<std::vector<std::int64_t>>(std::move(v)));
        m_writer.add_span<std::int64_t>(name, nnprune::safetensors_dtype::I64, std::move(shape),
                                        std::span<const std::int64_t>(kept));
    }

    /// Index lists as one I64 tensor [lead..., max length]: rows shorter than the longest are padded
    /// with -1 (the metadata nnprune.<name>.padded says so).
    void index_rows(const std::string& name, std::vector<std::uint64_t> lead,
                    const std::vector<std::vector<std::size_t>>& rows) {
        std::size_t width = 0;
        bool ragged = false;
        for (const auto& r : rows) width = std::max(width, r.size());
        std::vector<std::int64_t> v;
        v.reserve(rows.size() * width);
        for (const auto& r : rows) {
            ragged = ragged || r.size() != width;
            for (auto i : r) v.push_back(static_cast<std::int64_t>(i));
            v.resize(v.size() + (width - r.size()), -1);
        }
        if (ragged) m_writer.set_metadata("nnprune." + name + ".padded", "-1");
        lead.push_back(width);
        indices(name, std::move(lead), std::move(v));
    }

    /// A BOOL tensor (bytes 0 or 1).
    void flags(const std::string& name, std::vector<std::uint64_t> shape, std::vector<std::uint8_t> v) {
        auto owned = std::make_shared<std::vector<std::uint8_t>>(std::move(v));
        m_keep.push_back(owned);
        m_writer.add_raw(name, nnprune::safetensors_dtype::BOOL, std::move(shape),
                         std::as_bytes(std::span<const std::uint8_t>(*owned)));
    }

    /// A floating tensor in T (the input dtype), row-major values.
    template <class T>
    void values(const std::string& name, std::vector<std::uint64_t> shape, std::vector<T> v) {
        auto owned = std::make_shared<std::vector<T>>(std::move(v));
        m_keep.push_back(owned);
        m_writer.add_raw(name, dtype_of<T>(), std::move(shape), std::as_bytes(std::span<const T>(*owned)));
    }

    void write() const { m_writer.write(m_path); }

private:
    template <class T>
    static nnprune::safetensors_dtype dtype_of() {
        if constexpr (std::is_same_v<T, double>)
            return nnprune::safetensors_dtype::F64;
        else if constexpr (std::is_same_v<T, nnprune::bfloat16>)
            return nnprune::safetensors_dtype::BF16;
        else if constexpr (std::is_same_v<T, nnprune::float16>)
            return nnprune::safetensors_dtype::F16;
        else
            return nnprune::safetensors_dtype::F32;
    }

    fs::path m_path;
    nnprune::safetensors_writer m_writer;
    std::vector<std::unique_ptr<std::vector<std::int64_t>>> m_i64;
    std::vector<std::shared_ptr<void>> m_keep;
};

/// What every method needs: its name ("tokens snapkv"), the options and which were given.
struct method_context {
    const tokens_args& a;
    const CLI::App& sub;
    std::string name;  ///< "snapkv"

    [[nodiscard]] bool given(const char* option) const { return sub.count(option) > 0; }

    [[nodiscard]] std::string prefix() const { return "tokens " + name; }

    /// -o is required by every method but divprune and fastv (which can print).
    void require_output() const {
        if (a.out.empty()) throw usage_error(str(prefix(), ": give the output file: -o OUT.safetensors"));
    }
};

/// The --keep K / --ratio R budget (exactly one).
nnprune::token_keep budget(const method_context& m) {
    const bool has_keep = m.given("--keep"), has_ratio = m.given("--ratio");
    if (has_keep == has_ratio) throw usage_error("tokens: give exactly one of --keep K or --ratio R");
    if (has_keep) return nnprune::keep_count{m.a.keep};
    if (!(m.a.ratio >= 0.0 && m.a.ratio <= 1.0))
        throw usage_error(str("tokens: --ratio must be in [0, 1], got ", m.a.ratio));
    return m.a.ratio;
}

// ---------------------------------------------------------------------------------------------
// DivPrune and FastV (--tensor NAME; the kept indices printed, or written as JSON or safetensors)

void emit_tokens(const tokens_args& a, const std::string& method, std::size_t n, const std::vector<std::size_t>& kept) {
    if (a.out.empty()) {
        for (std::size_t i = 0; i < kept.size(); ++i) std::cout << (i ? " " : "") << kept[i];
        std::cout << '\n';
        return;
    }
    const fs::path out = a.out;
    if (out.extension() == ".json") {
        const nlohmann::ordered_json j = {
            {"method", method}, {"file", a.file}, {"tensor", a.tensor}, {"tokens", n}, {"kept", kept}};
        const std::string text = j.dump() + "\n";
        nnprune::atomic_file f(out);
        f.write(std::as_bytes(std::span<const char>(text.data(), text.size())));
        f.commit();
        return;
    }
    std::vector<std::int64_t> v(kept.begin(), kept.end());
    nnprune::safetensors_writer w;
    w.add_span<std::int64_t>("kept", nnprune::safetensors_dtype::I64, {v.size()}, v);
    w.set_metadata("nnprune.method", method);
    w.set_metadata("nnprune.tensor", a.tensor);
    w.set_metadata("nnprune.tokens", std::to_string(n));
    w.write(out);
}

void run_divprune(const method_context& m) {
    const auto& a = m.a;
    const auto keep = budget(m);
    const nnprune::safetensors_file f(a.file);
    const auto t = f.tensor(a.tensor);
    if (!t.is_element() || t.rank() != 2)
        throw input_error(str("tokens divprune: tensor '", a.tensor, "' is ", nnprune::name_of(t.dtype()), " ",
                              shape_text(t.shape()), "; expected floating [N, d] features"));
    const auto kept = with_typed(t, [&](auto tag) { return nnprune::divprune(t.view<decltype(tag), 2>(), keep); });
    emit_tokens(a, "divprune", static_cast<std::size_t>(t.shape()[0]), kept);
}

void run_fastv(const method_context& m) {
    const auto& a = m.a;
    const auto keep = budget(m);
    if (a.mode != "last" && a.mode != "mean") throw usage_error(str("tokens fastv: --mode '", a.mode, "' (last|mean)"));
    const nnprune::safetensors_file f(a.file);
    const auto t = f.tensor(a.tensor);
    if (!t.is_element() || t.rank() != 3)
        throw input_error(str("tokens fastv: tensor '", a.tensor, "' is ", nnprune::name_of(t.dtype()), " ",
                              shape_text(t.shape()), "; expected floating [heads, queries, keys] attention"));
    const std::size_t len = m.given("--len")
                                ? a.len
                                : static_cast<std::size_t>(t.shape()[2]) - std::min<std::size_t>(a.start, t.shape()[2]);
    const auto mode = a.mode == "last" ? nnprune::fastv_mode::last_query : nnprune::fastv_mode::mean_queries;
    const auto kept = with_typed(t, [&](auto tag) {
        return nnprune::fastv(t.view<decltype(tag), 3>(), nnprune::image_range{a.start, len}, keep, mode);
    });
    emit_tokens(a, "fastv", len, kept);
}

// ---------------------------------------------------------------------------------------------
// helpers of the methods below

/// A single item as a batch of one (the leading extent 1), so each method has one code path: its
/// batched form, which computes every item exactly as the single call does.
template <class T, std::size_t Rank>
nnprune::tensor_view<T, Rank + 1> as_batch(const nnprune::tensor_view<T, Rank>& v) {
    typename nnprune::tensor_view<T, Rank + 1>::extents_type ext{};
    typename nnprune::tensor_view<T, Rank + 1>::strides_type st{};
    ext[0] = 1;
    st[0] = static_cast<std::ptrdiff_t>(v.size());
    for (std::size_t r = 0; r < Rank; ++r) {
        ext[r + 1] = v.extent(r);
        st[r + 1] = v.stride(r);
    }
    return nnprune::tensor_view<T, Rank + 1>(v.data_handle(), ext, st);
}

/// Tensor t (rank R or, batched, R + 1) as a batch view [B, ...] of element type T.
template <class T, std::size_t R>
nnprune::tensor_view<const T, R + 1> batch_view(const nnprune::safetensors_tensor& t, bool batched) {
    if (batched) return t.view<T, R + 1>();
    return as_batch(t.view<T, R>());
}

/// The output shape: `inner` with [B] in front when the input was batched.
std::vector<std::uint64_t> out_shape(const token_inputs& in, std::vector<std::uint64_t> inner) {
    if (in.batched()) inner.insert(inner.begin(), in.items());
    return inner;
}

std::vector<std::uint64_t> lead(const token_inputs& in) {
    return in.batched() ? std::vector<std::uint64_t>{in.items()} : std::vector<std::uint64_t>{};
}

template <class V>
std::vector<std::int64_t> to_i64(const V& v) {
    std::vector<std::int64_t> out;
    out.reserve(v.size());
    for (auto x : v) out.push_back(static_cast<std::int64_t>(x));
    return out;
}

/// "8,16,24" -> {8, 16, 24}; "" -> {}.
template <class X>
std::vector<X> parse_list(const method_context& m, const char* option, const std::string& text) {
    std::vector<X> out;
    std::size_t at = 0;
    while (at <= text.size() && !text.empty()) {
        const std::size_t comma = std::min(text.find(',', at), text.size());
        const std::string item = text.substr(at, comma - at);
        try {
            std::size_t used = 0;
            if constexpr (std::is_floating_point_v<X>)
                out.push_back(static_cast<X>(std::stod(item, &used)));
            else {
                if (item.empty() || item[0] == '-') throw std::invalid_argument(item);
                out.push_back(static_cast<X>(std::stoull(item, &used)));
            }
            if (used != item.size()) throw std::invalid_argument(item);
        } catch (const std::logic_error&) {
            throw usage_error(str(m.prefix(), ": ", option, " '", text, "': '", item, "' is not a ",
                                  std::is_floating_point_v<X> ? "number" : "count"));
        }
        at = comma + 1;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// SnapKV: q, k [H, T, D] -> kept [H, kept] ascending, upstream_order [H, kept]

void run_snapkv(const method_context& m) {
    const auto& a = m.a;
    m.require_output();
    nnprune::snapkv_options o;
    if (m.given("--window")) o.window = a.window;
    if (m.given("--capacity")) o.capacity = a.capacity;
    if (m.given("--kernel")) o.kernel = a.kernel;
    if (m.given("--kv-heads")) o.kv_heads = a.kv_heads;
    if (a.pooling == "max")
        o.pooling = nnprune::snapkv_pooling::max;
    else if (a.pooling != "avg")
        throw usage_error(str(m.prefix(), ": --pooling '", a.pooling, "' (avg|max)"));
    token_inputs in(m.prefix(), a.file, "q [H, T, D] and k [H, T, D], or both [B, H, T, D]");
    const auto q = in.get("q", 3, "[H, T, D]");
    const auto k = in.get("k", 3, "[H, T, D]");
    token_output out(a, "snapkv");
    with_typed(q, [&](auto tag) {
        using T = decltype(tag);
        const auto res =
            nnprune::snapkv_batch(batch_view<T, 3>(q, in.batched()), batch_view<T, 3>(k, in.batched()), o, a.threads);
        std::vector<std::size_t> keep, order;
        for (const auto& r : res) {
            keep.insert(keep.end(), r.keep.begin(), r.keep.end());
            order.insert(order.end(), r.upstream_order.begin(), r.upstream_order.end());
        }
        const auto shape = out_shape(in, {res[0].heads, res[0].kept});
        out.indices("kept", shape, to_i64(keep));
        out.indices("upstream_order", shape, to_i64(order));
        out.metadata("nnprune.compressed", res[0].compressed ? "true" : "false");
    });
    out.write();
}

// ---------------------------------------------------------------------------------------------
// ThinK: q [H, Tq, D], k [H, T, D] -> kept channels [H, D - p], mask [H, D], pruned_keys

void run_think(const method_context& m) {
    const auto& a = m.a;
    m.require_output();
    nnprune::think_options o;
    if (m.given("--ratio")) o.ratio = a.ratio;
    if (m.given("--query-window")) o.query_window = a.query_window;
    if (m.given("--recent-size")) o.recent_size = a.recent_size;
    token_inputs in(m.prefix(), a.file, "q [H, Tq, D] and k [H, T, D], or both [B, H, ., D]");
    const auto q = in.get("q", 3, "[H, Tq, D]");
    const auto k = in.get("k", 3, "[H, T, D]");
    token_output out(a, "think");
    with_typed(q, [&](auto tag) {
        using T = decltype(tag);
        const auto kv = batch_view<T, 3>(k, in.batched());
        const auto res = nnprune::think_batch(batch_view<T, 3>(q, in.batched()), kv, o, a.threads);
        const std::size_t h = res[0].heads, d = res[0].dim, kept = res[0].kept, t = kv.extent(2);
        const std::size_t n = t > o.recent_size ? t - o.recent_size : 0;
        std::vector<std::size_t> channels;
        std::vector<std::uint8_t> mask;
        std::vector<T> pruned(res.size() * h * n * kept);
        for (std::size_t b = 0; b < res.size(); ++b) {
            channels.insert(channels.end(), res[b].channels.begin(), res[b].channels.end());
            mask.insert(mask.end(), res[b].mask.begin(), res[b].mask.end());
            nnprune::think_gather_keys(nnprune::detail::item_of(kv, b), res[b], o.recent_size,
                                       nnprune::tensor_view<T, 3>(pruned.data() + b * h * n * kept, h, n, kept));
        }
        out.indices("kept", out_shape(in, {h, kept}), to_i64(channels));
        out.flags("mask", out_shape(in, {h, d}), std::move(mask));
        out.values<T>("pruned_keys", out_shape(in, {h, n, kept}), std::move(pruned));
        out.metadata("nnprune.pruned_channels", std::to_string(res[0].pruned));
    });
    out.write();
}

// ---------------------------------------------------------------------------------------------
// H2O: attention steps attn.0, attn.1, ... (or one tensor attn), each [H, q, kv] ([B, H, q, kv]),
// fed to the cache in order -> kept [KV heads, size] token positions, scores [KV heads, size]

void run_h2o(const method_context& m) {
    const auto& a = m.a;
    m.require_output();
    token_inputs in(m.prefix(), a.file,
                    "attn [H, q, kv] (one call) or the steps attn.0, attn.1, ... (each [H, q, kv] or [B, H, q, kv])");
    std::vector<std::string> steps;
    if (in.has("attn") && in.has("attn.0"))
        throw input_error(str(m.prefix(), ": ", a.file, " has both 'attn' and 'attn.0' (give one or the other)"));
    if (in.has("attn"))
        steps.push_back("attn");
    else
        for (std::size_t i = 0; in.has(str("attn.", i)); ++i) steps.push_back(str("attn.", i));
    if (steps.empty()) (void)in.get("attn", 3, "[H, q, kv]");  // the missing-tensor error
    if (m.given("--steps")) {
        if (a.steps == 0 || a.steps > steps.size())
            throw usage_error(str(m.prefix(), ": --steps ", a.steps, " but the file has ", steps.size(), " step(s)"));
        steps.resize(a.steps);
    }
    std::vector<nnprune::safetensors_tensor> ts;
    for (const auto& s : steps) ts.push_back(in.get(s, 3, "[H, q, kv]"));
    nnprune::h2o_options o;
    o.heads = static_cast<std::size_t>(ts[0].shape()[in.batched() ? 1 : 0]);
    if (m.given("--hh-size")) o.hh_size = a.hh_size;
    if (m.given("--recent-size")) o.recent_size = a.recent_size;
    if (m.given("--kv-heads")) o.kv_heads = a.kv_heads;
    std::vector<nnprune::h2o_cache> caches(in.items(), nnprune::h2o_cache(o));
    const std::size_t rows = caches[0].rows();
    // positions[b][g]: the original token position of every cached token of item b, KV head g
    std::vector<std::vector<std::vector<std::size_t>>> pos(in.items(), std::vector<std::vector<std::size_t>>(rows));
    std::size_t total = 0;
    token_output out(a, "h2o");
    with_typed(ts[0], [&](auto tag) {
        using T = decltype(tag);
        for (const auto& t : ts) {
            const auto attn = batch_view<T, 3>(t, in.batched());
            nnprune::h2o_step_batch(std::span<nnprune::h2o_cache>(caches), attn, a.threads);
            const std::size_t fresh = attn.extent(2);
            for (std::size_t b = 0; b < caches.size(); ++b)
                for (std::size_t g = 0; g < rows; ++g) {
                    auto& p = pos[b][g];
                    for (std::size_t i = 0; i < fresh; ++i) p.push_back(total + i);
                    std::vector<std::size_t> next;
                    for (auto j : caches[b].kept(g)) next.push_back(p[j]);
                    p = std::move(next);
                }
            total += fresh;
        }
    });
    const std::size_t size = caches[0].size();
    std::vector<std::int64_t> kept;
    std::vector<float> scores;
    for (std::size_t b = 0; b < caches.size(); ++b)
        for (std::size_t g = 0; g < rows; ++g) {
            for (auto p : pos[b][g]) kept.push_back(static_cast<std::int64_t>(p));
            const auto s = caches[b].scores(g);
            scores.insert(scores.end(), s.begin(), s.end());
        }
    out.indices("kept", out_shape(in, {rows, size}), std::move(kept));
    out.values<float>("scores", out_shape(in, {rows, size}), std::move(scores));
    out.metadata("nnprune.steps", std::to_string(ts.size()));
    out.metadata("nnprune.tokens", std::to_string(total));
    out.write();
}

// ---------------------------------------------------------------------------------------------
// [CLS] attention (FasterVLM; VTC-CLS with --start-layer or --layers): attn -> kept, scores

void run_cls_attention(const method_context& m) {
    const auto& a = m.a;
    m.require_output();
    const auto keep = budget(m);
    nnprune::cls_attention_options o;
    o.cls = a.cls;
    const bool layered = m.given("--layers") || m.given("--start-layer");
    if (m.given("--layers") && m.given("--start-layer"))
        throw usage_error(str(m.prefix(), ": give --layers FIRST:LAST or --start-layer S, not both"));
    token_inputs in(m.prefix(), a.file,
                    layered ? "attn [L, H, N+1, N+1] (the layers' attention maps)"
                            : "attn [H, N+1, N+1] (one layer) or [B, H, N+1, N+1]");
    token_output out(a, "cls_attention");
    if (layered) {
        const auto t = in.get("attn", 4, "[L, H, N+1, N+1]", false);
        nnprune::layer_range layers;
        if (m.given("--start-layer")) {
            layers = nnprune::vtc_cls_layers(static_cast<std::size_t>(t.shape()[0]), a.start_layer);
        } else {
            const std::size_t colon = a.layers.find(':');
            const auto parts =
                colon == std::string::npos
                    ? std::vector<std::size_t>{}
                    : parse_list<std::size_t>(m, "--layers", std::string(a.layers).replace(colon, 1, ","));
            if (parts.size() != 2) throw usage_error(str(m.prefix(), ": --layers '", a.layers, "' (FIRST:LAST)"));
            layers = {parts[0], parts[1]};
        }
        with_typed(t, [&](auto tag) {
            using T = decltype(tag);
            nnprune::cls_attention_result r;
            nnprune::cls_attention_workspace ws;
            nnprune::cls_attention(t.view<T, 4>(), layers, keep, r, ws, o);
            out.indices("kept", {r.kept.size()}, to_i64(r.kept));
            out.values<float>("scores", {r.scores.size()}, r.scores);
        });
        out.metadata("nnprune.layers", str(layers.first, ":", layers.last));
    } else {
        const auto t = in.get("attn", 3, "[H, N+1, N+1]");
        with_typed(t, [&](auto tag) {
            using T = decltype(tag);
            std::vector<nnprune::cls_attention_result> res;
            std::vector<nnprune::cls_attention_workspace> ws;
            nnprune::cls_attention_batch(batch_view<T, 3>(t, in.batched()), keep, res, ws, o, a.threads);
            std::vector<std::size_t> kept;
            std::vector<float> scores;
            for (const auto& r : res) {
                kept.insert(kept.end(), r.kept.begin(), r.kept.end());
                scores.insert(scores.end(), r.scores.begin(), r.scores.end());
            }
            out.indices("kept", out_shape(in, {res[0].kept.size()}), to_i64(kept));
            out.values<float>("scores", out_shape(in, {res[0].scores.size()}), std::move(scores));
        });
    }
    out.write();
}

// ---------------------------------------------------------------------------------------------
// PyramidDrop: row [H, L] of the last instruction token -> kept (relative to --img-start), scores

void run_pyramid_drop(const method_context& m) {
    const auto& a = m.a;
    m.require_output();
    token_inputs in(m.prefix(), a.file, "row [H, L] or [B, H, L] (the last instruction token's attention)");
    const auto t = in.get("row", 2, "[H, L]");
    const std::size_t len = static_cast<std::size_t>(t.shape()[in.batched() ? 2 : 1]);
    std::size_t n_s = m.given("--n-s") ? a.n_s : len - std::min(a.img_start, len), n_next = a.n_next;
    const bool staged = m.given("--stage");
    if (staged == m.given("--n-next"))
        throw usage_error(str(m.prefix(), ": give --n-next N, or --stage S (with --n0, the schedule's N0)"));
    if (staged) {
        nnprune::pdrop_options po;
        if (m.given("--layer-list")) po.layers = parse_list<std::size_t>(m, "--layer-list", a.layer_list);
        if (m.given("--ratio-list")) po.ratios = parse_list<double>(m, "--ratio-list", a.ratio_list);
        if (!m.given("--layer-list") && m.given("--ratio-list")) {  // the default layers, as many as ratios
            po.layers.clear();
            for (std::size_t s = 0; s < po.ratios.size(); ++s) po.layers.push_back(8 * (s + 1));
        }
        const std::size_t n0 = m.given("--n0") ? a.n0 : n_s;
        const auto sched = nnprune::pyramid_drop_schedule(n0, po);
        if (a.stage == 0 || a.stage >= sched.counts.size())
            throw usage_error(str(m.prefix(), ": --stage ", a.stage, " outside 1..", sched.counts.size() - 1));
        if (!m.given("--n-s")) n_s = sched.counts[a.stage - 1];
        n_next = sched.counts[a.stage];
    }
    token_output out(a, "pyramid_drop");
    with_typed(t, [&](auto tag) {
        using T = decltype(tag);
        std::vector<nnprune::pdrop_result> res;
        std::vector<nnprune::pdrop_workspace> ws;
        const std::size_t start[1] = {a.img_start};
        nnprune::pdrop_select_batch(batch_view<T, 2>(t, in.batched()), std::span<const std::size_t>(start), n_s, n_next,
                                    res, ws, a.threads);
        std::vector<std::size_t> kept;
        std::vector<float> scores;
        for (const auto& r : res) {
            kept.insert(kept.end(), r.kept.begin(), r.kept.end());
            scores.insert(scores.end(), r.scores.begin(), r.scores.end());
        }
        out.indices("kept", out_shape(in, {n_next}), to_i64(kept));
        out.values<float>("scores", out_shape(in, {n_s}), std::move(scores));
    });
    out.metadata("nnprune.img_start", std::to_string(a.img_start));
    out.metadata("nnprune.n_s", std::to_string(n_s));
    out.write();
}

// ---------------------------------------------------------------------------------------------
// HiPrune: attn_object, attn_deep [H, N+1, N+1] -> kept [V], anchors, object

void run_hiprune(const method_context& m) {
    const auto& a = m.a;
    m.require_output();
    nnprune::hiprune_options o;
    if (m.given("--budget")) o.budget = a.budget;
    if (m.given("--alpha")) o.alpha = a.alpha;
    if (m.given("--grid-width")) o.grid_width = a.grid_width;
    o.cls = a.cls;
    if (m.given("--crops")) o.budget = nnprune::hiprune_crop_budget(o.budget, a.crops);
    token_inputs in(m.prefix(), a.file,
                    "attn_object and attn_deep, both [H, N+1, N+1] or [B, H, N+1, N+1] (the object and deep layers)");
    const auto ob = in.get("attn_object", 3, "[H, N+1, N+1]");
    const auto dp = in.get("attn_deep", 3, "[H, N+1, N+1]");
    token_output out(a, "hiprune");
    with_typed(ob, [&](auto tag) {
        using T = decltype(tag);
        std::vector<nnprune::hiprune_result> res;
        std::vector<nnprune::hiprune_workspace> ws;
        nnprune::hiprune_batch(batch_view<T, 3>(ob, in.batched()), batch_view<T, 3>(dp, in.batched()), o, res, ws,
                               a.threads);
        std::vector<std::vector<std::size_t>> kept, anchors, object;
        for (const auto& r : res) {
            kept.push_back(r.kept);
            anchors.push_back(r.anchors);
            object.push_back(r.object);
        }
        const auto rows = [&](const std::string& name, const std::vector<std::vector<std::size_t>>& v) {
            if (in.batched())
                out.index_rows(name, {}, v);
            else
                out.indices(name, {v[0].size()}, to_i64(v[0]));
        };
        rows("kept", kept);
        rows("anchors", anchors);
        rows("object", object);
    });
    out.metadata("nnprune.budget", std::to_string(o.budget));
    out.write();
}

// ---------------------------------------------------------------------------------------------
// G-Prune: features [N, d] -> kept [k], score [N]

void run_gprune(const method_context& m) {
    const auto& a = m.a;
    m.require_output();
    nnprune::gprune_options o;
    if (m.given("--similarity")) o.similarity = a.similarity;
    if (m.given("--temperature")) o.temperature = a.temperature;
    if (m.given("--iterations")) o.iterations = a.iterations;
    if (m.given("--keep") == m.given("--ratio")) throw usage_error("tokens: give exactly one of --keep K or --ratio R");
    token_inputs in(m.prefix(), a.file, "features [N, d] or [B, N, d]");
    const auto t = in.get("features", 2, "[N, d]");
    const std::size_t n = static_cast<std::size_t>(t.shape()[in.batched() ? 1 : 0]);
    std::size_t k = a.keep;
    if (m.given("--ratio")) {
        if ((m.given("--rows") || m.given("--cols")) && a.rows * a.cols != n)
            throw usage_error(str(m.prefix(), ": --rows ", a.rows, " x --cols ", a.cols, " is not N = ", n));
        k = m.given("--rows") || m.given("--cols") ? nnprune::gprune_keep_count(a.ratio, a.rows, a.cols)
                                                   : nnprune::gprune_keep_count(a.ratio, n);
    }
    token_output out(a, "gprune");
    with_typed(t, [&](auto tag) {
        using T = decltype(tag);
        const auto res = nnprune::gprune_batch(batch_view<T, 2>(t, in.batched()), k, o, a.threads);
        std::vector<std::size_t> kept;
        std::vector<float> score;
        for (const auto& r : res) {
            kept.insert(kept.end(), r.kept.begin(), r.kept.end());
            score.insert(score.end(), r.score.begin(), r.score.end());
        }
        out.indices("kept", out_shape(in, {k}), to_i64(kept));
        out.values<float>("score", out_shape(in, {n}), std::move(score));
    });
    out.write();
}

// ---------------------------------------------------------------------------------------------
// ToMe: metric [t, c], x [t, C], size [t] or [t, 1] (optional) -> x, size merged (t - r rows),
// kept (ascending), positions (each output row's token), row_of (each token's output row)

/// v (float or double values) in the element type T.
template <class T, class O>
std::vector<T> narrowed(const std::vector<O>& v) {
    if constexpr (std::is_same_v<T, O>) {
        return v;
    } else {
        std::vector<T> out;
        out.reserve(v.size());
        for (auto x : v) out.push_back(T(static_cast<float>(x)));
        return out;
    }
}

void run_tome(const method_context& m) {
    const auto& a = m.a;
    m.require_output();
    if (!m.given("--r")) throw usage_error(str(m.prefix(), ": give --r R (tokens merged away)"));
    nnprune::tome_options o;
    o.class_token = a.class_token;
    o.distill_token = a.distill_token;
    token_inputs in(
        m.prefix(), a.file,
        "metric [t, c], x [t, C] and optionally size [t] or [t, 1] (batched: [B, t, c], [B, t, C], [B, t])");
    const auto metric = in.get("metric", 2, "[t, c]");
    const auto x = in.get("x", 2, "[t, C]");
    const bool batched = in.batched();
    const std::uint64_t t_in = metric.shape()[batched ? 1 : 0];
    std::optional<nnprune::safetensors_tensor> size;
    if (in.has("size")) {
        size = in.get_any("size");
        const auto& sh = size->shape();
        const std::size_t base = batched ? 1 : 0;
        const bool ok = (sh.size() == base + 1 || (sh.size() == base + 2 && sh[base + 1] == 1)) &&
                        (!batched || sh[0] == in.items()) && sh[base] == t_in;
        if (!ok)
            throw input_error(str(m.prefix(), ": tensor 'size' has shape ", shape_text(size->shape()), "; expected ",
                                  batched ? str("[", in.items(), ", ", t_in, "] or [", in.items(), ", ", t_in, ", 1]")
                                          : str("[", t_in, "] or [", t_in, ", 1]")));
    }
    token_output out(a, "tome");
    with_typed(metric, [&](auto tag) {
        using T = decltype(tag);
        using O = std::conditional_t<std::is_same_v<T, double>, double, float>;
        const auto mv = batch_view<T, 2>(metric, batched);
        const auto xv = batch_view<T, 2>(x, batched);
        std::vector<nnprune::tome_matching> ms;
        std::vector<nnprune::tome_workspace> ws;
        nnprune::tome_match_batch(mv, static_cast<std::int64_t>(a.r), o, ms, ws, a.threads);
        const std::size_t items = ms.size(), rows = ms[0].rows(), cols = xv.extent(2);
        std::vector<O> xo(items * rows * cols), so(items * rows);
        const nnprune::tensor_view<O, 3> x_out(xo.data(), items, rows, cols);
        const nnprune::tensor_view<O, 2> s_out(so.data(), items, rows);
        if (size) {
            // [t] / [t, 1] (or batched [B, t] / [B, t, 1]) as a [B, t] view
            // [t] / [t, 1] (or batched [B, t] / [B, t, 1]): contiguous, so a [B, t] view of the same memory
            const auto sr = size->ref();  // checks the alignment
            const nnprune::tensor_view<const T, 2> sv(static_cast<const T*>(sr.data_handle()), in.items(),
                                                      static_cast<std::size_t>(t_in));
            nnprune::tome_merge_wavg_batch(std::span<const nnprune::tome_matching>(ms), xv, sv, x_out, s_out, ws,
                                           a.threads);
        } else {
            nnprune::tome_merge_wavg_batch(std::span<const nnprune::tome_matching>(ms), xv, x_out, s_out, ws,
                                           a.threads);
        }
        std::vector<std::vector<std::size_t>> kept, positions, row_of, src, dst, unm;
        for (const auto& mt : ms) {
            positions.push_back(mt.positions);
            row_of.push_back(mt.row_of);
            src.push_back(mt.src_idx);
            dst.push_back(mt.dst_idx);
            unm.push_back(mt.unm_idx);
            kept.push_back(mt.positions);
            std::sort(kept.back().begin(), kept.back().end());
        }
        const auto rows_out = [&](const std::string& name, const std::vector<std::vector<std::size_t>>& v) {
            out.index_rows(name, lead(in), v);
        };
        rows_out("kept", kept);
        rows_out("positions", positions);
        rows_out("row_of", row_of);
        rows_out("src_idx", src);
        rows_out("dst_idx", dst);
        rows_out("unm_idx", unm);
        out.values<T>("x", out_shape(in, {rows, cols}), narrowed<T>(xo));
        const bool column = size && size->shape().size() == (batched ? 3u : 2u);
        out.values<T>("size", column ? out_shape(in, {rows, 1}) : out_shape(in, {rows}), narrowed<T>(so));
        out.metadata("nnprune.r", std::to_string(ms[0].r));
    });
    out.write();
}

// ---------------------------------------------------------------------------------------------
// VisionZip: hidden [N+1, C], attn [H, N+1, N+1], metric [N+1, c] -> hidden (dominant + contextual
// tokens), kept (the dominant rows), dominant_ranked, targets, assignment

void run_visionzip(const method_context& m) {
    const auto& a = m.a;
    m.require_output();
    nnprune::visionzip_options o;
    if (m.given("--dominant")) o.dominant = a.dominant;
    if (m.given("--contextual")) o.contextual = a.contextual;
    o.cls = a.cls;
    token_inputs in(m.prefix(), a.file,
                    "hidden [N+1, C], attn [H, N+1, N+1] and metric [N+1, c] of one layer (or all batched [B, ...])");
    const auto hidden = in.get("hidden", 2, "[N+1, C]");
    const auto attn = in.get("attn", 3, "[H, N+1, N+1]");
    const auto metric = in.get("metric", 2, "[N+1, c]");
    token_output out(a, "visionzip");
    with_typed(hidden, [&](auto tag) {
        using T = decltype(tag);
        std::vector<nnprune::visionzip_result> res;
        std::vector<nnprune::visionzip_workspace> ws;
        nnprune::visionzip_batch(batch_view<T, 2>(hidden, in.batched()), batch_view<T, 3>(attn, in.batched()),
                                 batch_view<T, 2>(metric, in.batched()), o, res, ws, a.threads);
        std::vector<std::vector<std::size_t>> kept, ranked, targets, remaining, assignment;
        std::vector<float> tokens;
        for (const auto& r : res) {
            kept.push_back(r.dominant);
            ranked.push_back(r.dominant_ranked);
            targets.push_back(r.targets);
            remaining.push_back(r.remaining);
            assignment.push_back(r.assignment);
            tokens.insert(tokens.end(), r.tokens.begin(), r.tokens.end());
        }
        out.index_rows("kept", lead(in), kept);
        out.index_rows("dominant_ranked", lead(in), ranked);
        out.index_rows("targets", lead(in), targets);
        out.index_rows("remaining", lead(in), remaining);
        out.index_rows("assignment", lead(in), assignment);
        out.values<T>("hidden", out_shape(in, {res[0].rows, res[0].cols}), narrowed<T>(tokens));
    });
    out.write();
}

// ---------------------------------------------------------------------------------------------
// HoloV: features [N, D], attention [N] -> kept (ascending), order (upstream), n_pad

void run_holov(const method_context& m) {
    const auto& a = m.a;
    m.require_output();
    if (!m.given("--keep")) throw usage_error(str(m.prefix(), ": give --keep K (tokens kept)"));
    nnprune::holov_options o;
    if (m.given("--crops")) o.crops = a.crops;
    if (m.given("--alpha")) o.alpha = a.alpha;
    if (m.given("--eps")) o.eps = a.eps;
    token_inputs in(m.prefix(), a.file, "features [N, D] and attention [N] (batched: [B, N, D] and [B, N])");
    const auto f = in.get("features", 2, "[N, D]");
    const auto at = in.get("attention", 1, "[N]", true, false);
    token_output out(a, "holov");
    with_typed(f, [&](auto tag) {
        using T = decltype(tag);
        const auto fv = batch_view<T, 2>(f, in.batched());
        std::vector<nnprune::holov_result> res;
        std::vector<nnprune::holov_workspace> ws;
        with_typed(at, [&](auto atag) {
            using A = decltype(atag);
            if constexpr (std::is_same_v<A, T> || std::is_same_v<A, float>)
                nnprune::holov_batch(fv, batch_view<A, 1>(at, in.batched()), a.keep, res, ws, o, a.threads);
            else {  // another dtype: widened to f32 (exact for bf16 / f16; f64 attention is rounded)
                const auto av = batch_view<A, 1>(at, in.batched());
                std::vector<float> w(av.extent(0) * av.extent(1));
                for (std::size_t b = 0; b < av.extent(0); ++b)
                    for (std::size_t i = 0; i < av.extent(1); ++i)
                        w[b * av.extent(1) + i] = nnprune::to_float(av(b, i));
                nnprune::holov_batch(fv, nnprune::tensor_view<const float, 2>(w.data(), av.extent(0), av.extent(1)),
                                     a.keep, res, ws, o, a.threads);
            }
        });
        std::vector<std::vector<std::size_t>> kept, order;
        std::vector<std::int64_t> n_pad;
        for (const auto& r : res) {
            kept.push_back(r.kept);
            order.push_back(r.order);
            n_pad.push_back(static_cast<std::int64_t>(r.n_pad));
        }
        out.index_rows("kept", lead(in), kept);
        out.index_rows("order", lead(in), order);
        out.indices("n_pad", in.batched() ? std::vector<std::uint64_t>{in.items()} : std::vector<std::uint64_t>{1},
                    std::move(n_pad));
    });
    out.write();
}

// ---------------------------------------------------------------------------------------------

struct method_entry {
    const char* name;
    void (*run)(const method_context&);
};

constexpr method_entry methods[] = {
    {"divprune", run_divprune},
    {"fastv", run_fastv},
    {"tome", run_tome},
    {"visionzip", run_visionzip},
    {"snapkv", run_snapkv},
    {"think", run_think},
    {"h2o", run_h2o},
    {"cls_attention", run_cls_attention},
    {"pyramid_drop", run_pyramid_drop},
    {"hiprune", run_hiprune},
    {"gprune", run_gprune},
    {"holov", run_holov},
};

}  // namespace

void run_tokens(const tokens_args& a, const CLI::App& method) {
    const std::string name = method.get_name();
    for (const auto& e : methods)
        if (name == e.name) {
            e.run(method_context{a, method, name});
            return;
        }
    throw usage_error(str("tokens: unknown method '", name, "'"));
}

}  // namespace nnprune_cli
