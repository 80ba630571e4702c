// conv_weight_views_storage: the direct convolutions' (conv2d_forward,
// conv2d_input_grad) weight views (conv2d_weight_views.wgsl) bound as a
// read-only storage buffer, whatever their size: GPUs' way. Prepended
// before the kernel, which names the binding (VIEWS_BINDING);
// conv_weight_views_uniform.wgsl is the other way.
@group(0) @binding(VIEWS_BINDING) var<storage, read> views: array<vec4<f32>>;
