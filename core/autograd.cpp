#include "core/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "core/functions.h"

namespace kiln {

namespace {
thread_local bool t_grad_enabled = true;

// Nodes reachable from root, each after every node that feeds gradient into it (root first).
// Owning pointers: freeing one node's edges must not destroy a node still to be walked.
std::vector<std::shared_ptr<Node>> reverse_topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> post_order;
  std::unordered_set<Node*> seen{root.get()};
  std::vector<std::pair<std::shared_ptr<Node>, std::size_t>> stack{{root, 0}};  // next edge
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->edges.size()) {
      const std::shared_ptr<Node>& child = node->edges[next++].node;
      if (child && seen.insert(child.get()).second) stack.emplace_back(child, 0);
    } else {
      post_order.push_back(node);
      stack.pop_back();
    }
  }
  return {post_order.rbegin(), post_order.rend()};
}
}  // namespace

Node::~Node() {
  std::vector<std::shared_ptr<Node>> orphans;
  for (Edge& e : edges)
    if (e.node) orphans.push_back(std::move(e.node));
  while (!orphans.empty()) {
    std::shared_ptr<Node> n = std::move(orphans.back());
    orphans.pop_back();
    if (n.use_count() == 1) {  // we hold the last reference: take its children before it dies
      for (Edge& e : n->edges)
        if (e.node) orphans.push_back(std::move(e.node));
    }
  }
}

bool grad_enabled() { return t_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }

bool should_record(std::initializer_list<const Tensor*> inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

std::shared_ptr<Node> record(Tensor& output, const char* op, std::initializer_list<Tensor> inputs,
                             BackwardFn backward) {
  auto node = std::make_shared<Node>();
  node->op = op;
  node->backward = std::move(backward);
  for (const Tensor& in : inputs) {
    Edge e;
    if (in.defined()) {
      e.shape = in.shape();
      if (in.grad_fn()) {
        e.node = in.grad_fn();
      } else if (in.requires_grad()) {
        e.leaf = in;
      }
    }
    node->edges.push_back(std::move(e));
  }
  set_grad_fn(output, node);
  return node;
}

namespace {
thread_local const std::function<void(const Tensor&)>* t_leaf_hook = nullptr;
}  // namespace

LeafGradientHook::LeafGradientHook(std::function<void(const Tensor&)> on_leaf)
    : on_leaf_(std::move(on_leaf)) {
  KILN_CHECK(t_leaf_hook == nullptr, "LeafGradientHook: another one is active on this thread");
  t_leaf_hook = &on_leaf_;
}

LeafGradientHook::~LeafGradientHook() { t_leaf_hook = nullptr; }

void run_backward(const Tensor& root, const Tensor& grad) {
  if (!root.grad_fn()) {  // the loss is itself a leaf
    Tensor self = root;
    self.set_grad(self.grad().defined() ? add(self.grad(), grad) : grad.clone());
    return;
  }
  NoGradGuard no_grad;  // gradients are not themselves recorded (no double backward)
  std::unordered_map<Node*, Tensor> pending{{root.grad_fn().get(), grad}};
  const std::vector<std::shared_ptr<Node>> order = reverse_topological_order(root.grad_fn());
  // With a hook, each leaf's incoming edges are counted, so the hook runs once per leaf, when
  // its last contribution has been added (a parameter used twice gets both first).
  std::unordered_map<const TensorImpl*, int> edges_left;
  if (t_leaf_hook != nullptr) {
    for (const std::shared_ptr<Node>& n : order) {
      for (const Edge& e : n->edges) {
        if (!e.node && e.leaf.defined()) ++edges_left[e.leaf.impl()];
      }
    }
  }
  for (const std::shared_ptr<Node>& owner : order) {
    Node* node = owner.get();
    KILN_CHECK(node->backward, node->op, " backward: the graph was already freed by an earlier ",
               "backward(); run the forward again");
    Tensor g = std::move(pending.at(node));
    pending.erase(node);
    std::vector<Tensor> grads = node->backward(g);
    KILN_CHECK(grads.size() == node->edges.size(), node->op, " backward returned ", grads.size(),
               " gradients for ", node->edges.size(), " inputs");
    for (std::size_t i = 0; i < grads.size(); ++i) {
      const Edge& e = node->edges[i];
      // An edge that brings no gradient still counts down its leaf.
      const bool last =
          t_leaf_hook != nullptr && !e.node && e.leaf.defined() && --edges_left[e.leaf.impl()] == 0;
      if (!e.needs_grad() || !grads[i].defined()) {
        if (last && e.leaf.grad().defined()) (*t_leaf_hook)(e.leaf);
        continue;
      }
      KILN_CHECK(grads[i].shape() == e.shape, node->op, " backward: gradient ", grads[i].shape(),
                 " for input ", i, " of shape ", e.shape);
      if (e.node) {
        // Out of place: one gradient tensor may be handed to several inputs (add's backward).
        auto [it, fresh] = pending.try_emplace(e.node.get(), grads[i]);
        if (!fresh) it->second = add(it->second, grads[i]);
      } else {
        Tensor leaf = e.leaf;
        if (leaf.grad().defined()) {
          Tensor leaf_grad = leaf.grad();
          accumulate_(leaf_grad, grads[i]);
        } else {
          leaf.set_grad(grads[i].clone());  // a private copy: later backwards add into it
        }
        if (last) (*t_leaf_hook)(leaf);
      }
    }
    // Free what this node saved as soon as it has run.
    node->backward = nullptr;
    node->edges.clear();
  }
}

}  // namespace kiln
