// mlp_langevin: p.steps unadjusted Langevin steps in one dispatch, for an
// energy F that is a chain of dense layers (ToyNet: 2 → 32 → 64 → 64 → 64 → 1),
//   x ← x − a·∇F(x) + b·z,   z ~ N(0, I)   (as langevin_step.wgsl),
// with the forward pass, ∇x F by back-propagation, the noise draw and
// r = ‖a·∇F(x)‖₂ all fused: a small net is launch-bound when every layer
// is a dispatch, here one dispatch runs many steps. Activations stay in
// workgroup memory; weights are read through mlp_weights_storage.wgsl or
// mlp_weights_uniform.wgsl (the same for every chain, so they stay in cache).
//
// Bindings (group 0):
//   0 uniform MlpLangevinParams p
//   1 read          weights  mlp_weights.wgsl's: the flat parameter vector
//                            (layer l's W [n_out, n_in] at shape[l].z, its
//                            bias [n_out] right after), then each W transposed
//                            ([n_in, n_out] at p.transposed_at + shape[l].z);
//                            storage, or uniform with binding 9 (mlp_weights_*.wgsl)
//   2 storage rw    x        [chains, dim]  chain states
//   3 storage write energy   [chains]       F at the state the last step started from
//   4 storage write grad     [chains, dim]  ∇F there (as the layered kernels leave them)
//   5 storage rw    stats    [chains, 4]    (.., .., Σ r, ..) per chain
//   6 storage read  counter  RngCounter; step s of the dispatch draws at counter.step + s
//                            (rng_advance.wgsl moves it on afterwards)
//   7 storage write path     [steps, chains] if p.record_path: F at the start of
//                            each step, at its step counter.step + s (the energy path)
//   8 storage rw    attraction  if p.attract: attraction–diffusion's state
//                            (attraction_state.wgsl): the pull toward each chain's
//                            goal joins ∇F (in ∇F, r and the step, as attraction.wgsl
//                            before langevin_step), and the track sees each step's
//                            starting state
// One workgroup of 64 per 8 chains (workgroup index = chain group): the
// chains are the 8 entries of mat2x4 activations (chain c at [c / 4][c % 4]),
// so each weight read feeds 8 multiply-adds; invocation t computes outputs
// OUTPUTS·t … OUTPUTS·t + OUTPUTS − 1 of each 64 of a layer (see OUTPUTS
// below). The host (GpuNet::dense_layers) admits at
// most 8 layers, widths ≤ 128 and Σ widths ≤ 248, the sizes below (16 KiB
// of workgroup memory, WebGPU's minimum).
// MlpLangevinParams comes from mlp_params.wgsl, RngCounter and
// langevin_noise from philox.wgsl, leaky_relu4 and leaky_relu_backward4
// from conv_params.wgsl, goal_index, track_index, pull_scale and tracked
// from attraction_state.wgsl, weight, weight4, weight_t and weight_t4 from
// mlp_weights_storage.wgsl or mlp_weights_uniform.wgsl, all prepended at
// compile time.

@group(0) @binding(0) var<uniform> p: MlpLangevinParams;
// weights: binding 1 (and 9), mlp_weights_*.wgsl.
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> energy: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read> counter: RngCounter;
@group(0) @binding(7) var<storage, read_write> path: array<f32>;
@group(0) @binding(8) var<storage, read_write> attraction: array<f32>;

const WIDTH_CAP: u32 = 128u;
// The chain states, then every layer's output (kept for the backward pass).
var<workgroup> acts: array<mat2x4<f32>, 248>;
// Two halves of WIDTH_CAP: ∂F/∂(pre-activation) of the layer being
// back-propagated, and what it gives the layer below.
var<workgroup> dz: array<mat2x4<f32>, 256>;
// The noise of 8 coordinates of the 8 chains (coordinate i0 + e / 8, chain
// e % 8), one number drawn per invocation (drawn four in a row by the
// invocation that updates a column of 4 chains, they took as long as a layer).
var<workgroup> noise: array<f32, 64>;

