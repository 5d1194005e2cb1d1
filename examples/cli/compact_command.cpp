// `nnprune compact`: structured compaction of a model directory (structured.md §4). Reads
// config.json and the (sharded) weights, chooses or reads the kept attention heads, KV groups and
// MLP channels, and writes a smaller dense model directory: the same shards (file names and
// tensors), a new index and config.json, every other file copied. The output layout is computed
// from nnprune::compact_plan before any weight is read; each shard's header is written first
// (layout_of, the same layout as safetensors_writer and `prune`), then each tensor at its offset:
// unchanged tensors and row gathers copied inside the kernel (copy_file_range), column gathers
// read with pread and gathered through reused buffers. Every file is a temporary file until one
// commit_together at the end.

#include "compact_command.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "output_directory.hpp"
#include "tensor_io.hpp"
#include <nnprune/compact/family.hpp>
#include <nnprune/compact/plan.hpp>
#include <nnprune/compact/selection.hpp>
#include <nnprune/io/atomic_file.hpp>
#include <nnprune/io/safetensors_model.hpp>

namespace nnprune_cli {
namespace {

namespace fs = std::filesystem;
using nnprune::detail::str;

enum class score_method { magnitude, wanda, flap };

/// --heads-keep / --kv-keep / --channels-keep: a count (digits, >= 1) or a ratio (0 < r <= 1, with
/// a decimal point; count = round(r * n), at least 1).
struct keep_spec {
    bool given = false, ratio = false;
    double r = 0.0;
    std::size_t count = 0;
    std::string option;

    /// The count kept of n units. @throws usage_error for a count over n.
    [[nodiscard]] std::size_t of(std::size_t n) const {
        if (!given) return n;
        if (ratio) return std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(r * static_cast<double>(n))));
        if (count > n) throw usage_error(str(option, " ", count, ": the model has only ", n));
        return count;
    }
};

keep_spec parse_keep(const std::string& v, const char* option) {
    keep_spec k;
    k.option = option;
    if (v.empty()) return k;
    k.given = true;
    if (v.find('.') != std::string::npos) {
        char* end = nullptr;
        k.r = std::strtod(v.c_str(), &end);
        if (end != v.c_str() + v.size() || !(k.r > 0.0 && k.r <= 1.0) ||
            v.find_first_not_of("0123456789.") != std::string::npos)
            throw usage_error(str(option, " '", v, "': a ratio must be in (0, 1] (or give a count, an integer >= 1)"));
        k.ratio = true;
        return k;
    }
    if (v.find_first_not_of("0123456789") != std::string::npos ||
        std::from_chars(v.data(), v.data() + v.size(), k.count).ec != std::errc{} || k.count == 0)
        throw usage_error(str(option, " '", v, "': a count is an integer >= 1 (a ratio has a decimal point: 0.75)"));
    return k;
}

/// The options that need no file, parsed and checked.
struct compact_settings {
    keep_spec heads, kv, channels;
    score_method method = score_method::magnitude;
    nnprune::bias_compensation compensation = nnprune::bias_compensation::none;

    explicit compact_settings(const compact_args& a) {
        heads = parse_keep(a.heads_keep, "--heads-keep");
        kv = parse_keep(a.kv_keep, "--kv-keep");
        channels = parse_keep(a.channels_keep, "--channels-keep");
        if (a.method == "magnitude")
            method = score_method::magnitude;
        else if (a.method == "wanda")
            method = score_method::wanda;
        else if (a.method == "flap")
            method = score_method::flap;
        else
            throw usage_error(str("compact --method: unknown method '", a.method, "' (magnitude|wanda|flap)"));
        if (a.bias_compensation == "none")
            compensation = nnprune::bias_compensation::none;
        else if (a.bias_compensation == "required")
            compensation = nnprune::bias_compensation::required;
        else if (a.bias_compensation == "where-possible")
            compensation = nnprune::bias_compensation::where_possible;
        else
            throw usage_error(
                str("--bias-compensation: unknown mode '", a.bias_compensation, "' (none|required|where-possible)"));
        if (!a.structure.empty() && (heads.given || kv.given || channels.given))
            throw usage_error(
                "--structure gives the kept units: leave out --heads-keep, --kv-keep and --channels-keep");
        if (a.make_uniform && a.structure.empty())
            throw usage_error("--make-uniform projects a --structure onto shared counts: give --structure FILE");
        if (a.out.empty()) throw usage_error("compact: -o OUT_DIR is required");
    }
};

/// One input tensor: its shard and its mapped bytes.
struct input_tensor {
    std::size_t shard = 0;
    nnprune::safetensors_tensor t;
    std::uint64_t offset = 0;  ///< of its data in the shard file
};

/// A file descriptor closed on scope exit.
struct fd_holder {
    int fd = -1;

    explicit fd_holder(int f) : fd(f) {}

