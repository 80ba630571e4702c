// conv_weight_views_uniform: the direct convolutions' weight views bound
// as a uniform buffer of 64 KiB (WebGPU's guaranteed binding size), a
// dispatch per binding of the channel groups whose weights it holds
// (ConvParams::view_chunks), on CPU adapters: Mesa's lavapipe loads a
// storage-buffer vec4 invocation by invocation, each with a bounds check
// and a branch per value, and a uniform-buffer vec4 by a branch-free
// gather, in about a fifth of the instructions (README, Performance). On
// GPUs uniform reads that differ across a subgroup may serialise (NVIDIA's
// constant cache), so GPUs bind them as storage
// (conv_weight_views_storage.wgsl). The binding must hold all
// UNIFORM_VIEWS_LEN vec4s (Rust: conv2d::UNIFORM_VIEWS_LEN).
const UNIFORM_VIEWS_LEN: u32 = 4096u;
@group(0) @binding(VIEWS_BINDING) var<uniform> views: array<vec4<f32>, UNIFORM_VIEWS_LEN>;
