// Reverse-mode autograd: a define-by-run tape.
// Each differentiable function that sees an input needing a gradient records a Node on its
// output: edges to its inputs and a closure computing their gradients from the output's.
// backward() walks the nodes from the loss in reverse topological order, summing gradients that
// meet, and accumulates (+=) into leaves that require a gradient. The graph is freed as it is
// walked, so saved activations are released as early as possible.
//
// NOTE: a closure must never capture its own output Tensor (the output owns the node, the node
// would own the output: a reference cycle and a leak). Capture output.detach() instead.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/tensor.h"

namespace kiln {

// Given the gradient of the output, returns one gradient per input (undefined where the input
// needs none: compute only what `Node::needs_grad` asks for).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Edge {
  std::shared_ptr<Node> node;  // the input's producer, or null for a leaf
  Tensor leaf;                 // the leaf itself, when it requires a gradient
  Shape shape;                 // the input's shape, to check the gradient against
  bool needs_grad() const { return node != nullptr || leaf.defined(); }
};

struct Node {
  const char* op = "";      // names the op in errors ("conv2d backward: ...")
  std::vector<Edge> edges;  // one per input, in the op's argument order
  BackwardFn backward;
  bool needs_grad(std::size_t input) const { return edges[input].needs_grad(); }
  // Releases a long chain of nodes iteratively: the default recursive destruction of a graph
  // thousands of ops deep would overflow the stack.
  ~Node();
};

// Recording is on by default; NoGradGuard turns it off in its scope (evaluation, updates).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// While one lives, backward calls `on_leaf(leaf)` on this thread once per leaf it reaches, as
// soon as that leaf's gradient is complete (every use of it in the graph added), in the order
// the leaves complete: what
// data-parallel training (optim/gradient_sync.h) needs to start reducing gradients while
// backward is still running. One at a time per thread; they do not nest.
class LeafGradientHook {
 public:
  explicit LeafGradientHook(std::function<void(const Tensor& leaf)> on_leaf);
  ~LeafGradientHook();
  LeafGradientHook(const LeafGradientHook&) = delete;
  LeafGradientHook& operator=(const LeafGradientHook&) = delete;

 private:
  std::function<void(const Tensor&)> on_leaf_;
};

// True when recording is on and some input requires a gradient: the op must record then.
bool should_record(std::initializer_list<const Tensor*> inputs);

// Makes `output` the result of `op` on `inputs` for autograd. Returns the node so the op can ask
// which inputs need gradients. Undefined inputs (an absent bias) get an empty edge.
std::shared_ptr<Node> record(Tensor& output, const char* op, std::initializer_list<Tensor> inputs,
                             BackwardFn backward);

// Walks the graph from `root` with d(loss)/d(root) = grad. Called by Tensor::backward().
void run_backward(const Tensor& root, const Tensor& grad);

}  // namespace kiln
