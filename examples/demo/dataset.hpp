#ifndef NNPRUNE_EXAMPLES_DEMO_DATASET_HPP
#define NNPRUNE_EXAMPLES_DEMO_DATASET_HPP

/// @file dataset.hpp
/// The UCI optical handwritten digits (data/digits.csv: 1797 rows of 64 pixels in 0..16, then the
/// label) and a fixed-seed train/test split. See data/README.md for the source and licence.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>

namespace demo {

/// Row-major, so that a [out, in] weight matrix's data() is the flat layout nnprune's views expect.
using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// splitmix64: a tiny PRNG whose output is the same on every platform (std:: distributions are not).
class rng {
public:
    explicit rng(std::uint64_t seed) : m_state(seed) {}

    std::uint64_t next() {
        std::uint64_t z = (m_state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }

    /// Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    /// Uniform integer in [0, n), n > 0 (the modulo bias is below 2^-40 for the sizes used here).
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

private:
    std::uint64_t m_state;
};

/// Fisher-Yates shuffle driven by rng (std::shuffle's algorithm is implementation-defined).
inline void shuffle(std::vector<std::size_t>& v, rng& r) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[r.below(i)]);
}

struct dataset {
    matrix x;            ///< [n, 64], pixels scaled to [0, 1]
    std::vector<int> y;  ///< labels 0..9

    [[nodiscard]] std::size_t size() const { return y.size(); }
};

/// Reads the CSV. @throws std::runtime_error on a missing file or a malformed row.
inline dataset load_digits(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("load_digits: cannot open '" + path + "'");
    std::vector<float> pixels;
    std::vector<int> labels;
    std::string line;
    std::size_t row = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        ++row;
        std::stringstream ss(line);
        std::string cell;
        std::vector<int> v;
        while (std::getline(ss, cell, ',')) v.push_back(std::stoi(cell));
        if (v.size() != 65 || v[64] < 0 || v[64] > 9)
            throw std::runtime_error("load_digits: row " + std::to_string(row) + " of '" + path +
                                     "' does not hold 64 pixels and a label 0..9");
        for (int j = 0; j < 64; ++j) pixels.push_back(static_cast<float>(v[static_cast<std::size_t>(j)]) / 16.0f);
        labels.push_back(v[64]);
    }
    dataset d;
    d.y = std::move(labels);
    d.x = Eigen::Map<matrix>(pixels.data(), static_cast<Eigen::Index>(d.y.size()), 64);
    return d;
}

/// The rows `idx` of d.
inline dataset subset(const dataset& d, const std::vector<std::size_t>& idx) {
    dataset s;
    s.x.resize(static_cast<Eigen::Index>(idx.size()), d.x.cols());
    for (std::size_t i = 0; i < idx.size(); ++i) {
        s.x.row(static_cast<Eigen::Index>(i)) = d.x.row(static_cast<Eigen::Index>(idx[i]));
        s.y.push_back(d.y[idx[i]]);
    }
    return s;
}

/// A fixed-seed shuffle split: the first n_train shuffled rows train, the rest test.
inline void split(const dataset& d, std::size_t n_train, std::uint64_t seed, dataset& train, dataset& test) {
    std::vector<std::size_t> idx(d.size());
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    rng r(seed);
    shuffle(idx, r);
    train = subset(d, {idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n_train)});
    test = subset(d, {idx.begin() + static_cast<std::ptrdiff_t>(n_train), idx.end()});
}

}  // namespace demo

#endif  // NNPRUNE_EXAMPLES_DEMO_DATASET_HPP
