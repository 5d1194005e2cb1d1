// Shared by both consumer projects: uses the umbrella header and an adapter, returns 0 on success.
#include <cstdio>
#include <vector>

#include <nnprune/adapters/span.hpp>
#include <nnprune/nnprune.hpp>

int main() {
    std::vector<float> w{0.5f, -3.0f, 0.25f, 2.0f, -0.125f, 1.0f};
    nnprune::mask m(nnprune::shape{2, 3});
    nnprune::select_mask(nnprune::as_ref(nnprune::make_view(w.data(), 2, 3)), nnprune::per_row{}, nnprune::exactly{1},
                         m);
    nnprune::apply(nnprune::make_view(w.data(), 2, 3), m);
    // per row the lowest score is pruned: -3 and -0.125
    const bool ok =
        w == std::vector<float>{0.5f, 0.0f, 0.25f, 2.0f, 0.0f, 1.0f} && m.pruned() == 2 &&
        NNPRUNE_VERSION == NNPRUNE_VERSION_MAJOR * 10000 + NNPRUNE_VERSION_MINOR * 100 + NNPRUNE_VERSION_PATCH;
    std::printf("nnprune %d.%d.%d consumer: %s\n", NNPRUNE_VERSION_MAJOR, NNPRUNE_VERSION_MINOR, NNPRUNE_VERSION_PATCH,
                ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
