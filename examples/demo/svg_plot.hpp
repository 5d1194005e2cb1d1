#ifndef NNPRUNE_EXAMPLES_DEMO_SVG_PLOT_HPP
#define NNPRUNE_EXAMPLES_DEMO_SVG_PLOT_HPP

/// @file svg_plot.hpp
/// A hand-written SVG line chart (no dependencies): a grid of panels sharing axes ranges and a
/// legend, one coloured polyline with markers per series, optional single points drawn as hollow
/// diamonds, and a dashed horizontal reference line.

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace demo::svg {

struct series {
    std::string name, colour;
    std::vector<double> x, y;
};

struct point {
    std::string colour;
    double x, y;
};

struct panel {
    std::string title;
    std::vector<series> lines;
    std::vector<point> diamonds;  ///< single points, e.g. 2:4 at sparsity 0.5
};

struct chart {
    std::string title, x_label, y_label;
    double x_min, x_max, y_min, y_max;
    std::vector<double> x_ticks, y_ticks;
    double reference = -1;  ///< dashed horizontal line (e.g. dense accuracy); < y_min: none
    std::string reference_label;
    std::string diamonds_label;  ///< legend text for the diamonds (empty: no entry)
    std::vector<panel> panels;
    std::size_t columns = 2;  ///< panels per row of the grid
};

namespace detail {
inline std::string num(double v, int decimals = 1) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

inline std::string esc(const std::string& s) {
    std::string r;
    for (char c : s) {
        if (c == '&')
            r.append("&amp;");
        else if (c == '<')
            r.append("&lt;");
        else if (c == '>')
            r.append("&gt;");
        else
            r.push_back(c);
    }
    return r;
}

inline std::string diamond(double cx, double cy, double r, const std::string& colour) {
    std::ostringstream s;
    s << "<path d=\"M" << num(cx) << " " << num(cy - r) << " L" << num(cx + r) << " " << num(cy) << " L" << num(cx)
      << " " << num(cy + r) << " L" << num(cx - r) << " " << num(cy) << " Z\" fill=\"white\" stroke=\"" << colour
      << "\" stroke-width=\"2\"/>\n";
    return s.str();
}
}  // namespace detail

/// Writes the chart. @throws std::runtime_error when the file cannot be written.
inline void write(const chart& c, const std::string& path) {
    using detail::num;
    const double pw = 360, ph = 300;                         // plot area of one panel
    const double left = 70, top = 70, gap = 60, vgap = 100;  // margins
    const double legend_w = 190;
    const std::size_t cols = c.columns ? c.columns : 1, rows = (c.panels.size() + cols - 1) / cols;
    const double nc = static_cast<double>(std::min(cols, c.panels.size())), nr = static_cast<double>(rows);
    const double width = left + nc * pw + (nc - 1) * gap + 30 + legend_w, height = top + nr * ph + (nr - 1) * vgap + 60;
    std::ostringstream s;
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(width, 0) << "\" height=\"" << num(height, 0)
      << "\" viewBox=\"0 0 " << num(width, 0) << " " << num(height, 0)
      << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
    s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    s << "<text x=\"" << num(width / 2) << "\" y=\"28\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">"
      << detail::esc(c.title) << "</text>\n";
    for (std::size_t p = 0; p < c.panels.size(); ++p) {
        const panel& P = c.panels[p];
        const double x0 = left + static_cast<double>(p % cols) * (pw + gap);
        const double y0 = top + static_cast<double>(p / cols) * (ph + vgap);
        auto X = [&](double v) { return x0 + (v - c.x_min) / (c.x_max - c.x_min) * pw; };
        auto Y = [&](double v) { return y0 + ph - (v - c.y_min) / (c.y_max - c.y_min) * ph; };
        s << "<text x=\"" << num(x0 + pw / 2) << "\" y=\"" << num(y0 - 12)
          << "\" text-anchor=\"middle\" font-size=\"14\">" << detail::esc(P.title) << "</text>\n";
        // grid and ticks
        for (double t : c.y_ticks) {
            s << "<line x1=\"" << num(x0) << "\" y1=\"" << num(Y(t)) << "\" x2=\"" << num(x0 + pw) << "\" y2=\""
              << num(Y(t)) << "\" stroke=\"#e5e5e5\"/>\n";
            s << "<text x=\"" << num(x0 - 8) << "\" y=\"" << num(Y(t) + 4) << "\" text-anchor=\"end\">" << num(t, 1)
              << "</text>\n";
        }
        for (double t : c.x_ticks) {
            s << "<line x1=\"" << num(X(t)) << "\" y1=\"" << num(y0) << "\" x2=\"" << num(X(t)) << "\" y2=\""
              << num(y0 + ph) << "\" stroke=\"#e5e5e5\"/>\n";
            s << "<line x1=\"" << num(X(t)) << "\" y1=\"" << num(y0 + ph) << "\" x2=\"" << num(X(t)) << "\" y2=\""
              << num(y0 + ph + 5) << "\" stroke=\"black\"/>\n";
            s << "<text x=\"" << num(X(t)) << "\" y=\"" << num(y0 + ph + 19) << "\" text-anchor=\"middle\">"
              << num(t, 2) << "</text>\n";
        }
        s << "<rect x=\"" << num(x0) << "\" y=\"" << num(y0) << "\" width=\"" << num(pw) << "\" height=\"" << num(ph)
          << "\" fill=\"none\" stroke=\"black\"/>\n";
        s << "<text x=\"" << num(x0 + pw / 2) << "\" y=\"" << num(y0 + ph + 42) << "\" text-anchor=\"middle\">"
          << detail::esc(c.x_label) << "</text>\n";
        s << "<text transform=\"translate(" << num(x0 - 45) << " " << num(y0 + ph / 2)
          << ") rotate(-90)\" text-anchor=\"middle\">" << detail::esc(c.y_label) << "</text>\n";
        if (c.reference >= c.y_min)
            s << "<line x1=\"" << num(x0) << "\" y1=\"" << num(Y(c.reference)) << "\" x2=\"" << num(x0 + pw)
              << "\" y2=\"" << num(Y(c.reference))
              << "\" stroke=\"black\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n";
        for (const series& L : P.lines) {
            std::ostringstream pts;
            for (std::size_t i = 0; i < L.x.size(); ++i)
                pts << (i ? " " : "") << num(X(L.x[i])) << "," << num(Y(L.y[i]));
            s << "<polyline points=\"" << pts.str() << "\" fill=\"none\" stroke=\"" << L.colour
              << "\" stroke-width=\"2\" stroke-linejoin=\"round\"/>\n";
            for (std::size_t i = 0; i < L.x.size(); ++i)
                s << "<circle cx=\"" << num(X(L.x[i])) << "\" cy=\"" << num(Y(L.y[i])) << "\" r=\"3\" fill=\""
                  << L.colour << "\"/>\n";
        }
        for (const point& d : P.diamonds) s << detail::diamond(X(d.x), Y(d.y), 6, d.colour);
    }
    // legend: the series of the first panel (colours are shared), then the reference and diamonds
    const double lx = left + nc * pw + (nc - 1) * gap + 30;
    double ly = top + 10;
    std::vector<std::pair<std::string, std::string>> entries;
    for (const panel& P : c.panels)
        for (const series& L : P.lines) {
            bool seen = false;
            for (const auto& e : entries) seen = seen || e.first == L.name;
            if (!seen) entries.emplace_back(L.name, L.colour);
        }
    for (const auto& [name, colour] : entries) {
        s << "<line x1=\"" << num(lx) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(lx + 28) << "\" y2=\"" << num(ly)
          << "\" stroke=\"" << colour << "\" stroke-width=\"2\"/>\n";
        s << "<circle cx=\"" << num(lx + 14) << "\" cy=\"" << num(ly) << "\" r=\"3\" fill=\"" << colour << "\"/>\n";
        s << "<text x=\"" << num(lx + 36) << "\" y=\"" << num(ly + 4) << "\">" << detail::esc(name) << "</text>\n";
        ly += 22;
    }
    if (c.reference >= c.y_min) {
        ly += 6;
        s << "<line x1=\"" << num(lx) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(lx + 28) << "\" y2=\"" << num(ly)
          << "\" stroke=\"black\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n";
        s << "<text x=\"" << num(lx + 36) << "\" y=\"" << num(ly + 4) << "\">" << detail::esc(c.reference_label)
          << "</text>\n";
        ly += 22;
    }
    if (!c.diamonds_label.empty()) {
        s << detail::diamond(lx + 14, ly, 6, "#444444");
        s << "<text x=\"" << num(lx + 36) << "\" y=\"" << num(ly + 4) << "\">" << detail::esc(c.diamonds_label)
          << "</text>\n";
    }
    s << "</svg>\n";
    std::ofstream out(path);
    out << s.str();
    if (!out) throw std::runtime_error("svg::write: cannot write '" + path + "'");
}

}  // namespace demo::svg

#endif  // NNPRUNE_EXAMPLES_DEMO_SVG_PLOT_HPP
