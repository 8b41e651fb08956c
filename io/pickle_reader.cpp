// The restricted unpickler: a small stack machine over a whitelist of opcodes and globals. Every
// read is bounds-checked; values live in an arena whose links are cut iteratively at the end, so
// neither cycles nor deep chains can leak or overflow the C++ stack.
#include "io/pickle_reader.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "io/torch_storage.h"

namespace nkd::io {
namespace {

using detail::cat;

enum class Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };
constexpr const char* kKindNames[] = {"None",  "bool", "int",    "float",   "str",   "tuple",
                                      "list",  "dict", "global", "storage", "tensor"};
enum class Call { OrderedDict, RebuildTensor, RebuildParameter, StorageType };

struct Value {
  Kind kind = Kind::None;
  int64_t i = 0;  // Int, Bool; Storage: numel
  double f = 0;
  std::string s;  // Str; Global: "module.name"; Storage: key
  std::vector<std::shared_ptr<Value>> items;  // Tuple, List; Dict: key, value, key, value, ...
  std::unordered_map<std::string, size_t> index;  // Dict: str/int key -> position in items
  size_t depth = 1;
  Call call = Call::OrderedDict;
  const TorchStorageType* storage = nullptr;  // Global (storage type), Storage
  Tensor tensor;
};
using Ref = std::shared_ptr<Value>;

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const StorageSource& storages, const std::string& origin,
            const PickleLimits& limits)
      : data_(data), size_(size), storages_(storages), origin_(origin), limits_(limits) {}
  ~Unpickler() {
    for (const Ref& v : arena_) v->items.clear();  // cut every link before anything is freed
  }
  Ref run();
  [[noreturn]] void fail(const std::string& what, size_t offset) const {
    throw Error(cat("pickle ", origin_, ": ", what, " (at byte ", offset, ")"));
  }

 private:
  const uint8_t* take(size_t n) {
    if (n > size_ - pos_) fail(cat("opcode needs ", n, " more bytes, past the end of the pickle"), op_at_);
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t uint_le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;) v = (v << 8) | p[k];
    return v;
  }
  Ref make(Kind kind) {
    auto v = std::make_shared<Value>();
    v->kind = kind;
    if (kind == Kind::Tuple || kind == Kind::List || kind == Kind::Dict) arena_.push_back(v);
    return v;
  }
  Ref make_int(Kind kind, int64_t i) {
    Ref v = make(kind);
    v->i = i;
    return v;
  }
  void push(Ref v) {
    if (stack_.size() >= limits_.max_stack) fail(cat("stack exceeds ", limits_.max_stack, " values"), op_at_);
    stack_.push_back(std::move(v));
  }
  Ref pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back()))
      fail("stack underflow", op_at_);
    Ref v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  Ref& top() {
    if (stack_.empty()) fail("stack underflow", op_at_);
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack", op_at_);
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                           std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }
  void add_child(Value& parent, const Ref& child) {
    parent.depth = std::max(parent.depth, child->depth + 1);
    if (parent.depth > limits_.max_depth) fail(cat("nesting deeper than ", limits_.max_depth), op_at_);
    parent.items.push_back(child);
  }
  Ref container(Kind kind, const std::vector<Ref>& items) {
    Ref v = make(kind);
    for (const Ref& c : items) add_child(*v, c);
    return v;
  }
  Value& expect(const Ref& v, Kind kind, const char* what) {
    if (v->kind != kind)
      fail(cat(what, " must be a ", kKindNames[static_cast<int>(kind)], ", got a ",
               kKindNames[static_cast<int>(v->kind)]), op_at_);
    return *v;
  }
  void set_item(Value& dict, const Ref& key, const Ref& value) {
    std::string id;
    if (key->kind == Kind::Str) id = "s" + key->s;
    if (key->kind == Kind::Int) id = cat("i", key->i);
    if (!id.empty()) {
      auto [it, fresh] = dict.index.emplace(id, dict.items.size());
      if (!fresh) {
        add_child(dict, value);  // depth check, then move into place
        dict.items[it->second + 1] = dict.items.back();
        dict.items.pop_back();
        return;
      }
    }
    add_child(dict, key);
    add_child(dict, value);
  }
  void memo_put(uint64_t id) {
    if (memo_.size() >= limits_.max_memo && !memo_.count(id))
      fail(cat("memo exceeds ", limits_.max_memo, " entries"), op_at_);
    memo_[id] = top();
  }
  Ref memo_get(uint64_t id) {
    auto it = memo_.find(id);
    if (it == memo_.end()) fail(cat("memo key ", id, " was never stored"), op_at_);
    return it->second;
  }
  Ref global();
  Ref reduce(const Ref& callable, const Ref& args);
  Ref persistent_id(const Ref& pid);
  Ref rebuild_tensor(const std::vector<Ref>& a);

  const uint8_t* data_;
  size_t size_, pos_ = 0, op_at_ = 0;
  const StorageSource& storages_;
  const std::string& origin_;
  PickleLimits limits_;
  std::vector<Ref> stack_, arena_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Ref> memo_;
};

