#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"
#include <nnprune/io/sparse_export.hpp>

using Catch::Contains;

TEMPLATE_TEST_CASE("sparse_export: every form round-trips through a safetensors file", "[io][sparse_export]", float,
                   nnprune::bfloat16, nnprune::float16) {
    io_test::scratch_dir dir;
    const std::size_t rows = 5, cols = 12;
    std::mt19937_64 rng(9);
    std::vector<TestType> w(rows * cols);
    for (auto& x : w) x = TestType(static_cast<float>(rng() % 1000) / 7.0f - 60.0f);
    nnprune::mask m(nnprune::shape{rows, cols}, false);
    for (std::size_t g = 0; g < m.size() / 4; ++g) {
        m.set(g * 4 + rng() % 2);
        if (g % 3) m.set(g * 4 + 2 + rng() % 2);
    }
    std::vector<TestType> expect(w.size(), TestType{});
    for (std::size_t i = 0; i < w.size(); ++i)
        if (m.test(i)) expect[i] = w[i];
    const nnprune::matrix_view<const TestType> v(w.data(), rows, cols);

    const auto csr = nnprune::to_csr<std::int64_t>(v, m);
    const auto nm = nnprune::to_nm(v, m);
    const auto bm = nnprune::to_bitmask(v, m);
    nnprune::safetensors_writer wr;
    nnprune::add_csr(wr, "layer.csr", csr);
    nnprune::add_nm(wr, "layer.nm", nm);
    nnprune::add_bitmask(wr, "layer.bm", bm);
    wr.write(dir / "s.safetensors");

    const nnprune::safetensors_file f(dir / "s.safetensors");
    CHECK(f.metadata().at("nnprune.sparse.layer.nm") == "nm 2:4 5x12");
    CHECK(f.metadata().at("nnprune.sparse.layer.csr") == "csr 5x12");
    CHECK(f.tensor("layer.csr.col_indices").dtype() == nnprune::safetensors_dtype::I64);
    CHECK(f.tensor("layer.nm.metadata").shape() == std::vector<std::uint64_t>{5, 2});
    CHECK(nnprune::to_dense(nnprune::read_csr<TestType, std::int64_t>(f.view(), "layer.csr")) == expect);
    CHECK(nnprune::to_dense(nnprune::read_nm<TestType>(f.view(), "layer.nm")) == expect);
    CHECK(nnprune::to_dense(nnprune::read_bitmask<TestType>(f.view(), "layer.bm")) == expect);
}

TEST_CASE("sparse_export: malformed sparse files are format_errors", "[io][sparse_export]") {
    io_test::scratch_dir dir;
    std::vector<float> w{1, 2, 3, 4, 5, 6, 7, 8};
    nnprune::mask m(nnprune::shape{2, 4}, false);
    m.set(1);
    m.set(6);
    const nnprune::matrix_view<const float> v(w.data(), 2, 4);
    const auto csr = nnprune::to_csr(v, m);
    const auto bm = nnprune::to_bitmask(v, m);
    const auto nm = nnprune::to_nm(v, m);

    nnprune::safetensors_writer wr;
    nnprune::add_csr(wr, "a", csr);
    nnprune::add_bitmask(wr, "b", bm);
    nnprune::add_nm(wr, "c", nm);
    wr.write(dir / "s.safetensors");
    const nnprune::safetensors_file f(dir / "s.safetensors");
    REQUIRE_THROWS_WITH(nnprune::read_csr<nnprune::bfloat16>(f.view(), "a"),
                        Contains("a.values: is F32, expected BF16"));
    REQUIRE_THROWS_WITH((nnprune::read_csr<float, std::int64_t>(f.view(), "a")),
                        Contains("a.col_indices: is I32, expected I64"));
    REQUIRE_THROWS_WITH(nnprune::read_nm<float>(f.view(), "a"),
                        Contains("matrix 'a': __metadata__ says 'csr 2x4', expected \"nm N:M RxC\""));
    REQUIRE_THROWS_WITH(nnprune::read_bitmask<float>(f.view(), "zz"),
                        Contains("no \"nnprune.sparse.zz\" in __metadata__"));

    // tampered: a CSR whose column indices are out of range, metadata that lies about the shape
    std::vector<std::int32_t> bad_cols{1, 9};
    std::vector<float> vals{2, 7};
    std::vector<std::int64_t> ptr{0, 1, 2};
    nnprune::safetensors_writer t;
    t.add_span<float>("x.values", nnprune::safetensors_dtype::F32, {2}, vals);
    t.add_span<std::int32_t>("x.col_indices", nnprune::safetensors_dtype::I32, {2}, bad_cols);
    t.add_span<std::int64_t>("x.row_ptr", nnprune::safetensors_dtype::I64, {3}, ptr);
    t.set_metadata("nnprune.sparse.x", "csr 2x4");
    t.set_metadata("nnprune.sparse.y", "csr 3x4");
    t.set_metadata("nnprune.sparse.z", "csr -1x4");
    t.write(dir / "t.safetensors");
    const nnprune::safetensors_file g(dir / "t.safetensors");
    REQUIRE_THROWS_AS(nnprune::read_csr<float>(g.view(), "x"), nnprune::format_error);
    REQUIRE_THROWS_WITH(nnprune::read_csr<float>(g.view(), "x"),
                        Contains("t.safetensors: matrix 'x'") && Contains("column index 9 outside [0, 4)"));
    REQUIRE_THROWS_WITH(nnprune::read_csr<float>(g.view(), "y"), Contains("y.row_ptr: missing"));
    REQUIRE_THROWS_WITH(nnprune::read_csr<float>(g.view(), "z"), Contains("__metadata__ says 'csr -1x4'"));
}
