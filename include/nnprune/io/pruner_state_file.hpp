#ifndef NNPRUNE_IO_PRUNER_STATE_FILE_HPP
#define NNPRUNE_IO_PRUNER_STATE_FILE_HPP

/// @file pruner_state_file.hpp
/// A pruner's state in one file, to stop training and resume it with bit-identical masks:
/// save_pruner_state() / load_pruner_state(). The file is a bit-packed mask file (mask_file.hpp,
/// "bitpacked-v1": loadable by load_masks() and NumPy like any mask file), one mask per layer
/// under the layer's name, plus in __metadata__:
///   "nnprune.pruner_state": "v1"
///   "nnprune.pruner.step": "12"                  (decimal int64 >= 0)
///   "nnprune.pruner.last_target": "0.4928"       (shortest decimal that reads back to the same double)
///   "nnprune.pruner.names": "[\"fc1\",\"fc2\"]"  (JSON array: the layer order)
/// A state before the first pruning step (no masks, no names) is a file without tensors.
/// Writes are atomic (atomic_file); a malformed file is answered with a format_error naming the
/// file and what is wrong.

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../masks/mask.hpp"
#include "../prune/pruner.hpp"
#include "mask_file.hpp"
#include "safetensors_reader.hpp"
#include "safetensors_writer.hpp"

namespace nnprune {

inline constexpr std::string_view pruner_state_key = "nnprune.pruner_state";
inline constexpr std::string_view pruner_step_key = "nnprune.pruner.step";
inline constexpr std::string_view pruner_last_target_key = "nnprune.pruner.last_target";
inline constexpr std::string_view pruner_names_key = "nnprune.pruner.names";

/**
 * @brief Writes a pruner's state (pruner::state()) to `path`, atomically.
 * @throws precondition_error (before anything is written) when names and masks differ in number,
 *         a name is empty or repeated, step < 0 or last_target is not finite; io_error.
 * @code
 * nnprune::save_pruner_state("pruner.safetensors", p.state());
 * q.restore(nnprune::load_pruner_state("pruner.safetensors"));
 * @endcode
 */
inline void save_pruner_state(const std::filesystem::path& path, const pruner_state& st) {
    constexpr const char* fn = "save_pruner_state";
    NNPRUNE_PRECONDITION(st.names.size() == st.masks.size(),
                         detail::str(fn, ": ", st.names.size(), " names for ", st.masks.size(), " masks"));
    NNPRUNE_PRECONDITION(st.step >= 0, detail::str(fn, ": step ", st.step, " is negative"));
    NNPRUNE_PRECONDITION(std::isfinite(st.last_target),
                         detail::str(fn, ": last_target ", st.last_target, " is not finite"));
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < st.names.size(); ++i) {
        NNPRUNE_PRECONDITION(!st.names[i].empty(), detail::str(fn, ": layer ", i, " has an empty name"));
        NNPRUNE_PRECONDITION(seen.insert(st.names[i]).second,
                             detail::str(fn, ": layer name '", st.names[i], "' is repeated"));
    }
    std::vector<std::pair<std::string, const_mask_view>> masks;
    for (std::size_t i = 0; i < st.masks.size(); ++i) masks.emplace_back(st.names[i], st.masks[i].view());

    safetensors_writer w;
    std::vector<std::vector<std::uint8_t>> buffers;  // alive until write()
    detail::add_masks(w, masks, mask_file_format::bitpacked, buffers);
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, st.last_target);  // shortest round-trip form
    w.set_metadata(std::string(pruner_state_key), "v1");
    w.set_metadata(std::string(pruner_step_key), std::to_string(st.step));
    w.set_metadata(std::string(pruner_last_target_key), std::string(buf, r.ptr));
    w.set_metadata(std::string(pruner_names_key), nlohmann::json(st.names).dump());
    w.write(path);
}

/// Reads a pruner state from a validated safetensors file. @throws format_error.
[[nodiscard]] inline pruner_state load_pruner_state(const safetensors_view& f) {
    const auto fail = [&](const std::string& what) {
        NNPRUNE_THROW(format_error, detail::str("load_pruner_state: ", f.file(), ": ", what));
    };
    const auto& md = f.metadata();
    const auto get = [&](std::string_view key) -> const std::string& {
        const auto it = md.find(std::string(key));
        if (it == md.end()) fail(detail::str("no \"", key, "\" in __metadata__"));
        return it->second;
    };
    if (md.find(std::string(pruner_state_key)) == md.end())
        fail(detail::str("no \"", pruner_state_key, "\" in __metadata__: not a pruner state file"));
    if (const auto& v = get(pruner_state_key); v != "v1")
        fail(detail::str("unknown pruner state version '", v, "' (known: v1)"));

    pruner_state st;
    {
        const std::string& s = get(pruner_step_key);
        const auto r = std::from_chars(s.data(), s.data() + s.size(), st.step);
        if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size() || st.step < 0)
            fail(detail::str("\"", pruner_step_key, "\" is '", s, "', not a decimal integer in [0, 2^63)"));
    }
    {
        const std::string& s = get(pruner_last_target_key);
        const auto r = std::from_chars(s.data(), s.data() + s.size(), st.last_target);
        if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size() || !std::isfinite(st.last_target))
            fail(detail::str("\"", pruner_last_target_key, "\" is '", s, "', not a finite decimal number"));
    }
    {
        const std::string& s = get(pruner_names_key);
        const auto j = nlohmann::json::parse(s, nullptr, false);
        if (j.is_discarded() || !j.is_array())
            fail(detail::str("\"", pruner_names_key, "\" is not a JSON array of layer names: '", s, "'"));
        for (const auto& e : j) {
            if (!e.is_string() || e.get_ref<const std::string&>().empty())
                fail(detail::str("\"", pruner_names_key, "\" holds ", e.dump(), ", not a non-empty string"));
            st.names.push_back(e.get<std::string>());
        }
    }
    std::map<std::string, mask> masks = load_masks(f);  // validates the mask part (format_error)
    if (masks.size() != st.names.size())
        fail(detail::str("\"", pruner_names_key, "\" lists ", st.names.size(), " layers, the file has ", masks.size(),
                         " masks"));
    for (const auto& name : st.names) {
        const auto it = masks.find(name);
        if (it == masks.end())
            fail(detail::str("layer '", name, "' in \"", pruner_names_key, "\" has no mask (or is listed twice)"));
        st.masks.push_back(std::move(it->second));
        masks.erase(it);
    }
    return st;
}

/// Reads a pruner state written by save_pruner_state(). @throws format_error, io_error.
[[nodiscard]] inline pruner_state load_pruner_state(const std::filesystem::path& path) {
    const safetensors_file f(path);
    return load_pruner_state(f.view());
}

}  // namespace nnprune

#endif  // NNPRUNE_IO_PRUNER_STATE_FILE_HPP