Ref Unpickler::run() {
  for (;;) {
    if (pos_ >= size_) fail("pickle ends without STOP", pos_);
    op_at_ = pos_;
    const uint8_t op = data_[pos_++];
    switch (op) {
      case 0x80: {  // PROTO
        const uint64_t v = uint_le(1);
        if (v > 5) fail(cat("unsupported pickle protocol ", v), op_at_);
        break;
      }
      case 0x95: uint_le(8); break;  // FRAME (protocol 4): framing carries no meaning here
      case '}': push(make(Kind::Dict)); break;
      case ']': push(make(Kind::List)); break;
      case ')': push(make(Kind::Tuple)); break;
      case 'N': push(make(Kind::None)); break;
      case 0x88: case 0x89: push(make_int(Kind::Bool, op == 0x88)); break;  // NEWTRUE, NEWFALSE
      case '(':
        if (marks_.size() >= limits_.max_depth) fail(cat("more than ", limits_.max_depth, " nested MARKs"), op_at_);
        marks_.push_back(stack_.size());
        break;
      case 't': push(container(Kind::Tuple, pop_mark())); break;
      case 'l': push(container(Kind::List, pop_mark())); break;
      case 0x85: case 0x86: case 0x87: {  // TUPLE1, TUPLE2, TUPLE3
        std::vector<Ref> items(op - 0x84);
        for (size_t k = items.size(); k-- > 0;) items[k] = pop();
        push(container(Kind::Tuple, items));
        break;
      }
      case 'd': case 'u': {  // DICT, SETITEMS
        const std::vector<Ref> items = pop_mark();
        if (items.size() % 2) fail("odd number of items for a dict", op_at_);
        Ref d = op == 'd' ? make(Kind::Dict) : top();
        expect(d, Kind::Dict, "SETITEMS target");
        for (size_t k = 0; k < items.size(); k += 2) set_item(*d, items[k], items[k + 1]);
        if (op == 'd') push(d);
        break;
      }
      case 's': {
        Ref value = pop(), key = pop();
        set_item(expect(top(), Kind::Dict, "SETITEM target"), key, value);
        break;
      }
      case 'a': case 'e': {  // APPEND, APPENDS
        std::vector<Ref> items;
        if (op == 'a') items.push_back(pop()); else items = pop_mark();
        Value& list = expect(top(), Kind::List, "APPEND target");
        for (const Ref& c : items) add_child(list, c);
        break;
      }
      case 'X': case 0x8c: case 0x8d: {  // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
        const uint64_t n = uint_le(op == 'X' ? 4 : op == 0x8c ? 1 : 8);
        if (n > size_ - pos_) fail(cat("string of ", n, " bytes runs past the end of the pickle"), op_at_);
        Ref v = make(Kind::Str);
        v->s.assign(reinterpret_cast<const char*>(take(static_cast<size_t>(n))), static_cast<size_t>(n));
        push(v);
        break;
      }
      case 'J': push(make_int(Kind::Int, static_cast<int32_t>(uint_le(4)))); break;  // BININT
      case 'K': push(make_int(Kind::Int, static_cast<int64_t>(uint_le(1)))); break;  // BININT1
      case 'M': push(make_int(Kind::Int, static_cast<int64_t>(uint_le(2)))); break;  // BININT2
      case 0x8a: {  // LONG1: n-byte little-endian two's complement
        const uint64_t n = uint_le(1);
        if (n > 8) fail(cat("integer of ", n, " bytes does not fit 64 bits"), op_at_);
        uint64_t u = n ? uint_le(static_cast<size_t>(n)) : 0;
        if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~uint64_t{0} << (8 * n);
        push(make_int(Kind::Int, static_cast<int64_t>(u)));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        const uint8_t* p = take(8);
        uint64_t u = 0;
        for (int k = 0; k < 8; ++k) u = (u << 8) | p[k];
        Ref v = make(Kind::Float);
        std::memcpy(&v->f, &u, 8);
        push(v);
        break;
      }
      case 'q': memo_put(uint_le(1)); break;
      case 'r': memo_put(uint_le(4)); break;
      case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
      case 'h': push(memo_get(uint_le(1))); break;
      case 'j': push(memo_get(uint_le(4))); break;
      case 'c': push(global()); break;
      case 'R': {
        Ref args = pop(), callable = pop();
        push(reduce(callable, args));
        break;
      }
      case 'b': {  // BUILD: OrderedDict's _metadata and the like carry nothing we need
        pop();
        const Kind k = top()->kind;
        if (k != Kind::Dict && k != Kind::Tensor) fail(cat("BUILD on a ", kKindNames[static_cast<int>(k)]), op_at_);
        break;
      }
      case 'Q': push(persistent_id(pop())); break;
      case '0': pop(); break;
      case '.': {
        Ref v = pop();
        if (!stack_.empty() || !marks_.empty()) fail("values left on the stack at STOP", op_at_);
        return v;
      }
      default: {
        char name[8];
        std::snprintf(name, sizeof name, "0x%02x", op);
        fail(cat("unknown or unsupported opcode ", name, " ('", op >= 32 && op < 127 ? static_cast<char>(op) : '?', "')"), op_at_);
      }
    }
  }
}

