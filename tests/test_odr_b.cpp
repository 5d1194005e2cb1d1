// Second unit of the ODR check (see test_odr_a.cpp), compiled with -march=x86-64-v4 where the
// compiler can: its kernels may use AVX-512 anywhere, so it is run only on a CPU that has it.
#include "odr_kernels.hpp"

bool nnprune_odr_b_is_v4() {
#if defined(__AVX512F__)
    return true;
#else
    return false;
#endif
}

std::string nnprune_odr_b_abi() { return typeid(nnprune::simd::bracket_counts).name(); }

odr_test::result nnprune_odr_b_run() { return odr_test::run_kernels(); }
