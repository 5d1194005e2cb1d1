// libFuzzer target: the tool's argument parser. Each input is a command line (arguments separated
// by NUL bytes, at most 64) parsed by the tool's own CLI11 setup (command_line.hpp); a parsed
// `prune` then has its options checked as run_prune() checks them before opening any file
// (check_prune_args). Parse errors and usage errors are the expected failures; nothing else may
// escape, and nothing is run (no file is read or written).
// Built only with -DNNPRUNE_BUILD_FUZZERS=ON and clang++ (-fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../../examples/cli/command_line.hpp"
#include "../../examples/cli/common.hpp"
#include <nnprune/core/errors.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> args{"nnprune"};
    std::string cur;
    for (std::size_t i = 0; i < size && args.size() < 64; ++i) {
        if (data[i] == 0) {
            args.push_back(cur);
            cur.clear();
        } else {
            cur += static_cast<char>(data[i]);
        }
    }
    if (!cur.empty() && args.size() < 64) args.push_back(cur);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    static nnprune_cli::command_line cl;  // built once (slow); each input starts from the defaults
    cl.app.clear();
    cl.prune_options = {};
    cl.inspect_options = {};
    cl.tokens_options = {};
    cl.gen_options = {};
    try {
        cl.app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::Error&) {  // parse errors, --help, --version
        return 0;
    }
    if (!cl.prune->parsed()) return 0;
    try {
        nnprune_cli::check_prune_args(cl.prune_options);
    } catch (const nnprune_cli::usage_error&) {
    } catch (const nnprune::error&) {
    }
    return 0;
}