Ref Unpickler::global() {
  auto line = [&] {
    std::string s;
    while (true) {
      if (pos_ >= size_) fail("GLOBAL runs past the end of the pickle", op_at_);
      const char c = static_cast<char>(data_[pos_++]);
      if (c == '\n') return s;
      if (s.size() >= 256) fail("GLOBAL name longer than 256 bytes", op_at_);
      s += c;
    }
  };
  const std::string module = line(), name = line();
  Ref g = make(Kind::Global);
  g->s = module + "." + name;
  if (module == "collections" && name == "OrderedDict") return g->call = Call::OrderedDict, g;
  if (module == "torch._utils" && name == "_rebuild_tensor_v2") return g->call = Call::RebuildTensor, g;
  if (module == "torch._utils" && name == "_rebuild_parameter") return g->call = Call::RebuildParameter, g;
  if (module == "torch" && (g->storage = torch_storage_type(name))) return g->call = Call::StorageType, g;
  fail(cat("forbidden global '", g->s, "': only collections.OrderedDict, torch._utils._rebuild_tensor_v2/"
           "_rebuild_parameter and torch storage types are allowed"), op_at_);
}

Ref Unpickler::reduce(const Ref& callable, const Ref& args) {
  const Value& c = expect(callable, Kind::Global, "REDUCE callable");
  const std::vector<Ref>& a = expect(args, Kind::Tuple, "REDUCE arguments").items;
  switch (c.call) {
    case Call::OrderedDict:
      if (!a.empty()) fail("OrderedDict() with arguments is not supported", op_at_);
      return make(Kind::Dict);
    case Call::RebuildTensor: return rebuild_tensor(a);
    case Call::RebuildParameter:
      if (a.size() < 1 || a[0]->kind != Kind::Tensor) fail("_rebuild_parameter needs a tensor", op_at_);
      return a[0];
    case Call::StorageType: break;
  }
  fail(cat("'", c.s, "' cannot be called"), op_at_);
}

Ref Unpickler::persistent_id(const Ref& pid) {
  const std::vector<Ref>& a = expect(pid, Kind::Tuple, "persistent id").items;
  if (a.size() != 5 || a[0]->kind != Kind::Str || a[0]->s != "storage" || a[1]->kind != Kind::Global ||
      a[1]->call != Call::StorageType || a[2]->kind != Kind::Str || a[4]->kind != Kind::Int)
    fail("persistent id is not ('storage', torch.<T>Storage, key, location, numel)", op_at_);
  if (a[4]->i < 0) fail(cat("storage '", a[2]->s, "' has negative size ", a[4]->i), op_at_);
  Ref s = make(Kind::Storage);
  s->storage = a[1]->storage;
  s->s = a[2]->s;
  s->i = a[4]->i;
  return s;
}