    fd_holder(const fd_holder&) = delete;
    fd_holder& operator=(const fd_holder&) = delete;

    ~fd_holder() {
        if (fd >= 0) ::close(fd);
    }
};

/// Copies len bytes from in_fd at in_off to out_fd at out_off inside the kernel (copy_file_range:
/// no page faults, no copy through user space); where the kernel cannot (another file system, no
/// support), through `buf` with pread/pwrite. @throws io_error on any other failure.
void copy_range(int in_fd, std::uint64_t in_off, int out_fd, std::uint64_t out_off, std::uint64_t len,
                reused_buffer<std::byte>& buf, const std::string& what) {
    bool in_kernel = true;
    while (len > 0) {
        ::ssize_t n = -1;
        if (in_kernel) {
            auto ioff = static_cast<::off_t>(in_off), ooff = static_cast<::off_t>(out_off);
            n = nnprune::detail::injected_fault()
                    ? (errno = EIO, -1)
                    : ::copy_file_range(in_fd, &ioff, out_fd, &ooff, static_cast<std::size_t>(len), 0);
            if (n < 0 && errno == EINTR) continue;
            in_kernel = n >= 0 || (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL);
            if (in_kernel)
                NNPRUNE_CHECK(n > 0, nnprune::io_error,
                              str("compact: cannot copy ", what, ": ",
                                  n == 0 ? std::string("the input ended early") : std::strerror(errno)));
        }
        if (!in_kernel) {
            const std::size_t part = static_cast<std::size_t>(std::min<std::uint64_t>(len, std::uint64_t{8} << 20));
            const auto b = buf.take(part);
            n = ::pread(in_fd, b.data(), part, static_cast<::off_t>(in_off));
            NNPRUNE_CHECK(n > 0, nnprune::io_error,
                          str("compact: cannot read ", what, ": ",
                              n == 0 ? std::string("the input ended early") : std::strerror(errno)));
            const ::ssize_t w = ::pwrite(out_fd, b.data(), static_cast<std::size_t>(n), static_cast<::off_t>(out_off));
            NNPRUNE_CHECK(w == n, nnprune::io_error, str("compact: cannot write ", what, ": ", std::strerror(errno)));
        }
        in_off += static_cast<std::uint64_t>(n);
        out_off += static_cast<std::uint64_t>(n);
        len -= static_cast<std::uint64_t>(n);
    }
}

class compactor {
public:
    explicit compactor(const compact_args& a) : m_a(a), m_st(a) {
        const fs::path dir = a.model;
        std::error_code ec;
        if (!fs::is_directory(dir, ec))
            throw input_error(str("compact: MODEL_DIR ", a.model,
                                  " is not a directory (a model directory holds "
                                  "config.json and the safetensors weights)"));
        read_config(dir / "config.json");
        open_weights(dir);
        check_outputs();
    }

    void run() {
        std::vector<nnprune::layer_selection> kept = select();
        nnprune::compact_options options;
        options.compensation = m_st.compensation;
        if (m_st.compensation != nnprune::bias_compensation::none) load_means(kept, options);
        const nnprune::compact_plan plan(*m_family, m_config, m_descs, kept, std::move(options));
        write(plan);
    }

private:
    // ---- inputs ----

