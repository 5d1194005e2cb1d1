// Structured compaction from C++: keeps the best 3/4 of every layer's query heads (in every KV
// group) and half of its MLP channels, by the squared norm of the o_proj / down_proj columns that
// read them, and writes the smaller dense model as one safetensors file plus its config.json.
//   compact_model MODEL_DIR OUT_DIR
// MODEL_DIR holds config.json and model.safetensors (or model.safetensors.index.json and shards).
// The nnprune tool's `compact` command does the same with more options and writes shards as they were.

#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

// README compact begin
#include <nnprune/compact.hpp>
#include <nnprune/io.hpp>

namespace fs = std::filesystem;

/// Per input column of a Linear weight [out, in]: the sum of squares of the column.
std::vector<float> column_energy(const nnprune::safetensors_tensor& w) {
    std::vector<float> s(static_cast<std::size_t>(w.shape()[1]), 0.0f);
    nnprune::visit(w.ref(), [&](auto v) {
        nnprune::for_each_indexed(v, [&](std::size_t i, auto x) {
            const float f = nnprune::to_float(x);
            s[i % s.size()] += f * f;
        });
    });
    return s;
}

int run(const fs::path& in, const fs::path& out) {
    const nlohmann::json config = nlohmann::json::parse(std::ifstream(in / "config.json"));
    const nnprune::model_family& family = nnprune::find_family(config.at("model_type").get<std::string>());
    const nnprune::model_dims d = nnprune::read_dims(family, config);
    const fs::path index = in / "model.safetensors.index.json";
    const nnprune::safetensors_model model(fs::exists(index) ? index : in / "model.safetensors");

    std::vector<nnprune::layer_selection> kept(d.layers);
    for (std::size_t l = 0; l < d.layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const std::vector<float> o = column_energy(model.tensor(p + "self_attn.o_proj.weight"));
        std::vector<float> heads(d.heads, 0.0f);
        for (std::size_t c = 0; c < o.size(); ++c) heads[c / d.head_dim] += o[c];
        kept[l].heads = nnprune::top_heads(heads, d.kv_heads, d.kv_heads, d.group_size() * 3 / 4);
        kept[l].channels =
            nnprune::top_channels(column_energy(model.tensor(p + "mlp.down_proj.weight")), d.intermediate / 2);
    }

    std::vector<nnprune::tensor_desc> inputs;
    for (const std::string& name : model.names()) {
        const auto t = model.tensor(name);
        inputs.push_back({name, t.dtype(), t.shape()});
    }
    const nnprune::compact_plan plan(family, config, inputs, kept);  // validates everything first

    std::deque<std::vector<std::byte>> data;  // one buffer per output: the writer keeps references
    nnprune::safetensors_writer writer;
    nnprune::compact(
        plan, [&](std::string_view name) { return model.tensor(name).bytes(); },
        [&](const nnprune::compact_output& o, std::span<const std::byte> bytes) {
            data.emplace_back(bytes.begin(), bytes.end());
            writer.add_raw(o.name, o.dtype, o.shape, data.back());
        });
    fs::create_directories(out);
    writer.write(out / "model.safetensors");
    std::ofstream(out / "config.json") << plan.config().dump(2) << '\n';
    // README compact end
    const auto& a = plan.after();
    std::printf("heads %zu -> %zu, KV heads %zu -> %zu, MLP channels %zu -> %zu, %zu tensors\n", d.heads, a.heads,
                d.kv_heads, a.kv_heads, d.intermediate, a.intermediate, plan.outputs().size());
    // the output is a model of the same family: a plan over it that keeps everything gathers nothing
    const nnprune::safetensors_model result(out / "model.safetensors");
    std::vector<nnprune::tensor_desc> outputs;
    for (const std::string& name : result.names()) {
        const auto t = result.tensor(name);
        outputs.push_back({name, t.dtype(), t.shape()});
    }
    const nnprune::compact_plan check(family, plan.config(), outputs, nnprune::keep_all(a));
    for (const auto& o : check.outputs())
        if (o.how != nnprune::compact_output::kind::copy)
            return std::fprintf(stderr, "%s changed\n", o.name.c_str()), 1;
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 3) return std::fprintf(stderr, "usage: compact_model MODEL_DIR OUT_DIR\n"), 1;
    try {
        return run(argv[1], argv[2]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "compact_model: %s\n", e.what());
        return 1;
    }
}