// Outputs (and, back-propagating, inputs) of a layer per invocation, 1 or
// 4: invocations t < SPAN share each 64 of a layer's outputs, t taking
// OUTPUTS·t … OUTPUTS·t + OUTPUTS − 1. With 4, each activation read from
// workgroup memory feeds 4 outputs' multiply-adds (CPU adapters, where
// such a read costs many times a multiply-add); on GPUs one output each
// keeps each invocation's chain of multiply-adds short (the host's choice:
// FusedKernel::for_device, src/sampler/langevin.rs).
override OUTPUTS: u32 = 1u;
override SPAN: u32 = 64u / OUTPUTS;

fn bias_pair(b: f32) -> mat2x4<f32> {
    return mat2x4<f32>(vec4<f32>(b), vec4<f32>(b));
}

fn activate(v: mat2x4<f32>, leaky_relu: u32) -> mat2x4<f32> {
    return mat2x4<f32>(leaky_relu4(v[0], leaky_relu), leaky_relu4(v[1], leaky_relu));
}

fn activate_backward(dy: mat2x4<f32>, y: mat2x4<f32>, leaky_relu: u32) -> mat2x4<f32> {
    return mat2x4<f32>(leaky_relu_backward4(dy[0], y[0], leaky_relu), leaky_relu_backward4(dy[1], y[1], leaky_relu));
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let first = 8u * (wg.x + wg.y * groups.x);
    // Uniform per workgroup, so the barriers below are reached by all or none.
    if (first >= p.chains) {
        return;
    }
    let dim = p.dim;
    // Chain first + c is entry c; entries past the last chain compute on
    // zeros and store nothing. Invocation t owns column t % 2 (chains
    // 4·(t % 2) … +3) of coordinate t / 2, and writes it whole: invocations
    // writing components of one vector in workgroup memory would race.
    for (var t = lid; t < 2u * dim; t += 64u) {
        let i = t / 2u;
        let h = t % 2u;
        var v = vec4<f32>(0.0);
        for (var c = 0u; c < 4u; c++) {
            let chain = first + 4u * h + c;
            if (chain < p.chains) {
                v[c] = x[chain * dim + i];
            }
        }
        acts[i][h] = v;
    }
    let rng = counter;
    // Σ over the steps of ‖a·∇F‖ per chain (kept by invocation 0).
    var r = mat2x4<f32>();
    for (var s = 0u; s < p.steps; s++) {
        workgroupBarrier();
        // Forward: the output of layer l starts where its input ends.
        var in_at = 0u;
        for (var l = 0u; l < p.layers; l++) {
            let shape = p.shape[l];
            let out_at = in_at + shape.x;
            for (var j0 = OUTPUTS * lid; j0 < shape.y && lid < SPAN; j0 += 64u) {
                // Outputs j0 … j0 + OUTPUTS − 1 (one past the layer's reads
                // the last one's weights and is not stored).
                let last = shape.y - 1u;
                let j1 = min(j0 + 1u, last);
                let j2 = min(j0 + 2u, last);
                let j3 = min(j0 + 3u, last);
                let bias_at = shape.z + shape.x * shape.y;
                var acc0 = bias_pair(weight(bias_at + j0));
                var acc1 = acc0;
                var acc2 = acc0;
                var acc3 = acc0;
                if (OUTPUTS > 1u) {
                    acc1 = bias_pair(weight(bias_at + j1));
                    acc2 = bias_pair(weight(bias_at + j2));
                    acc3 = bias_pair(weight(bias_at + j3));
                }
                // W[j, i] = Wᵀ[i, j]: neighbouring invocations read
                // neighbours, and one invocation's outputs a vec4 where
                // Wᵀ's rows are whole vec4s.
                if (OUTPUTS == 4u && shape.y % 4u == 0u && shape.z % 4u == 0u) {
                    for (var i = 0u; i < shape.x; i++) {
                        let a = acts[in_at + i];
                        let w = weight_t4(shape.z + i * shape.y + j0);
                        acc0 += w.x * a;
                        acc1 += w.y * a;
                        acc2 += w.z * a;
                        acc3 += w.w * a;
                    }
                } else {
                    for (var i = 0u; i < shape.x; i++) {
                        let a = acts[in_at + i];
                        let row = shape.z + i * shape.y;
                        acc0 += weight_t(row + j0) * a;
                        if (OUTPUTS > 1u) {
                            acc1 += weight_t(row + j1) * a;
                            acc2 += weight_t(row + j2) * a;
                            acc3 += weight_t(row + j3) * a;
                        }
                    }
                }
                acts[out_at + j0] = activate(acc0, shape.w);
                // (No loop: Mesa counts loop trips against a limit.)
                if (OUTPUTS > 1u && j0 + 1u <= last) {
                    acts[out_at + j1] = activate(acc1, shape.w);
                }
                if (OUTPUTS > 1u && j0 + 2u <= last) {
                    acts[out_at + j2] = activate(acc2, shape.w);
                }
                if (OUTPUTS > 1u && j0 + 3u <= last) {
                    acts[out_at + j3] = activate(acc3, shape.w);
                }
            }
            workgroupBarrier();
            in_at = out_at;
        }
        // acts[in_at] is F. Backward from ∂F/∂F = 1.
        let f_at = in_at;
        var out_at = f_at;
        var cur = 0u;
        if (lid == 0u) {
            let one = vec4<f32>(1.0);
            dz[0] = activate_backward(mat2x4<f32>(one, one), acts[f_at], p.shape[p.layers - 1u].w);
        }
        workgroupBarrier();
        for (var l = p.layers; l > 0u; l--) {
            let shape = p.shape[l - 1u];
            let in_at_l = out_at - shape.x;
            let next = WIDTH_CAP - cur;
            // The input of layer l − 1 is the output of the layer below, if any:
            // its LeakyReLU' (read from that output) is applied here.
            var below_leaky = 0u;
            if (l > 1u) {
                below_leaky = p.shape[l - 2u].w;
            }
            for (var i0 = OUTPUTS * lid; i0 < shape.x && lid < SPAN; i0 += 64u) {
                // Inputs i0 … i0 + OUTPUTS − 1, as the forward pass's outputs.
                let last = shape.x - 1u;
                var acc0 = mat2x4<f32>();
                var acc1 = mat2x4<f32>();
                var acc2 = mat2x4<f32>();
                var acc3 = mat2x4<f32>();
                if (OUTPUTS == 4u && shape.x % 4u == 0u && shape.z % 4u == 0u) {
                    for (var j = 0u; j < shape.y; j++) {
                        let d = dz[cur + j];
                        let w = weight4(shape.z + j * shape.x + i0);
                        acc0 += w.x * d;
                        acc1 += w.y * d;
                        acc2 += w.z * d;
                        acc3 += w.w * d;
                    }
                } else {
                    let i1 = min(i0 + 1u, last);
                    let i2 = min(i0 + 2u, last);
                    let i3 = min(i0 + 3u, last);
                    for (var j = 0u; j < shape.y; j++) {
                        let d = dz[cur + j];
                        let row = shape.z + j * shape.x;
                        acc0 += weight(row + i0) * d;
                        if (OUTPUTS > 1u) {
                            acc1 += weight(row + i1) * d;
                            acc2 += weight(row + i2) * d;
                            acc3 += weight(row + i3) * d;
                        }
                    }
                }
                dz[next + i0] = activate_backward(acc0, acts[in_at_l + i0], below_leaky);
                if (OUTPUTS > 1u && i0 + 1u <= last) {
                    dz[next + i0 + 1u] = activate_backward(acc1, acts[in_at_l + i0 + 1u], below_leaky);
                }
                if (OUTPUTS > 1u && i0 + 2u <= last) {
                    dz[next + i0 + 2u] = activate_backward(acc2, acts[in_at_l + i0 + 2u], below_leaky);
                }
                if (OUTPUTS > 1u && i0 + 3u <= last) {
                    dz[next + i0 + 3u] = activate_backward(acc3, acts[in_at_l + i0 + 3u], below_leaky);
                }
            }
            workgroupBarrier();
            cur = next;
            out_at = in_at_l;
        }
        // dz[cur …] = ∇x F at the states.
        // Attraction–diffusion: each chain's distance to its goal and its
        // track (invocation 0), and the pull's factor for the step below in
        // dz[WIDTH_CAP − cur], the half the backward pass no longer needs
        // (workgroup memory holds nothing more).
        let scale_at = WIDTH_CAP - cur;
        if (p.attract != 0u) {
            if (lid == 0u) {
                var scale = mat2x4<f32>();
                for (var c = 0u; c < 8u && first + c < p.chains; c++) {
                    let chain = first + c;
                    var d2 = 0.0;
                    for (var i = 0u; i < dim; i++) {
                        let d = acts[i][c / 4u][c % 4u] - attraction[goal_index(chain, i, dim)];
                        d2 += d * d;
                    }
                    let distance = sqrt(d2);
                    scale[c / 4u][c % 4u] = pull_scale(attraction[0], attraction[2], distance);
                    let t = track_index(chain, p.chains, dim);
                    let f = acts[f_at][c / 4u][c % 4u];
                    let next = tracked(vec2<f32>(attraction[t], attraction[t + 1u]), distance, f, attraction[1]);
                    attraction[t] = next.x;
                    attraction[t + 1u] = next.y;
                }
                dz[scale_at] = scale;
            }
            workgroupBarrier();
        }
        // Take the step, 8 coordinates at a time: their noise, then the update.
        let last_step = s + 1u == p.steps;
        let rng_s = RngCounter(rng.iteration, rng.step + s);
        for (var i0 = 0u; i0 < dim; i0 += 8u) {
            if (i0 + lid / 8u < dim) {
                noise[lid] = langevin_noise(i0 + lid / 8u, first + lid % 8u, rng_s, p.seed, p.purpose);
            }
            workgroupBarrier();
            for (var t = lid; t < 2u * min(8u, dim - i0); t += 64u) {
                let i = i0 + t / 2u;
                let h = t % 2u;
                var g = dz[cur + i][h];
                if (p.attract != 0u) {
                    var goal = acts[i][h];
                    for (var c = 0u; c < 4u; c++) {
                        let chain = first + 4u * h + c;
                        if (chain < p.chains) {
                            goal[c] = attraction[goal_index(chain, i, dim)];
                        }
                    }
                    g += dz[scale_at][h] * (acts[i][h] - goal);
                    // (For r below.)
                    dz[cur + i][h] = g;
                }
                var z = vec4<f32>(0.0);
                for (var c = 0u; c < 4u; c++) {
                    let chain = first + 4u * h + c;
                    if (last_step && chain < p.chains) {
                        grad[chain * dim + i] = g[c];
                    }
                    z[c] = noise[8u * (i - i0) + 4u * h + c];
                }
                acts[i][h] = acts[i][h] - p.a * g + p.b * z;
            }
            // (Before the next coordinates' noise, and r's reads below.)
            workgroupBarrier();
        }
        if (lid == 0u) {
            var norm2 = mat2x4<f32>();
            for (var i = 0u; i < dim; i++) {
                let d = dz[cur + i];
                norm2 += mat2x4<f32>(d[0] * d[0], d[1] * d[1]);
            }
            r += p.a * mat2x4<f32>(sqrt(norm2[0]), sqrt(norm2[1]));
            if (p.record_path != 0u) {
                let row = (rng.step + s) * p.chains;
                for (var c = 0u; c < 8u && first + c < p.chains; c++) {
                    if (row + first + c < arrayLength(&path)) {
                        path[row + first + c] = acts[f_at][c / 4u][c % 4u];
                    }
                }
            }
            if (last_step) {
                for (var c = 0u; c < 8u && first + c < p.chains; c++) {
                    energy[first + c] = acts[f_at][c / 4u][c % 4u];
                }
            }
        }
    }
    workgroupBarrier();
    for (var t = lid; t < 8u * dim; t += 64u) {
        let i = t / 8u;
        let c = t % 8u;
        if (first + c < p.chains) {
            x[(first + c) * dim + i] = acts[i][c / 4u][c % 4u];
        }
    }
    if (lid == 0u) {
        for (var c = 0u; c < 8u && first + c < p.chains; c++) {
            stats[(first + c) * 4u + 2u] += r[c / 4u][c % 4u];
        }
    }
}
