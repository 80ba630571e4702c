// mlp_langevin: p.steps unadjusted Langevin steps in one dispatch, for an
// energy F that is a chain of dense layers (ToyNet: 2 → 32 → 64 → 64 → 64 → 1),
//   x ← x − a·∇F(x) + b·z,   z ~ N(0, I)   (as langevin_step.wgsl),
// with the forward pass, ∇x F by back-propagation, the noise draw and
// r = ‖a·∇F(x)‖₂ all fused: a small net is launch-bound when every layer
// is a dispatch, here one dispatch runs many steps. Activations stay in
// workgroup memory; weights are read from `weights` (the same for every
// chain, so they stay in cache).
//
// Bindings (group 0):
//   0 uniform MlpLangevinParams p
//   1 storage read  weights  mlp_weights.wgsl's: the flat parameter vector
//                            (layer l's W [n_out, n_in] at shape[l].z, its
//                            bias [n_out] right after), then each W transposed
//                            ([n_in, n_out] at p.params_len + shape[l].z)
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
// so each weight read feeds 8 multiply-adds; invocation j computes outputs
// j, j + 64, … of each layer. The host (GpuNet::dense_layers) admits at
// most 8 layers, widths ≤ 128 and Σ widths ≤ 248, the sizes below (16 KiB
// of workgroup memory, WebGPU's minimum).
// MlpLangevinParams comes from mlp_params.wgsl, RngCounter and
// langevin_noise from philox.wgsl, leaky_relu4 and leaky_relu_backward4
// from conv_params.wgsl, goal_index, track_index, pull_scale and tracked
// from attraction_state.wgsl, all prepended at compile time.

@group(0) @binding(0) var<uniform> p: MlpLangevinParams;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
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
            for (var j = lid; j < shape.y; j += 64u) {
                // W[j, i] = Wᵀ[i, j]: neighbouring invocations read neighbours.
                let column = p.params_len + shape.z + j;
                let bias = vec4<f32>(weights[shape.z + shape.x * shape.y + j]);
                var acc = mat2x4<f32>(bias, bias);
                for (var i = 0u; i < shape.x; i++) {
                    acc += weights[column + i * shape.y] * acts[in_at + i];
                }
                acts[out_at + j] = activate(acc, shape.w);
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
            for (var i = lid; i < shape.x; i += 64u) {
                var acc = mat2x4<f32>();
                for (var j = 0u; j < shape.y; j++) {
                    acc += weights[shape.z + j * shape.x + i] * dz[cur + j];
                }
                dz[next + i] = activate_backward(acc, acts[in_at_l + i], below_leaky);
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
                    scale[c / 4u][c % 4u] = pull_scale(attraction[0], distance);
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
