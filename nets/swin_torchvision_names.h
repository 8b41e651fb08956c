// Swin-T state dicts: mmcls SwinTransformer names (nkd's swin_tiny ImageClassifier) <-> torchvision
// swin_t names, both ways, including the tensor changes: the patch-merging 4C channel order
// (mmcls nn.Unfold: c * 4 + kh * 2 + kw; torchvision cat([x00, x10, x01, x11]): (kw * 2 + kh) C + c)
// and torchvision's relative_position_index buffers. qkv weights share one layout (q, k, v rows).
#pragma once
#include <string>

#include "layers/module.h"

namespace nkd::nets {

// One name each way (nkd::Error outside the layout). backbone.norm3 <-> norm, head.fc <-> head;
// backbone.norm0..norm2 have no torchvision counterpart (error). The relative_position_index
// buffers map to mmcls's ...attn.w_msa.relative_position_index (which nkd does not store).
std::string swin_to_torchvision_name(const std::string& mmcls_name);
std::string swin_from_torchvision_name(const std::string& torchvision_name);

// Every entry renamed, patch-merging tensors permuted. To torchvision: norm0..norm2 are dropped and
// a relative_position_index ([N * N] I64, torchvision's flat layout) follows every bias table.
// From torchvision: the index buffers are checked against nkd's (nkd::Error when they differ) and
// dropped; norm0..norm2 are absent (load with strict = false, or keep their init).
layers::NamedTensors swin_to_torchvision(const layers::NamedTensors& state);
layers::NamedTensors swin_from_torchvision(const layers::NamedTensors& state);

// The index that reorders a patch-merging 4C axis: mmcls = index_select(torchvision, axis, i)
// with to_torchvision = false, torchvision = index_select(mmcls, axis, i) with true. I64 [4C].
Tensor swin_merge_channel_index(int64_t channels, bool to_torchvision);

}  // namespace nkd::nets
