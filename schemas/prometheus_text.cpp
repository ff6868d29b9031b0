#include "schemas/prometheus_text.h"

namespace ul {

std::string micros_as_seconds(std::uint64_t micros) {
    std::string out = std::to_string(micros / 1'000'000);
    if (std::uint64_t fraction = micros % 1'000'000; fraction != 0) {
        std::string digits = std::to_string(fraction);
        digits.insert(0, 6 - digits.size(), '0');
        while (digits.back() == '0') {
            digits.pop_back();
        }
        out += "." + digits;
    }
    return out;
}

void append_metric_header(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void append_metric_sample(std::string& out, std::string_view name, std::string_view labels,
                          std::string_view value) {
    out.append(name);
    if (!labels.empty()) {
        out.append("{").append(labels).append("}");
    }
    out.append(" ").append(value).append("\n");
}

void append_metric_sample(std::string& out, std::string_view name, std::string_view labels,
                          std::uint64_t value) {
    append_metric_sample(out, name, labels, std::string_view(std::to_string(value)));
}

void append_metric_sample(std::string& out, std::string_view name, std::string_view labels,
                          std::int64_t value) {
    append_metric_sample(out, name, labels, std::string_view(std::to_string(value)));
}

std::string metric_label(std::string_view name, std::string_view value) {
    std::string out(name);
    out.append("=\"");
    for (const char c : value) {
        if (c == '\\' || c == '"') {
            out.push_back('\\');
            out.push_back(c);
        } else if (c == '\n') {
            out.append("\\n");
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
    return out;
}

}  // namespace ul
