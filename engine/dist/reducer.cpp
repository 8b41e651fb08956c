// The bucketed gradient reducer and the parameter broadcast (see reducer.h).
#include "engine/dist/reducer.h"

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/check.h"
#include "engine/factory.h"
#include "engine/ops/copy.h"
#include "engine/ops/elementwise.h"

namespace nkd::dist {

std::vector<std::vector<size_t>> plan_buckets_in_order(const std::vector<size_t>& order,
                                                       const std::vector<int64_t>& param_bytes,
                                                       const std::vector<DType>& dtypes, const ReducerOptions& o) {
  std::vector<std::vector<size_t>> out;
  int64_t bytes = 0;
  bool open = false;
  for (size_t k : order) {
    if (!open || dtypes[out.back().front()] != dtypes[k]) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(k);
    bytes += param_bytes[k];
    // As DDP: a bucket closes once it reaches its cap, so the head's weight joins the first bucket.
    open = bytes < (out.size() == 1 ? o.first_bucket_bytes : o.bucket_bytes);
  }
  return out;
}

std::vector<std::vector<size_t>> plan_buckets(const std::vector<int64_t>& param_bytes,
                                              const std::vector<DType>& dtypes, const ReducerOptions& o) {
  std::vector<size_t> reverse(param_bytes.size());
  for (size_t k = 0; k < reverse.size(); ++k) reverse[k] = reverse.size() - 1 - k;
  return plan_buckets_in_order(reverse, param_bytes, dtypes, o);
}

Reducer::Reducer(Communicator& comm, std::vector<Tensor> params, ReducerOptions options)
    : comm_(comm), params_(std::move(params)), slots_(params_.size()), options_(options) {
  for (const Tensor& p : params_) {
    NKD_CHECK(p.device() == comm_.device(), "Reducer: parameter ", describe(p), " is not on the communicator's device ",
              comm_.device().str());
    bytes_.push_back(p.numel() * int64_t(size_of(p.dtype())));
    dtypes_.push_back(p.dtype());
  }
  build(plan_buckets(bytes_, dtypes_, options_));
  for (size_t i = 0; i < params_.size(); ++i)
    hook_handles_.push_back(grad_accumulator(params_[i]).add_post_hook([this, i](const Tensor& g) { on_grad(i, g); }));
}

void Reducer::build(const std::vector<std::vector<size_t>>& plan) {
  buckets_.clear();
  for (const std::vector<size_t>& members : plan) {
    Bucket b;
    int64_t numel = 0;
    for (size_t i : members) {
      slots_[i] = {buckets_.size(), numel, false};
      numel += params_[i].numel();
    }
    b.flat = zeros({numel}, {params_[members.front()].dtype(), comm_.device()});
    b.params = members;
    b.pending = b.params.size();
    buckets_.push_back(std::move(b));
  }
}

// After the first step, as DDP's bucket rebuild: the buckets follow the order in which rank 0's
// backward produced the gradients (registration order can differ from use order, and parameters
// that got no gradient would hold a bucket back until finalize); those go last.
void Reducer::rebuild_from_first_step() {
  rebuilt_ = true;
  std::vector<double> order(params_.size());
  std::vector<bool> seen(params_.size(), false);
  size_t n = 0;
  for (size_t i : ready_order_)
    if (!seen[i]) seen[i] = true, order[n++] = double(i);
  for (size_t i = params_.size(); i-- > 0;)
    if (!seen[i]) order[n++] = double(i);
  const std::vector<double> all = comm_.all_gather(order);  // rank 0's order, the same on every rank
  std::vector<size_t> chosen(params_.size());
  for (size_t k = 0; k < chosen.size(); ++k) chosen[k] = size_t(all[k]);
  ready_order_.clear();
  build(plan_buckets_in_order(chosen, bytes_, dtypes_, options_));
}

Reducer::~Reducer() {
  for (size_t i = 0; i < params_.size(); ++i) grad_accumulator(params_[i]).remove_post_hook(hook_handles_[i]);
}

namespace {
Tensor slice_view(const Tensor& flat, int64_t offset, const Shape& shape) {
  return make_view(flat.storage(), flat.offset() + offset, shape, contiguous_strides(shape), flat.dtype());
}
}  // namespace

void Reducer::on_grad(size_t i, const Tensor& grad) {
  Slot& s = slots_[i];
  NKD_CHECK(!s.ready, "Reducer: the gradient of parameter ", i, " ", describe(params_[i]),
            " was produced twice before finalize() (call finalize() after every backward)");
  Bucket& b = buckets_[s.bucket];
  const Tensor dst = slice_view(b.flat, s.offset, params_[i].shape());
  const bool aliased = grad.storage() == b.flat.storage() && grad.offset() == dst.offset() && grad.is_contiguous();
  if (!aliased) ops::copy_(dst, grad);
  s.ready = true;
  if (!rebuilt_) ready_order_.push_back(i);
  if (--b.pending == 0) launch_ready();
}

void Reducer::launch(Bucket& b) {
  if (observer_) observer_(next_launch_);
  b.work = comm_.all_reduce_async(b.flat, ReduceOp::kAvg);
  ++next_launch_;
  if (!in_finalize_) ++launched_early_;
}

// Buckets are launched strictly in index order, the same order on every rank (NCCL requires it).
void Reducer::launch_ready() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) launch(buckets_[next_launch_]);
}

void Reducer::finalize() {
  NoGradGuard no_grad;
  early_last_ = launched_early_;
  launched_early_ = 0;
  in_finalize_ = true;
  for (size_t k = next_launch_; k < buckets_.size(); ++k) {
    Bucket& b = buckets_[k];
    for (size_t i : b.params)
      if (!slots_[i].ready) {
        ops::fill_(slice_view(b.flat, slots_[i].offset, params_[i].shape()), 0.0);
        slots_[i].ready = true;
      }
    b.pending = 0;
  }
  launch_ready();
  in_finalize_ = false;
  for (Bucket& b : buckets_) {
    b.work->wait();
    b.work.reset();
    b.pending = b.params.size();
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    Slot& s = slots_[i];
    params_[i].set_grad(slice_view(buckets_[s.bucket].flat, s.offset, params_[i].shape()));
    s.ready = false;
  }
  next_launch_ = 0;
  if (!rebuilt_) rebuild_from_first_step();  // the .grad views keep the old buckets alive this step
}

std::vector<BucketInfo> Reducer::buckets() const {
  std::vector<BucketInfo> out;
  for (const Bucket& b : buckets_)
    out.push_back({int64_t(b.params.size()), b.flat.numel() * int64_t(size_of(b.flat.dtype()))});
  return out;
}

void broadcast_tensors(Communicator& comm, const std::vector<Tensor>& tensors, int root) {
  NoGradGuard no_grad;
  for (const Tensor& t : tensors) {
    if (t.is_contiguous()) {
      comm.broadcast(t.detach(), root);
    } else {
      const Tensor c = t.detach().contiguous();
      comm.broadcast(c, root);
      ops::copy_(t.detach(), c);
    }
  }
}

}  // namespace nkd::dist
