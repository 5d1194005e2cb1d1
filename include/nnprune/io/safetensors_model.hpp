#ifndef NNPRUNE_IO_SAFETENSORS_MODEL_HPP
#define NNPRUNE_IO_SAFETENSORS_MODEL_HPP

/// @file safetensors_model.hpp
/// safetensors_model: a checkpoint read as one model, either a single .safetensors file or a
/// sharded one, given by its index (model.safetensors.index.json):
///   {"metadata": {...}, "weight_map": {"tensor name": "model-00001-of-00002.safetensors", ...}}
/// Validation: the index is a JSON object without duplicate keys whose "weight_map" maps names to
/// strings; each shard name is a plain file name in the index's directory (no '/', '\\', "." or
/// "..", no NUL: no path traversal); every shard is a valid safetensors file; every mapped tensor
/// exists in its shard. Only the tensors named in the weight map are part of the model.

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "mapped_file.hpp"
#include "safetensors_header.hpp"
#include "safetensors_reader.hpp"

namespace nnprune {

/// A parsed index: tensor name -> shard file name (validated as a plain name), and the string or
/// number entries of "metadata" (numbers as their JSON text).
struct safetensors_index {
    std::map<std::string, std::string> weight_map;
    std::map<std::string, std::string> metadata;
};

/// Parses and validates the text of a model.safetensors.index.json. @throws format_error naming `file`.
[[nodiscard]] inline safetensors_index parse_safetensors_index(std::string_view text, const std::string& file) {
    const auto fail = [&](const std::string& what) {
        NNPRUNE_THROW(format_error, detail::str("safetensors index: ", file, ": ", what));
    };
    const nlohmann::json j = detail::parse_json_strict(text, file, "safetensors index");
    if (!j.is_object()) fail(detail::str("index is a JSON ", j.type_name(), ", expected an object"));
    const auto wm = j.find("weight_map");
    if (wm == j.end()) fail("missing \"weight_map\"");
    if (!wm->is_object()) fail(detail::str("\"weight_map\" is a JSON ", wm->type_name(), ", expected an object"));
    safetensors_index out;
    if (const auto md = j.find("metadata"); md != j.end() && md->is_object()) {
        for (const auto& [k, v] : md->items())
            if (v.is_string())
                out.metadata.emplace(k, v.get<std::string>());
            else if (v.is_number())
                out.metadata.emplace(k, v.dump());
    }
    for (const auto& [name, shard] : wm->items()) {
        if (!shard.is_string())
            fail(detail::str("weight_map['", name, "'] is a JSON ", shard.type_name(), ", expected a shard file name"));
        const std::string& s = shard.get_ref<const std::string&>();
        if (s.empty() || s == "." || s == ".." || s.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos)
            fail(detail::str("weight_map['", name, "'] = '", s,
                             "' is not a plain file name in the index's directory (path traversal refused)"));
        out.weight_map.emplace(name, s);
    }
    return out;
}

class safetensors_model {
public:
    /// Opens `path`: an index when its name ends in ".json", a single safetensors file otherwise.
    /// @throws format_error (malformed index or shard), io_error (a file cannot be mapped).
    explicit safetensors_model(const std::filesystem::path& path) {
        const std::string p = path.string();
        if (p.size() >= 5 && p.compare(p.size() - 5, 5, ".json") == 0)
            open_index(path);
        else {
            m_shards.emplace_back(path);
            for (const auto& name : m_shards[0].names()) m_where.emplace(name, 0);
        }
    }

    [[nodiscard]] std::size_t size() const noexcept { return m_where.size(); }

    [[nodiscard]] bool contains(std::string_view name) const { return m_where.find(name) != m_where.end(); }

    /// Tensor names, sorted.
    [[nodiscard]] std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& kv : m_where) out.push_back(kv.first);
        return out;
    }

    /// The shard files, in the order first named by the (sorted) weight map.
    [[nodiscard]] const std::vector<safetensors_file>& shards() const noexcept { return m_shards; }

    /// The index's "metadata" entries whose values are strings or numbers (as text), or the single file's __metadata__.
    [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept {
        return m_index_metadata ? m_metadata : m_shards[0].metadata();
    }

    /// The tensor named `name`. @throws precondition_error when the model has none.
    [[nodiscard]] safetensors_tensor tensor(std::string_view name) const {
        const auto it = m_where.find(name);
        NNPRUNE_CHECK(it != m_where.end(), precondition_error,
                      detail::str("safetensors_model: no tensor named '", name, "'"));
        return m_shards[it->second].tensor(name);
    }

private:
    void open_index(const std::filesystem::path& path) {
        const mapped_file map(path);
        NNPRUNE_CHECK(map.size() <= safetensors_max_header, format_error,
                      detail::str("safetensors index: ", path.string(), ": index has ", map.size(),
                                  " bytes, over the limit of ", safetensors_max_header));
        const auto bytes = map.bytes();
        safetensors_index index = parse_safetensors_index(
            std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path.string());
        m_metadata = std::move(index.metadata);
        m_index_metadata = true;
        const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
        std::map<std::string, std::size_t> shard_of_file;
        for (const auto& [name, shard] : index.weight_map) {
            auto it = shard_of_file.find(shard);
            if (it == shard_of_file.end()) {
                m_shards.emplace_back(dir / shard);
                it = shard_of_file.emplace(shard, m_shards.size() - 1).first;
            }
            NNPRUNE_CHECK(m_shards[it->second].contains(name), format_error,
                          detail::str("safetensors index: ", path.string(), ": tensor '", name,
                                      "' is mapped to shard '", shard, "', which does not contain it"));
            m_where.emplace(name, it->second);
        }
    }

    std::vector<safetensors_file> m_shards;
    std::map<std::string, std::size_t, std::less<>> m_where;
    std::map<std::string, std::string> m_metadata;
    bool m_index_metadata = false;
};

}  // namespace nnprune

#endif  // NNPRUNE_IO_SAFETENSORS_MODEL_HPP
