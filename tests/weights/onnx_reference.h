// A test-only ONNX interpreter, in double precision, for the few ops cifar10 export writes (Conv,
// Relu, MaxPool, Flatten, Gemm, Softmax, and --raw-input's Cast, Transpose, Gather, Sub; Add and
// Mul as well). It reads the parsed ModelProto directly, as a runtime would, so a graph whose
// layouts (NCHW, OIHW, the Flatten order, the Gemm kernel) disagree with Kiln's computes
// something else than Kiln's forward, and the test comparing the two fails. Any op, attribute or
// type it does not know is an exception, never a guess.
#pragma once

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::test {

struct RefTensor {
  std::vector<std::int64_t> dims;
  std::vector<double> v;  // row-major; integer tensors hold their values exactly
  int type = onnx::TensorProto::FLOAT;

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (const std::int64_t d : dims) n *= d;
    return n;
  }
};

class OnnxReference {
 public:
  explicit OnnxReference(const onnx::ModelProto& model) : graph_(model.graph()) {
    for (const onnx::TensorProto& t : graph_.initializer()) initializers_[t.name()] = read(t);
  }

  // Runs the graph on one named input; returns every value by name (initializers, the input, each
  // node's output; the graph's outputs among them).
  std::map<std::string, RefTensor> run(const std::string& input, const RefTensor& x) const {
    std::map<std::string, RefTensor> values = initializers_;
    values[input] = x;
    for (const onnx::NodeProto& n : graph_.node()) {
      std::vector<const RefTensor*> in;
      for (const std::string& name : n.input()) {
        const auto it = values.find(name);
        if (it == values.end()) fail(n, "input '" + name + "' is not computed yet");
        in.push_back(&it->second);
      }
      if (n.output_size() != 1) fail(n, "has " + std::to_string(n.output_size()) + " outputs");
      values[n.output(0)] = apply(n, in);
    }
    for (const onnx::ValueInfoProto& o : graph_.output()) {
      if (values.count(o.name()) == 0) throw std::runtime_error("output " + o.name() + " unset");
    }
    return values;
  }

 private:
  [[noreturn]] static void fail(const onnx::NodeProto& n, const std::string& what) {
    throw std::runtime_error("onnx reference: node '" + n.name() + "' (" + n.op_type() +
                             "): " + what);
  }

  static RefTensor read(const onnx::TensorProto& t) {
    RefTensor r;
    r.type = t.data_type();
    r.dims.assign(t.dims().begin(), t.dims().end());
    const std::size_t n = static_cast<std::size_t>(r.numel());
    if (t.data_type() == onnx::TensorProto::FLOAT) {
      if (t.has_raw_data()) {
        if (t.raw_data().size() != n * 4) throw std::runtime_error(t.name() + ": raw_data size");
        std::vector<float> f(n);
        std::memcpy(f.data(), t.raw_data().data(), n * 4);
        r.v.assign(f.begin(), f.end());
      } else {
        r.v.assign(t.float_data().begin(), t.float_data().end());
      }
    } else if (t.data_type() == onnx::TensorProto::INT64) {
      if (t.has_raw_data()) {
        std::vector<std::int64_t> i(n);
        std::memcpy(i.data(), t.raw_data().data(), n * 8);
        r.v.assign(i.begin(), i.end());
      } else {
        r.v.assign(t.int64_data().begin(), t.int64_data().end());
      }
    } else {
      throw std::runtime_error(t.name() + ": initializer type " + std::to_string(t.data_type()));
    }
    if (r.v.size() != n) throw std::runtime_error(t.name() + ": value count disagrees with dims");
    return r;
  }

  static const onnx::AttributeProto* attr(const onnx::NodeProto& n, const std::string& name) {
    for (const onnx::AttributeProto& a : n.attribute()) {
      if (a.name() == name) return &a;
    }
    return nullptr;
  }
  static std::int64_t int_attr(const onnx::NodeProto& n, const std::string& name,
                               std::int64_t fallback) {
    const onnx::AttributeProto* a = attr(n, name);
    return a == nullptr ? fallback : a->i();
  }
  static double float_attr(const onnx::NodeProto& n, const std::string& name, double fallback) {
    const onnx::AttributeProto* a = attr(n, name);
    return a == nullptr ? fallback : a->f();
  }
  static std::vector<std::int64_t> ints_attr(const onnx::NodeProto& n, const std::string& name,
                                             const std::vector<std::int64_t>& fallback) {
    const onnx::AttributeProto* a = attr(n, name);
    return a == nullptr ? fallback : std::vector<std::int64_t>(a->ints().begin(), a->ints().end());
  }
  static void only_attrs(const onnx::NodeProto& n, const std::vector<std::string>& known) {
    for (const onnx::AttributeProto& a : n.attribute()) {
      if (std::find(known.begin(), known.end(), a.name()) == known.end()) {
        fail(n, "attribute '" + a.name() + "' is not supported here");
      }
    }
  }
  static void rank(const onnx::NodeProto& n, const RefTensor& t, std::size_t r) {
    if (t.dims.size() != r) fail(n, "expects rank " + std::to_string(r));
  }