    void read_config(const fs::path& p) {
        m_config_path = p;
        std::error_code ec;
        if (!fs::is_regular_file(p, ec)) throw input_error(str("compact: ", p.string(), " is missing"));
        std::ifstream f(p, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        if (!f && !f.eof()) NNPRUNE_THROW(nnprune::io_error, str("compact: cannot read ", p.string()));
        try {
            m_config = nlohmann::json::parse(ss.str());
        } catch (const nlohmann::json::exception& e) {
            throw input_error(str("compact: ", p.string(), ": not valid JSON: ", e.what()));
        }
        const auto mt = m_config.is_object() ? m_config.find("model_type") : m_config.end();
        if (!m_config.is_object() || mt == m_config.end() || !mt->is_string())
            throw input_error(str("compact: ", p.string(), " has no \"model_type\" string: the family is unknown"));
        try {
            m_family = &nnprune::find_family(mt->get<std::string>());
            m_dims = nnprune::read_dims(*m_family, m_config);
        } catch (const nnprune::value_error& e) {
            throw input_error(str("compact: ", p.string(), ": ", e.what()));
        }
    }

    void open_weights(const fs::path& dir) {
        const fs::path index = dir / "model.safetensors.index.json";
        std::error_code ec;
        if (fs::exists(index, ec)) {
            m_sharded = true;
            m_index_path = index;
            std::ifstream f(index, std::ios::binary);
            std::stringstream ss;
            ss << f.rdbuf();
            const nnprune::safetensors_index idx = nnprune::parse_safetensors_index(ss.str(), index.string());
            std::set<std::string> missing;
            for (const auto& [name, shard] : idx.weight_map)
                if (!fs::exists(dir / shard, ec)) missing.insert(shard);
            if (!missing.empty()) {
                std::string list;
                for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
                throw input_error(str("compact: ", index.string(), " names ", missing.size(), " shard(s) missing from ",
                                      dir.string(), ": ", list));
            }
            try {
                m_index_json = nlohmann::ordered_json::parse(ss.str());
            } catch (const nlohmann::json::exception& e) {
                throw input_error(str("compact: ", index.string(), ": ", e.what()));
            }
            m_model.emplace(index);
            m_index_input = std::make_unique<input_file>(index);
        } else if (fs::exists(dir / "model.safetensors", ec)) {
            m_model.emplace(dir / "model.safetensors");
        } else {
            throw input_error(str("compact: ", dir.string(),
                                  " has neither model.safetensors.index.json nor "
                                  "model.safetensors"));
        }
        const auto& shards = m_model->shards();
        for (std::size_t s = 0; s < shards.size(); ++s) {
            m_inputs.push_back(std::make_unique<input_file>(shards[s].path()));
            m_in_fds.push_back(std::make_unique<fd_holder>(::open(shards[s].path().c_str(), O_RDONLY | O_CLOEXEC)));
            if (m_in_fds.back()->fd < 0)
                NNPRUNE_THROW(nnprune::io_error,
                              str("compact: cannot open ", shards[s].path().string(), ": ", std::strerror(errno)));
            const auto& h = shards[s].view().header();
            for (std::size_t i = 0; i < shards[s].size(); ++i) {
                const auto t = shards[s].at(i);
                if (!m_model->contains(t.name())) continue;  // not in the weight map: not part of the model
                if (m_sharded && m_model->tensor(t.name()).bytes().data() != t.bytes().data()) continue;
                m_tensors.emplace(t.name(), input_tensor{s, t, h.data_start + h.tensors[i].begin});
            }
        }
        for (const auto& [name, it] : m_tensors) m_descs.push_back({name, it.t.dtype(), it.t.shape()});
        for (const auto& sh : shards) m_input_bytes += fs::file_size(sh.path());
        // the prefix the model's layers use
        for (const auto& p : m_family->layer_prefixes) {
            const std::string head = p.substr(0, p.find("{i}"));
            for (const auto& [name, it] : m_tensors)
                if (m_prefix.empty() && name.starts_with(head)) m_prefix = p;
        }
    }

    /// Refuses outputs that exist and are not what they would be replaced by (before anything is written).
    void check_outputs() const {
        const fs::path out = m_a.out;
        std::error_code ec;
        if (fs::exists(fs::symlink_status(out, ec)) && !fs::is_directory(out, ec))
            throw usage_error(str("-o ", out.string(),
                                  ": the compacted model is a directory, and this exists and "
                                  "is not one"));
        for (const auto& name : output_names()) {
            const auto st = fs::status(out / name, ec);
            if (fs::exists(st) && !fs::is_regular_file(st))
                throw usage_error(
                    str("-o ", (out / name).string(), ": exists and is not a regular file (refusing to replace it)"));
        }
        if (!m_a.save_structure.empty()) {
            const auto st = fs::status(m_a.save_structure, ec);
            if (fs::exists(st) && !fs::is_regular_file(st))
                throw usage_error(str("--save-structure ", m_a.save_structure, ": exists and is not a regular file"));
            std::vector<fs::path> inputs{m_config_path};
            for (const auto& sh : m_model->shards()) inputs.push_back(sh.path());
            if (m_sharded) inputs.push_back(m_index_path);
            if (!m_a.structure.empty()) inputs.push_back(m_a.structure);
            if (!m_a.calib.empty()) inputs.push_back(m_a.calib);
            for (const auto& o : output_names()) inputs.push_back(out / o);
            for (const auto& in : inputs)
                if (same_file(in, m_a.save_structure))
                    throw usage_error(str("--save-structure ", m_a.save_structure, " would replace ", in.string()));
        }
    }

    static bool same_file(const fs::path& x, const fs::path& y) {
        std::error_code ex, ey, eq;
        const fs::path cx = fs::weakly_canonical(fs::absolute(x), ex), cy = fs::weakly_canonical(fs::absolute(y), ey);
        if (!ex && !ey && cx == cy) return true;
        return fs::equivalent(x, y, eq) && !eq;
    }

    /// The file names written to OUT_DIR: shards, index, config.json, the other files of MODEL_DIR.
    [[nodiscard]] std::vector<std::string> output_names() const {
        std::vector<std::string> n;
        for (const auto& sh : m_model->shards()) n.push_back(sh.path().filename().string());
        if (m_sharded) n.push_back(m_index_path.filename().string());
        n.emplace_back("config.json");
        for (const auto& o : other_files()) n.push_back(o.filename().string());
        return n;
    }

    /// The regular files of MODEL_DIR that are neither weights nor config (tokenizer, ...), copied as they are.
    [[nodiscard]] std::vector<fs::path> other_files() const {
        std::set<std::string> ours{"config.json"};
        for (const auto& sh : m_model->shards()) ours.insert(sh.path().filename().string());
        if (m_sharded) ours.insert(m_index_path.filename().string());
        std::vector<fs::path> out;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(m_a.model, ec)) {
            const std::string name = e.path().filename().string();
            if (ours.count(name) || name.find(".tmp.") != std::string::npos) continue;  // ours, or a temporary file
            if (fs::is_regular_file(e.path(), ec)) out.push_back(e.path());
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    // ---- selection ----

    [[nodiscard]] std::string layer_name(std::size_t l, const std::string& rest) const {
        std::string p = m_prefix;
        const auto at = p.find("{i}");
        if (at != std::string::npos) p.replace(at, 3, std::to_string(l));
        return p + rest;
    }

    [[nodiscard]] const input_tensor& tensor(const std::string& name) const {
        const auto it = m_tensors.find(name);
        if (it == m_tensors.end()) throw input_error(str("compact: the model has no tensor '", name, "'"));
        return it->second;
    }

    const nnprune::safetensors_file& calib() {
        if (m_a.calib.empty())
            throw usage_error(str(m_a.method == "magnitude"
                                      ? std::string("--bias-compensation ") + m_a.bias_compensation
                                      : "--method " + m_a.method,
                                  " needs calibration statistics: pass --calib STATS.safetensors"));
        if (!m_calib) m_calib.emplace(fs::path(m_a.calib));
        return *m_calib;
    }

    /// A per-input statistic '<weight><suffix>' of n values from --calib, as floats.
    std::vector<float> read_stat(const std::string& name, std::size_t n, const char* why) {
        const auto& c = calib();
        if (!c.contains(name))
            throw input_error(str("--calib ", m_a.calib, ": no statistic '", name, "' (", why, " needs it)"));
        const auto t = c.tensor(name);
        if (!t.is_element() || t.numel() != n)
            throw input_error(str("--calib: '", name, "' is ", nnprune::name_of(t.dtype()), " ", shape_text(t.shape()),
                                  "; expected ", n, " floating values (one per input of the weight)"));
        std::vector<float> v(n);
        const auto et = *nnprune::element_dtype(t.dtype());
        for (std::size_t i = 0; i < n; ++i)
            v[i] = static_cast<float>(nnprune::detail::load_element(et, t.bytes().data(), i));
        return v;
    }

    /// Row r of a float tensor's bytes (cols elements) as floats.
    static void row_floats(nnprune::dtype et, const std::byte* p, std::size_t r, std::size_t cols, float* out) {
        const std::size_t i0 = r * cols;
        switch (et) {
            case nnprune::dtype::bf16:
                for (std::size_t c = 0; c < cols; ++c) {
                    nnprune::bfloat16 v;
                    std::memcpy(&v, p + 2 * (i0 + c), 2);
                    out[c] = nnprune::to_float(v);
                }
                return;
            case nnprune::dtype::f32:
                std::memcpy(out, p + 4 * i0, 4 * cols);
                return;
            default:
                for (std::size_t c = 0; c < cols; ++c)
                    out[c] = static_cast<float>(nnprune::detail::load_element(et, p, i0 + c));
        }
    }

    /// Per input column of `w` (through `input_axis`): the sum over outputs of w^2 (or |w|).
    /// Blocks of rows read with pread into a reused buffer: no page faults on the mapping.
    std::vector<double> column_sums(const input_tensor& in, std::size_t input_axis, bool abs) {
        const auto& w = in.t;
        const std::size_t rows = static_cast<std::size_t>(w.shape()[0]), cols = static_cast<std::size_t>(w.shape()[1]);
        const auto et = *nnprune::element_dtype(w.dtype());
        const std::size_t row_bytes = cols * nnprune::size_of(et);
        std::vector<double> out(input_axis == 1 ? cols : rows, 0.0);
        std::vector<float> row(cols), acc(cols, 0.0f);
        constexpr std::size_t block = 64;  // rows summed in float, then added in double
        for (std::size_t r0 = 0; r0 < rows; r0 += block) {
            std::fill(acc.begin(), acc.end(), 0.0f);
            const std::size_t n = std::min(rows, r0 + block) - r0;
            const auto b = m_source.take(n * row_bytes);
            m_inputs[in.shard]->read(in.offset + r0 * row_bytes, b);
            for (std::size_t r = r0; r < r0 + n; ++r) {
                row_floats(et, b.data(), r - r0, cols, row.data());
                if (input_axis == 1) {
                    if (abs)
                        for (std::size_t c = 0; c < cols; ++c) acc[c] += std::fabs(row[c]);
                    else
                        for (std::size_t c = 0; c < cols; ++c) acc[c] += row[c] * row[c];
                } else {
                    double s = 0.0;
                    for (std::size_t c = 0; c < cols; ++c) s += abs ? std::fabs(row[c]) : double(row[c]) * row[c];
                    out[r] = s;
                }
            }
            if (input_axis == 1)
                for (std::size_t c = 0; c < cols; ++c) out[c] += acc[c];
        }
        return out;
    }

    /// Layer l's scores of unit u (one per query head, or per MLP channel) by --method.
    std::vector<float> scores(std::size_t l, nnprune::unit u) {
        const nnprune::consumer& cr = nnprune::find_consumer(*m_family, u);
        const std::string name = layer_name(l, cr.weight);
        const auto& w = tensor(name).t;
        const bool head = u == nnprune::unit::head;
        const std::size_t n = head ? m_dims.heads * m_dims.head_dim : m_dims.intermediate;
        if (!w.is_element() || w.rank() != 2 || w.shape()[cr.input_axis] != n)
            throw input_error(str("compact: '", name, "' is ", nnprune::name_of(w.dtype()), " ", shape_text(w.shape()),
                                  "; the config gives ", n, " inputs along axis ", cr.input_axis,
                                  ": inconsistent config"));
        std::vector<double> col;
        switch (m_st.method) {
            case score_method::magnitude:
                col = column_sums(tensor(name), cr.input_axis, false);
                break;
            case score_method::wanda: {
                const bool sq = calib().contains(name + ".act_sq_mean"), l2 = calib().contains(name + ".act_l2");
                if (sq == l2)
                    throw input_error(str("--calib ", m_a.calib, ": ", sq ? "both " : "neither ", "'", name,
                                          ".act_sq_mean' ", sq ? "and" : "nor", " '", name,
                                          ".act_l2' (--method wanda needs exactly one)"));
                const auto stat = read_stat(name + (sq ? ".act_sq_mean" : ".act_l2"), n, "--method wanda");
                col = column_sums(tensor(name), cr.input_axis, true);
                for (std::size_t c = 0; c < n; ++c)
                    col[c] *= sq ? std::sqrt(std::max(0.0, double(stat[c]))) : double(stat[c]);
                break;
            }
            case score_method::flap: {
                const auto fluc = read_stat(name + ".flap_fluc", n, "--method flap");
                col = column_sums(tensor(name), cr.input_axis, false);
                for (std::size_t c = 0; c < n; ++c) {
                    col[c] *= fluc[c];
                    if (head) col[c] *= col[c];  // FLAP squares the attention metric
                }
                break;
            }
        }
        if (!head) return {col.begin(), col.end()};
        std::vector<float> h(m_dims.heads);
        for (std::size_t k = 0; k < m_dims.heads; ++k) {
            double s = 0.0;
            for (std::size_t j = 0; j < m_dims.head_dim; ++j) s += col[k * m_dims.head_dim + j];
            h[k] = static_cast<float>(s);
        }
        return h;
    }

    [[nodiscard]] static std::vector<std::size_t> iota(std::size_t n) {
        std::vector<std::size_t> v(n);
        std::iota(v.begin(), v.end(), std::size_t{0});
        return v;
    }

    std::vector<nnprune::layer_selection> select() {
        if (!m_a.structure.empty()) return from_structure();
        const std::size_t H = m_dims.heads, KV = m_dims.kv_heads, g = m_dims.group_size();
        std::size_t kv_keep = m_st.kv.of(KV);
        const std::size_t heads_keep = m_st.heads.given ? m_st.heads.of(H) : kv_keep * g;
        if (!m_st.kv.given && g == 1) kv_keep = heads_keep;  // MHA: each head is its own group
        if (heads_keep % kv_keep != 0 || heads_keep / kv_keep > g) {
            std::string valid;
            for (std::size_t k = 1; k <= g; ++k) valid += str(k > 1 ? ", " : "", k * kv_keep);
            throw usage_error(str("--heads-keep ", m_a.heads_keep, " (", heads_keep, " query heads) with ", kv_keep,
                                  " of ", KV, " KV groups kept: every kept group keeps the same number of its ", g,
                                  " query heads, so the valid values are ", valid));
        }
        const std::size_t ch_keep = m_st.channels.of(m_dims.intermediate);
        std::vector<nnprune::layer_selection> kept = nnprune::keep_all(m_dims);
        for (std::size_t l = 0; l < m_dims.layers; ++l) {
            if (heads_keep < H)
                kept[l].heads = nnprune::top_heads(scores(l, nnprune::unit::head), KV, kv_keep, heads_keep / kv_keep);
            if (ch_keep < m_dims.intermediate)
                kept[l].channels = nnprune::top_channels(scores(l, nnprune::unit::channel), ch_keep);
        }
        return kept;
    }

    /// --structure FILE; projected with make_uniform() under --make-uniform when it is not uniform.
    std::vector<nnprune::layer_selection> from_structure() {
        const std::string& file = m_a.structure;
        std::ifstream f(file, std::ios::binary);
        if (!f) NNPRUNE_THROW(nnprune::io_error, str("--structure ", file, ": cannot open it"));
        std::stringstream ss;
        ss << f.rdbuf();
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(ss.str());
        } catch (const nlohmann::json::exception& e) {
            throw input_error(str("--structure ", file, ": not valid JSON: ", e.what()));
        }
        const auto bad = [&](const std::string& what) { throw input_error(str("--structure ", file, ": ", what)); };
        if (!j.is_object() || j.value("format", std::string()) != "nnprune-structure")
            bad("not an nnprune structure (\"format\": \"nnprune-structure\")");
        if (!j.contains("version") || j["version"] != 1) bad("\"version\" must be 1");
        if (!j.contains("layers") || !j["layers"].is_array()) bad("\"layers\" is not an array");
        const auto& layers = j["layers"];
        if (layers.size() != m_dims.layers)
            bad(str("\"layers\" has ", layers.size(), " entries, the model has ", m_dims.layers, " layers"));
        std::vector<nnprune::layer_selection> kept(m_dims.layers);
        for (std::size_t l = 0; l < layers.size(); ++l) {
            for (const char* key : {"heads", "channels"}) {
                const auto it = layers[l].is_object() ? layers[l].find(key) : layers[l].end();
                if (it == layers[l].end() || !it->is_array()) bad(str("layers[", l, "] has no \"", key, "\" array"));
                auto& into = std::string(key) == "heads" ? kept[l].heads : kept[l].channels;
                for (const auto& v : *it) {
                    if (!v.is_number_unsigned())
                        bad(str("layers[", l, "].", key, " holds ", v.dump(), ", not an index"));
                    into.push_back(v.get<std::size_t>());
                }
            }
        }
        if (!m_a.make_uniform || nnprune::is_uniform(kept, m_dims)) return kept;  // the plan refuses a non-uniform one
        std::vector<std::vector<float>> hs(m_dims.layers), cs(m_dims.layers);
        for (std::size_t l = 0; l < m_dims.layers; ++l) {
            hs[l] = scores(l, nnprune::unit::head);
            cs[l] = scores(l, nnprune::unit::channel);
        }
        return nnprune::make_uniform(kept, m_dims, hs, cs);
    }

    /// --bias-compensation: the mean inputs of each slot's weight ('<weight>.flap_mean'), per layer.
    void load_means(const std::vector<nnprune::layer_selection>& kept, nnprune::compact_options& o) {
        for (const auto u : {nnprune::unit::head, nnprune::unit::channel}) {
            const bool head = u == nnprune::unit::head;
            bool removes = false;
            for (const auto& k : kept)
                removes = removes || (head ? k.heads.size() != m_dims.heads : k.channels.size() != m_dims.intermediate);
            const nnprune::consumer& slot = nnprune::find_consumer(*m_family, u);
            if (!removes || slot.bias.empty()) continue;  // nothing to compensate, or the plan refuses / skips it
            auto& means = head ? o.attention_means : o.mlp_means;
            for (std::size_t l = 0; l < m_dims.layers; ++l) {
                const std::string name = layer_name(l, slot.weight);
                const auto& w = tensor(name).t;
                if (w.rank() != 2) throw input_error(str("compact: '", name, "' is not 2-D"));
                means.push_back(read_stat(name + ".flap_mean", static_cast<std::size_t>(w.shape()[slot.input_axis]),
                                          "--bias-compensation"));
            }
        }
    }

    // ---- output ----

    [[nodiscard]] nnprune::file_sync sync() const {
        return m_a.fsync ? nnprune::file_sync::durable : nnprune::file_sync::atomic_only;
    }

    static std::unique_ptr<nnprune::atomic_file> new_output(const fs::path& target, nnprune::file_sync how) {
        (void)nnprune::remove_stale_temporaries(target);
        return std::make_unique<nnprune::atomic_file>(target, how);
    }

    /// The shard an output goes to: its source's (a created bias: its weight's).
    [[nodiscard]] std::size_t shard_of(const nnprune::compact_output& o) const {
        const auto it = m_tensors.find(o.source);
        return it == m_tensors.end() ? 0 : it->second.shard;
    }

    static void write_text(nnprune::atomic_file& f, const std::string& text) {
        f.write(std::as_bytes(std::span<const char>(text.data(), text.size())));
    }

    void write(const nnprune::compact_plan& plan) {
        const fs::path out = m_a.out;
        const auto& shards = m_model->shards();
        const auto& outputs = plan.outputs();
        // every output's shard and place, from the plan: nothing is read yet
        std::vector<std::vector<std::size_t>> per_shard(shards.size());
        std::uint64_t max_bytes = 1, total = 0;
        for (std::size_t k = 0; k < outputs.size(); ++k) {
            per_shard[shard_of(outputs[k])].push_back(k);
            max_bytes = std::max(max_bytes, outputs[k].bytes());
            total += outputs[k].bytes();
        }
        // never touched: only its size is used (the header needs each tensor's byte count)
        const std::unique_ptr<std::byte[]> witness(new std::byte[static_cast<std::size_t>(max_bytes)]);
        const bool in_place = same_file(out, m_a.model);
        const std::vector<fs::path> others = other_files();
        output_directory dir(out);  // created if missing, and locked
        std::vector<std::unique_ptr<nnprune::atomic_file>> files;
        const auto read = [this](std::string_view n) { return m_tensors.find(n)->second.t.bytes(); };
        std::size_t gathered = 0, created = 0;
        for (std::size_t s = 0; s < shards.size(); ++s) {
            std::vector<stream_entry> entries;
            for (const std::size_t k : per_shard[s]) {
                const auto& o = outputs[k];
                entries.push_back({o.name, o.dtype, o.shape, {witness.get(), static_cast<std::size_t>(o.bytes())}});
            }
            const stream_layout lay = layout_of(entries, shards[s].metadata());
            auto& f = *files.emplace_back(new_output(out / shards[s].path().filename(), sync()));
            f.write(lay.header);
            // a second descriptor of the temporary file, for copy_file_range (f writes at offsets too)
            const fd_holder out_fd(::open(f.temp_path().c_str(), O_WRONLY | O_CLOEXEC));
            if (out_fd.fd < 0)
                NNPRUNE_THROW(nnprune::io_error,
                              str("compact: cannot open ", f.temp_path(), ": ", std::strerror(errno)));
            const int in_fd = m_in_fds[s]->fd;
            for (const auto& [begin, e] : lay.order) {
                const auto& o = outputs[per_shard[s][e]];
                const std::uint64_t at = lay.header.size() + begin;
                const auto src = m_tensors.find(o.source);
                // unchanged tensors and row gathers: byte ranges of the input, copied in the kernel
                const bool here = src != m_tensors.end() && src->second.shard == s;
                const bool rows_only =
                    here && o.how == nnprune::compact_output::kind::gather && (o.runs.size() == 1 || o.runs[1].empty());
                if ((here && o.how == nnprune::compact_output::kind::copy) || rows_only) {
                    const input_tensor& it = src->second;
                    std::uint64_t row = nnprune::size_of(o.dtype);
                    for (std::size_t a = 1; a < it.t.shape().size(); ++a) row *= it.t.shape()[a];
                    const std::vector<nnprune::index_run> whole{
                        {0, static_cast<std::size_t>(it.t.shape().empty() ? 1 : it.t.shape()[0])}};
                    const auto& runs = rows_only && !o.runs[0].empty() ? o.runs[0] : whole;
                    std::uint64_t w = 0;
                    for (const auto& r : runs) {
                        const std::uint64_t n = it.t.shape().empty() ? it.t.bytes().size() : r.size * row;
                        copy_range(in_fd, it.offset + r.begin * row, out_fd.fd, at + w, n, m_buffer, o.name);
                        w += n;
                    }
                    NNPRUNE_CHECK(w == o.bytes(), nnprune::internal_error,
                                  str("compact: '", o.name, "' copied ", w, " bytes of ", o.bytes()));
                    gathered += rows_only;
                    continue;
                }
                // column gathers: the source read with pread (no page faults on the mapping), then gathered
                std::span<const std::byte> staged;
                if (here && o.how == nnprune::compact_output::kind::gather) {
                    const auto b = m_source.take(src->second.t.bytes().size());
                    m_inputs[s]->read(src->second.offset, b);
                    staged = b;
                }
                const auto staged_read = [&](std::string_view n) {
                    return !staged.empty() && n == o.source ? staged : read(n);
                };
                const std::span<std::byte> buf = m_buffer.take(static_cast<std::size_t>(o.bytes()));
                plan.fill(o, staged_read, buf);
                f.write_at(at, buf);
                if (!o.source.empty()) release_pages(read(o.source));
                gathered += o.how == nnprune::compact_output::kind::gather;
                created += !m_tensors.count(o.name);
            }
        }
        if (m_sharded) {
            nlohmann::ordered_json idx = nlohmann::ordered_json::object();
            nlohmann::ordered_json md = m_index_json.contains("metadata") && m_index_json["metadata"].is_object()
                                            ? m_index_json["metadata"]
                                            : nlohmann::ordered_json::object();
            md["total_size"] = total;
            idx["metadata"] = md;
            std::map<std::string, std::string> wm;
            for (std::size_t s = 0; s < shards.size(); ++s)
                for (const std::size_t k : per_shard[s]) wm[outputs[k].name] = shards[s].path().filename().string();
            idx["weight_map"] = wm;
            auto& f = *files.emplace_back(new_output(out / m_index_path.filename(), sync()));
            write_text(f, idx.dump(2) + "\n");
        }
        write_text(*files.emplace_back(new_output(out / "config.json", sync())), plan.config().dump(2) + "\n");
        std::size_t copied = 0;
        if (!in_place)
            for (const auto& p : others) {
                input_file in(p);
                auto& f = *files.emplace_back(new_output(out / p.filename(), sync()));
                constexpr std::size_t slice = std::size_t{8} << 20;
                for (std::uint64_t off = 0; off < in.size(); off += slice) {
                    const auto part =
                        m_buffer.take(static_cast<std::size_t>(std::min<std::uint64_t>(slice, in.size() - off)));
                    in.read(off, part);
                    f.write(part);
                }
                in.check_unchanged();
                ++copied;
            }
        if (!m_a.save_structure.empty()) {
            std::string text = "{\n  \"format\": \"nnprune-structure\",\n  \"version\": 1,\n  \"model_type\": " +
                               nlohmann::json(m_config["model_type"]).dump() + ",\n  \"layers\": [\n";
            const auto sel = plan.selection();
            for (std::size_t l = 0; l < sel.size(); ++l)
                text += "    " + nlohmann::json{{"heads", sel[l].heads}, {"channels", sel[l].channels}}.dump() +
                        (l + 1 < sel.size() ? ",\n" : "\n");
            text += "  ]\n}\n";
            write_text(*files.emplace_back(new_output(m_a.save_structure, sync())), text);
        }
        // what was read is what the files hold: no other process wrote to them meanwhile
        for (const auto& in : m_inputs) in->check_unchanged();
        if (m_index_input) m_index_input->check_unchanged();
        std::vector<nnprune::atomic_file*> all;
        for (auto& f : files) all.push_back(f.get());
        nnprune::commit_together(all);
        dir.keep();
        summary(plan, total, outputs.size(), gathered, created, copied);
    }

    void summary(const nnprune::compact_plan& plan, std::uint64_t bytes, std::size_t tensors, std::size_t gathered,
                 std::size_t created, std::size_t copied) const {
        const auto& b = plan.before();
        const auto& a = plan.after();
        std::uint64_t before = 0;
        for (const auto& [n, t] : m_tensors) before += t.t.bytes().size();
        char ratio[32];
        std::snprintf(ratio, sizeof ratio, "%.3f",
                      before ? static_cast<double>(bytes) / static_cast<double>(before) : 1.0);
        std::cout << "compacted " << m_family->name << " model " << m_a.model << " -> " << m_a.out << ": per layer ("
                  << b.layers << " layers) query heads " << b.heads << " -> " << a.heads << ", KV heads " << b.kv_heads
                  << " -> " << a.kv_heads << ", MLP channels " << b.intermediate << " -> " << a.intermediate
                  << "; tensor bytes " << before << " -> " << bytes << " (x" << ratio << "); " << tensors
                  << " tensors written to " << m_model->shards().size() << (m_sharded ? " shards" : " file") << " ("
                  << gathered << " gathered, " << created << " biases created";
        if (!plan.skipped().empty()) {
            std::cout << "; compensation skipped for";
            for (const auto& s : plan.skipped()) std::cout << ' ' << s;
        }
        std::cout << "), config.json rewritten, " << copied << " other files copied\n";
    }

    const compact_args& m_a;
    compact_settings m_st;
    nlohmann::json m_config;
    fs::path m_config_path, m_index_path;
    nlohmann::ordered_json m_index_json;
    const nnprune::model_family* m_family = nullptr;
    nnprune::model_dims m_dims;
    bool m_sharded = false;
    std::optional<nnprune::safetensors_model> m_model;
    std::vector<std::unique_ptr<input_file>> m_inputs;  // per shard: checked unchanged before the commit
    std::unique_ptr<input_file> m_index_input;
    std::vector<std::unique_ptr<fd_holder>> m_in_fds;  // per shard: copy_file_range's source
    std::map<std::string, input_tensor, std::less<>> m_tensors;
    std::vector<nnprune::tensor_desc> m_descs;
    std::uint64_t m_input_bytes = 0;
    std::string m_prefix;
    std::optional<nnprune::safetensors_file> m_calib;
    reused_buffer<std::byte> m_buffer, m_source;
};

}  // namespace

void check_compact_args(const compact_args& a) { (void)compact_settings(a); }

void run_compact(const compact_args& a) {
    compactor c(a);
    c.run();
}

}  // namespace nnprune_cli
