// libFuzzer target: the tool's calibration-statistics handling. Each input is written as the
// --calib file of `nnprune prune` (run in process, through run_prune) on a fixed two-layer model;
// the first byte picks the method (wanda, gblm, taylor) and whether the run is global. Every
// failure must be one of the tool's errors (usage, input, format, I/O, nnprune), never a crash.
// Built only with -DNNPRUNE_BUILD_FUZZERS=ON and clang++ (-fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "../../examples/cli/common.hpp"
#include "../../examples/cli/prune_command.hpp"
#include <nnprune/core/errors.hpp>
#include <nnprune/io/safetensors_writer.hpp>

namespace {

namespace fs = std::filesystem;

/// A scratch directory with the model (a.weight 4x8, b.weight 8x4, a norm), made once.
const fs::path& scratch() {
    static const fs::path dir = [] {
        const fs::path d = fs::temp_directory_path() / ("nnprune_fuzz_calib_" + std::to_string(::getpid()));
        fs::create_directories(d);
        std::vector<float> a(32), b(32), n(8, 1.0f);
        for (std::size_t i = 0; i < 32; ++i) {
            a[i] = static_cast<float>(i % 7) - 3.0f;
            b[i] = static_cast<float>(i % 5) * 0.5f - 1.0f;
        }
        nnprune::safetensors_writer w;
        w.add("a.weight", nnprune::matrix_view<const float>(a.data(), 4, 8));
        w.add("b.weight", nnprune::matrix_view<const float>(b.data(), 8, 4));
        w.add("norm.weight", nnprune::tensor_view<const float, 1>(n.data(), 8));
        w.write(d / "model.safetensors");
        return d;
    }();
    return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const fs::path& dir = scratch();
    {
        std::ofstream f(dir / "calib.safetensors", std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
    }
    static const char* const methods[] = {"wanda", "gblm", "taylor"};
    nnprune_cli::prune_args a;
    a.model = (dir / "model.safetensors").string();
    a.out = (dir / "out.safetensors").string();
    a.calib = (dir / "calib.safetensors").string();
    a.method = methods[data[0] % 3];
    if (data[0] & 4) a.scope = "global";
    if (data[0] & 8) a.pattern = "2:4";
    if ((data[0] & 12) == 12) a.scope = "layer";
    a.quiet = true;
    try {
        nnprune_cli::run_prune(a);
    } catch (const nnprune_cli::usage_error&) {
    } catch (const nnprune_cli::input_error&) {
    } catch (const nnprune::error&) {
    }
    return 0;
}