  RefTensor apply(const onnx::NodeProto& n, const std::vector<const RefTensor*>& in) const {
    const std::string& op = n.op_type();
    if (op == "Conv") return conv(n, in);
    if (op == "MaxPool") return max_pool(n, *in.at(0));
    if (op == "Relu") {
      only_attrs(n, {});
      RefTensor y = *in.at(0);
      for (double& v : y.v) v = std::max(v, 0.0);
      return y;
    }
    if (op == "Flatten") {
      only_attrs(n, {"axis"});
      const RefTensor& x = *in.at(0);
      const std::int64_t axis = int_attr(n, "axis", 1);
      std::int64_t outer = 1;
      for (std::int64_t i = 0; i < axis; ++i) outer *= x.dims[i];
      RefTensor y = x;
      y.dims = {outer, x.numel() / outer};
      return y;
    }
    if (op == "Gemm") return gemm(n, in);
    if (op == "BatchNormalization") return batch_norm(n, in);
    if (op == "Softmax") return softmax(n, *in.at(0));
    if (op == "Cast") {
      only_attrs(n, {"to"});
      if (int_attr(n, "to", 0) != onnx::TensorProto::FLOAT) fail(n, "casts to a non-float");
      RefTensor y = *in.at(0);
      y.type = onnx::TensorProto::FLOAT;
      return y;
    }
    if (op == "Transpose") return transpose(n, *in.at(0));
    if (op == "Gather") return gather(n, *in.at(0), *in.at(1));
    if (op == "Sub" || op == "Add" || op == "Mul") return broadcast(n, *in.at(0), *in.at(1));
    fail(n, "op not supported by the reference interpreter");
  }

  static RefTensor conv(const onnx::NodeProto& n, const std::vector<const RefTensor*>& in) {
    only_attrs(n, {"kernel_shape", "strides", "pads", "dilations", "group"});
    const RefTensor& x = *in.at(0);
    const RefTensor& w = *in.at(1);
    rank(n, x, 4);
    rank(n, w, 4);
    if (int_attr(n, "group", 1) != 1) fail(n, "group != 1");
    if (ints_attr(n, "dilations", {1, 1}) != std::vector<std::int64_t>{1, 1}) fail(n, "dilated");
    const std::int64_t N = x.dims[0], C = x.dims[1], H = x.dims[2], W = x.dims[3];
    const std::int64_t K = w.dims[0], R = w.dims[2], S = w.dims[3];
    if (w.dims[1] != C) fail(n, "kernel channels disagree with the input's");
    if (ints_attr(n, "kernel_shape", {R, S}) != std::vector<std::int64_t>{R, S}) {
      fail(n, "kernel_shape disagrees with the kernel");
    }
    const auto st = ints_attr(n, "strides", {1, 1});
    const auto pd = ints_attr(n, "pads", {0, 0, 0, 0});
    const std::int64_t P = (H + pd[0] + pd[2] - R) / st[0] + 1;
    const std::int64_t Q = (W + pd[1] + pd[3] - S) / st[1] + 1;
    RefTensor y;
    y.dims = {N, K, P, Q};
    y.v.assign(static_cast<std::size_t>(N * K * P * Q), 0.0);
    for (std::int64_t b = 0; b < N; ++b)
      for (std::int64_t k = 0; k < K; ++k)
        for (std::int64_t p = 0; p < P; ++p)
          for (std::int64_t q = 0; q < Q; ++q) {
            double s = in.size() > 2 ? in[2]->v.at(k) : 0.0;
            for (std::int64_t c = 0; c < C; ++c)
              for (std::int64_t r = 0; r < R; ++r)
                for (std::int64_t t = 0; t < S; ++t) {
                  const std::int64_t h = p * st[0] - pd[0] + r, ww = q * st[1] - pd[1] + t;
                  if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                  s += x.v[((b * C + c) * H + h) * W + ww] * w.v[((k * C + c) * R + r) * S + t];
                }
            y.v[((b * K + k) * P + p) * Q + q] = s;
          }
    return y;
  }