Ref Unpickler::rebuild_tensor(const std::vector<Ref>& a) {
  if (a.size() < 6 || a.size() > 7 || a[0]->kind != Kind::Storage || a[1]->kind != Kind::Int ||
      a[2]->kind != Kind::Tuple || a[3]->kind != Kind::Tuple || a[2]->items.size() != a[3]->items.size())
    fail("_rebuild_tensor_v2 needs (storage, offset, size, stride, requires_grad, hooks)", op_at_);
  const Value& storage = *a[0];
  const TorchStorageType& st = *storage.storage;
  const StorageBytes bytes = storages_(storage.s);
  if (static_cast<uint64_t>(storage.i) > bytes.size / st.bytes)
    fail(cat("storage '", storage.s, "' declares ", storage.i, " elements of ", st.bytes,
             " bytes but its data holds ", bytes.size, " bytes"), op_at_);
  const size_t nd = a[2]->items.size();
  Shape shape(nd);
  Strides strides(nd);
  int64_t count = 1, extent = 0;
  bool overflow = a[1]->i < 0;
  for (size_t d = 0; d < nd; ++d) {
    const Value &sz = *a[2]->items[d], &sd = *a[3]->items[d];
    if (sz.kind != Kind::Int || sd.kind != Kind::Int || sz.i < 0 || sd.i < 0)
      fail("tensor sizes and strides must be non-negative integers", op_at_);
    shape[d] = sz.i;
    strides[d] = sd.i;
    int64_t span = 0;
    overflow |= __builtin_mul_overflow(count, sz.i, &count);
    if (sz.i > 0) overflow |= __builtin_mul_overflow(sz.i - 1, sd.i, &span);
    overflow |= __builtin_add_overflow(extent, span, &extent);
  }
  if (!overflow && count > 0) overflow |= __builtin_add_overflow(extent, a[1]->i + 1, &extent);
  if (overflow || (count > 0 && extent > storage.i))
    fail(cat("tensor of shape ", shape_str(shape), " at offset ", a[1]->i, " runs past its storage '",
             storage.s, "' of ", storage.i, " elements"), op_at_);
  if (count > storage.i && count > (int64_t{1} << 28))  // zero strides: an expanded view
    fail(cat("tensor of shape ", shape_str(shape), " expands its storage '", storage.s, "' of ",
             storage.i, " elements beyond the 2^28-element limit for overlapping views"), op_at_);
  Ref v = make(Kind::Tensor);
  v->tensor = copy_strided(st, bytes.data, a[1]->i, shape, strides);
  return v;
}

}  // namespace

TorchStateDict read_torch_pickle(const uint8_t* data, size_t size, const StorageSource& storages,
                                 const std::string& origin, const PickleLimits& limits) {
  Unpickler u(data, size, storages, origin, limits);
  const Ref root = u.run();
  auto find = [](const Value& dict, const std::string& key) -> Ref {
    for (size_t k = 0; k + 1 < dict.items.size(); k += 2)
      if (dict.items[k]->kind == Kind::Str && dict.items[k]->s == key) return dict.items[k + 1];
    return nullptr;
  };
  if (root->kind != Kind::Dict)
    u.fail(cat("the checkpoint is a ", kKindNames[static_cast<int>(root->kind)], ", not a state dict"), size);
  const Value* sd = root.get();
  TorchStateDict out;
  if (const Ref nested = find(*root, "state_dict"); nested && nested->kind == Kind::Dict) {
    sd = nested.get();
    if (const Ref meta = find(*root, "meta"); meta && meta->kind == Kind::Dict) {
      for (size_t k = 0; k + 1 < meta->items.size(); k += 2) {
        const Value &key = *meta->items[k], &v = *meta->items[k + 1];
        if (key.kind != Kind::Str) continue;
        if (v.kind == Kind::Str) out.metadata[key.s] = v.s;
        if (v.kind == Kind::Int) out.metadata[key.s] = std::to_string(v.i);
        if (v.kind == Kind::Bool) out.metadata[key.s] = v.i ? "True" : "False";
        if (v.kind == Kind::Float) out.metadata[key.s] = cat(v.f);
      }
    }
  }
  bool prefixed = sd->items.size() >= 2;
  for (size_t k = 0; k + 1 < sd->items.size(); k += 2) {
    const Value &key = *sd->items[k], &v = *sd->items[k + 1];
    if (key.kind != Kind::Str) u.fail("state dict key is not a string", size);
    if (v.kind != Kind::Tensor)
      u.fail(cat("state dict entry '", key.s, "' is a ", kKindNames[static_cast<int>(v.kind)], ", not a tensor"), size);
    prefixed &= key.s.rfind("module.", 0) == 0;
    out.tensors.emplace_back(key.s, v.tensor);
  }
  if (prefixed)
    for (auto& [name, t] : out.tensors) name.erase(0, 7);
  return out;
}

}  // namespace nkd::io
