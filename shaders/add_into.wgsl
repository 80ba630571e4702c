// add_into: dst[j] += src[j] for j < len. The residual of a non-local block:
// z = W(y) + x forward, ∂L/∂x = (θφg path) + ∂L/∂z backward.
//
// Bindings (group 0):
//   0 uniform AddParams p
//   1 storage read  src
//   2 storage write dst
// One invocation per 4 elements, read and written as vec4s (on lavapipe a
// storage access costs about the same at any width; leaky_relu_grad.wgsl).
// The buffers hold whole vec4s (Gpu::activation_buffer): a last, partial
// vec4 adds padding into padding.

struct AddParams {
    len: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: AddParams;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * 64u;
    if (idx >= (p.len + 3u) / 4u) {
        return;
    }
    dst[idx] += src[idx];
}