  // Inference mode: y = (x - mean) / sqrt(var + epsilon) * scale + B, per channel (axis 1).
  static RefTensor batch_norm(const onnx::NodeProto& n, const std::vector<const RefTensor*>& in) {
    only_attrs(n, {"epsilon"});
    const RefTensor& x = *in.at(0);
    rank(n, x, 4);
    const std::int64_t C = x.dims[1], HW = x.dims[2] * x.dims[3];
    for (std::size_t i = 1; i < 5; ++i) {
      if (in.at(i)->dims != std::vector<std::int64_t>{C}) fail(n, "a (C) input is not (C)");
    }
    const double eps = float_attr(n, "epsilon", 1e-5);
    RefTensor y = x;
    for (std::size_t i = 0; i < y.v.size(); ++i) {
      const std::size_t c = (i / HW) % C;
      y.v[i] = (x.v[i] - in[3]->v[c]) / std::sqrt(in[4]->v[c] + eps) * in[1]->v[c] + in[2]->v[c];
    }
    return y;
  }

  static RefTensor max_pool(const onnx::NodeProto& n, const RefTensor& x) {
    only_attrs(n, {"kernel_shape", "strides", "pads"});
    rank(n, x, 4);
    const auto ks = ints_attr(n, "kernel_shape", {});
    if (ks.size() != 2) fail(n, "needs a 2-D kernel_shape");
    const auto st = ints_attr(n, "strides", {1, 1});
    const auto pd = ints_attr(n, "pads", {0, 0, 0, 0});
    const std::int64_t N = x.dims[0], C = x.dims[1], H = x.dims[2], W = x.dims[3];
    const std::int64_t P = (H + pd[0] + pd[2] - ks[0]) / st[0] + 1;
    const std::int64_t Q = (W + pd[1] + pd[3] - ks[1]) / st[1] + 1;
    RefTensor y;
    y.dims = {N, C, P, Q};
    y.v.resize(static_cast<std::size_t>(N * C * P * Q));
    for (std::int64_t bc = 0; bc < N * C; ++bc)
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          double m = -std::numeric_limits<double>::infinity();
          for (std::int64_t r = 0; r < ks[0]; ++r)
            for (std::int64_t t = 0; t < ks[1]; ++t) {
              const std::int64_t h = p * st[0] - pd[0] + r, w = q * st[1] - pd[1] + t;
              if (h >= 0 && h < H && w >= 0 && w < W) m = std::max(m, x.v[(bc * H + h) * W + w]);
            }
          y.v[(bc * P + p) * Q + q] = m;
        }
    return y;
  }

  static RefTensor gemm(const onnx::NodeProto& n, const std::vector<const RefTensor*>& in) {
    only_attrs(n, {"alpha", "beta", "transA", "transB"});
    const RefTensor& a = *in.at(0);
    const RefTensor& b = *in.at(1);
    rank(n, a, 2);
    rank(n, b, 2);
    const onnx::AttributeProto* al = attr(n, "alpha");
    const onnx::AttributeProto* be = attr(n, "beta");
    const double alpha = al ? al->f() : 1.0, beta = be ? be->f() : 1.0;
    const bool ta = int_attr(n, "transA", 0) != 0, tb = int_attr(n, "transB", 0) != 0;
    const std::int64_t M = ta ? a.dims[1] : a.dims[0], K = ta ? a.dims[0] : a.dims[1];
    const std::int64_t Nn = tb ? b.dims[0] : b.dims[1];
    if ((tb ? b.dims[1] : b.dims[0]) != K) fail(n, "inner dimensions disagree");
    RefTensor y;
    y.dims = {M, Nn};
    y.v.assign(static_cast<std::size_t>(M * Nn), 0.0);
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < Nn; ++j) {
        double s = 0;
        for (std::int64_t k = 0; k < K; ++k) {
          s += (ta ? a.v[k * M + i] : a.v[i * K + k]) * (tb ? b.v[j * K + k] : b.v[k * Nn + j]);
        }
        double c = 0;
        if (in.size() > 2) {
          const RefTensor& ct = *in[2];
          if (ct.numel() != Nn) fail(n, "C must be (N)");
          c = ct.v[j];
        }
        y.v[i * Nn + j] = alpha * s + beta * c;
      }
    return y;
  }

  static RefTensor softmax(const onnx::NodeProto& n, const RefTensor& x) {
    only_attrs(n, {"axis"});
    rank(n, x, 2);
    const std::int64_t axis = int_attr(n, "axis", -1);
    if (axis != 1 && axis != -1) fail(n, "axis must be the last of two");
    RefTensor y = x;
    const std::int64_t rows = x.dims[0], k = x.dims[1];
    for (std::int64_t i = 0; i < rows; ++i) {
      double m = -std::numeric_limits<double>::infinity(), s = 0;
      for (std::int64_t j = 0; j < k; ++j) m = std::max(m, x.v[i * k + j]);
      for (std::int64_t j = 0; j < k; ++j) s += std::exp(x.v[i * k + j] - m);
      for (std::int64_t j = 0; j < k; ++j) y.v[i * k + j] = std::exp(x.v[i * k + j] - m) / s;
    }
    return y;
  }

  // Strides of a row-major shape.
  static std::vector<std::int64_t> strides(const std::vector<std::int64_t>& dims) {
    std::vector<std::int64_t> s(dims.size(), 1);
    for (std::size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
    return s;
  }

  static RefTensor transpose(const onnx::NodeProto& n, const RefTensor& x) {
    only_attrs(n, {"perm"});
    const auto perm = ints_attr(n, "perm", {});
    if (perm.size() != x.dims.size()) fail(n, "perm rank disagrees with the input's");
    RefTensor y;
    y.type = x.type;
    for (const std::int64_t p : perm) y.dims.push_back(x.dims.at(p));
    y.v.resize(x.v.size());
    const auto xs = strides(x.dims), ys = strides(y.dims);
    for (std::int64_t i = 0; i < y.numel(); ++i) {
      std::int64_t src = 0, rest = i;
      for (std::size_t d = 0; d < perm.size(); ++d) {
        src += (rest / ys[d]) * xs[perm[d]];
        rest %= ys[d];
      }
      y.v[i] = x.v[src];
    }
    return y;
  }

  static RefTensor gather(const onnx::NodeProto& n, const RefTensor& x, const RefTensor& idx) {
    only_attrs(n, {"axis"});
    const std::int64_t axis = int_attr(n, "axis", 0);
    if (idx.dims.size() != 1) fail(n, "only 1-D indices");
    RefTensor y;
    y.type = x.type;
    y.dims = x.dims;
    y.dims[axis] = idx.dims[0];
    std::int64_t outer = 1, inner = 1;
    for (std::int64_t d = 0; d < axis; ++d) outer *= x.dims[d];
    for (std::size_t d = axis + 1; d < x.dims.size(); ++d) inner *= x.dims[d];
    for (std::int64_t o = 0; o < outer; ++o)
      for (const double i : idx.v) {
        const std::int64_t src = (o * x.dims[axis] + static_cast<std::int64_t>(i)) * inner;
        y.v.insert(y.v.end(), x.v.begin() + src, x.v.begin() + src + inner);
      }
    return y;
  }

  // numpy broadcasting of two tensors of equal rank (dims 1 stretch).
  static RefTensor broadcast(const onnx::NodeProto& n, const RefTensor& a, const RefTensor& b) {
    only_attrs(n, {});
    if (a.dims.size() != b.dims.size()) fail(n, "only operands of equal rank");
    if (a.type != b.type) fail(n, "operand types differ");
    RefTensor y;
    y.type = a.type;
    for (std::size_t d = 0; d < a.dims.size(); ++d) {
      if (a.dims[d] != b.dims[d] && a.dims[d] != 1 && b.dims[d] != 1) fail(n, "shapes clash");
      y.dims.push_back(std::max(a.dims[d], b.dims[d]));
    }
    const auto as = strides(a.dims), bs = strides(b.dims), ys = strides(y.dims);
    y.v.resize(static_cast<std::size_t>(y.numel()));
    for (std::int64_t i = 0; i < y.numel(); ++i) {
      std::int64_t ia = 0, ib = 0, rest = i;
      for (std::size_t d = 0; d < y.dims.size(); ++d) {
        const std::int64_t c = rest / ys[d];
        rest %= ys[d];
        if (a.dims[d] != 1) ia += c * as[d];
        if (b.dims[d] != 1) ib += c * bs[d];
      }
      const double u = a.v[ia], v = b.v[ib];
      y.v[i] = n.op_type() == "Sub" ? u - v : n.op_type() == "Add" ? u + v : u * v;
    }
    return y;
  }

  const onnx::GraphProto& graph_;
  std::map<std::string, RefTensor> initializers_;
};

}  // namespace kiln::test
